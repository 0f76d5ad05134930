// The neighbours of every router interface, IPv4 (ARP) and IPv6 (ND) alike: a fixed-size
// concurrent hash keyed by (router interface, address). Workers create incomplete entries
// when they ask for a next hop and fill them from ARP or neighbour advertisements; the
// control thread adds static entries and ages dynamic ones. Same slot-claiming scheme as
// MacTable: no locks on either side.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "memswitch/ethernet.h"
#include "memswitch/result.h"
#include "memswitch/routing.h"

namespace memswitch::detail {

// A router interface and an address of either family (IPv4-mapped for IPv4).
struct NeighborKey {
  uint64_t rif = 0;  // >= 1 for a real key: 0 marks an empty slot
  Ip6 ip;
  bool operator==(const NeighborKey&) const = default;
};

class NeighborTable {
 public:
  static NeighborKey key(uint16_t rif, IpAddress ip) { return {rif, ip.bits}; }

  explicit NeighborTable(uint32_t capacity);

  // Worker path. The neighbour's MAC, or 0 while it is unknown. `ask` is set when this
  // caller should send an ARP request now: the entry is new, its last request is a
  // second old, or (resolved) it was last confirmed more than `refresh_s` ago.
  Mac resolve(const NeighborKey& key, uint32_t now_s, uint32_t refresh_s, bool* ask) noexcept;
  // The MAC if resolved, else 0; changes nothing.
  Mac find(const NeighborKey& key) const noexcept;
  // Worker path: what ARP told us. Updates an existing dynamic entry; creates one only
  // if `create` (an ARP request addressed to us: the sender will talk to us next).
  void learn(const NeighborKey& key, Mac mac, uint32_t now_s, bool create) noexcept;

  // Moves whenever an entry gets a MAC (or a new one): workers holding packets look at
  // their hold queue only when it moved, or once a second to expire what waited too long.
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  // Control path.
  Status add_static(const NeighborKey& key, Mac mac);
  bool remove(const NeighborKey& key);
  size_t flush_interface(uint16_t rif);
  // Drops dynamic entries confirmed longer than max_age_s ago, and incomplete ones
  // nobody asked for in incomplete_s.
  size_t age(uint32_t now_s, uint32_t max_age_s, uint32_t incomplete_s);
  std::vector<NeighborEntry> entries(uint32_t now_s) const;

 private:
  static constexpr int kWays = 4;
  static constexpr uint64_t kEmpty = 0;
  static constexpr uint64_t kClaimed = UINT64_MAX;
  static constexpr uint64_t kMacMask = (uint64_t(1) << 48) - 1;
  static constexpr uint64_t kStatic = uint64_t(1) << 48;
  static constexpr uint64_t kIncomplete = uint64_t(1) << 49;
  // A way is claimed by moving rif from kEmpty to kClaimed, filled, then published by
  // storing the real rif last; readers check rif first and the address after it.
  struct alignas(64) Bucket {
    std::atomic<uint64_t> rif[kWays];
    std::atomic<uint64_t> hi[kWays], lo[kWays];
    std::atomic<uint64_t> value[kWays];  // MAC | kStatic | kIncomplete
    std::atomic<uint32_t> seen[kWays];   // last confirmed by ARP
    std::atomic<uint32_t> asked[kWays];  // last request sent
  };

  Bucket& bucket(const NeighborKey& key) const noexcept {
    return buckets_[((key.ip.lo ^ key.ip.hi * 31 ^ key.rif << 40) * 0x9E3779B97F4A7C15ull) >> shift_];
  }
  static bool holds(const Bucket& b, int way, const NeighborKey& key) noexcept;
  bool claim_and_fill(Bucket& b, int way, uint64_t expected_rif, const NeighborKey& key, uint64_t value, uint32_t now_s) noexcept;
  template <class Pred>
  size_t remove_if(Pred pred);

  uint32_t n_buckets_;
  int shift_;
  std::unique_ptr<Bucket[]> buckets_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace memswitch::detail
