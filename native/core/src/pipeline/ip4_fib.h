// The IPv4 longest-prefix-match table of one router: a 16-8-8 multibit trie (VPP's
// ip4_mtrie shape). A 64 Ki-entry root indexed by the top 16 bits, then 256-entry plies
// for bits 16-23 and 24-31, made only where a longer prefix needs them: at most three
// dependent loads, and a root of 256 KiB that stays in cache, so small tables cost a
// cache hit and a million routes cost about one miss (pipeline.md §4 weighs this
// against DIR-24-8's 64 MiB first level; bench/README.md has the measurement).
//
// One writer (the control thread, under the dataplane's lock), any number of lock-free
// readers: every entry is one atomic word, a new ply is filled before it is linked, and
// a ply a removal empties is handed back only after a grace period (take_retired()).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "memswitch/result.h"
#include "memswitch/routing.h"

namespace memswitch::detail {

class Ip4Fib {
 public:
  static constexpr uint32_t kNoRoute = 0;  // the result of a lookup that matches nothing

  explicit Ip4Fib(uint32_t max_plies = 1u << 21);
  ~Ip4Fib();
  Ip4Fib(const Ip4Fib&) = delete;
  Ip4Fib& operator=(const Ip4Fib&) = delete;

  // Worker path: the result of the longest prefix holding `a`, or kNoRoute.
  uint32_t lookup(Ip4 a) const noexcept {
    uint32_t e = root_[a >> 16].load(std::memory_order_acquire);
    if (!is_leaf(e)) {
      e = ply(e)[(a >> 8) & 0xFF].load(std::memory_order_acquire);
      if (!is_leaf(e)) e = ply(e)[a & 0xFF].load(std::memory_order_acquire);
    }
    return e >> 1;
  }
  // The same for n addresses, level by level with prefetch, so the misses overlap.
  void lookup_n(const Ip4* a, uint32_t* out, uint32_t n) const noexcept;

  // Control path. result != kNoRoute. ENOSPC when the ply space is exhausted.
  Status set(Ip4Prefix p, uint32_t result);
  // The next longer prefix still in the table takes over the removed one's addresses.
  // Returns the result the prefix had.
  std::optional<uint32_t> erase(Ip4Prefix p);
  std::optional<uint32_t> get(Ip4Prefix p) const;
  size_t size() const { return routes_.size(); }
  size_t memory_bytes() const;
  template <class F>
  void for_each(F f) const {
    for (auto& [k, r] : routes_) f(Ip4Prefix{Ip4(k >> 8), uint8_t(k & 0xFF)}, r);
  }

  // Plies that removals unlinked: no reader may hold them once a grace period passes,
  // after which the caller gives them back with reuse().
  std::vector<uint32_t> take_retired() { return std::move(retired_); }
  void reuse(const std::vector<uint32_t>& plies) { free_.insert(free_.end(), plies.begin(), plies.end()); }

 private:
  using Entry = std::atomic<uint32_t>;
  // A leaf holds (result << 1) | 1, a link holds (ply index << 1).
  static bool is_leaf(uint32_t e) { return e & 1; }
  static uint32_t leaf(uint32_t result) { return (result << 1) | 1; }
  Entry* ply(uint32_t link) const { return plies_ + size_t(link >> 1) * 256; }
  uint8_t* ply_lens(uint32_t link) { return lens_.data() + size_t(link >> 1) * 256; }
  static uint64_t key(Ip4Prefix p) { return uint64_t(p.addr) << 8 | p.len; }

  // The ply under e[slot] (made from the leaf there if need be); nullopt when out of plies.
  std::optional<uint32_t> descend(Entry* e, uint8_t* lens, uint32_t slot);
  // Writes `leaf` of prefix length `len` into [from, from+count) wherever a prefix no
  // longer than `len` was (set), or wherever exactly `len` was (erase: replace).
  void fill(Entry* e, uint8_t* lens, uint32_t from, uint32_t count, uint32_t leaf_value, uint8_t len, bool replace_exact, uint8_t old_len);
  void write(Ip4Prefix p, uint32_t leaf_value, uint8_t len, bool replace_exact, uint8_t old_len);
  // Folds plies that became one uniform leaf back into their parent slot.
  void collapse(Ip4 addr);
  bool uniform(uint32_t link, uint8_t max_len);

  std::unique_ptr<Entry[]> root_;
  std::unique_ptr<uint8_t[]> root_lens_;  // prefix length of the leaf in each root slot
  Entry* plies_ = nullptr;                // reserved address space, committed as touched
  uint32_t max_plies_;
  uint32_t next_ply_ = 0;
  std::vector<uint8_t> lens_;  // per ply slot, control side only
  std::vector<uint32_t> free_, retired_;
  std::unordered_map<uint64_t, uint32_t> routes_;  // prefix -> result: what the trie holds
};

}  // namespace memswitch::detail
