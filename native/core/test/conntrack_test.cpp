// Connection tracking: the table alone (both directions of a flow find one entry, TCP
// states, timeouts and sweeping, a full table, 100k flows, workers opening and tracking
// the same flows at once), then permit+reflect rules on real memif traffic: replies
// pass, unsolicited packets do not, a TCP RST ends a flow, ICMP errors about a tracked
// flow pass, a full table is a counted drop, replies polled by another worker pass.
#include <atomic>
#include <thread>

#include "bridged_fixture.h"
#include "pipeline/conntrack.h"

using namespace memswitch;
using namespace memswitch::test;
using namespace memswitch::detail;

namespace {

const IpAddress kA = Ip4(0x0A000001), kB = Ip4(0x0A000002);

FlowPacket udp_flow(IpAddress src, uint16_t sport, IpAddress dst, uint16_t dport) { return flow_packet(7, kProtoUdp, src, sport, dst, dport, 0); }
FlowPacket tcp_flow(IpAddress src, uint16_t sport, IpAddress dst, uint16_t dport, uint8_t flags) {
  return flow_packet(7, kProtoTcp, src, sport, dst, dport, flags);
}

ConntrackOptions table_of(uint32_t flows, uint32_t udp_s = 120) {
  ConntrackOptions o;
  o.max_flows = flows;
  o.timeouts.udp_s = udp_s;
  return o;
}

std::vector<ConntrackFlow> all_flows(const Conntrack& ct, uint32_t now_s, uint32_t page = 1000) {
  std::vector<ConntrackFlow> out;
  uint64_t cursor = 0;
  do {
    ConntrackPage p = ct.list(cursor, page, now_s);
    out.insert(out.end(), p.flows.begin(), p.flows.end());
    cursor = p.next;
  } while (cursor != 0);
  return out;
}

}  // namespace

TEST(ConntrackTable, BothDirectionsFindOneFlow) {
  Conntrack ct(table_of(1024), 1);
  EXPECT_FALSE(ct.track(udp_flow(kA, 1000, kB, 53), 10, 0));
  ASSERT_TRUE(ct.open(udp_flow(kA, 1000, kB, 53), 10, 0));
  EXPECT_TRUE(ct.track(udp_flow(kB, 53, kA, 1000), 11, 0));  // the reply
  EXPECT_FALSE(ct.track(udp_flow(kB, 53, kA, 1001), 11, 0));  // another flow
  EXPECT_FALSE(ct.track(flow_packet(8, kProtoUdp, kB, 53, kA, 1000, 0), 11, 0));  // another zone
  const auto flows = all_flows(ct, 12);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].src, kA);  // as the first packet had it
  EXPECT_EQ(flows[0].dst, kB);
  EXPECT_EQ(flows[0].sport, 1000);
  EXPECT_EQ(flows[0].dport, 53);
  EXPECT_EQ(flows[0].state, FlowState::udp);
  EXPECT_TRUE(flows[0].replied);
  EXPECT_EQ(flows[0].age_s, 2u);
  EXPECT_EQ(flows[0].idle_s, 1u);
  EXPECT_EQ(flows[0].expires_in_s, 119u);
  EXPECT_EQ(flows[0].router, 7u);  // the zone, until the dataplane names it
  EXPECT_EQ(ct.stats().flows, 1u);
}

