// A router between two networks, driven by memif clients that behave like hosts:
// ARP, ping, forwarding with next-hop resolution, ICMP errors checked by their bytes,
// and every malformed header a counted drop.
#include <map>

#include "router_fixture.h"

using namespace memswitch;
using namespace memswitch::test;
using namespace memswitch::detail;

namespace {

const Ip4 kGw1 = *parse_ip4("10.1.0.1"), kGw2 = *parse_ip4("10.2.0.1");
const Ip4 kIpA = *parse_ip4("10.1.0.2"), kIpB = *parse_ip4("10.2.0.2");
using Host4 = Host<Ip4>;

struct Routed : TwoRoutedNetworks<Ip4> {
  void SetUp() override { connect({"10.1.0.1/24"}, {"10.2.0.1/24"}, {nullptr, kMacA, kIpA}, {nullptr, kMacB, kIpB}); }
  Bytes udp_to(Ip4 dst, uint8_t ttl = 64, size_t len = 64) { return eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, dst, kProtoUdp, ttl}, udp(1000, 2000, len))); }
};

}  // namespace

TEST_F(Routed, AnswersArpForItsAddressAndPing) {
  a.send(eth(0xFFFFFFFFFFFF, kMacA, kEtherTypeArp, arp_msg(kArpRequest, kMacA, kIpA, 0, kGw1)));
  auto got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  const Bytes& r = got[0];
  EXPECT_EQ(mac_from_bytes(&r[0]), kMacA);
  EXPECT_EQ(mac_from_bytes(&r[6]), gw_mac1);
  EXPECT_EQ(load16(&r[20]), kArpReply);
  EXPECT_EQ(mac_from_bytes(&r[22]), gw_mac1);
  EXPECT_EQ(load32(&r[28]), kGw1);
  EXPECT_EQ(mac_from_bytes(&r[32]), kMacA);
  EXPECT_EQ(load32(&r[38]), kIpA);
  // The request taught the router a's MAC: the echo reply needs no ARP of its own.
  const Bytes echo = icmp_echo(77, 1, 56);
  a.send(eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, kGw1, kProtoIcmp}, echo)));
  got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  const uint8_t* ip = &got[0][14];
  EXPECT_EQ(mac_from_bytes(&got[0][0]), kMacA);
  EXPECT_EQ(mac_from_bytes(&got[0][6]), gw_mac1);
  EXPECT_EQ(load32(ip + 12), kGw1);
  EXPECT_EQ(load32(ip + 16), kIpA);
  EXPECT_TRUE(ip4_checksum_ok(ip));
  EXPECT_EQ(ip[20], kIcmpEchoReply);
  EXPECT_EQ(csum_fold(csum_add(0, ip + 20, uint32_t(echo.size()))), 0);
  EXPECT_TRUE(std::equal(echo.begin() + 4, echo.end(), ip + 24));  // id, seq, payload
  EXPECT_TRUE(a.questions.empty());
}

TEST_F(Routed, ForwardsBetweenNetworksAfterResolvingTheNextHop) {
  const Bytes sent = udp_to(kIpB);
  a.send(sent);
  auto got = b.receive(1);
  ASSERT_EQ(got.size(), 1u);
  // The router asked for b from its own address on b's network, and held the packet.
  ASSERT_EQ(b.questions.size(), 1u);
  EXPECT_EQ(mac_from_bytes(&b.questions[0][6]), gw_mac2);
  EXPECT_EQ(load32(&b.questions[0][28]), kGw2);
  const Bytes& f = got[0];
  ASSERT_EQ(f.size(), sent.size());
  EXPECT_EQ(mac_from_bytes(&f[0]), kMacB);
  EXPECT_EQ(mac_from_bytes(&f[6]), gw_mac2);
  EXPECT_EQ(f[14 + 8], 63);  // TTL
  EXPECT_TRUE(ip4_checksum_ok(&f[14]));
  EXPECT_TRUE(std::equal(f.begin() + 12, f.begin() + 22, sent.begin() + 12));  // up to the TTL
  EXPECT_TRUE(std::equal(f.begin() + 23, f.begin() + 24, sent.begin() + 23));
  EXPECT_TRUE(std::equal(f.begin() + 26, f.end(), sent.begin() + 26));  // after the checksum
  // Resolved now: the next ones go straight through, and the reply path works too.
  for (int i = 0; i < 10; ++i) a.send(sent);
  EXPECT_EQ(b.receive(10).size(), 10u);
  EXPECT_EQ(b.questions.size(), 1u);
  ASSERT_EQ(b.ask(kGw2), gw_mac2);
  b.send(eth(gw_mac2, kMacB, kEtherTypeIp4, ipv4({kIpB, kIpA}, udp(2000, 1000, 10))));
  EXPECT_EQ(a.receive(1).size(), 1u);
  bool listed = false;
  for (auto& n : sw.dp->neighbors()) listed |= n.interface == rif2 && n.ip == kIpB && n.mac == kMacB && !n.is_static && !n.incomplete;
  EXPECT_TRUE(listed);
}

