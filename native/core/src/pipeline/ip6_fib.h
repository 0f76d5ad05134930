// The IPv6 longest-prefix-match table of one router: an open-addressing hash per prefix
// length in use, probed longest first (VPP's ip6 FIB does the same over one hash). A
// lookup costs one probe per distinct length present, and real tables use a handful
// (/128 locals, /64 subnets, /48 sites, the default), while a 128-bit trie would cost up
// to sixteen dependent loads. A hash per length keeps the few /128s and /64s in a small
// table that stays in cache beside a million /48s: one miss per lookup, not three.
//
// One writer (the control thread, under the dataplane's lock), any number of lock-free
// readers: a slot's key is written before its state word is published, a removal only
// tombstones it, and a table is rebuilt (tombstones gone, grown) into a new one whose
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
    std::atomic<uint32_t> state{0};  // kEmpty, kTombstone or kLive
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
  // The same for n <= 256 addresses, a length at a time with prefetch, so the misses of
  // a big table overlap.
  void lookup_n(const Ip6* a, uint32_t* out, uint32_t n) const noexcept;

  // Control path. result != kNoRoute.
  void set(Ip6Prefix p, uint32_t result);
  std::optional<uint32_t> erase(Ip6Prefix p);
  std::optional<uint32_t> get(Ip6Prefix p) const;
  size_t size() const { return routes_.size(); }
  size_t memory_bytes() const;
  template <class F>
  void for_each(F f) const {  // by length, then address
    for (auto& [p, r] : routes_) f(p, r);
  }
  // Tables a rebuild replaced: no reader may hold them once a grace period passes.
  std::vector<std::unique_ptr<Table>> take_retired() { return std::move(retired_); }

 private:
  static constexpr uint32_t kEmpty = 0, kTombstone = 1, kLive = 2;
  static constexpr int kLengths = 129;
  // Both inline on the lookup path: a call passes the address through memory, where
  // the compiler's 16-byte loads of two 8-byte stores cannot be forwarded and stall.
  [[gnu::always_inline]] static uint32_t hash(Ip6 masked) noexcept;
  // The live slot holding `masked` in t, probing from slot `from`, or nullptr.
  [[gnu::always_inline]] static Slot* find(const Table& t, Ip6 masked, uint32_t from) noexcept;
  static Slot* find(const Table& t, Ip6 masked) noexcept { return find(t, masked, hash(masked) & t.mask); }
  static void insert(Table& t, Ip6 masked, uint32_t result);
  void rebuild(uint8_t len, uint32_t capacity);
  template <class F>
  [[gnu::always_inline]] void for_each_length(F f) const noexcept;  // longest first, while f returns true

  std::atomic<const Table*> tables_[kLengths] = {};  // by prefix length; set before its bit
  std::atomic<uint64_t> lengths_[3] = {};            // bit len % 64 of word len / 64: lengths in use
  // Control side.
  std::unique_ptr<Table> owned_[kLengths];
  uint32_t live_[kLengths] = {}, used_[kLengths] = {};  // routes; live and tombstoned slots
  // What the tables hold, a length's routes side by side (a rebuild reads one length).
  struct ByLength {
    bool operator()(const Ip6Prefix& a, const Ip6Prefix& b) const { return a.len != b.len ? a.len < b.len : a.addr < b.addr; }
  };
  std::map<Ip6Prefix, uint32_t, ByLength> routes_;
  std::vector<std::unique_ptr<Table>> retired_;
};

}  // namespace memswitch::detail
