// ip4_lookup: where each IPv4 packet a router received goes. One longest-prefix match
// per packet, done for the whole burst at once (lookup_n overlaps the misses); then
// TTL, ECMP path choice and MTU. Packets for the router itself are answered when they
// are echo requests; packets that cannot be forwarded get their ICMP error (RFC 792,
// RFC 1812 §4.3), rate-limited per worker. What the router originates (echo replies,
// ICMP errors) is routed here too, without the TTL rules.
#include <nmmintrin.h>

#include "packet/ip.h"
#include "pipeline/pipeline.h"

namespace memswitch::detail {

namespace {

struct Ip4Router {
  StageContext& ctx;
  Burst& b;
  const L3View& l3;
  const Ip4Fib& fib;
  const RifView& in;  // the interface the burst arrived on

  void route(uint32_t k, uint32_t result, bool originated);
  void echo_reply(uint32_t k);
  void icmp_error(uint32_t k, uint8_t type, uint8_t code, uint16_t mtu = 0);
  uint32_t flow_hash(const uint8_t* ip, uint32_t avail) const;
};

uint32_t Ip4Router::flow_hash(const uint8_t* ip, uint32_t avail) const {
  // CRC32-C over the 5-tuple: one instruction per word (SSE4.2), and well spread.
  uint32_t h = _mm_crc32_u32(0, load32(ip + ip4::kSrc));
  h = _mm_crc32_u32(h, load32(ip + ip4::kDst));
  const uint8_t proto = ip[ip4::kProto];
  h = _mm_crc32_u8(h, proto);
  const uint32_t ihl = (ip[0] & 0xF) * 4u;
  const bool first_fragment = (load16(ip + ip4::kFrag) & kIp4OffsetMask) == 0;
  // Later fragments carry no ports; every fragment of a datagram takes the same path
  // only if none hashes them, so ports count for unfragmented packets alone.
  const bool unfragmented = first_fragment && !(load16(ip + ip4::kFrag) & 0x2000);
  if ((proto == kProtoTcp || proto == kProtoUdp || proto == kProtoSctp) && unfragmented && ihl + 4 <= avail)
    h = _mm_crc32_u32(h, load32(ip + ihl));
  return h;
}

void Ip4Router::route(uint32_t k, uint32_t result, bool originated) {
  PacketMeta& p = b.pkts[k];
  uint8_t* ip = b.header[k] + kEthHeaderSize;
  const RouteResult& r = l3.result(result);
  uint16_t out_rif = 0;
  Ip4 next_hop = load32(ip + ip4::kDst);
  switch (r.action) {
    case RouteAction::local: {
      const uint32_t ihl = (ip[0] & 0xF) * 4u;
      const bool whole = (load16(ip + ip4::kFrag) & kIp4FragMask & ~kIp4FlagDf) == 0;
      if (!originated && whole && ip[ip4::kProto] == kProtoIcmp && load16(ip + ip4::kTotalLen) >= ihl + 8 && ip[ihl] == kIcmpEchoRequest) {
        echo_reply(k);
        return route(k, fib.lookup(load32(ip + ip4::kDst)), /*originated=*/true);
      }
      ctx.drop(p, b.in_port, DropReason::local_unsupported);
      return;
    }
    case RouteAction::none:
    case RouteAction::unreachable:
      ctx.drop(p, b.in_port, DropReason::no_route);
      if (!originated) icmp_error(k, kIcmpUnreachable, r.action == RouteAction::none ? kIcmpNetUnreachable : kIcmpHostUnreachable);
      return;
    case RouteAction::blackhole:
      ctx.drop(p, b.in_port, DropReason::blackhole);
      return;
    case RouteAction::connected:
      out_rif = r.rif;
      break;
    case RouteAction::forward: {
      const uint32_t pick = r.n_paths == 1 ? 0 : uint32_t((uint64_t(flow_hash(ip, p.header_len - kEthHeaderSize)) * r.n_paths) >> 32);
      const RoutePath& path = l3.paths[r.first_path + pick];
      out_rif = path.rif;
      if (path.via) next_hop = path.via;
      break;
    }
  }
  const uint8_t ttl = ip[ip4::kTtl];
  if (!originated && ttl <= 1) {
    ctx.drop(p, b.in_port, DropReason::ttl_expired);
    icmp_error(k, kIcmpTimeExceeded, 0);
    return;
  }
  const RifView& out = l3.rifs[out_rif];
  const uint16_t frag = load16(ip + ip4::kFrag);
  if (load16(ip + ip4::kTotalLen) > out.mtu) {
    ctx.drop(p, b.in_port, DropReason::mtu_exceeded);
    if (!originated && (frag & kIp4FlagDf)) icmp_error(k, kIcmpUnreachable, kIcmpFragNeeded, uint16_t(out.mtu));
    return;
  }
  if (!originated) {
    const uint16_t word = load16(ip + ip4::kTtl);  // TTL and protocol share a checksum word
    ip[ip4::kTtl] = uint8_t(ttl - 1);
    store16(ip + ip4::kCsum, csum_update16(load16(ip + ip4::kCsum), word, load16(ip + ip4::kTtl)));
  }
  b.out_rif[k] = out_rif;
  b.next_hop[k] = next_hop;
  p.next = Next::kIp4Rewrite;
}

// In place: the request's header becomes the reply's; the payload is sent unchanged.
void Ip4Router::echo_reply(uint32_t k) {
  uint8_t* ip = b.header[k] + kEthHeaderSize;
  const uint32_t ihl = (ip[0] & 0xF) * 4u;
  const Ip4 src = load32(ip + ip4::kSrc), dst = load32(ip + ip4::kDst);
  store32(ip + ip4::kSrc, dst);
  store32(ip + ip4::kDst, src);
  ip[ip4::kTtl] = 64;
  store16(ip + ip4::kCsum, 0);
  store16(ip + ip4::kCsum, csum_fold(csum_add(0, ip, ihl)));
  uint8_t* icmp = ip + ihl;
  const uint16_t type_code = load16(icmp);
  icmp[0] = kIcmpEchoReply;
  store16(icmp + 2, csum_update16(load16(icmp + 2), type_code, load16(icmp)));
}

void Ip4Router::icmp_error(uint32_t k, uint8_t type, uint8_t code, uint16_t mtu) {
  const uint8_t* ip = b.header[k] + kEthHeaderSize;
  const uint32_t ihl = (ip[0] & 0xF) * 4u;
  // Never about an ICMP error, nor about a fragment other than the first (RFC 1812 §4.3.2.7).
  if (load16(ip + ip4::kFrag) & kIp4OffsetMask) return;
  if (ip[ip4::kProto] == kProtoIcmp) {
    const uint8_t t = ip[ihl];
    if (load16(ip + ip4::kTotalLen) < ihl + 1 || (t != kIcmpEchoRequest && t != kIcmpEchoReply)) return;
  }
  if (!ctx.l3.icmp_allowed(ctx.now_s)) return;
  // The offending header and the first 8 bytes of its payload (RFC 792).
  const uint32_t quote = std::min<uint32_t>({load16(ip + ip4::kTotalLen), ihl + 8, uint32_t(b.pkts[k].header_len - kEthHeaderSize)});
  const uint32_t len = kEthHeaderSize + kIp4MinHeader + 8 + quote;
  uint32_t g;
  uint8_t* f = b.generate(len, &g);
  if (!f) return;
  std::memset(f, 0, kEthHeaderSize + kIp4MinHeader + 8);
  store16(f + 12, kEtherTypeIp4);  // MACs: the neighbor stage writes them
  uint8_t* e = f + kEthHeaderSize;
  e[ip4::kVerIhl] = 0x45;
  e[1] = 0xC0;  // precedence: internetwork control
  store16(e + ip4::kTotalLen, uint16_t(kIp4MinHeader + 8 + quote));
  e[ip4::kTtl] = 64;
  e[ip4::kProto] = kProtoIcmp;
  store32(e + ip4::kSrc, in.source_for(load32(ip + ip4::kSrc)));
  store32(e + ip4::kDst, load32(ip + ip4::kSrc));
  store16(e + ip4::kCsum, csum_fold(csum_add(0, e, kIp4MinHeader)));
  uint8_t* icmp = e + kIp4MinHeader;
  icmp[0] = type;
  icmp[1] = code;
  store16(icmp + 6, mtu);  // next-hop MTU (RFC 1191); zero for the others
  std::memcpy(icmp + 8, ip, quote);
  store16(icmp + 2, csum_fold(csum_add(0, icmp, 8 + quote)));
  b.pkts[g].next = Next::kIp4Local;
}

}  // namespace

void ip4_lookup(StageContext& ctx, Burst& b) {
  if (b.n_l3 == 0) return;
  const Topology& t = ctx.topology;
  const uint16_t rif_id = t.ports[b.in_port].rif;
  if (rif_id >= t.l3.rifs.size() || !t.l3.rifs[rif_id].router) return;  // l3_input dropped them
  const RifView& in = t.l3.rifs[rif_id];
  Ip4Router r{ctx, b, t.l3, *t.l3.fibs[in.router], in};
  Ip4 dst[kBurst];
  uint32_t result[kBurst];
  uint16_t which[kBurst];
  uint32_t m = 0;
  const uint32_t received = b.n;
  for (uint32_t k = 0; k < received; ++k)
    if (b.pkts[k].next == Next::kIp4 && b.pkts[k].drop == DropReason::kCount && k < kBurst) {
      dst[m] = load32(b.header[k] + kEthHeaderSize + ip4::kDst);
      which[m++] = uint16_t(k);
    }
  if (m) r.fib.lookup_n(dst, result, m);
  for (uint32_t i = 0; i < m; ++i) r.route(which[i], result[i], /*originated=*/false);
  // What the router generated meanwhile (ICMP errors), and what l3_input added before.
  for (uint32_t k = 0; k < b.n; ++k)
    if (b.pkts[k].next == Next::kIp4Local && b.pkts[k].drop == DropReason::kCount)
      r.route(k, r.fib.lookup(load32(b.header[k] + kEthHeaderSize + ip4::kDst)), /*originated=*/true);
}

}  // namespace memswitch::detail
