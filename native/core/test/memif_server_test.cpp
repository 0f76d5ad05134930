// The switch end to end inside one process: real sockets, real shared memory, real
// worker and control threads, our client as the container.
#include "test_util.h"

using namespace memswitch;
using namespace memswitch::test;

namespace {
constexpr Mac kMacA = 0x020000000001, kMacB = 0x020000000002, kMacC = 0x020000000003;

struct Pair {
  Switch sw;
  std::string sock = unique_socket("pair");
  uint32_t ia, ib;
  std::unique_ptr<MemifClient> a, b;
  Pair(MemifClientConfig cfg = {}) {
    ia = sw.add("a", sock, 0);
    ib = sw.add("b", sock, 1);
    a = connect_client(sock, 0, cfg);
    b = connect_client(sock, 1, cfg);
  }
};

// Runs generators/sinks until every generator finished and the sinks stop growing.
void run(TrafficEngine& e, std::initializer_list<size_t> sinks, uint64_t expect_each) {
  e.start();
  eventually([&] {
    for (size_t s : sinks)
      if (e.stats(s).rx_packets < expect_each) return false;
    return e.generators_done();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  e.stop();
}
}  // namespace

TEST(Switch, HandshakeReportsPeer) {
  Pair p;
  ASSERT_TRUE(p.a && p.b);
  EXPECT_EQ(p.a->server_name(), "memswitch");
  ASSERT_TRUE(eventually([&] { return p.sw.info(p.ia).connected; }));
  InterfaceInfo i = p.sw.info(p.ia);
  EXPECT_EQ(i.peer_name, "memswitch-client");
  EXPECT_EQ(i.peer_if_name, "memif0");
  EXPECT_EQ(i.rx_queues, 1u);
  EXPECT_EQ(i.connects, 1u);
}

TEST(Switch, FloodsUnknownThenUnicastsLearned) {
  Pair p;
  Switch& sw = p.sw;
  const std::string sock = p.sock;
  const uint32_t ic = sw.add("c", sock, 2);
  auto c = connect_client(sock, 2);
  ASSERT_TRUE(p.a && p.b && c);
  {  // a -> B's MAC: unknown, flooded to b and c
    TrafficEngine e;
    e.add_generator(p.a.get(), {.pps = 200000, .count = 500, .src = kMacA, .dst = kMacB});
    const size_t sb = e.add_sink(p.b.get(), {}), sc = e.add_sink(c.get(), {});
    run(e, {sb, sc}, 500);
    EXPECT_EQ(e.stats(sb).rx_packets, 500u);
    EXPECT_EQ(e.stats(sc).rx_packets, 500u);
  }
  {  // b -> A's MAC: learned on a, so c gets nothing
    TrafficEngine e;
    e.add_generator(p.b.get(), {.pps = 200000, .count = 500, .src = kMacB, .dst = kMacA});
    const size_t sa = e.add_sink(p.a.get(), {}), sc = e.add_sink(c.get(), {});
    run(e, {sa}, 500);
    EXPECT_EQ(e.stats(sa).rx_packets, 500u);
    EXPECT_EQ(e.stats(sa).lost, 0u);
    EXPECT_EQ(e.stats(sc).rx_packets, 0u);
  }
  EXPECT_EQ(total(sw.info(p.ia), &InterfaceCounters::rx_packets), 500u);
  EXPECT_EQ(total(sw.info(p.ia), &InterfaceCounters::tx_packets), 500u);
  EXPECT_EQ(total(sw.info(ic), &InterfaceCounters::tx_packets), 500u);
  bool found = false;
  for (auto& e : sw.dp->mac_table()) found |= e.mac == kMacA && e.interface == p.ia && !e.is_static;
  EXPECT_TRUE(found);
}

TEST(Switch, VlansAndNetworksDoNotLeak) {
  Switch sw;
  const std::string sock = unique_socket("vlan");
  const uint32_t other = *sw.dp->add_network("red");
  sw.add("a", sock, 0, 100);
  sw.add("b", sock, 1, 100);
  const uint32_t ic = sw.add("c", sock, 2, 200);
  const uint32_t id = sw.add("d", sock, 3, 100, other);
  auto a = connect_client(sock, 0), b = connect_client(sock, 1), c = connect_client(sock, 2), d = connect_client(sock, 3);
  TrafficEngine e;
  e.add_generator(a.get(), {.pps = 200000, .count = 300, .src = kMacA, .dst = 0xFFFFFFFFFFFF});
  const size_t sb = e.add_sink(b.get(), {}), sc = e.add_sink(c.get(), {}), sd = e.add_sink(d.get(), {});
  run(e, {sb}, 300);
  EXPECT_EQ(e.stats(sb).rx_packets, 300u);
  EXPECT_EQ(e.stats(sc).rx_packets, 0u);
  EXPECT_EQ(e.stats(sd).rx_packets, 0u);
  EXPECT_EQ(total(sw.info(ic), &InterfaceCounters::tx_packets), 0u);
  EXPECT_EQ(total(sw.info(id), &InterfaceCounters::tx_packets), 0u);
}

TEST(Switch, TaggedFrameOnAccessPortIsDropped) {
  Switch sw;
  const std::string sock = unique_socket("tag");
  const uint32_t ia = sw.add("a", sock, 0, 100);
  sw.add("b", sock, 1, 100);
  auto a = connect_client(sock, 0), b = connect_client(sock, 1);
  TrafficEngine e;
  e.add_generator(a.get(), {.pps = 200000, .count = 100, .src = kMacA, .dst = kMacB, .vlan = 100});
  const size_t sb = e.add_sink(b.get(), {});
  e.start();
  ASSERT_TRUE(eventually([&] { return drops(sw.info(ia), DropReason::vlan_tagged_on_access) == 100; }));
  e.stop();
  EXPECT_EQ(e.stats(sb).rx_packets, 0u);
}

TEST(Switch, JumboFramesChainBothWays) {
  MemifClientConfig cfg;
  cfg.buffer_size = 2048;
  Pair p(cfg);
  TrafficEngine e;
  e.add_generator(p.a.get(), {.frame_size = 9000, .pps = 20000, .count = 150, .src = kMacA, .dst = kMacB});
  const size_t sb = e.add_sink(p.b.get(), {});
  run(e, {sb}, 150);
  const TaskStats s = e.stats(sb);
  EXPECT_EQ(s.rx_packets, 150u);
  EXPECT_EQ(s.rx_bytes, 150u * 9000u);
  EXPECT_EQ(s.rx_foreign, 0u);
  EXPECT_EQ(s.lost, 0u);
}

TEST(Switch, SeveralQueuePairs) {
  Switch sw({.workers = 2});
  const std::string sock = unique_socket("mq");
  const uint32_t ia = sw.add("a", sock, 0);
  sw.add("b", sock, 1);
  MemifClientConfig cfg;
  cfg.queues = 2;
  auto a = connect_client(sock, 0, cfg), b = connect_client(sock, 1, cfg);
  ASSERT_TRUE(a && b);
  TrafficEngine e;
  e.add_generator(a.get(), {.queue = 0, .pps = 100000, .count = 300, .src = kMacA, .dst = kMacB, .stream = 0});
  e.add_generator(a.get(), {.queue = 1, .pps = 100000, .count = 300, .src = kMacA, .dst = kMacB, .stream = 1});
  const size_t sb = e.add_sink(b.get(), {});
  run(e, {sb}, 600);
  EXPECT_EQ(e.stats(sb).rx_packets, 600u);
  const InterfaceInfo i = sw.info(ia);
  EXPECT_EQ(i.rx_queues, 2u);
  EXPECT_EQ(i.tx_queues, 2u);
  // Each rx queue went to its own worker.
  EXPECT_GT(i.per_worker[0].rx_packets, 0u);
  EXPECT_GT(i.per_worker[1].rx_packets, 0u);
}

TEST(Switch, ClientThatComesBackIsAccepted) {
  Pair p;
  p.b->disconnect("bye");
  ASSERT_TRUE(eventually([&] { return !p.sw.info(p.ib).connected; }));
  p.b = connect_client(p.sock, 1);
  ASSERT_TRUE(p.b);
  ASSERT_TRUE(eventually([&] { return p.sw.info(p.ib).connected; }));
  EXPECT_EQ(p.sw.info(p.ib).connects, 2u);
  TrafficEngine e;
  e.add_generator(p.a.get(), {.pps = 200000, .count = 100, .src = kMacA, .dst = kMacB});
  const size_t sb = e.add_sink(p.b.get(), {});
  run(e, {sb}, 100);
  EXPECT_EQ(e.stats(sb).rx_packets, 100u);
}

TEST(Switch, ClientVanishingWithoutDisconnect) {
  Pair p;
  p.b.reset();  // closes the socket and unmaps: EOF on the server
  ASSERT_TRUE(eventually([&] { return !p.sw.info(p.ib).connected; }));
  TrafficEngine e;
  e.add_generator(p.a.get(), {.pps = 200000, .count = 100, .src = kMacA, .dst = kMacC});
  e.start();
  ASSERT_TRUE(eventually([&] { return drops(p.sw.info(p.ia), DropReason::no_destination) == 100; }));
  e.stop();
}

TEST(Switch, InterruptModeClientIsSignalled) {
  MemifClientConfig cfg;
  cfg.interrupt_mode = true;
  Pair p(cfg);
  std::vector<uint8_t> frame(64, 0);
  mac_to_bytes(kMacB, frame.data());
  mac_to_bytes(kMacA, frame.data() + 6);
  const TxFrame tf{frame.data(), 64};
  ASSERT_EQ(p.a->tx_burst(0, &tf, 1), 1u);
  ASSERT_TRUE(p.b->wait_rx(0, 2000));  // woke on the eventfd the switch wrote
  uint32_t got = 0;
  p.b->rx_burst(0, 32, [&](const uint8_t*, uint32_t len) { got += len == 64; });
  EXPECT_EQ(got, 1u);
  // Masked again: the switch must stop signalling.
  p.b->set_interrupt_mode(false);
  ASSERT_EQ(p.a->tx_burst(0, &tf, 1), 1u);
  EXPECT_FALSE(p.b->wait_rx(0, 200));
}

TEST(Switch, RemovingInterfaceDisconnectsPeerAndFreesSocket) {
  Switch sw;
  const std::string sock = "/tmp/msw-test-" + std::to_string(getpid()) + ".sock";
  const uint32_t ia = sw.add("a", sock, 0);
  auto a = connect_client(sock, 0);
  ASSERT_TRUE(a);
  ASSERT_EQ(access(sock.c_str(), F_OK), 0);
  ASSERT_TRUE(sw.dp->remove_interface(ia));
  EXPECT_TRUE(eventually([&] { return !a->poll_control(); }));
  EXPECT_EQ(a->disconnect_reason(), "interface deleted");
  EXPECT_NE(access(sock.c_str(), F_OK), 0);
}

TEST(Switch, StaticMacSteersTraffic) {
  Pair p;
  ASSERT_TRUE(p.sw.dp->add_static_mac(p.sw.net, 0, kMacC, p.ib));
  EXPECT_FALSE(p.sw.dp->add_static_mac(p.sw.net, 5, kMacC, p.ib));  // wrong VLAN
  TrafficEngine e;
  e.add_generator(p.a.get(), {.pps = 200000, .count = 100, .src = kMacA, .dst = kMacC});
  const size_t sb = e.add_sink(p.b.get(), {});
  run(e, {sb}, 100);
  EXPECT_EQ(e.stats(sb).rx_packets, 100u);
  ASSERT_TRUE(p.sw.dp->remove_static_mac(p.sw.net, 0, kMacC));
  EXPECT_FALSE(p.sw.dp->remove_static_mac(p.sw.net, 0, kMacC));
}