TEST_F(Routed, TtlExpiryAndNoRouteAnswerWithIcmpErrors) {
  ASSERT_EQ(a.ask(kGw1), gw_mac1);
  const Bytes sent = udp_to(kIpB, /*ttl=*/1);
  a.send(sent);
  auto got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  const uint8_t* ip = &got[0][14];
  EXPECT_EQ(load32(ip + 12), kGw1);  // from the interface the packet came in on
  EXPECT_EQ(load32(ip + 16), kIpA);
  EXPECT_TRUE(ip4_checksum_ok(ip));
  const uint8_t* icmp = ip + 20;
  EXPECT_EQ(icmp[0], kIcmpTimeExceeded);
  EXPECT_EQ(icmp[1], 0);
  ASSERT_EQ(got[0].size(), 14u + 20 + 8 + 28);  // the offending header and 8 bytes of its payload
  EXPECT_EQ(csum_fold(csum_add(0, icmp, 8 + 28)), 0);
  EXPECT_TRUE(std::equal(icmp + 8, icmp + 36, sent.begin() + 14));
  EXPECT_EQ(drops(ia, DropReason::ttl_expired), 1u);

  a.send(eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, kIpB, kProtoUdp, 0}, udp(1, 2, 8))));  // TTL 0 alike
  EXPECT_EQ(a.receive(1).size(), 1u);
  EXPECT_EQ(drops(ia, DropReason::ttl_expired), 2u);

  a.send(udp_to(*parse_ip4("10.9.9.9")));
  got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0][14 + 20], kIcmpUnreachable);
  EXPECT_EQ(got[0][14 + 21], kIcmpNetUnreachable);
  EXPECT_EQ(drops(ia, DropReason::no_route), 1u);
  EXPECT_TRUE(b.receive(1, 100).empty());
}

// RFC 1812 §4.3.2.8: errors are rate-limited (100/s per worker), and what the limit held
// back is counted, beside the drops the packets themselves are.
TEST_F(Routed, IcmpErrorsAreLimitedTo100PerSecondAndCounted) {
  ASSERT_EQ(a.ask(kGw1), gw_mac1);
  const Bytes expiring = udp_to(kIpB, /*ttl=*/1);
  std::vector<TxFrame> burst(150, TxFrame{expiring.data(), uint32_t(expiring.size())});
  ASSERT_EQ(a.c->tx_burst(0, burst.data(), uint32_t(burst.size())), 150u);  // well inside one second
  EXPECT_EQ(a.receive(150, 1000).size(), 100u);
  ASSERT_TRUE(eventually([&] { return drops(ia, DropReason::ttl_expired) == 150; }));
  const auto w = sw.dp->workers().at(0);
  EXPECT_EQ(w.icmp_errors, 100u);
  EXPECT_EQ(w.icmp_rate_limited, 50u);
}