TEST(ConntrackTable, TcpOpensEstablishesClosesAndEndsOnReset) {
  Conntrack ct(table_of(1024), 1);
  ASSERT_TRUE(ct.open(tcp_flow(kA, 40000, kB, 80, kTcpSyn), 1, 0));
  EXPECT_EQ(all_flows(ct, 1).at(0).state, FlowState::tcp_syn_sent);
  EXPECT_TRUE(ct.track(tcp_flow(kB, 80, kA, 40000, kTcpSyn | kTcpAck), 1, 0));
  EXPECT_EQ(all_flows(ct, 1).at(0).state, FlowState::tcp_established);
  EXPECT_TRUE(ct.track(tcp_flow(kA, 40000, kB, 80, kTcpFin | kTcpAck), 2, 0));
  EXPECT_EQ(all_flows(ct, 2).at(0).state, FlowState::tcp_closing);
  EXPECT_TRUE(ct.track(tcp_flow(kB, 80, kA, 40000, kTcpAck), 2, 0));  // the last ACKs pass
  // A SYN on a closing flow's ports is a new connection: the rules judge it.
  EXPECT_FALSE(ct.track(tcp_flow(kA, 40000, kB, 80, kTcpSyn), 3, 0));
  ASSERT_TRUE(ct.open(tcp_flow(kA, 40000, kB, 80, kTcpSyn), 3, 0));
  EXPECT_EQ(all_flows(ct, 3).at(0).state, FlowState::tcp_syn_sent);
  EXPECT_EQ(ct.stats().flows, 1u);
  // A reset passes and ends the flow.
  EXPECT_TRUE(ct.track(tcp_flow(kB, 80, kA, 40000, kTcpRst), 4, 0));
  EXPECT_FALSE(ct.track(tcp_flow(kB, 80, kA, 40000, kTcpAck), 4, 0));
  EXPECT_EQ(ct.stats().flows, 0u);
  // Picked up mid-stream (a rule permitted it): established at once.
  ASSERT_TRUE(ct.open(tcp_flow(kA, 40001, kB, 80, kTcpAck), 5, 0));
  EXPECT_EQ(all_flows(ct, 5).at(0).state, FlowState::tcp_established);
}

TEST(ConntrackTable, IdleFlowsExpireAndAreSwept) {
  Conntrack ct(table_of(1024, /*udp_s=*/2), 1);
  ASSERT_TRUE(ct.open(udp_flow(kA, 1, kB, 2), 10, 0));
  EXPECT_TRUE(ct.track(udp_flow(kB, 2, kA, 1), 12, 0));  // idle 2 s: alive, and now idle 0
  EXPECT_TRUE(ct.track(udp_flow(kA, 1, kB, 2), 14, 0));
  EXPECT_FALSE(ct.track(udp_flow(kA, 1, kB, 2), 17, 0));  // idle 3 s
  EXPECT_TRUE(all_flows(ct, 17).empty());
  EXPECT_EQ(ct.stats().flows, 1u);  // until swept
  ct.sweep(17, ct.buckets());
  EXPECT_EQ(ct.stats().flows, 0u);
  EXPECT_EQ(ct.stats().created, 1u);
}

TEST(ConntrackTable, AFullTableRefusesNewFlowsUntilOldOnesExpire) {
  Conntrack ct(table_of(16, /*udp_s=*/5), 1);  // two buckets of eight
  uint32_t opened = 0;
  for (uint16_t port = 1; port <= 40; ++port) opened += ct.open(udp_flow(kA, port, kB, 53), 0, 0);
  EXPECT_EQ(opened, 16u);
  EXPECT_EQ(ct.stats().full, 24u);
  EXPECT_EQ(ct.stats().flows, 16u);
  // Known flows still find their entries; expired ones make room.
  EXPECT_TRUE(ct.track(udp_flow(kB, 53, kA, 1), 1, 0) || ct.track(udp_flow(kB, 53, kA, 40), 1, 0));
  EXPECT_TRUE(ct.open(udp_flow(kA, 999, kB, 53), 7, 0));
  EXPECT_EQ(ct.stats().flows, 16u);  // one expired flow made room
}

