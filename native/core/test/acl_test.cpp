// Ordered ACLs: rule checks, first-match classification with an implicit deny, and the
// acl_in and acl_out stages on real memif traffic: what passes, what is dropped and
// counted, frames no rule may judge (ARP, neighbour discovery), tags and malformed
// headers that must not slip through, and rules replaced under traffic.
#include <atomic>
#include <thread>

#include "pipeline/acl.h"
#include "bridged_fixture.h"

using namespace memswitch;
using namespace memswitch::test;
using namespace memswitch::detail;

namespace {

IpPrefix prefix(const std::string& s) { return *parse_ip_prefix(s); }

AclRule permit_udp_to(uint16_t port) {
  AclRule r;
  r.proto = kProtoUdp;
  r.dst_port_min = r.dst_port_max = port;
  r.action = AclAction::permit;
  return r;
}

AclKey key4(const std::string& src, const std::string& dst, uint8_t proto, uint16_t sport = 0, uint16_t dport = 0) {
  AclKey k;
  k.src = *parse_ip(src), k.dst = *parse_ip(dst), k.proto = proto;
  k.has_ports = proto == kProtoTcp || proto == kProtoUdp;
  k.has_icmp = proto == kProtoIcmp || proto == kProtoIcmp6;
  k.sport = sport, k.dport = dport;
  return k;
}


}  // namespace

TEST(Acl, RulesThatCanMatchNothingAreRefusedByIndex) {
  AclRule mixed;
  mixed.src = prefix("10.0.0.0/8"), mixed.dst = prefix("fd00::/8");
  AclRule ports_without_proto;
  ports_without_proto.dst_port_min = 80, ports_without_proto.dst_port_max = 80;
  AclRule icmp6_on_v4 = permit_udp_to(53);
  icmp6_on_v4.proto = kProtoIcmp6, icmp6_on_v4.dst_port_min = 0, icmp6_on_v4.dst_port_max = 65535;
  icmp6_on_v4.icmp_type = 128, icmp6_on_v4.src = prefix("10.0.0.0/8");
  AclRule backwards = permit_udp_to(53);
  backwards.dst_port_min = 90, backwards.dst_port_max = 80;
  AclRule host_bits;
  host_bits.src = IpPrefix(*parse_ip("10.0.0.1"), 8);
  AclRule code_without_type;
  code_without_type.proto = kProtoIcmp, code_without_type.icmp_code = 0;
  const std::pair<AclRule, std::string> cases[] = {
      {mixed, "different families"}, {ports_without_proto, "ports need protocol"}, {icmp6_on_v4, "ICMPv6 with IPv6"},
      {backwards, "ends before it starts"}, {host_bits, "bits set past its length"}, {code_without_type, "code needs its type"}};
  for (const auto& [rule, says] : cases) {
    Status s = check_acl_rules({permit_udp_to(53), rule});
    ASSERT_FALSE(s) << says;
    EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
    EXPECT_EQ(s.error().message.rfind("rules[1]: ", 0), 0u) << s.error().message;
    EXPECT_NE(s.error().message.find(says), std::string::npos) << s.error().message;
  }
  EXPECT_TRUE(check_acl_rules({permit_udp_to(53), AclRule{}}));
}

