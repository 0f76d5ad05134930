// IPv6 through a router between two networks, driven by memif clients that behave like
// hosts: neighbour discovery both ways, ping (global and link-local), forwarding with the
// hop limit, ICMPv6 errors checked by their bytes, ECMP, and malformed headers counted.
#include <map>

#include "router_fixture.h"

using namespace memswitch;
using namespace memswitch::test;
using namespace memswitch::detail;

namespace {

const Ip6 kGw1 = parse_ip("fd01::1")->bits, kGw2 = parse_ip("fd02::1")->bits, kGwLinkLocal = parse_ip("fe80::1")->bits;
const Ip6 kIpA = parse_ip("fd01::a")->bits, kIpB = parse_ip("fd02::b")->bits;

Ip6 v6(const char* s) { return parse_ip(s)->bits; }
using Host6 = Host<Ip6>;

struct Routed6 : TwoRoutedNetworks<Ip6> {
  void SetUp() override {
    connect({"fd01::1/64", "fe80::1/64", "10.1.0.1/24"}, {"fd02::1/64"}, {nullptr, kMacA, kIpA, v6("fe80::a")}, {nullptr, kMacB, kIpB, v6("fe80::b")});
  }
  Bytes udp_to(Ip6 dst, uint8_t hop_limit = 64, size_t len = 64, Ip6 src = kIpA) {
    return eth(gw_mac1, kMacA, kEtherTypeIp6, ipv6({src, dst, kProtoUdp, hop_limit}, udp(1000, 2000, len)));
  }
  // An ICMPv6 error a received: from the router's address on a's network, about `sent`.
  void expect_icmp6_error(const Bytes& got, uint8_t type, uint8_t code, const Bytes& sent, uint32_t param = 0) {
    const uint8_t* ip = &got[14];
    EXPECT_EQ(load16(&got[12]), kEtherTypeIp6);
    EXPECT_EQ(mac_from_bytes(&got[0]), kMacA);
    EXPECT_EQ(load_ip6(ip + 8), kGw1);
    EXPECT_EQ(load_ip6(ip + 24), kIpA);
    EXPECT_EQ(ip[6], kProtoIcmp6);
    EXPECT_TRUE(icmp6_checksum_ok(ip));
    EXPECT_EQ(ip[40], type);
    EXPECT_EQ(ip[41], code);
    EXPECT_EQ(load32(ip + 44), param);
    const size_t quoted = got.size() - 14 - 48;
    ASSERT_GE(quoted, 48u);  // the header and the UDP ports at least
    EXPECT_LE(got.size(), 128u);
    EXPECT_TRUE(std::equal(ip + 48, ip + 48 + quoted, sent.begin() + 14));
  }
};

}  // namespace

TEST_F(Routed6, AnswersSolicitationsAndPingOnGlobalAndLinkLocalAddresses) {
  const Ip6 group = solicited_node(kGw1);
  a.send(nd_frame(ip6_multicast_mac(group), kMacA, kIpA, group, kNdSolicit, 0, kGw1));
  auto got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  const Bytes& na = got[0];
  ASSERT_EQ(na.size(), 14u + 40 + kNdSize);
  EXPECT_EQ(mac_from_bytes(&na[0]), kMacA);
  EXPECT_EQ(mac_from_bytes(&na[6]), gw_mac1);
  const uint8_t* ip = &na[14];
  EXPECT_EQ(ip[7], 255);  // hop limit
  EXPECT_EQ(load_ip6(ip + 8), kGw1);
  EXPECT_EQ(load_ip6(ip + 24), kIpA);
  EXPECT_TRUE(icmp6_checksum_ok(ip));
  EXPECT_EQ(ip[40], kNdAdvert);
  EXPECT_EQ(ip[44], kNdFlagRouter | kNdFlagSolicited | kNdFlagOverride);
  EXPECT_EQ(load_ip6(ip + 48), kGw1);
  EXPECT_EQ(ip[64], kNdOptTargetMac);
  EXPECT_EQ(mac_from_bytes(ip + 66), gw_mac1);
  // The router learned a from its solicitation: the reply needs none of its own.
  for (Ip6 to : {kGw1, kGwLinkLocal}) {
    const Ip6 from = to == kGw1 ? kIpA : v6("fe80::a");
    const Bytes echo = ipv6({from, to, kProtoIcmp6}, icmp6_echo(9, 1, 56));
    a.send(eth(gw_mac1, kMacA, kEtherTypeIp6, echo));
    got = a.receive(1);
    ASSERT_EQ(got.size(), 1u) << format_ip(to);
    const uint8_t* r = &got[0][14];
    EXPECT_EQ(mac_from_bytes(&got[0][0]), kMacA);
    EXPECT_EQ(load_ip6(r + 8), to);
    EXPECT_EQ(load_ip6(r + 24), from);
    EXPECT_EQ(r[40], kIcmp6EchoReply);
    EXPECT_TRUE(icmp6_checksum_ok(r));
    EXPECT_TRUE(std::equal(echo.begin() + 44, echo.end(), r + 44));  // id, seq, payload
  }
  // Global: a was learned from its solicitation. Link-local: asked for first.
  ASSERT_EQ(a.questions.size(), 1u);
  EXPECT_EQ(load_ip6(&a.questions[0][14 + 8]), kGwLinkLocal);
  EXPECT_EQ(load_ip6(&a.questions[0][14 + 48]), v6("fe80::a"));
  // A solicitation for someone else's address is not answered, and not a drop: it is
  // flooded to that someone.
  a.send(nd_frame(ip6_multicast_mac(solicited_node(v6("fd01::99"))), kMacA, kIpA, solicited_node(v6("fd01::99")), kNdSolicit, 0, v6("fd01::99")));
  EXPECT_TRUE(a.receive(1, 200).empty());
  EXPECT_EQ(drops(ia, DropReason::nd_malformed), 0u);
}

