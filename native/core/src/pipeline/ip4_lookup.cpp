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

  LastEgress last;  // what route() last resolved

  void route(uint32_t k, uint32_t result, bool originated);
  void echo_reply(uint32_t k);
  void icmp_error(uint32_t k, uint8_t type, uint8_t code, uint16_t mtu = 0);
  void fragment(uint32_t k, uint32_t mtu);
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
  if (has_ports(proto) && unfragmented && ihl + 4 <= avail)
    h = _mm_crc32_u32(h, load32(ip + ihl));
  return h;
}

// Packet k, whose result is last's: forwarded and true, or false when it needs more
// than that (TTL expiry, the MTU): then route() does it all. `last` is the caller's own
// copy: header stores (bytes) may alias anything, and would make a shared one be
// reloaded for every packet.
[[gnu::always_inline]] inline bool forward_same(Burst& b, uint32_t k, const LastEgress& last) {
  uint8_t* ip = b.header[k] + kEthHeaderSize;
  if (ip[ip4::kTtl] <= 1 || load16(ip + ip4::kTotalLen) > last.mtu) return false;
  ip4_decrement_ttl(ip);
  b.out_rif[k] = last.rif;
  b.next_hop[k] = last.on_link ? IpAddress(Ip4(load32(ip + ip4::kDst))) : last.via;
  b.pkts[k].next = Next::kRewrite;
  return true;
}

void Ip4Router::route(uint32_t k, uint32_t result, bool originated) {
  PacketMeta& p = b.pkts[k];
  uint8_t* ip = b.header[k] + kEthHeaderSize;
  const RouteResult& r = l3.result(result);
  uint16_t out_rif = 0;
  IpAddress next_hop = Ip4(load32(ip + ip4::kDst));
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
    case RouteAction::forward:
      out_rif = l3.egress(r, [&] { return flow_hash(ip, p.header_len - kEthHeaderSize); }, next_hop);
      break;
  }
  const uint8_t ttl = ip[ip4::kTtl];
  if (!originated && ttl <= 1) {
    ctx.drop(p, b.in_port, DropReason::ttl_expired);
    icmp_error(k, kIcmpTimeExceeded, 0);
    return;
  }
  const RifView& out = l3.rifs[out_rif];
  const bool too_big = load16(ip + ip4::kTotalLen) > out.mtu;
  if (too_big && (originated || (load16(ip + ip4::kFrag) & kIp4FlagDf))) {
    ctx.drop(p, b.in_port, DropReason::mtu_exceeded);
    if (!originated) icmp_error(k, kIcmpUnreachable, kIcmpFragNeeded, uint16_t(out.mtu));
    return;
  }
  if (!originated) {
    ip4_decrement_ttl(ip);
    if (r.action == RouteAction::connected || r.n_paths == 1) last = {result, out_rif, out.mtu, next_hop == IpAddress(Ip4(load32(ip + ip4::kDst))), next_hop};
  }
  b.out_rif[k] = out_rif;
  b.next_hop[k] = next_hop;
  if (too_big) return fragment(k, out.mtu);
  p.next = Next::kRewrite;
}

