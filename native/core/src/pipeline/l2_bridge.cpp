// l2_bridge: the learning bridge of every network (segment = network + access VLAN).
// Learns the source, looks up the destination, and plans one egress per known unicast
// frame or one per other connected port of the segment (flood).
#include "pipeline/pipeline.h"

namespace memswitch::detail {

void l2_bridge(StageContext& ctx, Burst& b) {
  const Topology& t = ctx.topology;
  const uint32_t in_port = b.in_port;
  const PortView& in = t.ports[in_port];
  // Frames of a burst mostly share their MACs: remember the last learn and lookup.
  Mac last_src = UINT64_MAX, last_dst = UINT64_MAX;
  uint32_t last_out = kNoPort;
  for (uint32_t k = 0; k < b.n; ++k) {
    PacketMeta& p = b.pkts[k];
    if (p.drop != DropReason::kCount) continue;
    if (p.src != last_src && !mac_is_multicast(p.src)) {
      ctx.fib.learn(fib_key(in.segment, p.src), in_port, ctx.now_s);
      last_src = p.src;
    }
    if (!mac_is_multicast(p.dst)) {
      if (p.dst != last_dst) {
        last_out = ctx.fib.lookup(fib_key(in.segment, p.dst));
        last_dst = p.dst;
      }
      const uint32_t out = last_out;
      if (out != kNoPort) {
        if (out == in_port) {
          ctx.drop(p, in_port, DropReason::hairpin);
        } else if (out >= t.ports.size() || !t.ports[out].up()) {
          ctx.drop(p, in_port, DropReason::interface_down);
        } else {
          ctx.egress.add(out, uint16_t(k));
        }
        continue;
      }
    }
    bool planned = false;
    for (uint32_t m : t.flood[in.segment]) {
      if (m == in_port) continue;
      ctx.egress.add(m, uint16_t(k));
      planned = true;
    }
    if (!planned) ctx.drop(p, in_port, DropReason::no_destination);
  }
}

}  // namespace memswitch::detail
