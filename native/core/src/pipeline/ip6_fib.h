// The IPv6 longest-prefix-match table of one router: one open-addressing hash of
// (prefix, length) and the set of lengths in use, probed longest first (VPP's ip6 FIB
// shape). A lookup costs one probe per distinct length present, and real tables use a
// handful (/128 locals, /64 subnets, /48 sites, the default), while a 128-bit trie
// would cost up to sixteen dependent loads.
//
// One writer (the control thread, under the dataplane's lock), any number of lock-free
// readers: a slot's key is written before its state word is published, a removal only
// tombstones it, and the table is rebuilt (tombstones gone, grown) into a new one whose
// predecessor is freed after a grace period (take_retired()).
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "memswitch/result.h"
#include "memswitch/routing.h"

namespace memswitch::detail {

class Ip6Fib {
 public:
  static constexpr uint32_t kNoRoute = 0;

  struct Slot {
    std::atomic<uint32_t> state{0};  // kEmpty, kTombstone, or kLive + prefix length
    std::atomic<uint32_t> result{0};
    std::atomic<uint64_t> hi{0}, lo{0};
  };
  struct Table {
    explicit Table(uint32_t capacity) : mask(capacity - 1), slots(std::make_unique<Slot[]>(capacity)) {}
    uint32_t mask;
    std::unique_ptr<Slot[]> slots;
  };

  Ip6Fib();
  ~Ip6Fib();
  Ip6Fib(const Ip6Fib&) = delete;
  Ip6Fib& operator=(const Ip6Fib&) = delete;

  // Worker path: the result of the longest prefix holding `a`, or kNoRoute.
  uint32_t lookup(Ip6 a) const noexcept;

  // Control path. result != kNoRoute.
  void set(Ip6Prefix p, uint32_t result);
  std::optional<uint32_t> erase(Ip6Prefix p);
  std::optional<uint32_t> get(Ip6Prefix p) const;
  size_t size() const { return routes_.size(); }
  size_t memory_bytes() const;
  template <class F>
  void for_each(F f) const {
    for (auto& [p, r] : routes_) f(p, r);
  }
  // Tables a rebuild replaced: no reader may hold them once a grace period passes.
  std::vector<std::unique_ptr<Table>> take_retired() { return std::move(retired_); }

 private:
  static constexpr uint32_t kEmpty = 0, kTombstone = 1, kLive = 2;
  static uint32_t hash(Ip6 masked, uint8_t len) noexcept;
  // The live slot holding p in t, or nullptr.
  static Slot* find(const Table& t, Ip6Prefix p) noexcept;
  void insert(Table& t, Ip6Prefix p, uint32_t result);
  void rebuild(uint32_t capacity);

  std::atomic<Table*> table_;
  std::unique_ptr<Table> owned_;                   // what table_ points at
  std::atomic<uint64_t> lengths_[3] = {};          // bit len % 64 of word len / 64: lengths in use
  uint32_t per_length_[129] = {};                  // control side: routes per length
  uint32_t used_ = 0;                              // live and tombstoned slots
  std::map<Ip6Prefix, uint32_t> routes_;           // what the table holds, in order
  std::vector<std::unique_ptr<Table>> retired_;
};

}  // namespace memswitch::detail
