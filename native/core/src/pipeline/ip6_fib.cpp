#include "pipeline/ip6_fib.h"

#include <nmmintrin.h>

#include <bit>

namespace memswitch::detail {

namespace {
constexpr uint32_t kMinCapacity = 64;
}

Ip6Fib::Ip6Fib() : owned_(std::make_unique<Table>(kMinCapacity)) { table_.store(owned_.get(), std::memory_order_release); }

Ip6Fib::~Ip6Fib() = default;

uint32_t Ip6Fib::hash(Ip6 masked, uint8_t len) noexcept {
  uint64_t h = _mm_crc32_u64(len, masked.hi);
  h = _mm_crc32_u64(h, masked.lo);
  return uint32_t(h * 0x9E3779B1u >> 8);  // CRC's low bits are weak for linear probing
}

uint32_t Ip6Fib::lookup(Ip6 a) const noexcept {
  const Table& t = *table_.load(std::memory_order_acquire);
  for (int w = 2; w >= 0; --w) {
    for (uint64_t bits = lengths_[w].load(std::memory_order_acquire); bits;) {
      const int b = 63 - std::countl_zero(bits);
      bits &= ~(uint64_t(1) << b);
      const uint8_t len = uint8_t(w * 64 + b);
      const Ip6 m = ip6_and(a, ip6_mask(len));
      for (uint32_t i = hash(m, len) & t.mask;; i = (i + 1) & t.mask) {
        const Slot& s = t.slots[i];
        const uint32_t st = s.state.load(std::memory_order_acquire);
        if (st == kEmpty) break;
        if (st == kLive + len && s.hi.load(std::memory_order_relaxed) == m.hi && s.lo.load(std::memory_order_relaxed) == m.lo)
          return s.result.load(std::memory_order_relaxed);
      }
    }
  }
  return kNoRoute;
}

Ip6Fib::Slot* Ip6Fib::find(const Table& t, Ip6Prefix p) noexcept {
  for (uint32_t i = hash(p.addr, p.len) & t.mask;; i = (i + 1) & t.mask) {
    Slot& s = t.slots[i];
    const uint32_t st = s.state.load(std::memory_order_relaxed);
    if (st == kEmpty) return nullptr;
    if (st == kLive + p.len && s.hi.load(std::memory_order_relaxed) == p.addr.hi && s.lo.load(std::memory_order_relaxed) == p.addr.lo) return &s;
  }
}

// Into an empty slot only: a tombstone keeps its key until the next rebuild, so a reader
// that matched it never sees the key change under it.
void Ip6Fib::insert(Table& t, Ip6Prefix p, uint32_t result) {
  for (uint32_t i = hash(p.addr, p.len) & t.mask;; i = (i + 1) & t.mask) {
    Slot& s = t.slots[i];
    if (s.state.load(std::memory_order_relaxed) != kEmpty) continue;
    s.hi.store(p.addr.hi, std::memory_order_relaxed);
    s.lo.store(p.addr.lo, std::memory_order_relaxed);
    s.result.store(result, std::memory_order_relaxed);
    s.state.store(kLive + p.len, std::memory_order_release);
    return;
  }
}

void Ip6Fib::rebuild(uint32_t capacity) {
  auto t = std::make_unique<Table>(capacity);
  for (auto& [p, r] : routes_) insert(*t, p, r);
  table_.store(t.get(), std::memory_order_release);
  retired_.push_back(std::exchange(owned_, std::move(t)));
  used_ = uint32_t(routes_.size());
}

void Ip6Fib::set(Ip6Prefix p, uint32_t result) {
  auto [it, inserted] = routes_.try_emplace(p, result);
  if (!inserted) {
    it->second = result;
    find(*owned_, p)->result.store(result, std::memory_order_relaxed);
    return;
  }
  // At most half full counting tombstones, so probes stay short and always end.
  if (2 * (used_ + 1) > owned_->mask + 1) {
    rebuild(std::max(kMinCapacity, std::bit_ceil(uint32_t(routes_.size()) * 4)));  // routes_ has p: rebuild inserted it
  } else {
    insert(*owned_, p, result);
    ++used_;
  }
  if (per_length_[p.len]++ == 0) lengths_[p.len / 64].fetch_or(uint64_t(1) << (p.len % 64), std::memory_order_release);
}

std::optional<uint32_t> Ip6Fib::erase(Ip6Prefix p) {
  auto it = routes_.find(p);
  if (it == routes_.end()) return std::nullopt;
  const uint32_t result = it->second;
  routes_.erase(it);
  find(*owned_, p)->state.store(kTombstone, std::memory_order_release);
  if (--per_length_[p.len] == 0) lengths_[p.len / 64].fetch_and(~(uint64_t(1) << (p.len % 64)), std::memory_order_release);
  return result;
}

std::optional<uint32_t> Ip6Fib::get(Ip6Prefix p) const {
  auto it = routes_.find(p);
  if (it == routes_.end()) return std::nullopt;
  return it->second;
}

size_t Ip6Fib::memory_bytes() const {
  // The worker-side table and the control side's ordered copy (a red-black node each).
  return size_t(owned_->mask + 1) * sizeof(Slot) + routes_.size() * (sizeof(std::pair<const Ip6Prefix, uint32_t>) + 32);
}

}  // namespace memswitch::detail
