// Routers (VRFs), their interfaces on networks, IPv4 and IPv6 routes and neighbours: the
// types the Dataplane's routing API takes and returns.
#pragma once
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memswitch/ethernet.h"

namespace memswitch {

// IPv4 addresses in host byte order, so prefixes compare and mask as plain integers.
using Ip4 = uint32_t;

struct Ip4Prefix {
  Ip4 addr = 0;
  uint8_t len = 0;
  bool operator==(const Ip4Prefix&) const = default;
  bool operator<(const Ip4Prefix& o) const { return addr != o.addr ? addr < o.addr : len < o.len; }
};

inline Ip4 ip4_mask(uint8_t len) { return len == 0 ? 0 : ~Ip4(0) << (32 - len); }
inline bool ip4_in(Ip4 a, Ip4Prefix p) { return (a & ip4_mask(p.len)) == p.addr; }
// 0/8, 127/8, multicast and class E (with the limited broadcast): never routed, never a
// router's address.
inline bool ip4_martian(Ip4 a) { return (a >> 24) == 0 || (a >> 24) == 127 || (a >> 28) >= 0xE; }

// IPv6 addresses as two host-order halves: masks and compares are two integer operations.
struct Ip6 {
  uint64_t hi = 0, lo = 0;
  auto operator<=>(const Ip6&) const = default;
};
struct Ip6Prefix {
  Ip6 addr;
  uint8_t len = 0;
  auto operator<=>(const Ip6Prefix&) const = default;
};
inline Ip6 ip6_mask(uint8_t len) {
  if (len == 0) return {};
  if (len <= 64) return {~uint64_t(0) << (64 - len), 0};
  return {~uint64_t(0), len == 128 ? ~uint64_t(0) : ~uint64_t(0) << (128 - len)};
}
inline Ip6 ip6_and(Ip6 a, Ip6 m) { return {a.hi & m.hi, a.lo & m.lo}; }
inline bool ip6_in(Ip6 a, Ip6Prefix p) { return ip6_and(a, ip6_mask(p.len)) == p.addr; }
inline bool ip6_multicast(Ip6 a) { return (a.hi >> 56) == 0xFF; }
inline bool ip6_link_local(Ip6 a) { return (a.hi >> 54) == (0xFE80 >> 6); }  // fe80::/10
// ::ffff:0:0/96, how IpAddress carries IPv4 (RFC 4291 §2.5.5.2).
inline bool ip6_v4_mapped(Ip6 a) { return a.hi == 0 && (a.lo >> 32) == 0xFFFF; }
// ::, ::1, multicast and IPv4-mapped: never routed, never a router's address. Link-local
// addresses are the interface's own business (neither forwarded nor a route).
inline bool ip6_martian(Ip6 a) { return (a.hi == 0 && a.lo <= 1) || ip6_multicast(a) || ip6_v4_mapped(a); }

// Either family, where the control path treats them alike (routes, next hops, interface
// addresses, neighbours): IPv4 is held IPv4-mapped, so one type orders and compares both.
struct IpAddress {
  Ip6 bits;
  IpAddress() = default;
  IpAddress(Ip4 a) : bits{0, uint64_t(0xFFFF) << 32 | a} {}  // NOLINT: an IPv4 address is one
  IpAddress(Ip6 a) : bits(a) {}                                // NOLINT: so is an IPv6 one
  bool is4() const { return ip6_v4_mapped(bits); }
  Ip4 v4() const { return Ip4(bits.lo); }
  bool zero() const { return is4() ? v4() == 0 : bits == Ip6{}; }
  auto operator<=>(const IpAddress&) const = default;
};
// len counts within the address's family: 0-32 for IPv4, 0-128 for IPv6.
struct IpPrefix {
  IpAddress addr;
  uint8_t len = 0;
  IpPrefix() = default;
  IpPrefix(IpAddress a, uint8_t l) : addr(a), len(l) {}
  IpPrefix(Ip4Prefix p) : addr(p.addr), len(p.len) {}  // NOLINT
  IpPrefix(Ip6Prefix p) : addr(p.addr), len(p.len) {}  // NOLINT
  bool is4() const { return addr.is4(); }
  Ip4Prefix v4() const { return {addr.v4(), len}; }
  Ip6Prefix v6() const { return {addr.bits, len}; }
  uint8_t max_len() const { return is4() ? 32 : 128; }
  bool host_bits_clear() const { return is4() ? (v4().addr & ~ip4_mask(len)) == 0 : ip6_and(addr.bits, ip6_mask(len)) == addr.bits; }
  bool contains(IpAddress a) const { return a.is4() == is4() && (is4() ? ip4_in(a.v4(), v4()) : ip6_in(a.bits, v6())); }
  auto operator<=>(const IpPrefix&) const = default;
};

std::optional<Ip4> parse_ip4(std::string_view s);
std::string format_ip4(Ip4 a);
// "a.b.c.d/len"; with `host_bits_ok` false, bits past the length must be zero.
std::optional<Ip4Prefix> parse_ip4_prefix(std::string_view s, bool host_bits_ok = false);
std::string format_ip4_prefix(Ip4Prefix p);
// Either family: dotted quad or RFC 4291 text; formatted as RFC 5952 says.
std::optional<IpAddress> parse_ip(std::string_view s);
std::string format_ip(IpAddress a);
std::optional<IpPrefix> parse_ip_prefix(std::string_view s, bool host_bits_ok = false);
std::string format_ip_prefix(IpPrefix p);

// An interface address: the router's own address and the connected subnet it implies.
struct InterfaceAddress {
  IpAddress addr;
  uint8_t len;
  IpPrefix subnet() const {
    return addr.is4() ? IpPrefix(Ip4Prefix{addr.v4() & ip4_mask(len), len}) : IpPrefix(Ip6Prefix{ip6_and(addr.bits, ip6_mask(len)), len});
  }
};

struct RouterInterfaceConfig {
  std::string name;
  uint32_t router = 0;
  uint32_t network = 0;
  uint16_t vlan = 0;
  Mac mac = 0;            // 0: generated from the name
  uint32_t mtu = 1500;    // largest IP packet sent out of it
  std::vector<InterfaceAddress> addresses;  // IPv4 and IPv6, in any order
};

struct RouterInterfaceInfo {
  uint32_t index;
  std::string name;
  uint32_t router, network;
  uint16_t vlan;
  Mac mac;
  uint32_t mtu;
  std::vector<InterfaceAddress> addresses;
};

enum class RouteKind : uint8_t { forward, blackhole, unreachable };

struct NextHop {
  IpAddress via;           // zero: the destination is on-link on `interface`
  uint32_t interface = 0;  // 0: whichever interface's subnet holds `via`
  auto operator<=>(const NextHop&) const = default;
};
constexpr size_t kMaxEcmpPaths = 16;

struct Route {
  IpPrefix prefix;
  RouteKind kind = RouteKind::forward;
  std::vector<NextHop> next_hops;  // forward: 1..kMaxEcmpPaths of the prefix's family (several: ECMP by flow hash)
};

struct NeighborEntry {
  uint32_t interface;  // router interface
  IpAddress ip;
  Mac mac;             // 0 while incomplete
  bool is_static;
  bool incomplete;     // asked for (ARP or neighbour solicitation), not answered yet
  uint32_t age_s;      // since last confirmed (or asked)
};

}  // namespace memswitch
