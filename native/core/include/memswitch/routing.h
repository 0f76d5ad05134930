// Routers (VRFs), their interfaces on networks, IPv4 routes and neighbours: the types
// the Dataplane's routing API takes and returns.
#pragma once
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

std::optional<Ip4> parse_ip4(std::string_view s);
std::string format_ip4(Ip4 a);
// "a.b.c.d/len"; with `host_bits_ok` false, bits past the length must be zero.
std::optional<Ip4Prefix> parse_ip4_prefix(std::string_view s, bool host_bits_ok = false);
std::string format_ip4_prefix(Ip4Prefix p);

// An interface address: the router's own address and the connected subnet it implies.
struct Ip4InterfaceAddress {
  Ip4 addr;
  uint8_t len;
  Ip4Prefix subnet() const { return {addr & ip4_mask(len), len}; }
};

struct RouterInterfaceConfig {
  std::string name;
  uint32_t router = 0;
  uint32_t network = 0;
  uint16_t vlan = 0;
  Mac mac = 0;            // 0: generated from the name
  uint32_t mtu = 1500;    // largest IP packet sent out of it
  std::vector<Ip4InterfaceAddress> addresses;
};

struct RouterInterfaceInfo {
  uint32_t index;
  std::string name;
  uint32_t router, network;
  uint16_t vlan;
  Mac mac;
  uint32_t mtu;
  std::vector<Ip4InterfaceAddress> addresses;
};

enum class RouteKind : uint8_t { forward, blackhole, unreachable };

struct NextHop {
  Ip4 via = 0;             // 0: the destination is on-link on `interface`
  uint32_t interface = 0;  // 0: whichever interface's subnet holds `via`
  bool operator==(const NextHop&) const = default;
  bool operator<(const NextHop& o) const { return via != o.via ? via < o.via : interface < o.interface; }
};
constexpr size_t kMaxEcmpPaths = 16;

struct Route4 {
  Ip4Prefix prefix;
  RouteKind kind = RouteKind::forward;
  std::vector<NextHop> next_hops;  // forward: 1..kMaxEcmpPaths (several: ECMP by flow hash)
};

struct NeighborEntry {
  uint32_t interface;  // router interface
  Ip4 ip;
  Mac mac;             // 0 while incomplete
  bool is_static;
  bool incomplete;     // asked for, not answered yet
  uint32_t age_s;      // since last confirmed (or asked)
};

}  // namespace memswitch