TEST(Acl, FirstMatchingRuleDecidesAndNoMatchIsDenied) {
  AclRule deny_host;
  deny_host.src = prefix("10.1.0.9/32");
  AclRule web = permit_udp_to(0);
  web.proto = kProtoTcp, web.src = prefix("10.1.0.0/16"), web.dst_port_min = 80, web.dst_port_max = 81;
  AclRule ping;
  ping.proto = kProtoIcmp, ping.icmp_type = 8, ping.action = AclAction::permit;
  AclRule v6;
  v6.dst = prefix("fd00::/16"), v6.action = AclAction::permit;
  AclTable t({deny_host, web, ping, v6}, 2);
  EXPECT_EQ(t.classify(key4("10.1.0.9", "10.2.0.1", kProtoTcp, 5000, 80)), 0u);  // denied before the web rule
  EXPECT_EQ(t.classify(key4("10.1.0.8", "10.2.0.1", kProtoTcp, 5000, 80)), 1u);
  EXPECT_EQ(t.classify(key4("10.1.0.8", "10.2.0.1", kProtoTcp, 5000, 81)), 1u);
  EXPECT_EQ(t.classify(key4("10.1.0.8", "10.2.0.1", kProtoTcp, 5000, 82)), 4u);  // no rule: denied
  EXPECT_EQ(t.classify(key4("10.3.0.8", "10.2.0.1", kProtoTcp, 5000, 80)), 4u);
  EXPECT_EQ(t.classify(key4("10.3.0.8", "10.2.0.1", kProtoIcmp, 8, 0)), 2u);
  EXPECT_EQ(t.classify(key4("10.3.0.8", "10.2.0.1", kProtoIcmp, 0, 0)), 4u);     // an echo reply
  AclKey later_fragment = key4("10.1.0.8", "10.2.0.1", kProtoTcp);
  later_fragment.has_ports = false;  // no ports to match 80-81 with
  EXPECT_EQ(t.classify(later_fragment), 4u);
  EXPECT_EQ(t.classify(key4("fd01::1", "fd00::2", kProtoUdp, 1, 2)), 3u);
  EXPECT_EQ(t.classify(key4("fd01::1", "10.2.0.1", kProtoUdp, 1, 2)), 4u);        // an IPv4 address is not in fd00::/16
  t.count(0, 1), t.count(1, 1), t.count(1, 4);
  const AclStats s = t.stats();
  EXPECT_EQ(s.hits, (std::vector<uint64_t>{0, 2, 0, 0}));
  EXPECT_EQ(s.default_denied, 1u);
}

TEST_F(Bridged, InboundAclPermitsWhatItSaysAndDropsTheRest) {
  const uint32_t id = acl("dns-only", {permit_udp_to(53)});
  ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::in, id));
  for (int i = 0; i < 5; ++i) send(*a, udp_frame(kMacB, kMacA, 53));
  for (int i = 0; i < 3; ++i) send(*a, udp_frame(kMacB, kMacA, 54));
  // ARP is no rule's business; a tagged or malformed IPv4 frame is no way around them.
  send(*a, eth(0xFFFFFFFFFFFF, kMacA, kEtherTypeArp, arp_msg(kArpRequest, kMacA, 0x0A000001, 0, 0x0A000002)));
  Bytes tagged = udp_frame(kMacB, kMacA, 54);
  tagged.insert(tagged.begin() + 12, {0x81, 0x00, 0x00, 0x07});
  send(*a, tagged);
  Bytes bad_version = udp_frame(kMacB, kMacA, 53);
  bad_version[14] = 0x55;
  send(*a, bad_version);
  EXPECT_EQ(receive(*b, 6), 6u);  // 5 to port 53 and the broadcast
  EXPECT_EQ(receive(*c, 1), 1u);  // the broadcast
  EXPECT_TRUE(eventually([&] { return denied(ia) == 5; })) << denied(ia);
  auto stats = sw.dp->acl_stats(id);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->hits, std::vector<uint64_t>{5});
  EXPECT_EQ(stats->default_denied, 5u);
  // Unbound, everything passes again; bound, an ACL cannot go.
  EXPECT_EQ(sw.dp->remove_acl(id).error().code, Errc::kBusy);
  ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::in, 0));
  send(*a, udp_frame(kMacB, kMacA, 54));
  EXPECT_EQ(receive(*b, 1), 1u);
  EXPECT_TRUE(sw.dp->remove_acl(id));
  EXPECT_EQ(sw.dp->bind_acl(ia, AclDirection::in, id).error().code, Errc::kNotFound);
}