// As many flows as max_flows fit, every one found from either end; one more does not.
TEST(ConntrackTable, HundredThousandFlows) {
  Conntrack ct(table_of(100000), 1);
  constexpr uint32_t kFlows = 100000;
  const auto flow = [](uint32_t i) { return udp_flow(Ip4(0x0A000000 + i / 50000), uint16_t(1 + i % 50000), kB, 53); };
  for (uint32_t i = 0; i < kFlows; ++i) ASSERT_TRUE(ct.open(flow(i), 1, 0)) << i;
  for (uint32_t i = 0; i < kFlows; ++i) {
    const FlowPacket f = flow(i);
    ASSERT_TRUE(ct.track(flow_packet(7, kProtoUdp, kB, 53, Ip4(0x0A000000 + i / 50000), uint16_t(1 + i % 50000), 0), 2, 0)) << i;
    ASSERT_TRUE(ct.known(f.key, 2));
  }
  EXPECT_FALSE(ct.track(udp_flow(kB, 53, kA, 60000), 2, 0));
  EXPECT_FALSE(ct.open(udp_flow(kB, 53, kA, 60000), 2, 0));
  const ConntrackStats s = ct.stats();
  EXPECT_EQ(s.flows, kFlows);
  EXPECT_EQ(s.full, 1u);
  EXPECT_EQ(s.capacity, kFlows);
  EXPECT_EQ(all_flows(ct, 2, 4096).size(), kFlows);
  ct.clear();
  EXPECT_EQ(ct.stats().flows, 0u);
  EXPECT_FALSE(ct.known(flow(5).key, 2));
}

// Two workers open the same flows from opposite ends at once (a reply polled by another
// worker than its request) while a third keeps reading: one entry per flow, every open
// flow found from either end, nothing torn.
TEST(ConntrackTable, WorkersOpeningTheSameFlowsAtOnceMakeOneEntryEach) {
  Conntrack ct(table_of(65536), 2);
  constexpr uint16_t kFlows = 20000;
  std::atomic<bool> go{false};
  std::atomic<uint32_t> opened{0};
  const auto side = [&](uint32_t worker) {
    while (!go.load()) {
    }
    for (uint16_t p = 1; p <= kFlows; ++p) {
      const FlowPacket f = worker == 0 ? udp_flow(kA, p, kB, 53) : udp_flow(kB, 53, kA, p);
      if (!ct.track(f, 1, worker)) {
        EXPECT_TRUE(ct.open(f, 1, worker));
      }
      opened.fetch_add(1);
    }
  };
  std::atomic<uint64_t> misses{0};
  std::thread reader([&] {
    while (!go.load()) {
    }
    while (opened.load() < 2u * kFlows)
      for (uint16_t p = 1; p <= 200; ++p)
        if (opened.load() >= 2u * p && !ct.known(udp_flow(kA, p, kB, 53).key, 1)) misses.fetch_add(1);
  });
  std::thread w0(side, 0), w1(side, 1);
  go = true;
  w0.join(), w1.join(), reader.join();
  const ConntrackStats s = ct.stats();
  EXPECT_EQ(s.flows, kFlows);
  EXPECT_EQ(s.created, kFlows);
  EXPECT_EQ(misses.load(), 0u);
  for (uint16_t p = 1; p <= kFlows; ++p) ASSERT_TRUE(ct.known(udp_flow(kB, 53, kA, p).key, 1)) << p;
}

namespace {

AclRule rule(AclAction action, uint8_t proto = 0) {
  AclRule r;
  r.proto = proto;
  r.action = action;
  return r;
}

Bytes tcp_frame(Mac dst, Mac src, Ip4 from, Ip4 to, uint16_t sport, uint16_t dport, uint8_t flags) {
  return eth(dst, src, kEtherTypeIp4, ipv4({from, to, kProtoTcp}, tcp(sport, dport, flags, 10)));
}

// a may start UDP and TCP flows and ping (permit+reflect on what it sends); nothing is
// let in to a (an empty ACL on what it is sent) but what its flows bring back.
struct Stateful : Bridged {
  explicit Stateful(DataplaneOptions o = {}) : Bridged(o) {}
  void SetUp() override {
    Bridged::SetUp();
    ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::in, acl("a-out", {rule(AclAction::permit_reflect, kProtoUdp), rule(AclAction::permit_reflect, kProtoTcp), rule(AclAction::permit_reflect, kProtoIcmp)})));
    ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::out, acl("a-in", {})));
  }
  static Bytes from_b(uint16_t sport, uint16_t dport) {
    return eth(kMacA, kMacB, kEtherTypeIp4, ipv4({0x0A000002, 0x0A000001}, udp(sport, dport, 32)));
  }
};

}  // namespace