// RFC 791 §3.2 / RFC 1812 §5.2.6: a datagram without DF over the MTU leaves as fragments
// of at most `mtu` bytes, payloads in multiples of 8; the first keeps every option, the
// others only those marked copied. Each fragment is a new frame whose header is built
// here and whose payload is read from the original's source bytes at transmit.
void Ip4Router::fragment(uint32_t k, uint32_t mtu) {
  PacketMeta& p = b.pkts[k];
  const uint8_t* ip = b.header[k] + kEthHeaderSize;
  const uint32_t ihl = (ip[0] & 0xF) * 4u;
  const uint32_t payload = load16(ip + ip4::kTotalLen) - ihl;
  uint8_t later_options[40];
  uint32_t n_later = 0;
  for (uint32_t i = kIp4MinHeader; i < ihl;) {
    const uint8_t type = ip[i];
    if (type == 0) break;  // end of options
    const uint32_t len = type == 1 ? 1 : (i + 1 < ihl ? ip[i + 1] : 0);
    if (len == 0 || i + len > ihl) break;  // malformed: the rest is not copied
    if (type & 0x80) std::memcpy(later_options + n_later, ip + i, len), n_later += len;
    i += len;
  }
  while (n_later % 4) later_options[n_later++] = 0;
  const uint32_t later_ihl = kIp4MinHeader + n_later;
  const uint32_t first_chunk = (mtu - ihl) & ~7u, later_chunk = (mtu - later_ihl) & ~7u;
  const uint32_t n_frags = payload <= first_chunk ? 1 : 1 + (payload - first_chunk + later_chunk - 1) / later_chunk;
  if (first_chunk == 0 || later_chunk == 0 || b.n + n_frags > kSlots) {
    ctx.drop(p, b.in_port, DropReason::mtu_exceeded);  // no room in this burst for all of them
    return;
  }
  const uint16_t frag = load16(ip + ip4::kFrag);
  const uint32_t base_offset = (frag & kIp4OffsetMask) * 8u;
  for (uint32_t done = 0, f = 0; done < payload; ++f) {
    const uint32_t hl = f == 0 ? ihl : later_ihl;
    const uint32_t chunk = std::min(payload - done, f == 0 ? first_chunk : later_chunk);
    uint32_t g = 0;
    uint8_t* h = b.generate(kEthHeaderSize + hl, k, &g);  // cannot fail: the slots were counted above
    std::memcpy(h, b.header[k], kEthHeaderSize + kIp4MinHeader);  // Ethernet (rewritten later) and the fixed header
    uint8_t* fip = h + kEthHeaderSize;
    if (f == 0) std::memcpy(fip + kIp4MinHeader, ip + kIp4MinHeader, ihl - kIp4MinHeader);
    else std::memcpy(fip + kIp4MinHeader, later_options, n_later);
    fip[ip4::kVerIhl] = uint8_t(0x40 | (hl / 4));
    store16(fip + ip4::kTotalLen, uint16_t(hl + chunk));
    const bool more = done + chunk < payload || (frag & 0x2000);
    store16(fip + ip4::kFrag, uint16_t((frag & 0x8000) | (more ? 0x2000 : 0) | ((base_offset + done) / 8)));
    store16(fip + ip4::kCsum, 0);
    store16(fip + ip4::kCsum, ip4_header_csum(fip, hl));
    PacketMeta& fp = b.pkts[g];
    fp.first_seg = p.first_seg, fp.n_segs = p.n_segs;
    fp.len = kEthHeaderSize + hl + chunk;
    fp.src_off = uint16_t(kEthHeaderSize + ihl + done);  // the payload, straight from the source
    fp.next = Next::kRewrite;
    b.out_rif[g] = b.out_rif[k];
    b.next_hop[g] = b.next_hop[k];
    done += chunk;
  }
  p.next = Next::kNone;  // replaced by its fragments, not dropped
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
  store16(ip + ip4::kCsum, ip4_header_csum(ip, ihl));
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
  uint8_t* f = b.generate(len, k, &g);
  if (!f) return;
  bump(ctx.l3.icmp_errors);
  std::memset(f, 0, kEthHeaderSize + kIp4MinHeader + 8);
  store16(f + 12, kEtherTypeIp4);  // MACs: the neighbor stage writes them
  uint8_t* e = f + kEthHeaderSize;
  e[ip4::kVerIhl] = 0x45;
  e[1] = 0xC0;  // precedence: internetwork control
  store16(e + ip4::kTotalLen, uint16_t(kIp4MinHeader + 8 + quote));
  e[ip4::kTtl] = 64;
  e[ip4::kProto] = kProtoIcmp;
  store32(e + ip4::kSrc, in.source_for(Ip4(load32(ip + ip4::kSrc))).v4());
  store32(e + ip4::kDst, load32(ip + ip4::kSrc));
  store16(e + ip4::kCsum, ip4_header_csum(e, kIp4MinHeader));
  uint8_t* icmp = e + kIp4MinHeader;
  icmp[0] = type;
  icmp[1] = code;
  store16(icmp + 6, mtu);  // next-hop MTU (RFC 1191); zero for the others
  std::memcpy(icmp + 8, ip, quote);
  store16(icmp + 2, csum_fold(csum_add(0, icmp, 8 + quote)));
  b.pkts[g].next = Next::kIp4Local;
}

}  // namespace

uint32_t ip4_lookup(StageContext& ctx, Burst& b) {
  if (b.n_ip4 == 0) return 0;
  const Topology& t = ctx.topology;
  const uint16_t rif_id = t.ports[b.in_port].rif;
  const RifView& in = t.l3.rifs[rif_id];  // l3_input passed nothing on unless it exists
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
  LastEgress last;
  for (uint32_t i = 0; i < m; ++i) {
    if (result[i] == last.result && forward_same(b, which[i], last)) continue;
    r.route(which[i], result[i], /*originated=*/false);
    last = r.last;
  }
  // What the router generated meanwhile: its ICMP errors (echo replies were routed where
  // they were made).
  for (uint32_t k = received; k < b.n; ++k)
    if (b.pkts[k].next == Next::kIp4Local && b.pkts[k].drop == DropReason::kCount)
      r.route(k, r.fib.lookup(load32(b.header[k] + kEthHeaderSize + ip4::kDst)), /*originated=*/true);
  return b.n_ip4;
}

}  // namespace memswitch::detail
