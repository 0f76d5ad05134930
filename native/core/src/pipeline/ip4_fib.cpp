#include "pipeline/ip4_fib.h"

#include <sys/mman.h>

namespace memswitch::detail {

namespace {
constexpr uint32_t kRootSlots = 1u << 16;
constexpr size_t kPlyBytes = 256 * sizeof(std::atomic<uint32_t>);
}  // namespace

Ip4Fib::Ip4Fib(uint32_t max_plies) : root_(std::make_unique<Entry[]>(kRootSlots)), root_lens_(std::make_unique<uint8_t[]>(kRootSlots)), max_plies_(max_plies) {
  for (uint32_t s = 0; s < kRootSlots; ++s) root_[s].store(leaf(kNoRoute), std::memory_order_relaxed);
  // Address space only: pages are committed as plies are first written, so a router
  // with a few routes costs its root and nothing more.
  void* m = mmap(nullptr, size_t(max_plies) * kPlyBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    max_plies_ = 0;
  } else {
    plies_ = static_cast<Entry*>(m);
    // A big table is read at random: 2 MiB pages where the kernel has them spare one
    // TLB miss per lookup (transparent hugepages in madvise mode, Debian's default).
    madvise(m, size_t(max_plies) * kPlyBytes, MADV_HUGEPAGE);
  }
}

Ip4Fib::~Ip4Fib() {
  if (plies_) munmap(plies_, size_t(max_plies_) * kPlyBytes);
}

void Ip4Fib::lookup_n(const Ip4* a, uint32_t* out, uint32_t n) const noexcept {
  for (uint32_t i = 0; i < n; ++i) {
    out[i] = root_[a[i] >> 16].load(std::memory_order_acquire);
    if (!is_leaf(out[i])) __builtin_prefetch(ply(out[i]) + ((a[i] >> 8) & 0xFF));
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (is_leaf(out[i])) continue;
    out[i] = ply(out[i])[(a[i] >> 8) & 0xFF].load(std::memory_order_acquire);
    if (!is_leaf(out[i])) __builtin_prefetch(ply(out[i]) + (a[i] & 0xFF));
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (!is_leaf(out[i])) out[i] = ply(out[i])[a[i] & 0xFF].load(std::memory_order_acquire);
    out[i] >>= 1;
  }
}

std::optional<uint32_t> Ip4Fib::descend(Entry* e, uint8_t* lens, uint32_t slot) {
  const uint32_t v = e[slot].load(std::memory_order_relaxed);
  if (!is_leaf(v)) return v;
  const uint8_t len = lens[slot];  // before lens_ grows: `lens` may point into it
  uint32_t idx;
  if (!free_.empty()) {
    idx = free_.back();
    free_.pop_back();
  } else if (next_ply_ < max_plies_) {
    idx = next_ply_++;
    lens_.resize(size_t(next_ply_) * 256);
  } else {
    return std::nullopt;
  }
  const uint32_t link = idx << 1;
  Entry* p = ply(link);
  uint8_t* pl = ply_lens(link);
  for (uint32_t s = 0; s < 256; ++s) {
    p[s].store(v, std::memory_order_relaxed);
    pl[s] = len;
  }
  e[slot].store(link, std::memory_order_release);  // filled before it is reachable
  return link;
}

void Ip4Fib::fill(Entry* e, uint8_t* lens, uint32_t from, uint32_t count, uint32_t leaf_value, uint8_t len, bool replace_exact, uint8_t old_len) {
  for (uint32_t s = from; s < from + count; ++s) {
    const uint32_t v = e[s].load(std::memory_order_relaxed);
    if (!is_leaf(v)) {
      fill(ply(v), ply_lens(v), 0, 256, leaf_value, len, replace_exact, old_len);
      continue;
    }
    if (replace_exact ? lens[s] == old_len : lens[s] <= len) {
      lens[s] = len;
      e[s].store(leaf_value, std::memory_order_release);
    }
  }
}

void Ip4Fib::write(Ip4Prefix p, uint32_t leaf_value, uint8_t len, bool replace_exact, uint8_t old_len) {
  if (p.len <= 16) return fill(root_.get(), root_lens_.get(), p.addr >> 16, 1u << (16 - p.len), leaf_value, len, replace_exact, old_len);
  const uint32_t l2 = root_[p.addr >> 16].load(std::memory_order_relaxed);
  if (p.len <= 24) return fill(ply(l2), ply_lens(l2), (p.addr >> 8) & 0xFF, 1u << (24 - p.len), leaf_value, len, replace_exact, old_len);
  const uint32_t l3 = ply(l2)[(p.addr >> 8) & 0xFF].load(std::memory_order_relaxed);
  fill(ply(l3), ply_lens(l3), p.addr & 0xFF, 1u << (32 - p.len), leaf_value, len, replace_exact, old_len);
}

Status Ip4Fib::set(Ip4Prefix p, uint32_t result) {
  // The plies on the prefix's path first, so running out of them changes nothing visible.
  if (p.len > 16) {
    auto l2 = descend(root_.get(), root_lens_.get(), p.addr >> 16);
    if (!l2) return make_error(Errc::kResourceExhausted, "IPv4 route table is full");
    if (p.len > 24 && !descend(ply(*l2), ply_lens(*l2), (p.addr >> 8) & 0xFF)) {
      collapse(p.addr);
      return make_error(Errc::kResourceExhausted, "IPv4 route table is full");
    }
  }
  routes_[key(p)] = result;
  write(p, leaf(result), p.len, /*replace_exact=*/false, 0);
  return Status::ok();
}

std::optional<uint32_t> Ip4Fib::erase(Ip4Prefix p) {
  auto it = routes_.find(key(p));
  if (it == routes_.end()) return std::nullopt;
  const uint32_t was = it->second;
  routes_.erase(it);
  uint32_t cover = kNoRoute;
  uint8_t cover_len = 0;
  for (int l = int(p.len) - 1; l >= 0; --l) {
    auto c = routes_.find(key({p.addr & ip4_mask(uint8_t(l)), uint8_t(l)}));
    if (c != routes_.end()) {
      cover = c->second, cover_len = uint8_t(l);
      break;
    }
  }
  write(p, leaf(cover), cover_len, /*replace_exact=*/true, p.len);
  if (p.len > 16) collapse(p.addr);
  return was;
}

std::optional<uint32_t> Ip4Fib::get(Ip4Prefix p) const {
  auto it = routes_.find(key(p));
  if (it == routes_.end()) return std::nullopt;
  return it->second;
}

bool Ip4Fib::uniform(uint32_t link, uint8_t max_len) {
  const Entry* p = ply(link);
  const uint8_t* pl = ply_lens(link);
  const uint32_t first = p[0].load(std::memory_order_relaxed);
  if (!is_leaf(first) || pl[0] > max_len) return false;
  for (uint32_t s = 1; s < 256; ++s)
    if (p[s].load(std::memory_order_relaxed) != first || pl[s] != pl[0]) return false;
  return true;
}

void Ip4Fib::collapse(Ip4 addr) {
  const uint32_t root_slot = addr >> 16;
  const uint32_t l2 = root_[root_slot].load(std::memory_order_relaxed);
  if (is_leaf(l2)) return;
  Entry* p2 = ply(l2);
  const uint32_t slot2 = (addr >> 8) & 0xFF;
  const uint32_t l3 = p2[slot2].load(std::memory_order_relaxed);
  if (!is_leaf(l3) && uniform(l3, 24)) {
    ply_lens(l2)[slot2] = ply_lens(l3)[0];
    p2[slot2].store(ply(l3)[0].load(std::memory_order_relaxed), std::memory_order_release);
    retired_.push_back(l3 >> 1);
  }
  if (uniform(l2, 16)) {
    root_lens_[root_slot] = ply_lens(l2)[0];
    root_[root_slot].store(p2[0].load(std::memory_order_relaxed), std::memory_order_release);
    retired_.push_back(l2 >> 1);
  }
}

size_t Ip4Fib::memory_bytes() const {
  const size_t root = kRootSlots * (sizeof(Entry) + 1);
  const size_t plies = size_t(next_ply_) * (kPlyBytes + 256);
  // An unordered_map node: the key, the value and the next pointer, plus a bucket slot.
  const size_t index = routes_.size() * (sizeof(uint64_t) + sizeof(uint32_t) + 2 * sizeof(void*)) + routes_.bucket_count() * sizeof(void*);
  return root + plies + index;
}

}  // namespace memswitch::detail
