#include "pipeline/fragments.h"

namespace memswitch::detail {

FragmentTable::FragmentTable() : entries_(std::make_unique<Entry[]>(kSets * kWays)) {}

namespace {

uint32_t set_of(const FragmentId& d) {
  uint64_t h = (d.src.bits.lo ^ d.src.bits.hi * 31) * 0x9E3779B97F4A7C15ull;
  h ^= (d.dst.bits.lo ^ d.dst.bits.hi * 31) * 0xBF58476D1CE4E5B9ull;
  h ^= (uint64_t(d.id) << 8 | d.proto) * 0x94D049BB133111EBull;
  return uint32_t(h >> 40) % FragmentTable::kSets;
}

}  // namespace

FragmentTable::Entry* FragmentTable::lookup(const FragmentId& d, uint32_t now_s, bool make) {
  Entry* set = &entries_[size_t(set_of(d)) * kWays];
  Entry* victim = nullptr;
  uint64_t victim_age = 0;
  for (uint32_t w = 0; w < kWays; ++w) {
    Entry& e = set[w];
    const bool alive = e.used && now_s - e.since_s <= kLifeS;
    if (alive && e.id == d) return &e;
    // A free or expired entry, else the one whose datagram started longest ago.
    const uint64_t age = alive ? now_s - e.since_s : UINT64_MAX;
    if (!victim || age > victim_age) victim = &e, victim_age = age;
  }
  if (!make) return nullptr;
  *victim = Entry{};
  victim->used = true;
  victim->id = d;
  victim->since_s = now_s;
  return victim;
}

FragmentVerdict FragmentTable::note(const FragmentId& d, uint32_t offset, uint32_t end, uint32_t now_s, FragmentTransport* t) {
  Entry& e = *lookup(d, now_s, true);
  if (++e.pieces > kMaxPieces) return FragmentVerdict::too_many;
  for (uint32_t r = 0; r < e.ranges; ++r)
    if (offset < e.to[r] && end > e.from[r]) return FragmentVerdict::overlap;
  // The range, merged with those it touches (fragments in order make one range).
  uint32_t from = offset, to = end, kept = 0;
  for (uint32_t r = 0; r < e.ranges; ++r) {
    if (e.to[r] == from) from = e.from[r];
    else if (e.from[r] == to) to = e.to[r];
    else e.from[kept] = e.from[r], e.to[kept] = e.to[r], ++kept;
  }
  if (kept == kMaxRanges) return FragmentVerdict::too_many;  // holes everywhere
  e.from[kept] = from, e.to[kept] = to, e.ranges = uint8_t(kept + 1);
  if (offset == 0) {
    e.known = true;
    e.transport = *t;
    return FragmentVerdict::ok;
  }
  if (!e.known) return FragmentVerdict::unknown;
  *t = e.transport;
  return FragmentVerdict::ok;
}

bool FragmentTable::find(const FragmentId& d, uint32_t now_s, FragmentTransport* t) const {
  const Entry* e = const_cast<FragmentTable*>(this)->lookup(d, now_s, false);
  if (!e || !e->known) return false;
  *t = e->transport;
  return true;
}

}  // namespace memswitch::detail