TEST_F(Routed6, ForwardsBetweenNetworksAfterNeighborDiscovery) {
  const Bytes sent = udp_to(kIpB);
  a.send(sent);
  auto got = b.receive(1);
  ASSERT_EQ(got.size(), 1u);
  // The router solicited b on its solicited-node group, from its address there.
  ASSERT_EQ(b.questions.size(), 1u);
  const Bytes& ns = b.questions[0];
  EXPECT_EQ(mac_from_bytes(&ns[0]), ip6_multicast_mac(solicited_node(kIpB)));
  EXPECT_EQ(mac_from_bytes(&ns[6]), gw_mac2);
  EXPECT_EQ(load_ip6(&ns[14 + 8]), kGw2);
  EXPECT_EQ(load_ip6(&ns[14 + 24]), solicited_node(kIpB));
  EXPECT_EQ(ns[14 + 7], 255);
  EXPECT_TRUE(icmp6_checksum_ok(&ns[14]));
  EXPECT_EQ(mac_from_bytes(&ns[14 + 40 + 26]), gw_mac2);  // its source link-layer option
  const Bytes& f = got[0];
  ASSERT_EQ(f.size(), sent.size());
  EXPECT_EQ(mac_from_bytes(&f[0]), kMacB);
  EXPECT_EQ(mac_from_bytes(&f[6]), gw_mac2);
  EXPECT_EQ(f[14 + 7], 63);
  EXPECT_TRUE(std::equal(f.begin() + 12, f.begin() + 21, sent.begin() + 12));
  EXPECT_TRUE(std::equal(f.begin() + 22, f.end(), sent.begin() + 22));
  for (int i = 0; i < 10; ++i) a.send(sent);
  EXPECT_EQ(b.receive(10).size(), 10u);
  EXPECT_EQ(b.questions.size(), 1u);
  ASSERT_EQ(b.ask(kGw2), gw_mac2);
  b.send(eth(gw_mac2, kMacB, kEtherTypeIp6, ipv6({kIpB, kIpA}, udp(2000, 1000, 10))));
  got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);  // a is solicited first, answers, then gets it
  EXPECT_EQ(a.questions.size(), 1u);
  bool listed = false;
  for (auto& n : sw.dp->neighbors()) listed |= n.interface == rif2 && n.ip == IpAddress(kIpB) && n.mac == kMacB && !n.incomplete;
  EXPECT_TRUE(listed);
}