TEST_F(Routed, StaticRoutesViaBlackholeAndUnreachable) {
  ASSERT_EQ(a.ask(kGw1), gw_mac1);
  add_route("10.50.0.0/16", RouteKind::forward, {hop("10.2.0.2")});
  add_route("10.60.0.0/16", RouteKind::blackhole);
  add_route("10.70.0.0/16", RouteKind::unreachable);
  add_route("10.80.0.0/16", RouteKind::forward, {hop("10.3.0.9")});  // not on any connected subnet
  a.send(udp_to(*parse_ip4("10.50.1.1")));
  auto got = b.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(load32(&got[0][14 + 16]), *parse_ip4("10.50.1.1"));
  EXPECT_EQ(mac_from_bytes(&got[0][0]), kMacB);

  a.send(udp_to(*parse_ip4("10.60.1.1")));
  EXPECT_TRUE(eventually([&] { return drops(ia, DropReason::blackhole) == 1; }));
  EXPECT_TRUE(a.receive(1, 200).empty());  // silently

  a.send(udp_to(*parse_ip4("10.70.1.1")));
  got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0][14 + 21], kIcmpHostUnreachable);
  a.send(udp_to(*parse_ip4("10.80.1.1")));
  got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0][14 + 20], kIcmpUnreachable);
  EXPECT_EQ(drops(ia, DropReason::no_route), 2u);

  // Removed, and nothing covers it: no route again.
  ASSERT_EQ(*sw.dp->remove_routes(router, {*parse_ip4_prefix("10.50.0.0/16")}), 1u);
  a.send(udp_to(*parse_ip4("10.50.1.1")));
  EXPECT_EQ(a.receive(1).size(), 1u);
  EXPECT_EQ(drops(ia, DropReason::no_route), 3u);
}

TEST_F(Routed, MalformedPacketsAreCountedDropsWithTheirReasons) {
  ASSERT_EQ(a.ask(kGw1), gw_mac1);
  auto with = [&](auto mutate) {
    Bytes f = udp_to(kIpB);
    mutate(f);
    return f;
  };
  auto fix_csum = [](Bytes& f) {
    store16(&f[24], 0);
    store16(&f[24], csum_fold(csum_add(0, &f[14], (f[14] & 0xF) * 4u)));
  };
  const std::vector<std::pair<Bytes, DropReason>> cases = {
      {with([&](Bytes& f) { f[14] = 0x65, fix_csum(f); }), DropReason::ip_bad_version},
      {with([&](Bytes& f) { f[14] = 0x44; }), DropReason::ip_bad_ihl},
      {with([&](Bytes& f) { store16(&f[16], 1400), fix_csum(f); }), DropReason::ip_bad_length},
      {with([&](Bytes& f) { store16(&f[16], 10), fix_csum(f); }), DropReason::ip_bad_length},
      {with([&](Bytes& f) { f[24] ^= 0xFF; }), DropReason::ip_bad_checksum},
      {with([&](Bytes& f) { f.resize(14 + 12); }), DropReason::ip_truncated},
      {with([&](Bytes& f) { f[14] = 0x4F, fix_csum(f), f.resize(14 + 40); }), DropReason::ip_truncated},
      {with([&](Bytes& f) { store32(&f[26], *parse_ip4("127.0.0.1")), fix_csum(f); }), DropReason::ip_martian},
      {with([&](Bytes& f) { store32(&f[30], *parse_ip4("224.0.0.5")), fix_csum(f); }), DropReason::ip_martian},
      {with([&](Bytes& f) { store16(&f[12], 0x88B5); }), DropReason::bad_ethertype},
      {with([&](Bytes& f) { store16(&f[12], 0x0100); }), DropReason::bad_ethertype},  // an 802.3 length
      {eth(gw_mac1, kMacA, kEtherTypeArp, Bytes(10)), DropReason::arp_malformed},
  };
  for (auto& [frame, reason] : cases) a.send(frame);
  for (auto& [frame, reason] : cases) {
    size_t want = 0;
    for (auto& c : cases) want += c.second == reason;
    EXPECT_TRUE(eventually([&] { return drops(ia, reason) == want; })) << kDropReasons[size_t(reason)].name;
  }
  EXPECT_TRUE(b.receive(1, 200).empty());
  EXPECT_TRUE(a.receive(1, 100).empty());  // none of them earns an ICMP error
  // The router still routes.
  a.send(udp_to(kIpB));
  EXPECT_EQ(b.receive(1).size(), 1u);
}

TEST_F(Routed, OptionsAndFragmentsAreForwardedIntact) {
  ASSERT_EQ(b.ask(kGw2), gw_mac2);
  a.send(udp_to(kIpB));
  ASSERT_EQ(b.receive(1).size(), 1u);
  const std::vector<Bytes> sent = {
      eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, kIpB, kProtoUdp, 64, 0, {0x01, 0x01, 0x01, 0x00}}, udp(1, 2, 30))),  // NOP NOP NOP EOL
      eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, kIpB, kProtoUdp, 64, 0x2000}, udp(1, 2, 100))),  // first fragment (MF)
      eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, kIpB, kProtoUdp, 64, 0x000E}, Bytes(40, 0xAB))),  // a later one
  };
  for (auto& f : sent) a.send(f);
  auto got = b.receive(3);
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(got[i].size(), sent[i].size());
    EXPECT_EQ(got[i][22], 63);
    EXPECT_TRUE(ip4_checksum_ok(&got[i][14]));
    EXPECT_TRUE(std::equal(got[i].begin() + 26, got[i].end(), sent[i].begin() + 26)) << i;
    EXPECT_TRUE(std::equal(got[i].begin() + 14, got[i].begin() + 22, sent[i].begin() + 14)) << i;
  }
}

