// What acl_test.cpp and conntrack_test.cpp share: three memif hosts on one network, and
// the ACLs they get.
#pragma once
#include "router_fixture.h"

namespace memswitch::test {

inline Bytes udp_frame(Mac dst, Mac src, uint16_t dport, uint16_t sport = 1000) {
  return eth(dst, src, kEtherTypeIp4, ipv4({0x0A000001, 0x0A000002}, udp(sport, dport, 32)));
}

// a, b and c on one network; what arrives at each.
struct Bridged : ::testing::Test {
  explicit Bridged(DataplaneOptions o = {}) : sw(o) {}
  Switch sw;
  std::string sock = unique_socket("acl");
  uint32_t ia = sw.add("a", sock, 0), ib = sw.add("b", sock, 1), ic = sw.add("c", sock, 2);
  std::unique_ptr<MemifClient> a = connect_client(sock, 0), b = connect_client(sock, 1, big_ring()), c = connect_client(sock, 2);

  // b's ring outholds all a's ring can hand the switch while the test thread is away.
  static MemifClientConfig big_ring() {
    MemifClientConfig cfg;
    cfg.log2_ring_size = 13;
    return cfg;
  }

  void SetUp() override {
    ASSERT_TRUE(eventually([&] { return sw.info(ia).connected && sw.info(ib).connected && sw.info(ic).connected; }));
    // b and c speak first: the bridge knows where their MACs are.
    send(*b, eth(kMacA, kMacB, 0x88B5, Bytes(46, 0)));
    send(*c, eth(kMacA, kMacC, 0x88B5, Bytes(46, 0)));
    ASSERT_EQ(receive(*a, 2), 2u);
    ASSERT_EQ(receive(*b, 1), 1u);  // c's, flooded
    ASSERT_EQ(receive(*c, 1), 1u);  // b's
  }
  static void send(MemifClient& from, const Bytes& f) {
    TxFrame t{f.data(), uint32_t(f.size())};
    ASSERT_EQ(from.tx_burst(0, &t, 1), 1u);
  }
  // Frames arriving within `ms` (all of them: waits the whole time unless `want` came).
  static size_t receive(MemifClient& at, size_t want, int ms = 300) {
    size_t got = 0;
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (got < want && std::chrono::steady_clock::now() < end) {
      at.wait_rx(0, 5);
      got += at.rx_burst(0, 64, [](const uint8_t*, uint32_t) {});
    }
    return got;
  }
  uint32_t acl(const std::string& name, std::vector<AclRule> rules) {
    auto r = sw.dp->add_acl(name, std::move(rules));
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : 0;
  }
  uint64_t denied(uint32_t iface) { return drops(sw.info(iface), DropReason::acl_denied); }
};

}  // namespace memswitch::test