TEST_F(Bridged, OutboundAclJudgesEachInterfaceAFrameIsFloodedTo) {
  AclRule deny_54 = permit_udp_to(54);
  deny_54.action = AclAction::deny;
  AclRule rest;
  rest.action = AclAction::permit;
  const uint32_t id = acl("no-54", {deny_54, rest});
  ASSERT_TRUE(sw.dp->bind_acl(ib, AclDirection::out, id));
  const Mac nobody = 0x02000000FFFF;  // unknown: flooded to b and c
  for (int i = 0; i < 4; ++i) send(*a, udp_frame(nobody, kMacA, 54));
  send(*a, udp_frame(nobody, kMacA, 53));
  EXPECT_EQ(receive(*c, 5), 5u);
  EXPECT_EQ(receive(*b, 1), 1u);  // only port 53
  EXPECT_EQ(receive(*b, 1, 100), 0u);
  EXPECT_TRUE(eventually([&] { return denied(ib) == 4; })) << denied(ib);
  EXPECT_EQ(denied(ia), 0u);
  auto stats = sw.dp->acl_stats(id);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->hits, (std::vector<uint64_t>{4, 1}));
}

// pipeline.md §4: a rule change never lets traffic both rule sets permit go missing (old
// rules or new, never neither), nor stops forwarding.
TEST_F(Bridged, ReplacingRulesUnderTrafficLosesNothingBothPermit) {
  const uint32_t id = acl("swap", {permit_udp_to(53)});
  ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::in, id));
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> swaps{0};
  std::thread swapper([&] {
    for (uint16_t round = 0; !stop.load(); ++round, ++swaps) {
      AclRule wide = permit_udp_to(53);
      wide.dst_port_min = uint16_t(53 - round % 10);
      EXPECT_TRUE(sw.dp->set_acl_rules(id, {round % 2 ? wide : permit_udp_to(53)}));
    }
  });
  // At least this many frames, and on until the rules changed 200 times meanwhile.
  constexpr size_t kFrames = 20000;
  const Bytes f = udp_frame(kMacB, kMacA, 53);
  std::vector<TxFrame> burst(32, TxFrame{f.data(), uint32_t(f.size())});
  size_t sent = 0, got = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (sent < kFrames || (swaps.load() < 200 && std::chrono::steady_clock::now() < deadline)) {
    sent += a->tx_burst(0, burst.data(), 32);
    got += b->rx_burst(0, 256, [](const uint8_t*, uint32_t) {});
  }
  stop = true;
  swapper.join();
  EXPECT_GE(swaps.load(), 200u);
  EXPECT_TRUE(eventually([&] { return (got += b->rx_burst(0, 256, [](const uint8_t*, uint32_t) {})) == sent; }))
      << got << " of " << sent << "; no_buffer at b: " << drops(sw.info(ib), DropReason::no_buffer);
  EXPECT_EQ(denied(ia), 0u);
}

// Neighbour discovery passes a deny-everything ACL, as ARP does: without it no IPv6 host
// reaches anything. What it would have carried is denied.
struct Routed6Acl : TwoRoutedNetworks<Ip6> {
  const Ip6 kIpA = parse_ip("fd0a::2")->bits, kIpB = parse_ip("fd0b::2")->bits;
  void SetUp() override { connect({"fd0a::1/64"}, {"fd0b::1/64"}, {nullptr, kMacA, kIpA}, {nullptr, kMacB, kIpB}); }
};

TEST_F(Routed6Acl, NeighbourDiscoveryPassesWhatWouldCarryIsDenied) {
  const uint32_t id = *sw.dp->add_acl("nothing", {});
  ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::in, id));
  EXPECT_EQ(a.ask(parse_ip("fd0a::1")->bits), gw_mac1);
  a.send(eth(gw_mac1, kMacA, kEtherTypeIp6, ipv6({kIpA, kIpB, kProtoIcmp6}, icmp6_echo(1, 1, 8))));
  EXPECT_TRUE(b.receive(1, 300).empty());
  EXPECT_TRUE(eventually([&] { return drops(ia, DropReason::acl_denied) == 1; }));
}

