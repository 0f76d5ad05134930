// IPv4, ICMP and ARP on the wire: offsets, byte-order helpers and the Internet checksum
// (RFC 1071, with RFC 1624's incremental update). Everything here works on a frame's
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

// The one's-complement sum of n bytes (n even or odd), not yet folded or inverted.
inline uint32_t csum_add(uint32_t sum, const uint8_t* p, uint32_t n) {
  for (; n > 1; p += 2, n -= 2) sum += uint32_t(p[0] << 8 | p[1]);
  if (n) sum += uint32_t(p[0] << 8);
  return sum;
}
// The same for an IPv4 header (ihl a multiple of 4), a 32-bit word at a time.
inline uint16_t ip4_header_csum(const uint8_t* ip, uint32_t ihl) {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < ihl; i += 4) {
    uint32_t w;
    std::memcpy(&w, ip + i, 4);  // byte order does not matter to a one's-complement sum...
    sum += w;
  }
  sum = (sum & 0xFFFFFFFF) + (sum >> 32);
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  const uint16_t folded = uint16_t(~sum);
  return uint16_t(folded << 8 | folded >> 8);  // ...as long as the result is swapped back
}
inline uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
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
