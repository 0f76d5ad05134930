// What the L3 stages (l3_input, ip4_lookup, ip6_lookup, neighbor) read from a snapshot, and the
// state each worker keeps for them. Built by control/routing.cpp.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "memswitch/ethernet.h"
#include "memswitch/routing.h"
#include "packet/burst.h"
#include "packet/ip.h"
#include "pipeline/ip4_fib.h"
#include "pipeline/ip6_fib.h"
#include "pipeline/neighbor_table.h"
#include "stats/counters.h"

namespace memswitch::detail {

struct RifView {
  uint32_t router = 0;  // 0: no router interface has this index
  uint16_t segment = 0;
  Mac mac = 0;
  uint32_t mtu = 0;
  uint32_t ip_port = UINT32_MAX;  // the memif ip-mode port of its segment: no Ethernet, no ARP
  std::vector<InterfaceAddress> addresses;  // both families; only ARP, ND and ICMP read them

  bool owns(IpAddress a) const {
    for (const auto& x : addresses)
      if (x.addr == a) return true;
    return false;
  }
  bool on_link(IpAddress a) const {
    for (const auto& x : addresses)
      if (x.subnet().contains(a)) return true;
    return false;
  }
  // The address to speak from towards `to`: of its family, the one whose subnet holds it,
  // else a link-local one towards a link-local address, else the first; zero if none.
  IpAddress source_for(IpAddress to) const {
    const InterfaceAddress* first = nullptr;
    for (const auto& x : addresses) {
      if (x.addr.is4() != to.is4()) continue;
      if (x.subnet().contains(to)) return x.addr;
      if (!first || (!to.is4() && ip6_link_local(to.bits) && ip6_link_local(x.addr.bits))) first = &x;
    }
    if (first) return first->addr;
    return to.is4() ? IpAddress(Ip4(0)) : IpAddress();
  }
};

// What a route lookup's result id stands for.
enum class RouteAction : uint8_t {
  none,         // no route (also a forward route none of whose next hops is usable)
  forward,      // via paths[first_path, first_path + n_paths)
  connected,    // on-link on `rif`: the destination is its own next hop
  local,        // one of the router's own addresses
  blackhole,
  unreachable,
};
struct RouteResult {
  RouteAction action = RouteAction::none;
  uint8_t n_paths = 0;
  uint16_t rif = 0;
  uint32_t first_path = 0;
};
struct RoutePath {
  uint16_t rif;
  IpAddress via;  // zero: on-link, the destination is the next hop
};

struct L3View {
  std::vector<const Ip4Fib*> fibs;       // by router id
  std::vector<const Ip6Fib*> fibs6;      // by router id
  std::vector<RifView> rifs;             // by router interface id
  std::vector<RouteResult> results;      // by route result id (Ip4Fib's values)
  std::vector<RoutePath> paths;
  uint32_t neighbor_refresh_s = 0;       // re-ask a resolved neighbour used after this long
  const RouteResult& result(uint32_t id) const {
    return id < results.size() ? results[id] : kNoResult;  // an id newer than this snapshot
  }
  static constexpr RouteResult kNoResult{};
  // The egress interface of a connected or forward result, and its next hop where the
  // path names one (else next_hop stays the destination). Of several ECMP paths the
  // flow's hash, asked for only then, picks one: evenly, and always the same per flow.
  template <class FlowHash>
  uint16_t egress(const RouteResult& r, FlowHash flow_hash, IpAddress& next_hop) const {
    if (r.action == RouteAction::connected) return r.rif;
    const uint32_t pick = r.n_paths == 1 ? 0 : uint32_t((uint64_t(flow_hash()) * r.n_paths) >> 32);
    const RoutePath& path = paths[r.first_path + pick];
    if (!path.via.zero()) next_hop = path.via;
    return path.rif;
  }
};

// The burst's packets mostly share a route result (routes with the same next hops share
// one): ip4_lookup and ip6_lookup keep the last one with a single way out, resolved, so
// the packets after it need no more than their TTL and length checked.
struct LastEgress {
  uint32_t result = 0;  // a result id; 0 (no route) matches nothing forwardable
  uint16_t rif = 0;
  uint32_t mtu = 0;
  bool on_link = false;  // the destination is its own next hop
  IpAddress via;
};

// Transport protocols whose first four bytes are the ports an ECMP flow hash reads.
constexpr bool has_ports(uint8_t proto) { return proto == kProtoTcp || proto == kProtoUdp || proto == kProtoSctp; }

// Packets waiting for a next hop's ARP or ND answer: whole private copies, since the rx
// buffers they came in go back to the peer after the burst.
class HoldQueue {
 public:
  static constexpr uint32_t kSlots = 64;
  static constexpr uint32_t kPerNeighbor = 4;
  static constexpr uint32_t kHoldS = 3;  // then neighbor_unresolved

