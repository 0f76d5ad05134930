// l3_input: frames the bridge handed to a router interface. ARP is answered for the
// router's addresses and teaches the neighbour table; IPv4 headers are checked once,
// here, on the private copy, so later stages trust what they read.
#include "packet/ip.h"
#include "pipeline/pipeline.h"

namespace memswitch::detail {

namespace {

void arp_input(StageContext& ctx, Burst& b, uint32_t k, uint16_t rif_id, const RifView& rif) {
  PacketMeta& p = b.pkts[k];
  const uint8_t* h = b.header[k];
  // A broadcast is flooded to the segment as well: only what is addressed to the router
  // may count as its drop.
  const bool broadcast = mac_is_multicast(mac_from_bytes(h));
  const uint8_t* a = h + kEthHeaderSize;
  if (p.len < kEthHeaderSize + kArpSize || load16(a + arp::kHtype) != 1 || load16(a + arp::kPtype) != kEtherTypeIp4 || a[arp::kHlen] != 6 ||
      a[arp::kPlen] != 4) {
    if (!broadcast) ctx.drop(p, b.in_port, DropReason::arp_malformed);
    return;
  }
  const uint16_t op = load16(a + arp::kOp);
  const Mac sha = mac_from_bytes(a + arp::kSha);
  const Ip4 spa = load32(a + arp::kSpa), tpa = load32(a + arp::kTpa);
  const bool for_us = rif.owns(tpa);
  // Only neighbours on the interface's subnets: a stranger's ARP fills nothing.
  if (spa != 0 && rif.on_link(spa) && !mac_is_multicast(sha))
    ctx.neighbors.learn(NeighborTable::key(rif_id, spa), sha, ctx.now_s, /*create=*/op == kArpRequest && for_us);
  if (op != kArpRequest || !for_us) {
    if (op != kArpRequest && op != kArpReply && !broadcast) ctx.drop(p, b.in_port, DropReason::arp_malformed);
    return;
  }
  uint32_t g;
  uint8_t* r = b.generate(kEthHeaderSize + kArpSize, &g);
  if (!r) return;
  write_arp(r, sha, kArpReply, rif.mac, tpa, sha, spa);
  ctx.egress.add(b.in_port, uint16_t(g));
}

// The checks every router makes before believing a header (RFC 1812 §5.2.2).
DropReason check_ip4(PacketMeta& p, const uint8_t* h) {
  if (p.len < kEthHeaderSize + kIp4MinHeader) return DropReason::ip_truncated;
  const uint8_t* ip = h + kEthHeaderSize;
  if ((ip[ip4::kVerIhl] >> 4) != 4) return DropReason::ip_bad_version;
  const uint32_t ihl = (ip[ip4::kVerIhl] & 0xF) * 4u;
  if (ihl < kIp4MinHeader) return DropReason::ip_bad_ihl;
  if (kEthHeaderSize + ihl > p.len) return DropReason::ip_truncated;
  const uint32_t total = load16(ip + ip4::kTotalLen);
  if (total < ihl || kEthHeaderSize + total > p.len) return DropReason::ip_bad_length;
  if (ip4_header_csum(ip, ihl) != 0) return DropReason::ip_bad_checksum;
  if (ip4_martian(load32(ip + ip4::kSrc)) || ip4_martian(load32(ip + ip4::kDst))) return DropReason::ip_martian;
  // Ethernet padding is not part of the datagram: forward exactly the datagram.
  p.len = kEthHeaderSize + total;
  if (p.header_len > p.len) p.header_len = p.src_off = uint16_t(p.len);
  return DropReason::kCount;
}

// A memif ip-mode frame gets the Ethernet header it came without, as if sent to the
// router interface's MAC, so the stages after this one see one kind of frame.
uint8_t* with_ethernet(Burst& b, uint32_t k, const RifView& rif) {
  uint8_t* h = b.privatize_header(k, kEthHeaderSize);
  store_mac(h, rif.mac);
  store_mac(h + 6, 0);
  const uint8_t version = b.pkts[k].header_len > kEthHeaderSize ? h[kEthHeaderSize] >> 4 : 0;
  store16(h + 12, version == 6 ? kEtherTypeIp6 : kEtherTypeIp4);  // anything else fails the IPv4 checks
  return h;
}

}  // namespace

void l3_input(StageContext& ctx, Burst& b) {
  if (b.n_l3 == 0) return;
  const Topology& t = ctx.topology;
  const PortView& in = t.ports[b.in_port];
  const uint16_t rif_id = in.rif;
  const uint32_t n = b.n;  // not the replies this stage adds
  const RifView* rif = rif_id < t.l3.rifs.size() ? &t.l3.rifs[rif_id] : nullptr;
  for (uint32_t k = 0; k < n; ++k) {
    PacketMeta& p = b.pkts[k];
    if (p.next != Next::kRouter || p.drop != DropReason::kCount) continue;
    p.next = Next::kNone;
    if (!rif || !rif->router) {  // removed since the bridge looked (its MAC entry goes after a grace period)
      ctx.drop(p, b.in_port, DropReason::interface_down);
      continue;
    }
    const uint8_t* h = in.ip_mode ? with_ethernet(b, k, *rif) : b.privatize_header(k);
    const uint16_t ether_type = load16(h + 12);
    if (ether_type == kEtherTypeArp) {
      arp_input(ctx, b, k, rif_id, *rif);
    } else if (ether_type != kEtherTypeIp4) {
      ctx.drop(p, b.in_port, DropReason::bad_ethertype);
    } else if (DropReason why = check_ip4(p, h); why != DropReason::kCount) {
      ctx.drop(p, b.in_port, why);
    } else {
      p.next = Next::kIp4;
    }
  }
}

}  // namespace memswitch::detail
