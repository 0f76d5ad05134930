// The MAC forwarding table of all bridge domains: a fixed-size concurrent hash that
// workers learn into and look up without locks. A key is (segment, MAC), where a
// segment is one (network, VLAN) pair, so domains never see each other's entries.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "memswitch/ethernet.h"
#include "memswitch/result.h"

namespace memswitch {

constexpr uint32_t kNoPort = UINT32_MAX;
// A router interface's MAC in its segment maps to kRouterPort | router interface id:
// frames to it are routed instead of bridged.
constexpr uint32_t kRouterPort = 1u << 30;

inline uint64_t fib_key(uint16_t segment, Mac mac) { return (uint64_t(segment) << 48) | mac; }

struct FibEntry {
  uint16_t segment;
  Mac mac;
  uint32_t port;
  bool is_static;
  uint32_t age_s;  // seconds since last seen (0 for static)
};

class MacTable {
 public:
  // `capacity` entries, rounded up to a power of two; 4-way buckets of one cache line.
  explicit MacTable(uint32_t capacity);

  // Worker path. Returns kNoPort on a miss.
  uint32_t lookup(uint64_t key) const noexcept;
  // Worker path. Refreshes, moves or inserts a dynamic entry; never overrides a static
  // one. Evicts the bucket's oldest dynamic entry when the bucket is full.
  void learn(uint64_t key, uint32_t port, uint32_t now_s) noexcept;

  // Control path.
  Status add_static(uint64_t key, uint32_t port);
  bool remove(uint64_t key);  // static or dynamic
  size_t flush_port(uint32_t port, bool include_static = true);
  size_t flush_segment(uint16_t segment, bool include_static);
  size_t age(uint32_t now_s, uint32_t max_age_s);
  std::vector<FibEntry> entries(uint32_t now_s) const;

  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
  uint32_t capacity() const { return n_buckets_ * kWays; }

 private:
  static constexpr int kWays = 4;
  static constexpr uint64_t kEmpty = 0;           // segment ids start at 1, so 0 is no key
  static constexpr uint64_t kClaimed = UINT64_MAX; // slot being written; matches no key
  static constexpr uint32_t kStatic = 1u << 31;
  struct alignas(64) Bucket {
    std::atomic<uint64_t> key[kWays];
    std::atomic<uint32_t> port[kWays];  // port index | kStatic
    std::atomic<uint32_t> seen[kWays];  // seconds, for aging
  };
  static_assert(sizeof(Bucket) == 64);

  Bucket& bucket(uint64_t key) const noexcept {
    return buckets_[(key * 0x9E3779B97F4A7C15ull) >> shift_];
  }
  bool claim_and_fill(Bucket& b, int way, uint64_t expected, uint64_t key, uint32_t port, uint32_t now_s) noexcept;

  uint32_t n_buckets_;
  int shift_;
  std::unique_ptr<Bucket[]> buckets_;
  std::atomic<uint64_t> evictions_{0};
};

}  // namespace memswitch
