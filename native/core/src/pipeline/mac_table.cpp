#include "memswitch/fib.h"

#include <bit>

namespace memswitch {

MacTable::MacTable(uint32_t capacity) {
  uint32_t buckets = std::bit_ceil(std::max<uint32_t>(capacity / kWays, 16));
  n_buckets_ = buckets;
  shift_ = 64 - std::countr_zero(buckets);
  buckets_ = std::make_unique<Bucket[]>(buckets);
  for (uint32_t i = 0; i < buckets; ++i)
    for (int w = 0; w < kWays; ++w) {
      buckets_[i].key[w].store(kEmpty, std::memory_order_relaxed);
      buckets_[i].port[w].store(kNoPort, std::memory_order_relaxed);
      buckets_[i].seen[w].store(0, std::memory_order_relaxed);
    }
}

uint32_t MacTable::lookup(uint64_t key) const noexcept {
  const Bucket& b = bucket(key);
  for (int w = 0; w < kWays; ++w) {
    if (b.key[w].load(std::memory_order_acquire) != key) continue;
    const uint32_t port = b.port[w].load(std::memory_order_acquire);
    // A writer may have reclaimed the slot between the two loads; a changed key means
    // the port we read may belong to another MAC, so report a miss (the frame floods).
    if (b.key[w].load(std::memory_order_acquire) != key) return kNoPort;
    return port & ~kStatic;
  }
  return kNoPort;
}

bool MacTable::claim_and_fill(Bucket& b, int w, uint64_t expected, uint64_t key, uint32_t port,
                              uint32_t now_s) noexcept {
  if (!b.key[w].compare_exchange_strong(expected, kClaimed, std::memory_order_acquire)) return false;
  b.port[w].store(port, std::memory_order_relaxed);
  b.seen[w].store(now_s, std::memory_order_relaxed);
  b.key[w].store(key, std::memory_order_release);  // pairs with lookup's acquire of key
  return true;
}

void MacTable::learn(uint64_t key, uint32_t port, uint32_t now_s) noexcept {
  Bucket& b = bucket(key);
  for (int w = 0; w < kWays; ++w) {
    if (b.key[w].load(std::memory_order_acquire) != key) continue;
    const uint32_t cur = b.port[w].load(std::memory_order_relaxed);
    if (cur & kStatic) return;
    // Write only on change: a refresh per packet would bounce the line between workers.
    if (cur != port) b.port[w].store(port, std::memory_order_release);
    if (b.seen[w].load(std::memory_order_relaxed) != now_s) b.seen[w].store(now_s, std::memory_order_relaxed);
    return;
  }
  for (int w = 0; w < kWays; ++w)
    if (b.key[w].load(std::memory_order_relaxed) == kEmpty && claim_and_fill(b, w, kEmpty, key, port, now_s)) return;
  // Full bucket: replace the least recently seen dynamic entry.
  int victim = -1;
  uint32_t oldest = UINT32_MAX;
  for (int w = 0; w < kWays; ++w) {
    const uint64_t k = b.key[w].load(std::memory_order_relaxed);
    if (k == kClaimed || (b.port[w].load(std::memory_order_relaxed) & kStatic)) continue;
    const uint32_t s = b.seen[w].load(std::memory_order_relaxed);
    if (s < oldest) oldest = s, victim = w;
  }
  if (victim < 0) return;  // all static: nothing to learn into; the frame still floods
  const uint64_t k = b.key[victim].load(std::memory_order_relaxed);
  if (claim_and_fill(b, victim, k, key, port, now_s)) evictions_.fetch_add(1, std::memory_order_relaxed);
}

Status MacTable::add_static(uint64_t key, uint32_t port) {
  Bucket& b = bucket(key);
  for (int w = 0; w < kWays; ++w)
    if (b.key[w].load(std::memory_order_acquire) == key) {
      b.port[w].store(port | kStatic, std::memory_order_release);
      return Status::ok();
    }
  for (int attempt = 0; attempt < 2; ++attempt)
    for (int w = 0; w < kWays; ++w) {
      const uint64_t k = b.key[w].load(std::memory_order_relaxed);
      const bool reusable = k == kEmpty || (attempt == 1 && k != kClaimed && !(b.port[w].load() & kStatic));
      if (reusable && claim_and_fill(b, w, k, key, port | kStatic, 0)) return Status::ok();
    }
  return make_error(Errc::kResourceExhausted, "MAC table bucket is full of static entries");
}

bool MacTable::remove(uint64_t key) {
  Bucket& b = bucket(key);
  for (int w = 0; w < kWays; ++w) {
    uint64_t k = key;
    if (b.key[w].compare_exchange_strong(k, kEmpty)) return true;
  }
  return false;
}

namespace {
template <class Pred>
size_t remove_if(uint32_t n, auto* buckets, Pred pred) {
  size_t removed = 0;
  for (uint32_t i = 0; i < n; ++i)
    for (int w = 0; w < 4; ++w) {
      uint64_t k = buckets[i].key[w].load(std::memory_order_acquire);
      if (k == 0 || k == UINT64_MAX) continue;
      if (pred(k, buckets[i].port[w].load(), buckets[i].seen[w].load()) &&
          buckets[i].key[w].compare_exchange_strong(k, 0))
        ++removed;
    }
  return removed;
}
}  // namespace

size_t MacTable::flush_port(uint32_t port, bool include_static) {
  return remove_if(n_buckets_, buckets_.get(), [&](uint64_t, uint32_t p, uint32_t) {
    return (p & ~kStatic) == port && (include_static || !(p & kStatic));
  });
}

size_t MacTable::flush_segment(uint16_t segment, bool include_static) {
  return remove_if(n_buckets_, buckets_.get(), [&](uint64_t k, uint32_t p, uint32_t) {
    return uint16_t(k >> 48) == segment && (include_static || !(p & kStatic));
  });
}

size_t MacTable::age(uint32_t now_s, uint32_t max_age_s) {
  return remove_if(n_buckets_, buckets_.get(), [&](uint64_t, uint32_t p, uint32_t seen) {
    return !(p & kStatic) && now_s - seen > max_age_s;
  });
}

std::vector<FibEntry> MacTable::entries(uint32_t now_s) const {
  std::vector<FibEntry> out;
  for (uint32_t i = 0; i < n_buckets_; ++i)
    for (int w = 0; w < kWays; ++w) {
      const uint64_t k = buckets_[i].key[w].load(std::memory_order_acquire);
      if (k == kEmpty || k == kClaimed) continue;
      const uint32_t p = buckets_[i].port[w].load();
      const bool st = p & kStatic;
      out.push_back({uint16_t(k >> 48), k & 0xFFFFFFFFFFFFull, p & ~kStatic, st,
                     st ? 0 : now_s - buckets_[i].seen[w].load()});
    }
  return out;
}

}  // namespace memswitch
