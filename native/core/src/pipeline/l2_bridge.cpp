// l2_bridge: the learning bridge of every network (segment = network + access VLAN),
// today's forward() as a stage. Reads each frame's Ethernet header once, learns the
// source, looks up the destination, and plans one egress per known unicast frame or one
// per other connected port of the segment (flood). Frames to a router interface's MAC,
// and ARP broadcasts and IPv6 solicitations where a router listens, go on to l3_input.
#include "packet/ip.h"
#include "pipeline/pipeline.h"

namespace memswitch::detail {

uint32_t l2_bridge(StageContext& ctx, Burst& b) {
  const Topology& t = ctx.topology;
  const uint32_t in_port = b.in_port;
  const PortView& in = t.ports[in_port];
  if (in.ip_mode) [[unlikely]] {  // no Ethernet header to bridge by: all of it is for the router
    for (uint32_t k = 0; k < b.n; ++k) {
      PacketMeta& p = b.pkts[k];
      if (p.drop != DropReason::kCount) continue;
      if (in.rif) p.next = Next::kRouter, ++b.n_l3;
      else ctx.drop(p, in_port, DropReason::no_destination);
    }
    return b.n;
  }
  // Frames of a burst mostly share their MACs: remember the last learn and lookup.
  Mac last_src = UINT64_MAX, last_dst = UINT64_MAX;
  uint32_t last_out = kNoPort;
  for (uint32_t k = 0; k < b.n; ++k) {
    PacketMeta& p = b.pkts[k];
    if (p.drop != DropReason::kCount) continue;
    const Segment& s0 = b.segs[p.first_seg];
    EthHeader eh;
    if (!parse_eth(s0.data, s0.len, &eh)) {
      ctx.drop(p, in_port, DropReason::runt);
      continue;
    }
    if (in.vlan != 0 && (eh.ether_type == kEtherTypeVlan || eh.ether_type == kEtherTypeQinQ)) {
      ctx.drop(p, in_port, DropReason::vlan_tagged_on_access);
      continue;
    }
    if (eh.src != last_src && !mac_is_multicast(eh.src)) {
      ctx.fib.learn(fib_key(in.segment, eh.src), in_port, ctx.now_s);
      last_src = eh.src;
    }
    if (!mac_is_multicast(eh.dst)) {
      if (eh.dst != last_dst) {
        last_out = ctx.fib.lookup(fib_key(in.segment, eh.dst));
        last_dst = eh.dst;
      }
      const uint32_t out = last_out;
      if (out != kNoPort) {
        if (out == in_port) {
          ctx.drop(p, in_port, DropReason::hairpin);
        } else if (out >= t.ports.size() || !t.ports[out].up()) {
          if (out & kRouterPort) {
            p.next = Next::kRouter;
            ++b.n_l3;
          } else {
            ctx.drop(p, in_port, DropReason::interface_down);
          }
        } else {
          ctx.egress.add(out, uint16_t(k));
        }
        continue;
      }
    }
    // The router hears ARP broadcasts too, and IPv6 solicitations (to a solicited-node
    // group, 33:33:ff:xx:xx:xx); other multicast is not its business.
    if (in.rif && (eh.ether_type == kEtherTypeArp || (eh.ether_type == kEtherTypeIp6 && (eh.dst >> 24) == 0x3333FF))) {
      p.next = Next::kRouter;
      ++b.n_l3;
    }
    bool planned = false;
    for (uint32_t m : t.flood[in.segment]) {
      if (m == in_port) continue;
      ctx.egress.add(m, uint16_t(k));
      planned = true;
    }
    if (!planned && p.next == Next::kNone) ctx.drop(p, in_port, DropReason::no_destination);
  }
  return b.n;
}

}  // namespace memswitch::detail