// pipeline.md §2: an ACL judges a private copy of the header, and transmit sends that
// copy. a's peer keeps flipping the destination port of its tx buffers between 53 (which
// a's ACL permits) and 54 (which it denies) while the switch works on them: some frames
// are judged as 54 and denied, the rest pass, and none reaches b as 54. (If transmit
// re-read a's buffers, frames judged as 53 would leave as 54.)
TEST_F(Bridged, APeerRewritingPortsAfterRxCannotPassADenyRule) {
  ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::in, acl("dns-only", {permit_udp_to(53)})));
  const Bytes f = udp_frame(kMacB, kMacA, 53);
  constexpr uint32_t kPortAt = 14 + 20 + 2;
  const uint8_t port53[2] = {0, 53}, port54[2] = {0, 54};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> scribbles{0};
  std::thread hostile([&] {
    for (; !stop.load(); ++scribbles) {
      a->inject_scribble_tx_buffers(0, kPortAt, port54, 2);
      a->inject_scribble_tx_buffers(0, kPortAt, port53, 2);
    }
  });
  ASSERT_TRUE(eventually([&] { return scribbles.load() > 0; }));
  std::vector<TxFrame> burst(32, TxFrame{f.data(), uint32_t(f.size())});
  uint64_t sent = 0, got = 0, as_54 = 0;
  const auto drain = [&] {
    got += b->rx_burst(0, 256, [&](const uint8_t* p, uint32_t) { as_54 += load16(p + kPortAt) != 53; });
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (sent < 32000 || ((denied(ia) == 0 || got == 0) && std::chrono::steady_clock::now() < deadline)) {
    sent += a->tx_burst(0, burst.data(), 32);
    drain();
  }
  stop = true;
  hostile.join();
  eventually([&] {
    drain();
    return got + denied(ia) >= sent;
  });
  EXPECT_EQ(as_54, 0u) << "of " << got << " frames at b";
  // Both ways happened: the peer's writes landed before and after the switch looked.
  EXPECT_GT(got, 0u);
  EXPECT_GT(denied(ia), 0u);
}

// pipeline.md §4: a policy change touches the egress ACL of the sender and the ingress ACL
// of the receiver. Flow 53 is denied by both configurations, once at a's egress and once
// at b's ingress; swapping both in one snapshot (set_acl_rules_many), no frame of it ever
// meets a's new rules and b's old ones, so none gets through; flow 80, which both permit,
// loses nothing.
TEST_F(Bridged, SwappingTwoInterfacesRulesAtOnceLetsNoDeniedFlowThrough) {
  AclRule deny53 = permit_udp_to(53), all;
  deny53.action = AclAction::deny;
  all.action = AclAction::permit;
  const std::vector<AclRule> denies{deny53, all}, permits{all};
  const uint32_t out_of_a = acl("a-egress", denies), into_b = acl("b-ingress", permits);
  ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::in, out_of_a));
  ASSERT_TRUE(sw.dp->bind_acl(ib, AclDirection::out, into_b));
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> swaps{0};
  std::thread swapper([&] {
    for (bool second = true; !stop.load(); second = !second, ++swaps) {
      std::vector<std::pair<uint32_t, std::vector<AclRule>>> change;
      change.emplace_back(out_of_a, second ? permits : denies);
      change.emplace_back(into_b, second ? denies : permits);
      EXPECT_TRUE(sw.dp->set_acl_rules_many(std::move(change)));
    }
  });
  const Bytes to53 = udp_frame(kMacB, kMacA, 53), to80 = udp_frame(kMacB, kMacA, 80);
  std::vector<TxFrame> burst;
  for (int i = 0; i < 16; ++i) burst.push_back({to53.data(), uint32_t(to53.size())}), burst.push_back({to80.data(), uint32_t(to80.size())});
  uint64_t sent = 0, sent80 = 0, got53 = 0, got80 = 0;  // frames go 53, 80, 53, ...
  const auto drain = [&] {
    b->rx_burst(0, 256, [&](const uint8_t* p, uint32_t) { (load16(p + 36) == 53 ? got53 : got80)++; });
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (sent < 40000 || (swaps.load() < 200 && std::chrono::steady_clock::now() < deadline)) {
    const uint32_t n = a->tx_burst(0, burst.data(), uint32_t(burst.size()));
    sent += n, sent80 += n / 2;
    drain();
  }
  stop = true;
  swapper.join();
  EXPECT_GE(swaps.load(), 200u);
  eventually([&] {
    drain();
    return got80 >= sent80;
  });
  EXPECT_EQ(got53, 0u) << "frames of a flow both configurations deny got through";
  EXPECT_EQ(got80, sent80) << "frames both configurations permit; no_buffer at b: " << drops(sw.info(ib), DropReason::no_buffer);
}
