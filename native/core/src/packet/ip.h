// IPv4, ICMP, ARP, IPv6, ICMPv6 and neighbour discovery on the wire: offsets, byte-order
// helpers and the Internet checksum (RFC 1071, with RFC 1624's incremental update). Everything here works on a frame's
// private header copy (Burst::header), never on peer memory.
#pragma once
#include <cstdint>
#include <cstring>

#include "memswitch/ethernet.h"
#include "memswitch/routing.h"

namespace memswitch::detail {

constexpr uint16_t kEtherTypeIp4 = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kEtherTypeIp6 = 0x86DD;
constexpr uint32_t kIp4MinHeader = 20;
constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoSctp = 132;
constexpr uint16_t kIp4FlagDf = 0x4000, kIp4FragMask = 0x3FFF, kIp4OffsetMask = 0x1FFF;
// ICMP types and codes the router sends (RFC 792, RFC 1191).
constexpr uint8_t kIcmpEchoReply = 0, kIcmpUnreachable = 3, kIcmpEchoRequest = 8, kIcmpTimeExceeded = 11;
constexpr uint8_t kIcmpNetUnreachable = 0, kIcmpHostUnreachable = 1, kIcmpFragNeeded = 4;
constexpr uint32_t kArpSize = 28;  // Ethernet/IPv4 ARP payload
constexpr uint16_t kArpRequest = 1, kArpReply = 2;

inline uint16_t load16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t load32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
inline void store16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8), p[1] = uint8_t(v); }
inline void store32(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 24), p[1] = uint8_t(v >> 16), p[2] = uint8_t(v >> 8), p[3] = uint8_t(v); }
inline void store_mac(uint8_t* p, Mac m) { mac_to_bytes(m, p); }
inline uint64_t load64(const uint8_t* p) { return uint64_t(load32(p)) << 32 | load32(p + 4); }
inline void store64(uint8_t* p, uint64_t v) { store32(p, uint32_t(v >> 32)), store32(p + 4, uint32_t(v)); }
inline Ip6 load_ip6(const uint8_t* p) { return {load64(p), load64(p + 8)}; }
inline void store_ip6(uint8_t* p, Ip6 a) { store64(p, a.hi), store64(p + 8, a.lo); }

// The one's-complement sum of n bytes (n even or odd), not yet folded or inverted.
inline uint32_t csum_add(uint32_t sum, const uint8_t* p, uint32_t n) {
  for (; n > 1; p += 2, n -= 2) sum += uint32_t(p[0] << 8 | p[1]);
  if (n) sum += uint32_t(p[0] << 8);
  return sum;
}
// The same for an IPv4 header (ihl a multiple of 4, at least 20), a 32-bit word at a time. The five
// words every header has are summed unrolled: a loop over a length read from the packet
// costs more than the sum on the routed path. Sixteen 32-bit words fit a 36-bit sum.
inline uint16_t ip4_header_csum(const uint8_t* ip, uint32_t ihl) {
  const auto word = [ip](uint32_t i) {
    uint32_t w;
    std::memcpy(&w, ip + i, 4);  // byte order does not matter to a one's-complement sum...
    return uint64_t(w);
  };
  uint64_t sum = (word(0) + word(4)) + (word(8) + word(12)) + word(16);
  for (uint32_t i = 20; i < ihl; i += 4) sum += word(i);
  sum = (sum & 0xFFFFFFFF) + (sum >> 32);
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  const uint16_t folded = uint16_t(~sum);
  return uint16_t(folded << 8 | folded >> 8);  // ...as long as the result is swapped back
}
// Two folds take any 32-bit sum to 16 bits (the first leaves at most 0x1FFFE), with no
// loop for the routed path's checksum updates to wait on.
inline uint16_t csum_fold(uint32_t sum) {
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  return uint16_t(~sum);
}
// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word changing from m to m'.
inline uint16_t csum_update16(uint16_t hc, uint16_t m, uint16_t m_new) {
  uint32_t sum = uint32_t(uint16_t(~hc)) + uint32_t(uint16_t(~m)) + m_new;
  return csum_fold(sum);
}

// Field offsets within an IPv4 header.
namespace ip4 {
constexpr uint32_t kVerIhl = 0, kTotalLen = 2, kId = 4, kFrag = 6, kTtl = 8, kProto = 9, kCsum = 10, kSrc = 12, kDst = 16;
}

// TTL and protocol share a checksum word, which loses 0x100: in RFC 1624's eqn. 3,
// ~m + m' is then 0xFEFF whatever the word was, so only the checksum is read. (A wide
// load of the TTL byte just stored would wait for the store to reach the cache.)
[[gnu::always_inline]] inline void ip4_decrement_ttl(uint8_t* ip) {
  --ip[ip4::kTtl];
  store16(ip + ip4::kCsum, csum_fold(uint32_t(uint16_t(~load16(ip + ip4::kCsum))) + 0xFEFF));
}