TEST_F(Stateful, RepliesPassUnsolicitedPacketsDoNot) {
  send(*b, from_b(53, 1000));  // before a asked: denied
  EXPECT_EQ(receive(*a, 1, 100), 0u);
  send(*a, udp_frame(kMacB, kMacA, 53, 1000));
  EXPECT_EQ(receive(*b, 1), 1u);
  send(*b, from_b(53, 1000));  // the reply
  EXPECT_EQ(receive(*a, 1), 1u);
  send(*b, from_b(53, 1001));  // not a's flow
  send(*c, eth(kMacA, kMacC, kEtherTypeIp4, ipv4({0x0A000003, 0x0A000001}, udp(53, 1000, 32))));
  EXPECT_EQ(receive(*a, 1, 100), 0u);
  EXPECT_TRUE(eventually([&] { return denied(ia) == 3; })) << denied(ia);
  const ConntrackStats s = sw.dp->conntrack_stats();
  EXPECT_EQ(s.flows, 1u);
  const ConntrackPage page = sw.dp->conntrack_flows(0, 100);
  ASSERT_EQ(page.flows.size(), 1u);
  EXPECT_EQ(page.flows[0].network, sw.net);
  EXPECT_EQ(page.flows[0].router, 0u);
  EXPECT_EQ(page.flows[0].src, IpAddress(Ip4(0x0A000001)));
  EXPECT_TRUE(page.flows[0].replied);
  // Forgotten, the flow's next reply is judged again.
  sw.dp->clear_conntrack();
  EXPECT_EQ(sw.dp->conntrack_stats().flows, 0u);
  send(*b, from_b(53, 1000));
  EXPECT_EQ(receive(*a, 1, 100), 0u);
}

TEST_F(Stateful, ATcpResetEndsTheFlow) {
  constexpr Ip4 kIpA = 0x0A000001, kIpB = 0x0A000002;
  send(*a, tcp_frame(kMacB, kMacA, kIpA, kIpB, 40000, 80, kTcpSyn));
  send(*b, tcp_frame(kMacA, kMacB, kIpB, kIpA, 80, 40000, kTcpSyn | kTcpAck));
  send(*a, tcp_frame(kMacB, kMacA, kIpA, kIpB, 40000, 80, kTcpAck));
  send(*b, tcp_frame(kMacA, kMacB, kIpB, kIpA, 80, 40000, kTcpAck));
  EXPECT_EQ(receive(*b, 2), 2u);
  EXPECT_EQ(receive(*a, 2), 2u);
  ASSERT_EQ(sw.dp->conntrack_flows(0, 10).flows.at(0).state, FlowState::tcp_established);
  send(*a, tcp_frame(kMacB, kMacA, kIpA, kIpB, 40000, 80, kTcpRst));
  EXPECT_EQ(receive(*b, 1), 1u);
  send(*b, tcp_frame(kMacA, kMacB, kIpB, kIpA, 80, 40000, kTcpAck));  // after the reset: unsolicited
  EXPECT_EQ(receive(*a, 1, 100), 0u);
  EXPECT_TRUE(eventually([&] { return denied(ia) == 1; })) << denied(ia);
  EXPECT_EQ(sw.dp->conntrack_stats().flows, 0u);
}