TEST_F(Routed, PacketsOverTheMtuGetFragmentationNeeded) {
  ASSERT_EQ(a.ask(kGw1), gw_mac1);
  Host4 h = join_red(*parse_ip4("10.3.0.2"), "10.3.0.1/24", /*mtu=*/1000);
  Bytes big = eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, h.ip, kProtoUdp, 64, kIp4FlagDf}, udp(1, 2, 1200)));
  a.send(big);
  auto got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0][14 + 20], kIcmpUnreachable);
  EXPECT_EQ(got[0][14 + 21], kIcmpFragNeeded);
  EXPECT_EQ(load16(&got[0][14 + 26]), 1000);  // the next-hop MTU
  EXPECT_EQ(drops(ia, DropReason::mtu_exceeded), 1u);
  a.send(eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, h.ip, kProtoUdp, 64, kIp4FlagDf}, udp(1, 2, 900))));
  EXPECT_EQ(h.receive(1).size(), 1u);  // under the MTU it passes
}

// Without DF the router fragments (RFC 791): payloads in multiples of 8 that add up to
// the original, one identification, MF on all but the last, options marked copied in
// every fragment and the rest only in the first.
TEST_F(Routed, FragmentsWhatExceedsTheMtuWithoutDf) {
  uint32_t rif3 = 0;
  Host4 h = join_red(*parse_ip4("10.3.0.2"), "10.3.0.1/24", /*mtu=*/576, &rif3);
  ASSERT_TRUE(sw.dp->add_static_neighbor(rif3, h.ip, h.mac));
  // Router alert (copied) and a 3-byte record route (not copied), then EOL.
  const Bytes options = {0x94, 0x04, 0x00, 0x00, 0x07, 0x03, 0x04, 0x00};
  const Bytes payload = udp(1, 2, 1392);
  const Bytes sent = eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, h.ip, kProtoUdp, 64, 0, options}, payload));
  a.send(sent);
  auto got = h.receive(3);
  ASSERT_EQ(got.size(), 3u);
  Bytes reassembled(payload.size());
  size_t covered = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const uint8_t* ip = &got[i][14];
    const uint32_t ihl = (ip[0] & 0xF) * 4u, total = load16(ip + 2), frag = load16(ip + 6);
    EXPECT_TRUE(ip4_checksum_ok(ip)) << i;
    EXPECT_LE(total, 576u);
    EXPECT_EQ(got[i].size(), 14 + total);
    EXPECT_EQ(load16(ip + 4), 0x1234);  // identification
    EXPECT_EQ(ip[8], 63);
    EXPECT_EQ(bool(frag & 0x2000), i + 1 < got.size()) << i;
    EXPECT_EQ(ihl, i == 0 ? 28u : 24u) << i;
    if (i > 0) {
      EXPECT_EQ(ip[20], 0x94);  // only the copied option
    }
    const uint32_t offset = (frag & 0x1FFF) * 8u, len = total - ihl;
    if (i + 1 < got.size()) {
      EXPECT_EQ(len % 8, 0u);
    }
    ASSERT_LE(offset + len, reassembled.size());
    std::copy(ip + ihl, ip + total, reassembled.begin() + offset);
    covered += len;
  }
  EXPECT_EQ(covered, payload.size());
  EXPECT_EQ(reassembled, payload);
  EXPECT_EQ(drops(ia, DropReason::mtu_exceeded), 0u);
}