TEST_F(Routed6, HopLimitNoRouteAndTooBigAnswerWithIcmp6Errors) {
  ASSERT_EQ(a.ask(kGw1), gw_mac1);
  const Bytes expiring = udp_to(kIpB, /*hop_limit=*/1);
  a.send(expiring);
  auto got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  expect_icmp6_error(got[0], kIcmp6TimeExceeded, 0, expiring);
  EXPECT_EQ(drops(ia, DropReason::ttl_expired), 1u);

  const Bytes lost = udp_to(v6("fd99::1"));
  a.send(lost);
  got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  expect_icmp6_error(got[0], kIcmp6Unreachable, kIcmp6NoRoute, lost);

  add_route("fd98::/32", RouteKind::unreachable);
  add_route("fd97::/32", RouteKind::blackhole);
  const Bytes refused = udp_to(v6("fd98::1"));
  a.send(refused);
  got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  expect_icmp6_error(got[0], kIcmp6Unreachable, kIcmp6AddressUnreachable, refused);
  EXPECT_EQ(drops(ia, DropReason::no_route), 2u);
  a.send(udp_to(v6("fd97::1")));
  EXPECT_TRUE(eventually([&] { return drops(ia, DropReason::blackhole) == 1; }));

  const uint32_t net3 = *sw.dp->add_network("red");
  add_rif("r-red", net3, {"fd03::1/64"}, /*mtu=*/1280);
  const Bytes big = udp_to(v6("fd03::2"), 64, 1300);
  a.send(big);
  got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  expect_icmp6_error(got[0], kIcmp6TooBig, 0, big, /*param=*/1280);
  EXPECT_EQ(drops(ia, DropReason::mtu_exceeded), 1u);
  EXPECT_TRUE(a.receive(1, 100).empty());
  EXPECT_TRUE(b.receive(1, 100).empty());
}

TEST_F(Routed6, MalformedAndOutOfScopePacketsAreCountedDrops) {
  ASSERT_EQ(a.ask(kGw1), gw_mac1);
  const Bytes good = udp_to(kIpB);
  const auto with = [&](auto change) {
    Bytes f = good;
    change(f);
    return f;
  };
  const auto nd_with = [&](auto change) {  // a unicast solicitation, changed, checksum mended
    Bytes f = nd_frame(gw_mac1, kMacA, kIpA, kGw1, kNdSolicit, 0, kGw1);
    change(f);
    store16(&f[14 + 42], 0);
    store16(&f[14 + 42], icmp6_csum(&f[14], &f[14 + 40], kNdSize));
    return f;
  };
  const Bytes bad_hop_limit = nd_with([](Bytes& f) { f[14 + 7] = 254; });  // it was routed here
  Bytes bad_csum = nd_with([](Bytes&) {});
  bad_csum[14 + 43] ^= 0xFF;
  const Bytes zero_option = nd_with([](Bytes& f) { f[14 + 40 + 25] = 0; });
  const Bytes bad_code = nd_with([](Bytes& f) { f[14 + 41] = 1; });
  const std::vector<std::pair<Bytes, DropReason>> cases = {
      {with([](Bytes& f) { f.resize(14 + 30); }), DropReason::ip_truncated},
      {with([](Bytes& f) { f[14] = 0x45; }), DropReason::ip_bad_version},
      {with([](Bytes& f) { store16(&f[18], 2000); }), DropReason::ip_bad_length},
      {with([](Bytes& f) { store_ip6(&f[22], v6("ff02::1")); }), DropReason::ip_martian},
      {with([](Bytes& f) { store_ip6(&f[38], v6("::1")); }), DropReason::ip_martian},
      {with([](Bytes& f) { store_ip6(&f[38], Ip6{0, 0xFFFF0A020002ull}); }), DropReason::ip_martian},
      {with([](Bytes& f) { store_ip6(&f[38], v6("fe80::77")); }), DropReason::ip6_scope},
      {bad_hop_limit, DropReason::nd_malformed},
      {bad_csum, DropReason::nd_malformed},
      {zero_option, DropReason::nd_malformed},
      {bad_code, DropReason::nd_malformed},
  };
  for (auto& [frame, reason] : cases) a.send(frame);
  for (auto& [frame, reason] : cases) {
    size_t want = 0;
    for (auto& c : cases) want += c.second == reason;
    EXPECT_TRUE(eventually([&] { return drops(ia, reason) == want; })) << kDropReasons[size_t(reason)].name;
  }
  EXPECT_TRUE(b.receive(1, 200).empty());
  EXPECT_TRUE(a.receive(1, 100).empty());  // none of them earns an ICMPv6 error

  // A link-local source may not leave its link: beyond scope, sent back on that link.
  const Bytes scoped = udp_to(kIpB, 64, 64, v6("fe80::a"));
  a.send(scoped);
  auto got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(load_ip6(&got[0][14 + 24]), v6("fe80::a"));
  EXPECT_EQ(load_ip6(&got[0][14 + 8]), kGwLinkLocal);
  EXPECT_EQ(got[0][14 + 40], kIcmp6Unreachable);
  EXPECT_EQ(got[0][14 + 41], kIcmp6BeyondScope);
  EXPECT_EQ(drops(ia, DropReason::ip6_scope), 2u);
  // The router still routes.
  a.send(good);
  EXPECT_EQ(b.receive(1).size(), 1u);
}

