// Log-linear latency histogram (16 sub-buckets per power of two: <= 6.25% error),
// fixed size so the traffic thread records without allocating.
#pragma once
#include <array>
#include <bit>
#include <cstdint>

namespace memswitch {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 4;
  static constexpr int kBuckets = 64 << kSubBits;

  void record(uint64_t ns) noexcept {
    counts_[index(ns)]++;
    total_++;
    if (ns > max_) max_ = ns;
  }
  uint64_t total() const { return total_; }
  uint64_t max() const { return max_; }
  // Upper bound of the bucket holding the q-quantile (q in [0,1]); 0 when empty.
  uint64_t quantile(double q) const;
  void merge(const LatencyHistogram& o);
  void reset() { *this = LatencyHistogram{}; }

  static int index(uint64_t v) {
    if (v < (1u << kSubBits)) return int(v);
    const int msb = 63 - std::countl_zero(v);
    const int shift = msb - kSubBits;
    return ((shift + 1) << kSubBits) + int((v >> shift) & ((1u << kSubBits) - 1));
  }
  static uint64_t upper_bound(int idx) {
    if (idx < (1 << kSubBits)) return uint64_t(idx);
    const int shift = (idx >> kSubBits) - 1;
    const uint64_t sub = uint64_t(idx & ((1 << kSubBits) - 1)) | (1u << kSubBits);
    return ((sub + 1) << shift) - 1;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace memswitch
