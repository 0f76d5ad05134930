// l2_input: the Ethernet header of every frame, read once from the ingress buffer into
// the burst's metadata, which is all later stages look at.
#include "pipeline/pipeline.h"

namespace memswitch::detail {

void l2_input(StageContext& ctx, Burst& b) {
  const PortView& in = ctx.topology.ports[b.in_port];
  for (uint32_t k = 0; k < b.n; ++k) {
    PacketMeta& p = b.pkts[k];
    const Segment& s0 = b.segs[p.first_seg];
    EthHeader eh;
    if (!parse_eth(s0.data, s0.len, &eh)) {
      ctx.drop(p, b.in_port, DropReason::runt);
      continue;
    }
    if (in.vlan != 0 && (eh.ether_type == kEtherTypeVlan || eh.ether_type == kEtherTypeQinQ)) {
      ctx.drop(p, b.in_port, DropReason::vlan_tagged_on_access);
      continue;
    }
    p.dst = eh.dst;
    p.src = eh.src;
  }
}

}  // namespace memswitch::detail
