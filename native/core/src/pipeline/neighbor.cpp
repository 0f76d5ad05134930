// neighbor: routed packets get their next hop's MAC, the outgoing interface's MAC as
// source, and an egress port from that segment's MAC table (flooded when unknown, as a
// router behind a switch would see it). A next hop nobody knows yet is asked for by
// ARP or neighbour solicitation, and its packets wait in the worker's hold queue for
// the answer.
#include "packet/ip.h"
#include "pipeline/pipeline.h"

namespace memswitch::detail {

namespace {

// An ARP request, or an IPv6 neighbour solicitation to the target's solicited-node group,
// for frame k.
void solicit(StageContext& ctx, Burst& b, const RifView& out, IpAddress target, uint32_t k) {
  const IpAddress src = out.source_for(target);
  if (src.zero()) return;  // no address of that family to ask from: the hold times out
  uint32_t g;
  uint8_t* r;
  if (target.is4()) {
    if (!(r = b.generate(kEthHeaderSize + kArpSize, k, &g))) return;
    write_arp(r, 0xFFFFFFFFFFFFull, kArpRequest, out.mac, src.v4(), 0, target.v4());
  } else {
    if (!(r = b.generate(kEthHeaderSize + kIp6Header + kNdSize, k, &g))) return;
    const Ip6 group = solicited_node(target.bits);
    write_nd(r, ip6_multicast_mac(group), out.mac, src.bits, group, kNdSolicit, 0, target.bits);
  }
  for (uint32_t port : ctx.topology.flood[out.segment]) ctx.egress.add(port, uint16_t(g));
}

// Frames for one neighbour, whose MAC is at `port` of `segment` (or unknown there).
void plan_run(StageContext& ctx, Burst& b, uint32_t port, uint16_t segment, const uint16_t* run, uint32_t n_run) {
  const Topology& t = ctx.topology;
  if (port == kNoPort) {  // a MAC the segment has not learnt: flooded, as a switch would
    for (uint32_t m : t.flood[segment]) ctx.egress.add(m, run, n_run);
    if (t.flood[segment].empty())
      for (uint32_t i = 0; i < n_run; ++i) ctx.drop(b.pkts[run[i]], b.in_port, DropReason::no_destination);
  } else if (port >= t.ports.size() || !t.ports[port].up()) {
    // Also a neighbour whose MAC is another router's interface on the same network:
    // routing between routers goes through their own networks' next hops.
    for (uint32_t i = 0; i < n_run; ++i)
      ctx.drop(b.pkts[run[i]], b.in_port, (port & kRouterPort) ? DropReason::no_destination : DropReason::interface_down);
  } else {
    ctx.egress.add(port, run, n_run);
  }
}

}  // namespace

uint32_t neighbor(StageContext& ctx, Burst& b) {
  if (b.n_l3 == 0) return 0;
  const Topology& t = ctx.topology;
  // The frames of a burst mostly share their next hop: remember the last one resolved,
  // and plan the frames that follow it as one run.
  NeighborKey last_key;
  uint32_t port = kNoPort;  // where last_key's MAC lives on its segment
  uint16_t segment = 0;
  uint8_t macs[12];  // the Ethernet addresses for last_key, as written
  uint16_t run[kSlots];
  uint32_t n_run = 0, handed = 0;
  for (uint32_t k = 0; k < b.n; ++k) {
    PacketMeta& p = b.pkts[k];
    if (p.next != Next::kRewrite || p.drop != DropReason::kCount) continue;
    p.next = Next::kNone;
    ++handed;
    const uint16_t rif_id = b.out_rif[k];
    const RifView& out = t.l3.rifs[rif_id];
    if (out.ip_port != UINT32_MAX) {  // memif ip mode: the packet alone, to the one port there
      if (!t.ports[out.ip_port].up()) {
        ctx.drop(p, b.in_port, DropReason::interface_down);
        continue;
      }
      uint8_t* h = b.privatize_header(k);
      std::memmove(h, h + kEthHeaderSize, p.header_len - kEthHeaderSize);
      p.header_len = uint16_t(p.header_len - kEthHeaderSize);
      p.len -= kEthHeaderSize;
      ctx.egress.add(out.ip_port, uint16_t(k));
      continue;
    }
    const NeighborKey key = NeighborTable::key(rif_id, b.next_hop[k]);
    if (key != last_key) {
      if (n_run) plan_run(ctx, b, port, segment, run, n_run), n_run = 0;
      last_key = {};
      bool ask;
      const Mac mac = ctx.neighbors.resolve(key, ctx.now_s, t.l3.neighbor_refresh_s, &ask);
      if (ask) solicit(ctx, b, out, b.next_hop[k], k);
      if (mac == 0) {
        if (!ctx.l3.hold.hold(b, k, key, ctx.now_s)) ctx.drop(p, b.in_port, DropReason::neighbor_queue_full);
        continue;
      }
      last_key = key;
      segment = out.segment;
      port = ctx.fib.lookup(fib_key(segment, mac));
      store_mac(macs, mac);
      store_mac(macs + 6, out.mac);
    }
    std::memcpy(b.privatize_header(k), macs, sizeof macs);
    run[n_run++] = uint16_t(k);
  }
  if (n_run) plan_run(ctx, b, port, segment, run, n_run);
  return handed;
}

}  // namespace memswitch::detail
