#include "pipeline/neighbor_table.h"

#include <algorithm>
#include <bit>

namespace memswitch::detail {

NeighborTable::NeighborTable(uint32_t capacity) {
  n_buckets_ = std::bit_ceil(std::max<uint32_t>(capacity / kWays, 16));
  shift_ = 64 - std::countr_zero(n_buckets_);
  buckets_ = std::make_unique<Bucket[]>(n_buckets_);
  for (uint32_t i = 0; i < n_buckets_; ++i)
    for (int w = 0; w < kWays; ++w) {
      buckets_[i].rif[w].store(kEmpty, std::memory_order_relaxed);
      buckets_[i].hi[w].store(0, std::memory_order_relaxed);
      buckets_[i].lo[w].store(0, std::memory_order_relaxed);
      buckets_[i].value[w].store(0, std::memory_order_relaxed);
      buckets_[i].seen[w].store(0, std::memory_order_relaxed);
      buckets_[i].asked[w].store(0, std::memory_order_relaxed);
    }
}

// The address is read after the rif that published it. A way removed and claimed again
// for another address of the same interface between those loads could mix the two; the
// window is a few instructions against a control-thread removal, and the cost one frame
// to a stale MAC, so no sequence counter is paid for on every lookup.
bool NeighborTable::holds(const Bucket& b, int w, const NeighborKey& key) noexcept {
  return b.rif[w].load(std::memory_order_acquire) == key.rif && b.lo[w].load(std::memory_order_relaxed) == key.ip.lo &&
         b.hi[w].load(std::memory_order_relaxed) == key.ip.hi;
}

bool NeighborTable::claim_and_fill(Bucket& b, int w, uint64_t expected, const NeighborKey& key, uint64_t value, uint32_t now_s) noexcept {
  if (!b.rif[w].compare_exchange_strong(expected, kClaimed, std::memory_order_acquire)) return false;
  b.hi[w].store(key.ip.hi, std::memory_order_relaxed);
  b.lo[w].store(key.ip.lo, std::memory_order_relaxed);
  b.value[w].store(value, std::memory_order_relaxed);
  b.seen[w].store(now_s, std::memory_order_relaxed);
  b.asked[w].store(now_s, std::memory_order_relaxed);
  b.rif[w].store(key.rif, std::memory_order_release);
  return true;
}

Mac NeighborTable::resolve(const NeighborKey& key, uint32_t now_s, uint32_t refresh_s, bool* ask) noexcept {
  *ask = false;
  Bucket& b = bucket(key);
  for (int w = 0; w < kWays; ++w) {
    if (!holds(b, w, key)) continue;
    const uint64_t v = b.value[w].load(std::memory_order_acquire);
    if (b.rif[w].load(std::memory_order_acquire) != key.rif) return 0;  // removed meanwhile
    const bool stale = (v & kIncomplete) || (!(v & kStatic) && now_s - b.seen[w].load(std::memory_order_relaxed) > refresh_s);
    if (stale) {
      uint32_t asked = b.asked[w].load(std::memory_order_relaxed);
      // One request per entry per second across all workers: whoever moves `asked` sends.
      *ask = asked != now_s && b.asked[w].compare_exchange_strong(asked, now_s, std::memory_order_relaxed);
    }
    return (v & kIncomplete) ? 0 : (v & kMacMask);
  }
  for (int w = 0; w < kWays; ++w)
    if (b.rif[w].load(std::memory_order_relaxed) == kEmpty && claim_and_fill(b, w, kEmpty, key, kIncomplete, now_s)) {
      *ask = true;
      return 0;
    }
  // Full bucket: ask anyway (the answer finds a slot once one ages out); rate-limited
  // by the caller's hold queue, which refuses more than a few packets per neighbour.
  *ask = true;
  return 0;
}

Mac NeighborTable::find(const NeighborKey& key) const noexcept {
  const Bucket& b = bucket(key);
  for (int w = 0; w < kWays; ++w) {
    if (!holds(b, w, key)) continue;
    const uint64_t v = b.value[w].load(std::memory_order_acquire);
    if (b.rif[w].load(std::memory_order_acquire) != key.rif || (v & kIncomplete)) return 0;
    return v & kMacMask;
  }
  return 0;
}

void NeighborTable::learn(const NeighborKey& key, Mac mac, uint32_t now_s, bool create) noexcept {
  Bucket& b = bucket(key);
  for (int w = 0; w < kWays; ++w) {
    if (!holds(b, w, key)) continue;
    const uint64_t v = b.value[w].load(std::memory_order_relaxed);
    if (v & kStatic) return;
    if (v != mac) {
      b.value[w].store(mac, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (b.seen[w].load(std::memory_order_relaxed) != now_s) b.seen[w].store(now_s, std::memory_order_relaxed);
    return;
  }
  if (!create) return;
  generation_.fetch_add(1, std::memory_order_release);
  for (int w = 0; w < kWays; ++w)
    if (b.rif[w].load(std::memory_order_relaxed) == kEmpty && claim_and_fill(b, w, kEmpty, key, mac, now_s)) return;
  // Full: replace the least recently confirmed dynamic entry.
  int victim = -1;
  uint32_t oldest = UINT32_MAX;
  for (int w = 0; w < kWays; ++w) {
    const uint64_t k = b.rif[w].load(std::memory_order_relaxed);
    if (k == kClaimed || (b.value[w].load(std::memory_order_relaxed) & kStatic)) continue;
    const uint32_t s = b.seen[w].load(std::memory_order_relaxed);
    if (s < oldest) oldest = s, victim = w;
  }
  if (victim >= 0) claim_and_fill(b, victim, b.rif[victim].load(std::memory_order_relaxed), key, mac, now_s);
}

Status NeighborTable::add_static(const NeighborKey& key, Mac mac) {
  Bucket& b = bucket(key);
  for (int w = 0; w < kWays; ++w)
    if (holds(b, w, key)) {
      b.value[w].store(mac | kStatic, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
      return Status::ok();
    }
  for (int attempt = 0; attempt < 2; ++attempt)
    for (int w = 0; w < kWays; ++w) {
      const uint64_t k = b.rif[w].load(std::memory_order_relaxed);
      const bool reusable = k == kEmpty || (attempt == 1 && k != kClaimed && !(b.value[w].load() & kStatic));
      if (reusable && claim_and_fill(b, w, k, key, mac | kStatic, 0)) {
        generation_.fetch_add(1, std::memory_order_release);
        return Status::ok();
      }
    }
  return make_error(Errc::kResourceExhausted, "neighbour table bucket is full of static entries");
}

bool NeighborTable::remove(const NeighborKey& key) {
  Bucket& b = bucket(key);
  for (int w = 0; w < kWays; ++w) {
    uint64_t k = key.rif;
    if (holds(b, w, key) && b.rif[w].compare_exchange_strong(k, kEmpty)) return true;
  }
  return false;
}

template <class Pred>
size_t NeighborTable::remove_if(Pred pred) {
  size_t removed = 0;
  for (uint32_t i = 0; i < n_buckets_; ++i)
    for (int w = 0; w < kWays; ++w) {
      Bucket& b = buckets_[i];
      uint64_t k = b.rif[w].load(std::memory_order_acquire);
      if (k == kEmpty || k == kClaimed) continue;
      if (pred(k, b.value[w].load(), b.seen[w].load(), b.asked[w].load()) && b.rif[w].compare_exchange_strong(k, kEmpty)) ++removed;
    }
  return removed;
}

size_t NeighborTable::flush_interface(uint16_t rif) {
  return remove_if([&](uint64_t k, uint64_t, uint32_t, uint32_t) { return k == rif; });
}

size_t NeighborTable::age(uint32_t now_s, uint32_t max_age_s, uint32_t incomplete_s) {
  return remove_if([&](uint64_t, uint64_t v, uint32_t seen, uint32_t asked) {
    if (v & kStatic) return false;
    return (v & kIncomplete) ? now_s - asked > incomplete_s : now_s - seen > max_age_s;
  });
}

std::vector<NeighborEntry> NeighborTable::entries(uint32_t now_s) const {
  std::vector<NeighborEntry> out;
  for (uint32_t i = 0; i < n_buckets_; ++i)
    for (int w = 0; w < kWays; ++w) {
      const Bucket& b = buckets_[i];
      const uint64_t k = b.rif[w].load(std::memory_order_acquire);
      if (k == kEmpty || k == kClaimed) continue;
      const uint64_t v = b.value[w].load();
      const bool st = v & kStatic, inc = v & kIncomplete;
      out.push_back({uint32_t(k), IpAddress(Ip6{b.hi[w].load(), b.lo[w].load()}), inc ? 0 : (v & kMacMask), st, inc,
                     st ? 0 : now_s - (inc ? b.asked[w].load() : b.seen[w].load())});
    }
  return out;
}

}  // namespace memswitch::detail