  HoldQueue() : data_(std::make_unique<uint8_t[]>(size_t(kSlots) * kMaxFrameSize)) {}
  bool empty() const { return used_ == 0; }
  // Copies frame k of b; false when the queue or the neighbour's share of it is full.
  bool hold(const Burst& b, uint32_t k, const NeighborKey& neighbor, uint32_t now_s);
  // Loads the next held packet whose neighbour `resolved` (a Mac(NeighborKey) callable)
  // now knows into b as its only frame, ready for the neighbor stage; packets held too
  // long are counted on their ingress port and freed. False when none is ready.
  template <class Resolved, class Expired>
  bool take_ready(Burst& b, uint32_t now_s, Resolved resolved, Expired expired);

 private:
  struct Slot {
    bool used = false;
    NeighborKey neighbor;
    uint32_t port, since, len;
    uint16_t rif;
    uint8_t ct;  // what the ACL stages learned: acl_out runs again at release
    IpAddress next_hop;
  };
  Slot slots_[kSlots];
  uint32_t used_ = 0;
  std::unique_ptr<uint8_t[]> data_;
};

// Per worker, for the L3 stages.
struct L3State {
  HoldQueue hold;
  uint32_t icmp_second = 0, icmp_sent = 0;  // ICMP errors sent in the current second
  static constexpr uint32_t kIcmpPerSecond = 100;
  // ICMP and ICMPv6 errors made, and those the limit held back (the packets they were
  // about are counted drops either way). Single writer: the worker.
  std::atomic<uint64_t> icmp_errors{0}, icmp_rate_limited{0};
  bool icmp_allowed(uint32_t now_s) {
    if (now_s != icmp_second) icmp_second = now_s, icmp_sent = 0;
    if (icmp_sent++ < kIcmpPerSecond) return true;
    bump(icmp_rate_limited);
    return false;
  }
};

inline bool HoldQueue::hold(const Burst& b, uint32_t k, const NeighborKey& neighbor, uint32_t now_s) {
  const PacketMeta& p = b.pkts[k];
  if (used_ == kSlots || p.len > kMaxFrameSize) return false;
  uint32_t same = 0, free_slot = kSlots;
  for (uint32_t s = 0; s < kSlots; ++s) {
    if (!slots_[s].used) {
      if (free_slot == kSlots) free_slot = s;
    } else if (slots_[s].neighbor == neighbor && ++same == kPerNeighbor) {
      return false;
    }
  }
  FrameReader(b, k).read(data_.get() + size_t(free_slot) * kMaxFrameSize, p.len);
  slots_[free_slot] = {true, neighbor, b.in_port, now_s, p.len, b.out_rif[k], p.ct, b.next_hop[k]};
  ++used_;
  return true;
}

template <class Resolved, class Expired>
bool HoldQueue::take_ready(Burst& b, uint32_t now_s, Resolved resolved, Expired expired) {
  for (uint32_t s = 0; s < kSlots && used_ > 0; ++s) {
    Slot& x = slots_[s];
    if (!x.used) continue;
    if (resolved(x.neighbor) != 0) {
      b.clear(x.port);
      b.segs[0] = {data_.get() + size_t(s) * kMaxFrameSize, x.len};
      b.add(0, 1, x.len);
      b.pkts[0].next = Next::kRewrite;
      b.pkts[0].ct = x.ct;
      b.out_rif[0] = x.rif;
      b.next_hop[0] = x.next_hop;
      b.n_l3 = 1;
      x.used = false;  // the data stays put until the caller has transmitted the burst
      --used_;
      return true;
    }
    if (now_s - x.since > kHoldS) {
      expired(x.port);
      x.used = false;
      --used_;
    }
  }
  return false;
}

}  // namespace memswitch::detail
