#include "pipeline/conntrack.h"

#include <emmintrin.h>
#include <sys/mman.h>

#include <new>
#include <tuple>

#include "base/cpu.h"
#include "packet/ip.h"
#include "stats/counters.h"

namespace memswitch {

const char* flow_state_name(FlowState s) {
  switch (s) {
    case FlowState::tcp_syn_sent: return "syn-sent";
    case FlowState::tcp_established: return "established";
    case FlowState::tcp_closing: return "closing";
    case FlowState::udp: return "udp";
    case FlowState::icmp: return "icmp";
    case FlowState::other: return "other";
  }
  return "?";
}

namespace detail {

// One cache line: the sequence number and the slots' tags (16 hash bits each; 0: free),
// four to a word, so a lookup reads one line to find which of the sixteen entries can be
// its flow.
struct Conntrack::Bucket {
  std::atomic<uint32_t> seq;  // odd while a writer holds the bucket
  uint32_t pad0;
  std::atomic<uint64_t> tags[kWays / 4];
  uint8_t pad[24];

  uint16_t tag(uint32_t slot) const { return uint16_t(tags[slot / 4].load(std::memory_order_relaxed) >> (slot % 4 * 16)); }
  void set_tag(uint32_t slot, uint16_t t) {  // the lock held: no other writer
    std::atomic<uint64_t>& w = tags[slot / 4];
    const uint32_t shift = slot % 4 * 16;
    w.store((w.load(std::memory_order_relaxed) & ~(uint64_t(0xFFFF) << shift)) | uint64_t(t) << shift, std::memory_order_relaxed);
  }
  // Slots whose tag is t, a bit each: sixteen compares at once.
  uint32_t candidates(uint16_t t) const {
    const auto word = [&](int w) { return int64_t(tags[w].load(std::memory_order_relaxed)); };
    const __m128i want = _mm_set1_epi16(int16_t(t));
    const __m128i lo = _mm_cmpeq_epi16(_mm_set_epi64x(word(1), word(0)), want), hi = _mm_cmpeq_epi16(_mm_set_epi64x(word(3), word(2)), want);
    return uint32_t(_mm_movemask_epi8(_mm_packs_epi16(lo, hi)));
  }
};

enum : uint8_t { kOrigLow = 1, kReplied = 2, kFinLow = 4, kFinHigh = 8 };

struct alignas(64) Conntrack::Entry {
  std::atomic<uint64_t> key[5];
  std::atomic<uint32_t> last_s;  // written by any worker without the lock: only ever "now"
  std::atomic<uint32_t> created_s;
  std::atomic<uint8_t> state;    // FlowState
  std::atomic<uint8_t> flags;
};

struct Conntrack::Counters {
  alignas(64) std::atomic<uint64_t> created{0};
  std::atomic<uint64_t> removed{0};
  std::atomic<uint64_t> full{0};
};

namespace {

constexpr uint8_t proto_of(const FlowKey& k) { return uint8_t(k.w[4] >> 32); }

Conntrack::Probe place(const FlowKey& k, uint32_t mask) {
  uint64_t h = k.w[4] * 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 4; ++i) {
    h = (h ^ k.w[i]) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  const uint32_t b1 = uint32_t(h) & mask;
  uint32_t b2 = uint32_t(h >> 32) & mask;
  if (b2 == b1) b2 = b1 ^ (mask & 1);  // one bucket only in a one-bucket table
  return {b1, b2, uint16_t(uint16_t((h * 0x94D049BB133111EBull) >> 48) | 1)};
}

// The state a flow's first packet puts it in.
FlowState first_state(uint8_t proto, uint8_t tcp_flags) {
  if (proto == kProtoTcp) {
    if (tcp_flags & kTcpFin) return FlowState::tcp_closing;
    // Picked up mid-stream (as Linux's nf_conntrack_tcp_loose does): a rule permitted it.
    return (tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn ? FlowState::tcp_syn_sent : FlowState::tcp_established;
  }
  if (proto == kProtoUdp) return FlowState::udp;
  if (proto == kProtoIcmp || proto == kProtoIcmp6) return FlowState::icmp;
  return FlowState::other;
}

}  // namespace

FlowPacket flow_packet(uint32_t zone, uint8_t proto, IpAddress src, uint16_t sport, IpAddress dst, uint16_t dport, uint8_t tcp_flags) {
  const bool low = src.bits.hi != dst.bits.hi ? src.bits.hi < dst.bits.hi : src.bits.lo != dst.bits.lo ? src.bits.lo < dst.bits.lo : sport <= dport;
  const IpAddress& a = low ? src : dst;
  const IpAddress& b = low ? dst : src;
  const uint64_t pa = low ? sport : dport, pb = low ? dport : sport;
  return {{{a.bits.hi, a.bits.lo, b.bits.hi, b.bits.lo, pa | pb << 16 | uint64_t(proto) << 32 | uint64_t(zone) << 40}}, low, tcp_flags};
}

Conntrack::Conntrack(const ConntrackOptions& o, uint32_t workers)
    : timeouts_(o.timeouts), max_flows_(std::max(1u, o.max_flows)), workers_(workers), counters_(std::make_unique<Counters[]>(workers + 1)) {
  static_assert(sizeof(Bucket) == 64 && sizeof(Entry) == 64);
  // Two buckets of sixteen per flow keep a new flow from finding both full while at most
  // two thirds of the slots are used: 1.5 slots a flow, or more.
  uint64_t slots = kWays * 2;
  while (slots < uint64_t(max_flows_) * 3 / 2 && slots < (1u << 30)) slots <<= 1;
  mask_ = uint32_t(slots / kWays - 1);
  const size_t bucket_bytes = size_t(mask_ + 1) * sizeof(Bucket);
  mapped_ = bucket_bytes + size_t(slots) * sizeof(Entry);
  // Reserved, not committed: untouched pages read as zero (free slots) and cost nothing.
  // Flows land anywhere in the table: on 4 KiB pages nearly every lookup would also miss
  // the TLB, so the table asks for transparent huge pages, aligned to take them.
  constexpr size_t kHuge = 2u << 20;
  mapped_ = (mapped_ + kHuge - 1) & ~(kHuge - 1);
  void* raw = mmap(nullptr, mapped_ + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  uint8_t* m = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + kHuge - 1) & ~uintptr_t(kHuge - 1));
  if (m != raw) munmap(raw, size_t(m - static_cast<uint8_t*>(raw)));
  munmap(m + mapped_, kHuge - size_t(m - static_cast<uint8_t*>(raw)));
  madvise(m, mapped_, MADV_HUGEPAGE);
  buckets_ = reinterpret_cast<Bucket*>(m);
  entries_ = reinterpret_cast<Entry*>(m + bucket_bytes);
}

Conntrack::~Conntrack() { munmap(buckets_, mapped_); }

uint32_t Conntrack::timeout(uint8_t state) const {
  switch (FlowState(state)) {
    case FlowState::tcp_established: return timeouts_.tcp_established_s;
    case FlowState::tcp_syn_sent:
    case FlowState::tcp_closing: return timeouts_.tcp_transitory_s;
    case FlowState::icmp: return timeouts_.icmp_s;
    default: return timeouts_.udp_s;
  }
}

bool Conntrack::live(const Entry& e, uint32_t now_s) const {
  // Signed: a worker may have stamped a second the caller's clock has not reached.
  return int32_t(now_s - e.last_s.load(std::memory_order_relaxed)) <= int32_t(timeout(e.state.load(std::memory_order_relaxed)));
}

int Conntrack::find(uint32_t b, const FlowKey& k, uint16_t tag) const {
  for (uint32_t maybe = buckets_[b].candidates(tag); maybe; maybe &= maybe - 1) {
    const uint32_t i = uint32_t(__builtin_ctz(maybe));
    const Entry& e = entries_[size_t(b) * kWays + i];
    bool same = true;
    for (int w = 0; w < 5 && same; ++w) same = e.key[w].load(std::memory_order_relaxed) == k.w[w];
    if (same) return int(i);
  }
  return -1;
}

// A seqlock read: retried while a writer holds the bucket or changed it meanwhile.
int Conntrack::find_stable(uint32_t b, const FlowKey& k, uint16_t tag, uint32_t now_s, uint8_t* state) const {
  const std::atomic<uint32_t>& seq = buckets_[b].seq;
  for (;;) {
    const uint32_t before = seq.load(std::memory_order_acquire);
    if (before & 1) {
      cpu_relax();
      continue;
    }
    int slot = find(b, k, tag);
    if (slot >= 0) {
      const Entry& e = entries_[size_t(b) * kWays + uint32_t(slot)];
      *state = e.state.load(std::memory_order_relaxed);
      if (!live(e, now_s)) slot = -1;
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq.load(std::memory_order_relaxed) == before) return slot;
  }
}

void Conntrack::lock(uint32_t b) {
  std::atomic<uint32_t>& seq = buckets_[b].seq;
  for (;;) {
    uint32_t v = seq.load(std::memory_order_relaxed);
    if (!(v & 1) && seq.compare_exchange_weak(v, v + 1, std::memory_order_acquire)) break;
    cpu_relax();
  }
  std::atomic_thread_fence(std::memory_order_release);  // readers see odd before any change
}

void Conntrack::unlock(uint32_t b) { buckets_[b].seq.fetch_add(1, std::memory_order_release); }

// Under the bucket's lock: what a packet of a live flow changes.
void Conntrack::note(Entry& e, bool from_low, uint8_t tcp_flags, uint32_t now_s) {
  uint8_t flags = e.flags.load(std::memory_order_relaxed);
  const bool reply = from_low != bool(flags & kOrigLow);
  if (reply) flags |= kReplied;
  if (uint8_t(e.key[4].load(std::memory_order_relaxed) >> 32) == kProtoTcp) {
    uint8_t state = e.state.load(std::memory_order_relaxed);
    if (state == uint8_t(FlowState::tcp_syn_sent) && reply) state = uint8_t(FlowState::tcp_established);
    if (tcp_flags & kTcpFin) flags |= from_low ? kFinLow : kFinHigh, state = uint8_t(FlowState::tcp_closing);
    e.state.store(state, std::memory_order_relaxed);
  }
  e.flags.store(flags, std::memory_order_relaxed);
  e.last_s.store(now_s, std::memory_order_relaxed);
}

void Conntrack::free_slot(uint32_t b, uint32_t slot, uint32_t worker) {
  buckets_[b].set_tag(slot, 0);
  bump(counters_[worker].removed);
}

Conntrack::Probe Conntrack::probe(const FlowKey& k) const { return place(k, mask_); }

// A flow sits in its first bucket unless that was full when it opened (open() fills the
// first bucket first): a burst's lookups fetch only the first, and the second only for a
// flow the first has no candidate for. Fewer lines in flight is what makes them faster.
void Conntrack::prefetch_buckets(const Probe& at) const { __builtin_prefetch(&buckets_[at.b1]); }

void Conntrack::prefetch_entries(const Probe& at) const {
  uint32_t maybe = buckets_[at.b1].candidates(at.tag);
  if (!maybe) __builtin_prefetch(&buckets_[at.b2]);
  for (; maybe; maybe &= maybe - 1) __builtin_prefetch(&entries_[size_t(at.b1) * kWays + uint32_t(__builtin_ctz(maybe))]);
}

bool Conntrack::track(const FlowPacket& p, const Probe& at, uint32_t now_s, uint32_t worker) {
  uint8_t state = 0;
  uint32_t b = at.b1;
  int slot = find_stable(b, p.key, at.tag, now_s, &state);
  if (slot < 0) slot = find_stable(b = at.b2, p.key, at.tag, now_s, &state);
  if (slot < 0) return false;
  Entry& e = entries_[size_t(b) * kWays + uint32_t(slot)];
  const uint8_t flags = e.flags.load(std::memory_order_relaxed);
  const bool reply = p.from_low != bool(flags & kOrigLow);
  bool changes = reply && !(flags & kReplied);
  if (proto_of(p.key) == kProtoTcp) {
    const bool syn_only = (p.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn;
    if (syn_only && state == uint8_t(FlowState::tcp_closing)) return false;  // a new connection on old ports
    if (p.tcp_flags & kTcpRst) {
      // The RST itself passes; nothing after it does unless rules permit it anew.
      lock(b);
      if (find(b, p.key, at.tag) == slot) free_slot(b, uint32_t(slot), worker);
      unlock(b);
      return true;
    }
    changes |= (state == uint8_t(FlowState::tcp_syn_sent) && reply) || ((p.tcp_flags & kTcpFin) && !(flags & (p.from_low ? kFinLow : kFinHigh)));
  }
  if (changes) {
    lock(b);
    if (find(b, p.key, at.tag) == slot) note(e, p.from_low, p.tcp_flags, now_s);
    unlock(b);
  } else if (e.last_s.load(std::memory_order_relaxed) != now_s) {
    e.last_s.store(now_s, std::memory_order_relaxed);  // at most once a second: the line stays shared
  }
  return true;
}

bool Conntrack::known(const FlowKey& k, uint32_t now_s) const {
  const Probe at = place(k, mask_);
  uint8_t state;
  return find_stable(at.b1, k, at.tag, now_s, &state) >= 0 || find_stable(at.b2, k, at.tag, now_s, &state) >= 0;
}

bool Conntrack::open(const FlowPacket& p, uint32_t now_s, uint32_t worker) {
  const uint8_t proto = proto_of(p.key);
  if (proto == kProtoTcp && (p.tcp_flags & kTcpRst)) return true;  // ends what it would open
  const Probe at = place(p.key, mask_);
  const uint32_t lo = std::min(at.b1, at.b2), hi = std::max(at.b1, at.b2);
  lock(lo);
  if (hi != lo) lock(hi);
  const auto done = [&](bool ok) {
    if (hi != lo) unlock(hi);
    unlock(lo);
    return ok;
  };
  const auto write = [&](uint32_t b, uint32_t slot) {
    Entry& e = entries_[size_t(b) * kWays + slot];
    for (int w = 0; w < 5; ++w) e.key[w].store(p.key.w[w], std::memory_order_relaxed);
    e.state.store(uint8_t(first_state(proto, p.tcp_flags)), std::memory_order_relaxed);
    e.flags.store(uint8_t((p.from_low ? kOrigLow : 0) | ((p.tcp_flags & kTcpFin) ? (p.from_low ? kFinLow : kFinHigh) : 0)), std::memory_order_relaxed);
    e.created_s.store(now_s, std::memory_order_relaxed);
    e.last_s.store(now_s, std::memory_order_relaxed);
    buckets_[b].set_tag(slot, at.tag);
    bump(counters_[worker].created);
  };
  // Another worker may have opened it since this one looked; or it is there, expired or
  // closing, and starts over in its slot.
  for (uint32_t b : {at.b1, at.b2}) {
    const int slot = find(b, p.key, at.tag);
    if (slot < 0) continue;
    Entry& e = entries_[size_t(b) * kWays + uint32_t(slot)];
    const bool syn_only = (p.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn;
    if (live(e, now_s) && !(syn_only && e.state.load(std::memory_order_relaxed) == uint8_t(FlowState::tcp_closing))) {
      note(e, p.from_low, p.tcp_flags, now_s);
    } else {
      free_slot(b, uint32_t(slot), worker);
      write(b, uint32_t(slot));
    }
    return done(true);
  }
  // The first bucket with a free or expired slot (lookups look there first); at max_flows,
  // an expired one only (the sweeper has not freed it yet).
  const bool at_max = flows() >= max_flows_;
  int best_slot = -1;
  uint32_t best_b = 0;
  for (uint32_t b : {at.b1, at.b2}) {
    for (uint32_t i = 0; i < kWays && best_slot < 0; ++i) {
      const bool tagged = buckets_[b].tag(i) != 0;
      if ((!tagged && !at_max) || (tagged && !live(entries_[size_t(b) * kWays + i], now_s))) best_slot = int(i), best_b = b;
    }
    if (best_slot >= 0) break;
  }
  if (best_slot < 0) {
    bump(counters_[worker].full);
    return done(false);
  }
  if (buckets_[best_b].tag(uint32_t(best_slot)) != 0) free_slot(best_b, uint32_t(best_slot), worker);
  write(best_b, uint32_t(best_slot));
  return done(true);
}

void Conntrack::sweep(uint32_t now_s, uint32_t buckets) {
  for (uint32_t n = 0; n < buckets && n <= mask_; ++n) {
    const uint32_t b = sweep_at_++ & mask_;
    bool any = false;
    for (uint32_t i = 0; i < kWays && !any; ++i)
      any = buckets_[b].tag(i) != 0 && !live(entries_[size_t(b) * kWays + i], now_s);
    if (!any) continue;
    lock(b);
    for (uint32_t i = 0; i < kWays; ++i)
      if (buckets_[b].tag(i) != 0 && !live(entries_[size_t(b) * kWays + i], now_s)) free_slot(b, i, workers_);
    unlock(b);
  }
}

void Conntrack::clear() {
  for (uint32_t b = 0; b <= mask_; ++b) {
    bool any = false;
    for (uint32_t i = 0; i < kWays && !any; ++i) any = buckets_[b].tag(i) != 0;
    if (!any) continue;
    lock(b);
    for (uint32_t i = 0; i < kWays; ++i)
      if (buckets_[b].tag(i) != 0) free_slot(b, i, workers_);
    unlock(b);
  }
}

ConntrackPage Conntrack::list(uint64_t cursor, uint32_t limit, uint32_t now_s) const {
  ConntrackPage page;
  const uint64_t slots = uint64_t(mask_ + 1) * kWays;
  uint64_t s = cursor;
  for (; s < slots && page.flows.size() < limit; ++s) {
    const uint32_t b = uint32_t(s / kWays), i = uint32_t(s % kWays);
    if (buckets_[b].tag(i) == 0) continue;
    const Entry& e = entries_[s];
    const std::atomic<uint32_t>& seq = buckets_[b].seq;
    for (;;) {  // a consistent copy, as find_stable reads
      const uint32_t before = seq.load(std::memory_order_acquire);
      if (before & 1) {
        cpu_relax();
        continue;
      }
      ConntrackFlow f{};
      const bool used = buckets_[b].tag(i) != 0 && live(e, now_s);
      uint64_t w[5];
      for (int x = 0; x < 5; ++x) w[x] = e.key[x].load(std::memory_order_relaxed);
      const uint8_t state = e.state.load(std::memory_order_relaxed), flags = e.flags.load(std::memory_order_relaxed);
      const uint32_t last = e.last_s.load(std::memory_order_relaxed), created = e.created_s.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq.load(std::memory_order_relaxed) != before) continue;
      if (!used) break;
      const IpAddress low(Ip6{w[0], w[1]}), high(Ip6{w[2], w[3]});
      const uint16_t p_low = uint16_t(w[4]), p_high = uint16_t(w[4] >> 16);
      const bool orig_low = flags & kOrigLow;
      f.router = uint32_t(w[4] >> 40);  // the zone, for the caller to name
      f.proto = uint8_t(w[4] >> 32);
      f.src = orig_low ? low : high, f.dst = orig_low ? high : low;
      f.sport = orig_low ? p_low : p_high, f.dport = orig_low ? p_high : p_low;
      f.state = FlowState(state);
      f.replied = flags & kReplied;
      f.age_s = now_s - created;
      f.idle_s = int32_t(now_s - last) > 0 ? now_s - last : 0;
      f.expires_in_s = timeout(state) - f.idle_s;
      page.flows.push_back(f);
      break;
    }
  }
  page.next = s < slots ? s : 0;
  return page;
}

uint64_t Conntrack::flows() const {
  uint64_t created = 0, removed = 0;
  for (uint32_t w = 0; w <= workers_; ++w) {
    created += counters_[w].created.load(std::memory_order_relaxed);
    removed += counters_[w].removed.load(std::memory_order_relaxed);
  }
  return created - removed;
}

ConntrackStats Conntrack::stats() const {
  ConntrackStats s{0, max_flows_, 0, 0, timeouts_};
  uint64_t removed = 0;
  for (uint32_t w = 0; w <= workers_; ++w) {
    s.created += counters_[w].created.load(std::memory_order_relaxed);
    removed += counters_[w].removed.load(std::memory_order_relaxed);
    s.full += counters_[w].full.load(std::memory_order_relaxed);
  }
  s.flows = s.created - removed;
  return s;
}

}  // namespace detail
}  // namespace memswitch
