// Frames for tests, built byte by byte the way a host's stack would send them.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "packet/ip.h"

namespace memswitch::test {

using Bytes = std::vector<uint8_t>;
using detail::load16;
using detail::load32;
using detail::load_ip6;

inline Bytes eth(Mac dst, Mac src, uint16_t type, const Bytes& payload) {
  Bytes f(14 + payload.size());
  mac_to_bytes(dst, f.data());
  mac_to_bytes(src, f.data() + 6);
  detail::store16(f.data() + 12, type);
  std::copy(payload.begin(), payload.end(), f.begin() + 14);
  return f;
}

inline Bytes arp_msg(uint16_t op, Mac sha, Ip4 spa, Mac tha, Ip4 tpa) {
  Bytes a(28);
  detail::store16(&a[0], 1);
  detail::store16(&a[2], 0x0800);
  a[4] = 6, a[5] = 4;
  detail::store16(&a[6], op);
  mac_to_bytes(sha, &a[8]);
  detail::store32(&a[14], spa);
  mac_to_bytes(tha, &a[18]);
  detail::store32(&a[24], tpa);
  return a;
}

struct Ip4Fields {
  Ip4 src, dst;
  uint8_t proto = detail::kProtoUdp;
  uint8_t ttl = 64;
  uint16_t frag = 0;    // flags and offset
  Bytes options = {};   // a multiple of 4 bytes
  uint16_t id = 0x1234;
};

inline Bytes ipv4(const Ip4Fields& f, const Bytes& payload) {
  const uint32_t ihl = 20 + uint32_t(f.options.size());
  Bytes h(ihl);
  h[0] = uint8_t(0x40 | (ihl / 4));
  detail::store16(&h[2], uint16_t(ihl + payload.size()));
  detail::store16(&h[4], f.id);
  detail::store16(&h[6], f.frag);
  h[8] = f.ttl;
  h[9] = f.proto;
  detail::store32(&h[12], f.src);
  detail::store32(&h[16], f.dst);
  std::copy(f.options.begin(), f.options.end(), h.begin() + 20);
  detail::store16(&h[10], detail::csum_fold(detail::csum_add(0, h.data(), ihl)));
  Bytes out(ihl + payload.size());
  std::copy(h.begin(), h.end(), out.begin());
  std::copy(payload.begin(), payload.end(), out.begin() + ihl);
  return out;
}

inline Bytes udp(uint16_t sport, uint16_t dport, size_t payload_len) {
  Bytes u(8 + payload_len);
  detail::store16(&u[0], sport);
  detail::store16(&u[2], dport);
  detail::store16(&u[4], uint16_t(u.size()));
  for (size_t i = 8; i < u.size(); ++i) u[i] = uint8_t(i * 7);
  return u;  // checksum 0: none, as IPv4 allows
}

// A TCP segment with no options (checksum 0: the switch does not check it).
inline Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, size_t payload_len = 0) {
  Bytes t(20 + payload_len);
  detail::store16(&t[0], sport);
  detail::store16(&t[2], dport);
  t[12] = 5 << 4;
  t[13] = flags;
  detail::store16(&t[14], 65535);
  return t;
}

// An ICMP error (type, code) quoting `packet`'s IP header and first 8 payload bytes.
inline Bytes icmp_error(uint8_t type, uint8_t code, const Bytes& packet) {
  const size_t quoted = std::min<size_t>(packet.size(), (packet[0] & 0xF) * 4u + 8);
  Bytes m(8 + quoted);
  m[0] = type, m[1] = code;
  std::copy(packet.begin(), packet.begin() + long(quoted), m.begin() + 8);
  detail::store16(&m[2], detail::csum_fold(detail::csum_add(0, m.data(), uint32_t(m.size()))));
  return m;
}

inline Bytes icmp_echo(uint16_t id, uint16_t seq, size_t payload_len) {
  Bytes m(8 + payload_len);
  m[0] = detail::kIcmpEchoRequest;
  detail::store16(&m[4], id);
  detail::store16(&m[6], seq);
  for (size_t i = 8; i < m.size(); ++i) m[i] = uint8_t(i);
  detail::store16(&m[2], detail::csum_fold(detail::csum_add(0, m.data(), uint32_t(m.size()))));
  return m;
}

struct Ip6Fields {
  Ip6 src, dst;
  uint8_t next = detail::kProtoUdp;
  uint8_t hop_limit = 64;
};

// An IPv6 packet; an ICMPv6 payload gets its checksum (pseudo-header and all).
inline Bytes ipv6(const Ip6Fields& f, const Bytes& payload) {
  Bytes out(40 + payload.size());
  detail::write_ip6(out.data(), uint16_t(payload.size()), f.next, f.hop_limit, f.src, f.dst);
  std::copy(payload.begin(), payload.end(), out.begin() + 40);
  if (f.next == detail::kProtoIcmp6 && payload.size() >= 4) {
    detail::store16(&out[42], 0);
    detail::store16(&out[42], detail::icmp6_csum(out.data(), &out[40], uint32_t(payload.size())));
  }
  return out;
}

inline Bytes icmp6_echo(uint16_t id, uint16_t seq, size_t payload_len) {
  Bytes m = icmp_echo(id, seq, payload_len);
  m[0] = detail::kIcmp6EchoRequest;  // the checksum is ipv6()'s to write
  return m;
}

// A neighbour solicitation (or advertisement) as a host sends it: an Ethernet frame.
inline Bytes nd_frame(Mac eth_dst, Mac mac, Ip6 src, Ip6 dst, uint8_t type, uint8_t flags, Ip6 target) {
  Bytes f(14 + 40 + detail::kNdSize);
  detail::write_nd(f.data(), eth_dst, mac, src, dst, type, flags, target);
  return f;
}

inline bool icmp6_checksum_ok(const uint8_t* ip) { return detail::icmp6_csum(ip, ip + 40, load16(ip + 4)) == 0; }

inline bool ip4_checksum_ok(const uint8_t* ip) { return detail::csum_fold(detail::csum_add(0, ip, (ip[0] & 0xF) * 4u)) == 0; }

}  // namespace memswitch::test