TEST_F(Routed6, EcmpSpreadsFlowsEvenlyOverFourNextHopsIncludingLinkLocalOnes) {
  std::vector<NextHop> hops;
  std::vector<Mac> macs;
  for (int i = 0; i < 4; ++i) {
    // Two global next hops, two link-local ones (which name their interface).
    const Ip6 nh = i < 2 ? v6(("fd02::10" + std::to_string(i)).c_str()) : v6(("fe80::10" + std::to_string(i)).c_str());
    macs.push_back(0x02000000a000 + uint64_t(i));
    ASSERT_TRUE(sw.dp->add_static_neighbor(rif2, nh, macs.back()));
    hops.push_back({nh, i < 2 ? 0 : rif2});
  }
  add_route("fd90::/32", RouteKind::forward, hops);
  constexpr int kFlows = 4000;
  std::map<Mac, int> per_hop;
  for (int i = 0; i < kFlows; i += 40) {
    for (int j = i; j < i + 40; ++j)
      a.send(eth(gw_mac1, kMacA, kEtherTypeIp6, ipv6({kIpA, v6("fd90::7")}, udp(uint16_t(10000 + j), 80, 18))));
    for (auto& f : b.receive(40)) ++per_hop[mac_from_bytes(&f[0])];  // unknown MACs: flooded to b
  }
  ASSERT_EQ(per_hop.size(), 4u);
  int total = 0;
  for (auto& [mac, n] : per_hop) {
    total += n;
    EXPECT_NEAR(n, kFlows / 4, kFlows / 4 / 10) << format_mac(mac);
  }
  EXPECT_EQ(total, kFlows);
  // A link-local next hop without its interface is refused, naming the field.
  Status s = sw.dp->add_routes(router, {Route{*parse_ip_prefix("fd91::/32"), RouteKind::forward, {{v6("fe80::5"), 0}}}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "routes[0].next_hops[0].interface: a link-local next hop needs its interface");
  // And a next hop of the other family.
  s = sw.dp->add_routes(router, {Route{*parse_ip_prefix("fd91::/32"), RouteKind::forward, {{*parse_ip4("10.1.0.9"), 0}}}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "routes[0].next_hops[0].via: 10.1.0.9 is not of the prefix's address family");
}

TEST_F(Routed6, RoutesOfBothFamiliesLiveSideBySide) {
  // A v4 route and a v6 route on the same router, and the same interface for both.
  add_route("fd50::/16", RouteKind::blackhole);
  add_route("10.50.0.0/16", RouteKind::blackhole);
  const auto stats = *sw.dp->router_stats(router);
  // Connected and local: fd01::/64 fd01::1/128 10.1.0.0/24 10.1.0.1/32 fd02::/64 fd02::1/128
  // (fe80::1 adds none), and the two statics.
  EXPECT_EQ(stats.routes, 8u);
  ASSERT_EQ(*sw.dp->remove_routes(router, {*parse_ip_prefix("fd50::/16")}), 1u);
  EXPECT_EQ(*sw.dp->remove_routes(router, {*parse_ip_prefix("fd50::/16")}), 0u);
  EXPECT_EQ(sw.dp->router_stats(router)->routes, 7u);
  // Overlap is per family, and link-local subnets never overlap.
  RouterInterfaceConfig c;
  c.name = "r-red";
  c.router = router;
  c.network = *sw.dp->add_network("red");
  c.addresses = {{v6("fd01::5"), 64}};
  auto r = sw.dp->add_router_interface(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "addresses: fd01::5/64 overlaps r-blue's fd01::1/64");
  c.addresses = {{v6("fe80::1"), 64}, {v6("fd03::1"), 64}};
  EXPECT_TRUE(sw.dp->add_router_interface(c));
  c.name = "r-bad";
  c.network = *sw.dp->add_network("yellow");
  c.addresses = {{v6("ff02::1"), 64}};
  r = sw.dp->add_router_interface(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "addresses[0]: ff02::1/64 is not a unicast interface address");
}

TEST_F(Routed6, DynamicNeighborsAgeOutStaticOnesStayAndAreSolicitedAgain) {
  ASSERT_TRUE(sw.dp->add_static_neighbor(rif2, v6("fd02::50"), 0x020000000050));
  a.send(udp_to(kIpB));
  ASSERT_EQ(b.receive(1).size(), 1u);
  auto has = [&](Ip6 ip) {
    for (auto& n : sw.dp->neighbors())
      if (n.ip == IpAddress(ip)) return true;
    return false;
  };
  EXPECT_TRUE(has(kIpB));
  EXPECT_TRUE(eventually([&] { return !has(kIpB); }, std::chrono::milliseconds(8000)));  // neighbor_age_s = 4
  EXPECT_TRUE(has(v6("fd02::50")));
  const size_t asked = b.questions.size();
  a.send(udp_to(kIpB));
  EXPECT_EQ(b.receive(1).size(), 1u);
  EXPECT_EQ(b.questions.size(), asked + 1);
  EXPECT_TRUE(*sw.dp->remove_neighbor(rif2, v6("fd02::50")));
  EXPECT_FALSE(has(v6("fd02::50")));
}

// A peer rewriting frames after handing them over changes nothing the router decided
// (router_fixture.h).
TEST_F(Routed6, APeerRewritingFramesAfterRxCannotRedirectThem) {
  uint32_t rif3 = 0;
  Host6 c = join_red(v6("fd03::c"), "fd03::1/64", 1500, &rif3);
  ASSERT_TRUE(sw.dp->add_static_neighbor(rif2, kIpB, kMacB));
  ASSERT_TRUE(sw.dp->add_static_neighbor(rif3, c.ip, c.mac));
  // Without a UDP checksum, either destination makes a valid packet. No header checksum
  // guards IPv6: a copy taken mid-write may hold half of each address (fd03::b), and is
  // routed by what it holds: the prefix decides the way out (and the router solicits
  // that stranger, which is not a frame of ours).
  expect_rewrites_change_nothing(
      c, udp_to(kIpB, 64, 18), udp_to(c.ip, 64, 18), 38, 16, [](const uint8_t* f, uint32_t n) { return !(n >= 55 && f[20] == kProtoIcmp6); },
      [](const uint8_t* f, const Host6& h) { return load_ip6(f + 38).hi != h.ip.hi; });
}

// memif ip mode carries IPv6 as well: the version nibble tells them apart.
TEST_F(Routed6, RoutesMemifIpModeIpv6PacketsWithoutEthernetHeaders) {
  const uint32_t net4 = *sw.dp->add_network("ipnet");
  const uint32_t icnf = *sw.dp->add_memif(ip_mode_memif(sock, net4));
  add_rif("r-ip", net4, {"fd04::1/64"});
  Host6 cnf = connect_ip_mode(v6("fd04::2"));
  ASSERT_TRUE(eventually([&] { return sw.info(icnf).connected; }));
  ASSERT_TRUE(sw.dp->add_static_neighbor(rif2, kIpB, kMacB));

  const Bytes packet = ipv6({cnf.ip, kIpB}, udp(7, 9, 40));
  cnf.send(packet);
  auto got = b.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].size(), packet.size() + 14);
  EXPECT_EQ(load16(&got[0][12]), kEtherTypeIp6);
  EXPECT_EQ(mac_from_bytes(&got[0][0]), kMacB);
  EXPECT_EQ(got[0][14 + 7], 63);
  EXPECT_TRUE(std::equal(packet.begin() + 8, packet.end(), got[0].begin() + 22));

  ASSERT_EQ(b.ask(kGw2), gw_mac2);
  const Bytes reply = ipv6({kIpB, cnf.ip}, udp(9, 7, 40));
  b.send(eth(gw_mac2, kMacB, kEtherTypeIp6, reply));
  got = cnf.receive(1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].size(), reply.size());  // no Ethernet header, no solicitation first
  EXPECT_EQ(got[0][0] >> 4, 6);
  EXPECT_EQ(got[0][7], 63);
  EXPECT_TRUE(std::equal(reply.begin() + 8, reply.end(), got[0].begin() + 8));

  cnf.send(ipv6({cnf.ip, v6("fd04::1"), kProtoIcmp6}, icmp6_echo(5, 1, 32)));
  got = cnf.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(load_ip6(&got[0][8]), v6("fd04::1"));
  EXPECT_EQ(got[0][40], kIcmp6EchoReply);
  EXPECT_TRUE(icmp6_checksum_ok(got[0].data()));
  EXPECT_TRUE(cnf.questions.empty());
}