TEST_F(Stateful, IcmpErrorsAboutATrackedFlowPassOthersDoNot) {
  const Bytes to_b = ipv4({0x0A000001, 0x0A000002}, udp(1000, 53, 32));
  const Bytes to_c = ipv4({0x0A000001, 0x0A000003}, udp(1000, 53, 32));
  send(*a, eth(kMacB, kMacA, kEtherTypeIp4, to_b));
  EXPECT_EQ(receive(*b, 1), 1u);
  // c answers with errors about a's flow to b, and about a flow a never started.
  send(*c, eth(kMacA, kMacC, kEtherTypeIp4, ipv4({0x0A000003, 0x0A000001, kProtoIcmp}, icmp_error(kIcmpUnreachable, 3, to_b))));
  EXPECT_EQ(receive(*a, 1), 1u);
  send(*c, eth(kMacA, kMacC, kEtherTypeIp4, ipv4({0x0A000003, 0x0A000001, kProtoIcmp}, icmp_error(kIcmpUnreachable, 3, to_c))));
  EXPECT_EQ(receive(*a, 1, 100), 0u);
  EXPECT_TRUE(eventually([&] { return denied(ia) == 1; }));
  // Ping: the echo reply is a's flow; an echo request to a is not.
  send(*a, eth(kMacB, kMacA, kEtherTypeIp4, ipv4({0x0A000001, 0x0A000002, kProtoIcmp}, icmp_echo(77, 1, 16))));
  EXPECT_EQ(receive(*b, 1), 1u);
  Bytes reply = icmp_echo(77, 1, 16);
  reply[0] = kIcmpEchoReply;
  send(*b, eth(kMacA, kMacB, kEtherTypeIp4, ipv4({0x0A000002, 0x0A000001, kProtoIcmp}, reply)));
  EXPECT_EQ(receive(*a, 1), 1u);
  send(*b, eth(kMacA, kMacB, kEtherTypeIp4, ipv4({0x0A000002, 0x0A000001, kProtoIcmp}, icmp_echo(78, 1, 16))));
  EXPECT_EQ(receive(*a, 1, 100), 0u);
}

namespace {
struct SmallTable : Stateful {
  static DataplaneOptions opts() {
    DataplaneOptions o;
    o.conntrack.max_flows = 16;
    return o;
  }
  SmallTable() : Stateful(opts()) {}
};
}  // namespace

TEST_F(SmallTable, NewFlowsPastAFullTableAreCountedDrops) {
  for (uint16_t port = 1; port <= 40; ++port) send(*a, udp_frame(kMacB, kMacA, 53, port));
  EXPECT_EQ(receive(*b, 40), 16u);
  EXPECT_TRUE(eventually([&] { return drops(sw.info(ia), DropReason::conntrack_full) == 24; })) << drops(sw.info(ia), DropReason::conntrack_full);
  EXPECT_EQ(sw.dp->conntrack_stats().full, 24u);
  EXPECT_EQ(sw.dp->conntrack_stats().flows, 16u);
}

namespace {
struct TwoWorkers : Stateful {
  static DataplaneOptions opts() {
    DataplaneOptions o;
    o.workers = 2;
    return o;
  }
  TwoWorkers() : Stateful(opts()) {}
};
}  // namespace

// Rings go to workers in turn, in interface order: a's to worker 0, b's to worker 1. The
// replies are tracked by the worker that did not open the flow.
TEST_F(TwoWorkers, RepliesPolledByAnotherWorkerPass) {
  for (uint16_t port = 1; port <= 50; ++port) send(*a, udp_frame(kMacB, kMacA, 53, port));
  EXPECT_EQ(receive(*b, 50), 50u);
  for (uint16_t port = 1; port <= 50; ++port) send(*b, from_b(53, port));
  EXPECT_EQ(receive(*a, 50), 50u);
  EXPECT_EQ(denied(ia), 0u);
  for (const WorkerInfo& w : sw.dp->workers())  // both received: one a's frames, one b's
    EXPECT_GE(w.runtime.at(0).vectors, 50u) << "worker " << w.index;
}
