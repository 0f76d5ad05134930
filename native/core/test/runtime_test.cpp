// show runtime's numbers: each node (rx, the stages, tx) counts exactly the bursts it
// worked on and the frames in them, only the nodes a burst needs count at all, and the
// timed bursts (one in 64) give every such node cycles.
#include <map>

#include "router_fixture.h"

using namespace memswitch;
using namespace memswitch::test;
using namespace memswitch::detail;

namespace {

std::map<std::string, NodeRuntime> runtime_of(Dataplane& dp) {
  std::map<std::string, NodeRuntime> by_node;
  const auto workers = dp.workers();
  EXPECT_EQ(workers.size(), 1u);
  for (const NodeRuntime& n : workers.at(0).runtime) by_node[n.node] = n;
  return by_node;
}

// One frame per burst: the test controls how many bursts there are.
template <class Send, class Receive>
void one_by_one(int n, Send send, Receive receive) {
  for (int i = 0; i < n; ++i) {
    send();
    ASSERT_EQ(receive(), 1u) << "frame " << i;
  }
}

struct RoutedRuntime : TwoRoutedNetworks<Ip4> {
  const Ip4 kIpA = *parse_ip4("10.1.0.2"), kIpB = *parse_ip4("10.2.0.2");
  void SetUp() override { connect({"10.1.0.1/24"}, {"10.2.0.1/24"}, {nullptr, kMacA, kIpA}, {nullptr, kMacB, kIpB}); }
};

}  // namespace

TEST(Runtime, ListsEveryNodeInPipelineOrder) {
  Switch sw;
  std::vector<std::string> names;
  const auto workers = sw.dp->workers();
  for (const NodeRuntime& n : workers.at(0).runtime) names.push_back(n.node);
  EXPECT_EQ(names, (std::vector<std::string>{"rx", "acl_in", "l2_bridge", "l3_input", "ip4_lookup", "ip6_lookup", "neighbor", "acl_out", "tx"}));
  const double hz = sw.dp->tsc_hz();
  EXPECT_GT(hz, 1e8);  // no x86-64 machine this runs on counts slower than 100 MHz...
  EXPECT_LT(hz, 2e10);  // ...or faster than 20 GHz
}

TEST(Runtime, BridgedBurstsCountOnlyRxBridgeAndTx) {
  Switch sw;
  auto [ia, ib, a, b] = connect_pair(sw, "runtime-l2");
  ASSERT_TRUE(a && b);
  const Bytes frame = eth(kMacB, kMacA, 0x88B5, Bytes(46, 0x5A));
  constexpr int kFrames = 130;
  one_by_one(
      kFrames, [&] { TxFrame t{frame.data(), uint32_t(frame.size())}; ASSERT_EQ(a->tx_burst(0, &t, 1), 1u); },
      [&] {
        size_t got = 0;
        for (int tries = 0; got == 0 && tries < 300; ++tries) {
          b->wait_rx(0, 10);
          got += b->rx_burst(0, 64, [](const uint8_t*, uint32_t) {});
        }
        return got;
      });
  // tx is counted right after the copy the client already saw: wait for it.
  ASSERT_TRUE(eventually([&] { return runtime_of(*sw.dp)["tx"].vectors == kFrames; }));
  auto rt = runtime_of(*sw.dp);
  for (const char* node : {"rx", "l2_bridge", "tx"}) {
    EXPECT_EQ(rt[node].vectors, uint64_t(kFrames)) << node;
    EXPECT_EQ(rt[node].calls, uint64_t(kFrames)) << node << ": one frame a burst";
    // Bursts 0, 64 and 128 were timed.
    EXPECT_EQ(rt[node].sampled_vectors, 3u) << node;
    EXPECT_GT(rt[node].sampled_cycles, 0u) << node;
  }
  for (const char* node : {"l3_input", "ip4_lookup", "ip6_lookup", "neighbor"}) {
    EXPECT_EQ(rt[node].calls, 0u) << node;
    EXPECT_EQ(rt[node].vectors, 0u) << node;
    EXPECT_EQ(rt[node].sampled_cycles, 0u) << node;
  }
}

TEST_F(RoutedRuntime, RoutedBurstsCountTheL3StagesTheyPass) {
  ASSERT_EQ(a.ask(*parse_ip4("10.1.0.1")), gw_mac1);
  const Bytes to_b = eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, kIpB, kProtoUdp, 64}, udp(1000, 2000, 32)));
  constexpr int kFrames = 130;
  one_by_one(kFrames, [&] { a.send(to_b); }, [&] { return b.receive(1).size(); });
  ASSERT_TRUE(eventually([&] { return runtime_of(*sw.dp)["neighbor"].vectors >= kFrames - 1; }));
  auto rt = runtime_of(*sw.dp);
  // Exactly the UDP frames are IPv4; l3_input also saw the ARP exchanges.
  EXPECT_EQ(rt["ip4_lookup"].vectors, uint64_t(kFrames));
  EXPECT_EQ(rt["ip4_lookup"].calls, uint64_t(kFrames));
  EXPECT_GE(rt["l3_input"].vectors, uint64_t(kFrames) + 2);  // a's question, b's answer
  // The first frame may have waited for b's answer: held frames leave outside a burst.
  EXPECT_GE(rt["neighbor"].vectors, uint64_t(kFrames) - 1);
  EXPECT_LE(rt["neighbor"].vectors, uint64_t(kFrames));
  EXPECT_EQ(rt["ip6_lookup"].calls, 0u);
  for (const char* node : {"rx", "l2_bridge", "l3_input", "ip4_lookup", "neighbor", "tx"}) {
    EXPECT_GE(rt[node].sampled_vectors, 2u) << node;
    EXPECT_GT(rt[node].sampled_cycles, 0u) << node;
    EXPECT_LE(rt[node].sampled_vectors, rt[node].vectors) << node;
  }
}
