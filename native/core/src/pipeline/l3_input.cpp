// l3_input: frames the bridge handed to a router interface. ARP and IPv6 neighbour
// solicitations are answered for the router's addresses and teach the neighbour table;
// IPv4 and IPv6 headers are checked once, here, on the private copy, so later stages
// trust what they read.
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
  uint8_t* r = b.generate(kEthHeaderSize + kArpSize, k, &g);
  if (!r) return;
  write_arp(r, sha, kArpReply, rif.mac, tpa, sha, spa);
  ctx.egress.add(b.in_port, uint16_t(g));
}

// Neighbour discovery (RFC 4861 §7): a solicitation for one of the router's addresses is
// answered with an advertisement; solicitations and advertisements from neighbours on
// the link teach their MAC. The message is read whole (checksum and options), from the
// private header and, past it, the source.
void nd_input(StageContext& ctx, Burst& b, uint32_t k, uint16_t rif_id, const RifView& rif, bool flooded) {
  PacketMeta& p = b.pkts[k];
  constexpr uint32_t kMaxNd = 512;  // solicitations and advertisements carry an option or two
  uint8_t f[kEthHeaderSize + kIp6Header + kMaxNd];
  const uint8_t* ip = b.header[k] + kEthHeaderSize;
  const uint32_t len = load16(ip + ip6::kPayloadLen);
  const auto bad = [&] {
    if (!flooded) ctx.drop(p, b.in_port, DropReason::nd_malformed);
  };
  if (len < nd::kOptions || len > kMaxNd) return bad();
  FrameReader(b, k).read(f, kEthHeaderSize + kIp6Header + len);
  ip = f + kEthHeaderSize;
  const uint8_t* m = ip + kIp6Header;
  if (ip[ip6::kHopLimit] != 255 || m[1] != 0 || icmp6_csum(ip, m, len) != 0) return bad();
  Mac option_mac = 0;
  for (uint32_t o = nd::kOptions; o < len;) {
    if (o + 2 > len) return bad();
    const uint32_t olen = m[o + 1] * 8u;
    if (olen == 0 || o + olen > len) return bad();
    if ((m[o] == kNdOptSourceMac || m[o] == kNdOptTargetMac) && olen == 8) option_mac = mac_from_bytes(m + o + 2);
    o += olen;
  }
  const Ip6 src = load_ip6(ip + ip6::kSrc), target = load_ip6(m + nd::kTarget);
  if (ip6_multicast(target) || mac_is_multicast(option_mac)) return bad();
  const auto neighbour = [&](Ip6 a) { return ip6_link_local(a) || rif.on_link(a); };
  if (m[0] == kNdAdvert) {
    if (option_mac && neighbour(target)) ctx.neighbors.learn(NeighborTable::key(rif_id, target), option_mac, ctx.now_s, /*create=*/false);
    return;
  }
  const bool for_us = rif.owns(target);
  if (src == Ip6{}) return;  // duplicate address detection: nobody to answer or learn
  if (option_mac && neighbour(src)) ctx.neighbors.learn(NeighborTable::key(rif_id, src), option_mac, ctx.now_s, /*create=*/for_us);
  if (!for_us) return;
  uint32_t g;
  uint8_t* r = b.generate(kEthHeaderSize + kIp6Header + kNdSize, k, &g);
  if (!r) return;
  const Mac to = option_mac ? option_mac : mac_from_bytes(f + 6);
  write_nd(r, to, rif.mac, target, src, kNdAdvert, kNdFlagRouter | kNdFlagSolicited | kNdFlagOverride, target);
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

// RFC 8200 §3, and what RFC 4291 says is never a source or destination on the wire.
// Multicast destinations come here only as neighbour discovery, which is checked apart.
DropReason check_ip6(PacketMeta& p, const uint8_t* h) {
  if (p.len < kEthHeaderSize + kIp6Header) return DropReason::ip_truncated;
  const uint8_t* ip = h + kEthHeaderSize;
  if ((ip[0] >> 4) != 6) return DropReason::ip_bad_version;
  const uint32_t total = kIp6Header + load16(ip + ip6::kPayloadLen);
  if (kEthHeaderSize + total > p.len) return DropReason::ip_bad_length;
  const Ip6 src = load_ip6(ip + ip6::kSrc), dst = load_ip6(ip + ip6::kDst);
  if (ip6_martian(src) || ip6_martian(dst)) return DropReason::ip_martian;
  p.len = kEthHeaderSize + total;
  if (p.header_len > p.len) p.header_len = p.src_off = uint16_t(p.len);
  return DropReason::kCount;
}

// Whether an IPv6 packet is a neighbour solicitation or advertisement (nothing between
// the header and the message: RFC 4861 sends none).
bool is_nd(const PacketMeta& p, const uint8_t* h) {
  const uint8_t* ip = h + kEthHeaderSize;
  return p.header_len > kEthHeaderSize + kIp6Header && ip[ip6::kNext] == kProtoIcmp6 && (ip[kIp6Header] == kNdSolicit || ip[kIp6Header] == kNdAdvert);
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

uint32_t l3_input(StageContext& ctx, Burst& b) {
  if (b.n_l3 == 0) return 0;
  const Topology& t = ctx.topology;
  const PortView& in = t.ports[b.in_port];
  const uint16_t rif_id = in.rif;
  const uint32_t n = b.n;  // not the replies this stage adds
  const RifView* rif = rif_id < t.l3.rifs.size() ? &t.l3.rifs[rif_id] : nullptr;
  // Every header is copied before any is checked: checking one right after its copy
  // reads words that straddle the copy's 16-byte stores while those are still in the
  // store buffer, which cannot forward them (a stall per such load).
  if (rif && rif->router)
    for (uint32_t k = 0; k < n; ++k)
      if (b.pkts[k].next == Next::kRouter && b.pkts[k].drop == DropReason::kCount) in.ip_mode ? with_ethernet(b, k, *rif) : b.privatize_header(k);
  for (uint32_t k = 0; k < n; ++k) {
    PacketMeta& p = b.pkts[k];
    if (p.next != Next::kRouter || p.drop != DropReason::kCount) continue;
    p.next = Next::kNone;
    if (!rif || !rif->router) {  // removed since the bridge looked (its MAC entry goes after a grace period)
      ctx.drop(p, b.in_port, DropReason::interface_down);
      continue;
    }
    const uint8_t* h = b.header[k];
    const uint16_t ether_type = load16(h + 12);
    if (ether_type == kEtherTypeArp) {
      arp_input(ctx, b, k, rif_id, *rif);
    } else if (ether_type == kEtherTypeIp6) {
      // A multicast frame is a solicitation the bridge floods as well: only what is
      // addressed to the router may count as its drop.
      const bool flooded = mac_is_multicast(mac_from_bytes(h));
      if (p.len >= kEthHeaderSize + kIp6Header && (h[kEthHeaderSize] >> 4) == 6 && is_nd(p, h)) {
        if (kEthHeaderSize + kIp6Header + load16(h + kEthHeaderSize + ip6::kPayloadLen) > p.len) {
          if (!flooded) ctx.drop(p, b.in_port, DropReason::ip_bad_length);
        } else if (!in.ip_mode) {  // ip mode has no link layer to discover
          nd_input(ctx, b, k, rif_id, *rif, flooded);
        }
      } else if (!flooded) {  // flooded: listener reports, router solicitations; not the router's business
        if (DropReason why = check_ip6(p, h); why != DropReason::kCount) {
          ctx.drop(p, b.in_port, why);
        } else {
          p.next = Next::kIp6;
          ++b.n_ip6;
        }
      }
    } else if (ether_type != kEtherTypeIp4) {
      ctx.drop(p, b.in_port, DropReason::bad_ethertype);
    } else if (DropReason why = check_ip4(p, h); why != DropReason::kCount) {
      ctx.drop(p, b.in_port, why);
    } else {
      p.next = Next::kIp4;
      ++b.n_ip4;
    }
  }
  return b.n_l3;
}

}  // namespace memswitch::detail