// IPv6 (RFC 8200), ICMPv6 (RFC 4443) and neighbour discovery (RFC 4861).
constexpr uint32_t kIp6Header = 40;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint32_t kIp6MinMtu = 1280;
constexpr uint8_t kIcmp6Unreachable = 1, kIcmp6TooBig = 2, kIcmp6TimeExceeded = 3, kIcmp6EchoRequest = 128, kIcmp6EchoReply = 129;
constexpr uint8_t kIcmp6NoRoute = 0, kIcmp6BeyondScope = 2, kIcmp6AddressUnreachable = 3;
constexpr uint8_t kNdSolicit = 135, kNdAdvert = 136;
constexpr uint32_t kNdSize = 32;  // a solicitation or advertisement with one link-layer address option
constexpr uint8_t kNdOptSourceMac = 1, kNdOptTargetMac = 2;
constexpr uint8_t kNdFlagRouter = 0x80, kNdFlagSolicited = 0x40, kNdFlagOverride = 0x20;
namespace ip6 {
constexpr uint32_t kPayloadLen = 4, kNext = 6, kHopLimit = 7, kSrc = 8, kDst = 24;
}
// Within a neighbour solicitation or advertisement.
namespace nd {
constexpr uint32_t kFlags = 4, kTarget = 8, kOptions = 24;
}

// ff02::1:ffXX:XXXX, where a neighbour solicitation for `a` goes, and its MAC 33:33:ff:XX:XX:XX.
inline Ip6 solicited_node(Ip6 a) { return {0xFF02000000000000ull, 0x00000001FF000000ull | (a.lo & 0xFFFFFF)}; }
inline Mac ip6_multicast_mac(Ip6 a) { return 0x333300000000ull | (a.lo & 0xFFFFFFFF); }

// The checksum of an ICMPv6 message of `len` bytes at `msg` inside the IPv6 packet `ip`:
// RFC 8200 §8.1's pseudo-header (addresses, length, next header) and the message.
inline uint16_t icmp6_csum(const uint8_t* ip, const uint8_t* msg, uint32_t len) {
  uint32_t sum = csum_add(0, ip + ip6::kSrc, 32);
  sum += (len >> 16) + (len & 0xFFFF) + kProtoIcmp6;
  return csum_fold(csum_add(sum, msg, len));
}

// An IPv6 header (payload `len` bytes of next header `next`) at ip.
inline void write_ip6(uint8_t* ip, uint16_t len, uint8_t next, uint8_t hop_limit, Ip6 src, Ip6 dst) {
  store32(ip, 0x60000000);
  store16(ip + ip6::kPayloadLen, len);
  ip[ip6::kNext] = next;
  ip[ip6::kHopLimit] = hop_limit;
  store_ip6(ip + ip6::kSrc, src);
  store_ip6(ip + ip6::kDst, dst);
}

// An Ethernet/IPv6 neighbour solicitation or advertisement frame (kEthHeaderSize +
// kIp6Header + kNdSize bytes) about `target`, carrying `mac` as its link-layer option.
inline void write_nd(uint8_t* f, Mac eth_dst, Mac mac, Ip6 src, Ip6 dst, uint8_t type, uint8_t flags, Ip6 target) {
  store_mac(f, eth_dst);
  store_mac(f + 6, mac);
  store16(f + 12, kEtherTypeIp6);
  uint8_t* ip = f + kEthHeaderSize;
  write_ip6(ip, kNdSize, kProtoIcmp6, 255, src, dst);  // 255: proves it was not routed (RFC 4861 §7.1)
  uint8_t* m = ip + kIp6Header;
  std::memset(m, 0, kNdSize);
  m[0] = type;
  m[nd::kFlags] = flags;
  store_ip6(m + nd::kTarget, target);
  m[nd::kOptions] = type == kNdSolicit ? kNdOptSourceMac : kNdOptTargetMac;
  m[nd::kOptions + 1] = 1;  // in units of 8 bytes
  store_mac(m + nd::kOptions + 2, mac);
  store16(m + 2, icmp6_csum(ip, m, kNdSize));
}

// Within an ARP payload.
namespace arp {
constexpr uint32_t kHtype = 0, kPtype = 2, kHlen = 4, kPlen = 5, kOp = 6, kSha = 8, kSpa = 14, kTha = 18, kTpa = 24;
}

// An Ethernet/IPv4 ARP frame (kEthHeaderSize + kArpSize bytes) from sha to eth_dst.
inline void write_arp(uint8_t* f, Mac eth_dst, uint16_t op, Mac sha, Ip4 spa, Mac tha, Ip4 tpa) {
  store_mac(f, eth_dst);
  store_mac(f + 6, sha);
  store16(f + 12, kEtherTypeArp);
  uint8_t* a = f + kEthHeaderSize;
  store16(a + arp::kHtype, 1);
  store16(a + arp::kPtype, kEtherTypeIp4);
  a[arp::kHlen] = 6;
  a[arp::kPlen] = 4;
  store16(a + arp::kOp, op);
  store_mac(a + arp::kSha, sha);
  store32(a + arp::kSpa, spa);
  store_mac(a + arp::kTha, tha);
  store32(a + arp::kTpa, tpa);
}

}  // namespace memswitch::detail
