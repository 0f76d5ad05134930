// The IPv4 neighbours (ARP) of every router interface: a fixed-size concurrent hash
// keyed by (router interface, address). Workers create incomplete entries when they ask
// for a next hop and fill them from ARP; the control thread adds static entries and ages
// dynamic ones. Same slot-claiming scheme as MacTable: no locks on either side.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "memswitch/ethernet.h"
#include "memswitch/result.h"
#include "memswitch/routing.h"

namespace memswitch::detail {

class NeighborTable {
 public:
  static uint64_t key(uint16_t rif, Ip4 ip) { return uint64_t(rif) << 32 | ip; }  // rif >= 1: never 0

  explicit NeighborTable(uint32_t capacity);

  // Worker path. The neighbour's MAC, or 0 while it is unknown. `ask` is set when this
  // caller should send an ARP request now: the entry is new, its last request is a
  // second old, or (resolved) it was last confirmed more than `refresh_s` ago.
  Mac resolve(uint64_t key, uint32_t now_s, uint32_t refresh_s, bool* ask) noexcept;
  // The MAC if resolved, else 0; changes nothing.
  Mac find(uint64_t key) const noexcept;
  // Worker path: what ARP told us. Updates an existing dynamic entry; creates one only
  // if `create` (an ARP request addressed to us: the sender will talk to us next).
  void learn(uint64_t key, Mac mac, uint32_t now_s, bool create) noexcept;

  // Moves whenever an entry gets a MAC (or a new one): workers holding packets look at
  // their hold queue only when it moved, or once a second to expire what waited too long.
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  // Control path.
  Status add_static(uint64_t key, Mac mac);
  bool remove(uint64_t key);
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
  struct alignas(64) Bucket {
    std::atomic<uint64_t> key[kWays];
    std::atomic<uint64_t> value[kWays];  // MAC | kStatic | kIncomplete
    std::atomic<uint32_t> seen[kWays];   // last confirmed by ARP
    std::atomic<uint32_t> asked[kWays];  // last request sent
  };

  Bucket& bucket(uint64_t key) const noexcept { return buckets_[(key * 0x9E3779B97F4A7C15ull) >> shift_]; }
  bool claim_and_fill(Bucket& b, int way, uint64_t expected, uint64_t key, uint64_t value, uint32_t now_s) noexcept;
  template <class Pred>
  size_t remove_if(Pred pred);

  uint32_t n_buckets_;
  int shift_;
  std::unique_ptr<Bucket[]> buckets_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace memswitch::detail
