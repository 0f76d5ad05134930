#include "pipeline/ip6_fib.h"

#include <nmmintrin.h>

#include <bit>

namespace memswitch::detail {

namespace {
constexpr uint32_t kMinCapacity = 16;
}

Ip6Fib::Ip6Fib() = default;
Ip6Fib::~Ip6Fib() = default;

inline uint32_t Ip6Fib::hash(Ip6 masked) noexcept {
  const uint64_t h = _mm_crc32_u64(_mm_crc32_u64(0, masked.hi), masked.lo);
  return uint32_t(h * 0x9E3779B1u >> 8);  // CRC's low bits are weak for linear probing
}

template <class F>
inline void Ip6Fib::for_each_length(F f) const noexcept {
  for (int w = 2; w >= 0; --w)
    for (uint64_t bits = lengths_[w].load(std::memory_order_acquire); bits;) {
      const int b = 63 - std::countl_zero(bits);
      bits &= ~(uint64_t(1) << b);
      if (!f(uint8_t(w * 64 + b))) return;
    }
}

inline Ip6Fib::Slot* Ip6Fib::find(const Table& t, Ip6 m, uint32_t from) noexcept {
  for (uint32_t i = from;; i = (i + 1) & t.mask) {
    Slot& s = t.slots[i];
    const uint32_t st = s.state.load(std::memory_order_acquire);
    if (st == kEmpty) return nullptr;
    if (st == kLive && s.hi.load(std::memory_order_relaxed) == m.hi && s.lo.load(std::memory_order_relaxed) == m.lo) return &s;
  }
}

uint32_t Ip6Fib::lookup(Ip6 a) const noexcept {
  uint32_t result = kNoRoute;
  for_each_length([&](uint8_t len) {
    const Slot* s = find(*tables_[len].load(std::memory_order_acquire), ip6_and(a, ip6_mask(len)));
    if (s) result = s->result.load(std::memory_order_relaxed);
    return !s;
  });
  return result;
}

void Ip6Fib::lookup_n(const Ip6* a, uint32_t* out, uint32_t n) const noexcept {
  uint8_t pending[256];
  uint32_t n_pending = n;
  for (uint32_t i = 0; i < n; ++i) out[i] = kNoRoute, pending[i] = uint8_t(i);
  // Plain arrays, not Ip6's: those would be zeroed on every call, 4 KiB a length.
  uint64_t hi[256], lo[256];
  uint32_t slot[256];
  for_each_length([&](uint8_t len) __attribute__((always_inline)) {
    const Table& t = *tables_[len].load(std::memory_order_acquire);
    const Ip6 mask = ip6_mask(len);
    for (uint32_t j = 0; j < n_pending; ++j) {
      const Ip6 m = ip6_and(a[pending[j]], mask);
      hi[j] = m.hi, lo[j] = m.lo;
      slot[j] = hash(m) & t.mask;
      __builtin_prefetch(&t.slots[slot[j]]);
    }
    uint32_t still = 0;
    for (uint32_t j = 0; j < n_pending; ++j) {
      const uint32_t i = pending[j];
      if (const Slot* hit = find(t, {hi[j], lo[j]}, slot[j])) out[i] = hit->result.load(std::memory_order_relaxed);
      else pending[still++] = uint8_t(i);
    }
    n_pending = still;
    return n_pending > 0;
  });
}

// Into an empty slot only: a tombstone keeps its key until the next rebuild, so a reader
// that matched it never sees the key change under it.
void Ip6Fib::insert(Table& t, Ip6 m, uint32_t result) {
  for (uint32_t i = hash(m) & t.mask;; i = (i + 1) & t.mask) {
    Slot& s = t.slots[i];
    if (s.state.load(std::memory_order_relaxed) != kEmpty) continue;
    s.hi.store(m.hi, std::memory_order_relaxed);
    s.lo.store(m.lo, std::memory_order_relaxed);
    s.result.store(result, std::memory_order_relaxed);
    s.state.store(kLive, std::memory_order_release);
    return;
  }
}

void Ip6Fib::rebuild(uint8_t len, uint32_t capacity) {
  auto t = std::make_unique<Table>(capacity);
  for (auto it = routes_.lower_bound({{}, len}); it != routes_.end() && it->first.len == len; ++it) insert(*t, it->first.addr, it->second);
  tables_[len].store(t.get(), std::memory_order_release);
  if (owned_[len]) retired_.push_back(std::move(owned_[len]));
  owned_[len] = std::move(t);
  used_[len] = live_[len];
}

void Ip6Fib::set(Ip6Prefix p, uint32_t result) {
  auto [it, inserted] = routes_.try_emplace(p, result);
  if (!inserted) {
    it->second = result;
    find(*owned_[p.len], p.addr)->result.store(result, std::memory_order_relaxed);
    return;
  }
  ++live_[p.len];
  // At most half full counting tombstones, so probes stay short and always end.
  if (!owned_[p.len] || 2 * (used_[p.len] + 1) > owned_[p.len]->mask + 1) {
    rebuild(p.len, std::max(kMinCapacity, std::bit_ceil(live_[p.len] * 4)));  // routes_ has p: the rebuild inserted it
  } else {
    insert(*owned_[p.len], p.addr, result);
    ++used_[p.len];
  }
  if (live_[p.len] == 1) lengths_[p.len / 64].fetch_or(uint64_t(1) << (p.len % 64), std::memory_order_release);
}

std::optional<uint32_t> Ip6Fib::erase(Ip6Prefix p) {
  auto it = routes_.find(p);
  if (it == routes_.end()) return std::nullopt;
  const uint32_t result = it->second;
  routes_.erase(it);
  find(*owned_[p.len], p.addr)->state.store(kTombstone, std::memory_order_release);
  if (--live_[p.len] == 0) lengths_[p.len / 64].fetch_and(~(uint64_t(1) << (p.len % 64)), std::memory_order_release);
  return result;
}

std::optional<uint32_t> Ip6Fib::get(Ip6Prefix p) const {
  auto it = routes_.find(p);
  if (it == routes_.end()) return std::nullopt;
  return it->second;
}

size_t Ip6Fib::memory_bytes() const {
  // The worker-side tables and the control side's ordered copy (a red-black node each).
  size_t bytes = routes_.size() * (sizeof(std::pair<const Ip6Prefix, uint32_t>) + 32);
  for (const auto& t : owned_)
    if (t) bytes += size_t(t->mask + 1) * sizeof(Slot);
  return bytes;
}

}  // namespace memswitch::detail