TEST_F(Routed, EcmpSpreadsFlowsEvenlyOverFourNextHops) {
  std::vector<Mac> macs;
  std::vector<NextHop> hops;
  for (int i = 0; i < 4; ++i) {
    const Ip4 nh = kGw2 + 10 + uint32_t(i);
    macs.push_back(0x02000000a000 + uint64_t(i));
    ASSERT_TRUE(sw.dp->add_static_neighbor(rif2, nh, macs.back()));
    hops.push_back({nh, 0});
  }
  add_route("10.90.0.0/16", RouteKind::forward, hops);
  constexpr int kFlows = 4000;
  std::map<Mac, int> per_hop;
  for (int i = 0; i < kFlows; i += 40) {
    for (int j = i; j < i + 40; ++j)
      a.send(eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, *parse_ip4("10.90.0.7")}, udp(uint16_t(10000 + j), 80, 18))));
    for (auto& f : b.receive(40)) ++per_hop[mac_from_bytes(&f[0])];  // unknown MACs: flooded to b
  }
  ASSERT_EQ(per_hop.size(), 4u);
  int total = 0;
  for (auto& [mac, n] : per_hop) {
    total += n;
    EXPECT_NEAR(n, kFlows / 4, kFlows / 4 / 10) << format_mac(mac);
  }
  EXPECT_EQ(total, kFlows);
  // One flow always takes one path.
  per_hop.clear();
  for (int j = 0; j < 20; ++j) a.send(eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, *parse_ip4("10.90.0.7")}, udp(5555, 80, 18))));
  for (auto& f : b.receive(20)) ++per_hop[mac_from_bytes(&f[0])];
  EXPECT_EQ(per_hop.size(), 1u);
}

TEST_F(Routed, UnansweredNextHopsHoldAFewPacketsThenDropThem) {
  const Ip4 silent = *parse_ip4("10.2.0.99");
  for (int i = 0; i < 6; ++i) a.send(udp_to(silent));
  EXPECT_TRUE(eventually([&] { return drops(ia, DropReason::neighbor_queue_full) == 2; }));
  EXPECT_TRUE(eventually([&] { return drops(ia, DropReason::neighbor_unresolved) == 4; }, std::chrono::milliseconds(6000)));
  EXPECT_TRUE(b.receive(1, 300).empty());
  size_t asked = 0;
  for (auto& f : b.questions) asked += load32(&f[38]) == silent;
  EXPECT_GE(asked, 1u);
}

TEST_F(Routed, DynamicNeighborsAgeOutStaticOnesStay) {
  ASSERT_TRUE(sw.dp->add_static_neighbor(rif2, *parse_ip4("10.2.0.50"), 0x020000000050));
  a.send(udp_to(kIpB));
  ASSERT_EQ(b.receive(1).size(), 1u);
  auto has = [&](Ip4 ip) {
    for (auto& n : sw.dp->neighbors())
      if (n.ip == ip) return true;
    return false;
  };
  EXPECT_TRUE(has(kIpB));
  EXPECT_TRUE(eventually([&] { return !has(kIpB); }, std::chrono::milliseconds(8000)));  // neighbor_age_s = 4
  EXPECT_TRUE(has(*parse_ip4("10.2.0.50")));
  // And is asked for again when next needed.
  const size_t asked = b.questions.size();
  a.send(udp_to(kIpB));
  EXPECT_EQ(b.receive(1).size(), 1u);
  EXPECT_EQ(b.questions.size(), asked + 1);
  EXPECT_TRUE(*sw.dp->remove_neighbor(rif2, *parse_ip4("10.2.0.50")));
  EXPECT_FALSE(has(*parse_ip4("10.2.0.50")));
}

TEST_F(Routed, RefusesWhatWouldBreakTheTables) {
  RouterInterfaceConfig c;
  c.name = "dup";
  c.router = router;
  c.network = sw.net;  // already has r-blue
  EXPECT_EQ(sw.dp->add_router_interface(c).error().code, Errc::kAlreadyExists);
  const uint32_t net3 = *sw.dp->add_network("red");
  c.network = net3;
  c.addresses = {{*parse_ip4("10.1.0.77"), 16}};  // overlaps 10.1.0.1/24
  EXPECT_EQ(sw.dp->add_router_interface(c).error().code, Errc::kAlreadyExists);
  c.addresses = {{*parse_ip4("10.3.0.0"), 24}};  // the network address
  EXPECT_EQ(sw.dp->add_router_interface(c).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(sw.dp->remove_router(router).error().code, Errc::kBusy);
  EXPECT_EQ(sw.dp->remove_network(sw.net).error().code, Errc::kBusy);
  Route bad{{*parse_ip4("10.100.0.0"), 16}, RouteKind::forward, {}};
  Route good{{*parse_ip4("10.101.0.0"), 16}, RouteKind::blackhole, {}};
  Status s = sw.dp->add_routes(router, {good, bad});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message.rfind("routes[1].next_hops:", 0), 0u) << s.error().message;
  EXPECT_EQ(sw.dp->router_stats(router)->routes, 4u);  // the two connected and two local only
}

