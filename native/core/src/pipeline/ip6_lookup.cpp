// ip6_lookup: where each IPv6 packet a router received goes, as ip4_lookup does for
// IPv4: longest-prefix match, ECMP path, hop limit and MTU. Routers never fragment IPv6:
// what does not fit gets packet too big (RFC 8200 §5). Link-local addresses never leave
// their link (RFC 4291 §2.5.6): they are the interface's own, not routes. Echo requests
// to the router are answered; ICMPv6 errors (RFC 4443) are rate-limited per worker.
#include <nmmintrin.h>

#include "packet/ip.h"
#include "pipeline/pipeline.h"

namespace memswitch::detail {

namespace {

struct Ip6Router {
  StageContext& ctx;
  Burst& b;
  const L3View& l3;
  const Ip6Fib& fib;
  uint16_t in_id;
  const RifView& in;  // the interface the burst arrived on

  LastEgress last;  // what route() last resolved

  void route(uint32_t k, const RouteResult& r, bool originated, uint32_t result = 0);
  void echo_reply(uint32_t k);
  void icmp_error(uint32_t k, uint8_t type, uint8_t code, uint32_t mtu = 0);
  uint32_t flow_hash(const uint8_t* ip, uint32_t avail) const;
  const RouteResult& lookup(Ip6 dst) const { return l3.result(fib.lookup(dst)); }
};

// A link-local destination the router owns, answered on the link it came from.
constexpr RouteResult kLinkLocal{RouteAction::local, 0, 0, 0};

uint32_t Ip6Router::flow_hash(const uint8_t* ip, uint32_t avail) const {
  uint64_t h = _mm_crc32_u64(0, load64(ip + ip6::kSrc));
  h = _mm_crc32_u64(h, load64(ip + ip6::kSrc + 8));
  h = _mm_crc32_u64(h, load64(ip + ip6::kDst));
  h = _mm_crc32_u64(h, load64(ip + ip6::kDst + 8));
  const uint8_t next = ip[ip6::kNext];
  h = _mm_crc32_u8(uint32_t(h), next);
  // Ports only right after the fixed header: behind extension headers (a fragment
  // header among them) every packet of the flow hashes the same without them.
  if (has_ports(next) && kIp6Header + 4 <= avail) h = _mm_crc32_u32(uint32_t(h), load32(ip + kIp6Header));
  return uint32_t(h);
}

// Packet k, whose result is last's: forwarded and true, or false when it needs more
// than that (hop limit, MTU, a link-local source): then route() does it all. `last` is
// the caller's own copy (as in ip4_lookup: byte stores may alias a shared one).
[[gnu::always_inline]] inline bool forward_same(Burst& b, uint32_t k, const LastEgress& last) {
  uint8_t* ip = b.header[k] + kEthHeaderSize;
  if (ip[ip6::kHopLimit] <= 1 || kIp6Header + load16(ip + ip6::kPayloadLen) > last.mtu || ip6_link_local(load_ip6(ip + ip6::kSrc))) return false;
  --ip[ip6::kHopLimit];
  b.out_rif[k] = last.rif;
  b.next_hop[k] = last.on_link ? IpAddress(load_ip6(ip + ip6::kDst)) : last.via;
  b.pkts[k].next = Next::kRewrite;
  return true;
}

// `result`: r's id when r came from the table (and may be remembered in last), else 0.
void Ip6Router::route(uint32_t k, const RouteResult& r, bool originated, uint32_t result) {
  PacketMeta& p = b.pkts[k];
  uint8_t* ip = b.header[k] + kEthHeaderSize;
  const Ip6 dst = load_ip6(ip + ip6::kDst);
  uint16_t out_rif = 0;
  IpAddress next_hop = dst;
  // What the router says to a link-local address goes back out of the interface the
  // conversation came in on (received packets to one are the router's own: kLinkLocal).
  if (originated && ip6_link_local(dst)) out_rif = in_id;
  if (!out_rif) {
    switch (r.action) {
      case RouteAction::local: {
        const uint32_t payload = load16(ip + ip6::kPayloadLen);
        if (!originated && ip[ip6::kNext] == kProtoIcmp6 && payload >= 8 && ip[kIp6Header] == kIcmp6EchoRequest) {
          echo_reply(k);
          const Ip6 to = load_ip6(ip + ip6::kDst);
          return route(k, ip6_link_local(to) ? kLinkLocal : lookup(to), /*originated=*/true);
        }
        ctx.drop(p, b.in_port, DropReason::local_unsupported);
        return;
      }
      case RouteAction::none:
      case RouteAction::unreachable:
        ctx.drop(p, b.in_port, DropReason::no_route);
        if (!originated) icmp_error(k, kIcmp6Unreachable, r.action == RouteAction::none ? kIcmp6NoRoute : kIcmp6AddressUnreachable);
        return;
      case RouteAction::blackhole:
        ctx.drop(p, b.in_port, DropReason::blackhole);
        return;
      case RouteAction::connected:
      case RouteAction::forward:
        out_rif = l3.egress(r, [&] { return flow_hash(ip, p.header_len - kEthHeaderSize); }, next_hop);
        break;
    }
  }
  if (!originated && ip6_link_local(load_ip6(ip + ip6::kSrc))) {
    // Its source means nothing beyond the link it came from (RFC 4443 §3.1 code 2).
    ctx.drop(p, b.in_port, DropReason::ip6_scope);
    icmp_error(k, kIcmp6Unreachable, kIcmp6BeyondScope);
    return;
  }
  const uint8_t hop_limit = ip[ip6::kHopLimit];
  if (!originated && hop_limit <= 1) {
    ctx.drop(p, b.in_port, DropReason::ttl_expired);
    icmp_error(k, kIcmp6TimeExceeded, 0);
    return;
  }
  const RifView& out = l3.rifs[out_rif];
  if (kIp6Header + load16(ip + ip6::kPayloadLen) > out.mtu) {
    ctx.drop(p, b.in_port, DropReason::mtu_exceeded);
    if (!originated) icmp_error(k, kIcmp6TooBig, 0, out.mtu);
    return;
  }
  if (!originated) {
    ip[ip6::kHopLimit] = uint8_t(hop_limit - 1);  // no header checksum to mend
    if (result && (r.action == RouteAction::connected || r.n_paths == 1)) last = {result, out_rif, out.mtu, next_hop == IpAddress(dst), next_hop};
  }
  b.out_rif[k] = out_rif;
  b.next_hop[k] = next_hop;
  p.next = Next::kRewrite;
}

// In place: the request's header becomes the reply's. Swapping the addresses leaves the
// pseudo-header's sum as it was, so only the type's change mends the checksum.
void Ip6Router::echo_reply(uint32_t k) {
  uint8_t* ip = b.header[k] + kEthHeaderSize;
  const Ip6 src = load_ip6(ip + ip6::kSrc), dst = load_ip6(ip + ip6::kDst);
  store_ip6(ip + ip6::kSrc, dst);
  store_ip6(ip + ip6::kDst, src);
  ip[ip6::kHopLimit] = 64;
  uint8_t* icmp = ip + kIp6Header;
  const uint16_t type_code = load16(icmp);
  icmp[0] = kIcmp6EchoReply;
  store16(icmp + 2, csum_update16(load16(icmp + 2), type_code, load16(icmp)));
}

void Ip6Router::icmp_error(uint32_t k, uint8_t type, uint8_t code, uint32_t mtu) {
  const uint8_t* ip = b.header[k] + kEthHeaderSize;
  // Never about an ICMPv6 error (types below 128), RFC 4443 §2.4 (e). Sources are
  // unicast here: l3_input dropped the rest.
  if (ip[ip6::kNext] == kProtoIcmp6 && (b.pkts[k].header_len <= kEthHeaderSize + kIp6Header || ip[kIp6Header] < 128)) return;
  const Ip6 to = load_ip6(ip + ip6::kSrc);
  const IpAddress from = in.source_for(to);
  if (from.zero() || !ctx.l3.icmp_allowed(ctx.now_s)) return;
  // As much of the offending packet as the private header holds (RFC 4443 asks for as
  // much as fits in 1280 bytes; the header and the start of the transport header are
  // what a sender needs to match its socket).
  constexpr uint32_t kRoom = kHeaderScratch - kEthHeaderSize - kIp6Header - 8;
  const uint32_t quote = std::min<uint32_t>({kIp6Header + load16(ip + ip6::kPayloadLen), uint32_t(b.pkts[k].header_len - kEthHeaderSize), kRoom});
  uint32_t g;
  uint8_t* f = b.generate(kEthHeaderSize + kIp6Header + 8 + quote, k, &g);
  if (!f) return;
  bump(ctx.l3.icmp_errors);
  std::memset(f, 0, 12);  // MACs: the neighbor stage writes them
  store16(f + 12, kEtherTypeIp6);
  uint8_t* e = f + kEthHeaderSize;
  write_ip6(e, uint16_t(8 + quote), kProtoIcmp6, 64, from.bits, to);
  uint8_t* icmp = e + kIp6Header;
  icmp[0] = type;
  icmp[1] = code;
  store16(icmp + 2, 0);
  store32(icmp + 4, mtu);  // packet too big: the next-hop MTU; zero (unused) for the others
  std::memcpy(icmp + 8, ip, quote);
  store16(icmp + 2, icmp6_csum(e, icmp, 8 + quote));
  b.pkts[g].next = Next::kIp6Local;
}

}  // namespace

uint32_t ip6_lookup(StageContext& ctx, Burst& b) {
  if (b.n_ip6 == 0) return 0;
  const Topology& t = ctx.topology;
  const uint16_t rif_id = t.ports[b.in_port].rif;
  const RifView& in = t.l3.rifs[rif_id];  // l3_input passed nothing on unless it exists
  Ip6Router r{ctx, b, t.l3, *t.l3.fibs6[in.router], rif_id, in};
  // One lookup for the whole burst (lookup_n overlaps the misses); link-local
  // destinations are the interface's business, not the table's.
  Ip6 dst[kSlots];
  uint32_t result[kSlots];
  uint8_t which[kSlots];
  uint32_t m = 0;
  const uint32_t received = b.n;
  for (uint32_t k = 0; k < received; ++k) {
    if (b.pkts[k].next != Next::kIp6 || b.pkts[k].drop != DropReason::kCount) continue;
    const Ip6 d = load_ip6(b.header[k] + kEthHeaderSize + ip6::kDst);
    if (ip6_link_local(d)) {
      if (in.owns(d)) r.route(k, kLinkLocal, /*originated=*/false);
      else ctx.drop(b.pkts[k], b.in_port, DropReason::ip6_scope);
      continue;
    }
    dst[m] = d;
    which[m++] = uint8_t(k);
  }
  if (m) r.fib.lookup_n(dst, result, m);
  LastEgress last;
  for (uint32_t i = 0; i < m; ++i) {
    if (result[i] == last.result && forward_same(b, which[i], last)) continue;
    r.route(which[i], t.l3.result(result[i]), /*originated=*/false, result[i]);
    last = r.last;
  }
  // What the router generated meanwhile (ICMPv6 errors).
  for (uint32_t k = received; k < b.n; ++k)
    if (b.pkts[k].next == Next::kIp6Local && b.pkts[k].drop == DropReason::kCount)
      r.route(k, r.lookup(load_ip6(b.header[k] + kEthHeaderSize + ip6::kDst)), /*originated=*/true);
  return b.n_ip6;
}

}  // namespace memswitch::detail