// A peer rewriting frames after handing them over changes nothing the router decided
// (router_fixture.h).
TEST_F(Routed, APeerRewritingFramesAfterRxCannotRedirectThem) {
  uint32_t rif3 = 0;
  Host4 c = join_red(*parse_ip4("10.3.0.2"), "10.3.0.1/24", 1500, &rif3);
  ASSERT_TRUE(sw.dp->add_static_neighbor(rif2, kIpB, kMacB));
  ASSERT_TRUE(sw.dp->add_static_neighbor(rif3, c.ip, c.mac));
  // Checksum, source and destination rewritten: either way a valid packet.
  expect_rewrites_change_nothing(
      c, udp_to(kIpB, 64, 18), udp_to(c.ip, 64, 18), 24, 10, [](const uint8_t*, uint32_t) { return true; },
      [](const uint8_t* f, const Host4& h) { return load32(f + 30) != h.ip || !ip4_checksum_ok(f + 14); });
}

// memif ip mode (VPP, libmemif): a CNF sends bare IP packets; the router routes them
// like any other, and what it sends there has no Ethernet header either, nor any ARP.
TEST_F(Routed, RoutesMemifIpModeFramesWithoutEthernetHeaders) {
  const uint32_t net4 = *sw.dp->add_network("ipnet");
  const MemifInterfaceConfig cfg = ip_mode_memif(sock, net4);
  const uint32_t icnf = *sw.dp->add_memif(cfg);
  MemifInterfaceConfig other = cfg;
  other.name = "intruder", other.id = 8, other.ip_mode = false;
  EXPECT_EQ(sw.dp->add_memif(other).error().code, Errc::kAlreadyExists);  // its network is its own
  add_rif("r-ip", net4, {"10.4.0.1/24"});
  Host4 cnf = connect_ip_mode(*parse_ip4("10.4.0.2"));
  ASSERT_TRUE(eventually([&] { return sw.info(icnf).connected; }));
  EXPECT_TRUE(sw.info(icnf).ip_mode);
  ASSERT_TRUE(sw.dp->add_static_neighbor(rif2, kIpB, kMacB));

  const Bytes packet = ipv4({cnf.ip, kIpB}, udp(7, 9, 40));
  cnf.send(packet);
  auto got = b.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].size(), packet.size() + 14);
  EXPECT_EQ(mac_from_bytes(&got[0][0]), kMacB);
  EXPECT_EQ(mac_from_bytes(&got[0][6]), gw_mac2);
  EXPECT_EQ(got[0][14 + 8], 63);
  EXPECT_TRUE(std::equal(packet.begin() + 12, packet.end(), got[0].begin() + 26));

  ASSERT_EQ(b.ask(kGw2), gw_mac2);
  const Bytes reply = ipv4({kIpB, cnf.ip}, udp(9, 7, 40));
  b.send(eth(gw_mac2, kMacB, kEtherTypeIp4, reply));
  got = cnf.receive(1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].size(), reply.size());  // no Ethernet header
  EXPECT_EQ(got[0][0], 0x45);
  EXPECT_EQ(got[0][8], 63);
  EXPECT_TRUE(ip4_checksum_ok(got[0].data()));
  EXPECT_TRUE(std::equal(reply.begin() + 12, reply.end(), got[0].begin() + 12));

  cnf.send(ipv4({cnf.ip, kGw1, kProtoIcmp}, icmp_echo(5, 1, 32)));  // the router answers too
  got = cnf.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(load32(&got[0][12]), kGw1);
  EXPECT_EQ(got[0][20], kIcmpEchoReply);
  EXPECT_TRUE(cnf.questions.empty());

  MemifClientConfig wrong;  // an ethernet-mode peer on an ip-mode interface is refused
  wrong.socket = sock, wrong.id = 7, wrong.prefer_hugepages = false;
  cnf.c.reset();
  EXPECT_FALSE(MemifClient::connect(wrong));
  EXPECT_TRUE(eventually([&] { return sw.info(icnf).protocol_errors[size_t(ProtocolError::bad_mode)] == 1; }));
}
