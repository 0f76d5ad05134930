// What router_test.cpp (IPv4) and router6_test.cpp (IPv6) share: memif clients that
// behave like hosts, a router between two networks (a third on demand), memif ip mode,
// and a peer that rewrites the frames it handed over.
#pragma once
#include <atomic>
#include <thread>
#include <type_traits>

#include "packets.h"
#include "test_util.h"

namespace memswitch::test {

using namespace memswitch::detail;

inline bool is_nd(const Bytes& f, uint8_t type) {
  return f.size() >= 14 + 40 + 24 && load16(&f[12]) == kEtherTypeIp6 && f[20] == kProtoIcmp6 && f[54] == type;
}
inline bool is_arp(const Bytes& f, uint16_t op) { return f.size() >= 42 && load16(&f[12]) == kEtherTypeArp && load16(&f[20]) == op; }

// A memif client standing in for a pod's network stack: it answers the router's
// questions about its own addresses (ARP requests, neighbour solicitations), keeps every
// question it saw, and hands everything else to the test.
template <class Ip>  // Ip4 or Ip6
struct Host {
  static constexpr bool kV4 = std::is_same_v<Ip, Ip4>;
  std::unique_ptr<MemifClient> c;
  Mac mac = 0;
  Ip ip{};
  Ip6 link_local{};              // IPv6: answered for too
  std::vector<Bytes> questions;  // ARP requests or neighbour solicitations

  void send(const Bytes& f) {
    TxFrame t{f.data(), uint32_t(f.size())};
    ASSERT_EQ(c->tx_burst(0, &t, 1), 1u);
  }
  // Frames other than questions, until `want` arrived or `timeout_ms` passed.
  std::vector<Bytes> receive(size_t want, int timeout_ms = 3000) {
    std::vector<Bytes> got;
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got.size() < want && std::chrono::steady_clock::now() < end) {
      c->wait_rx(0, 10);
      std::vector<Bytes> frames;
      c->rx_burst(0, 64, [&](const uint8_t* p, uint32_t n) { frames.emplace_back(p, p + n); });
      for (Bytes& f : frames)
        if (!answer(f)) got.push_back(std::move(f));
    }
    return got;
  }
  // Who is my gateway? (The router learns this host from the question, too.) The MAC
  // that answered, or 0.
  Mac ask(Ip gw) {
    if constexpr (kV4) {
      send(eth(0xFFFFFFFFFFFF, mac, kEtherTypeArp, arp_msg(kArpRequest, mac, ip, 0, gw)));
    } else {
      const Ip6 group = solicited_node(gw);
      send(nd_frame(ip6_multicast_mac(group), mac, ip, group, kNdSolicit, 0, gw));
    }
    auto got = receive(1);
    const bool answered = got.size() == 1 && (kV4 ? is_arp(got[0], kArpReply) : is_nd(got[0], kNdAdvert));
    return answered ? mac_from_bytes(&got[0][6]) : 0;
  }

  // True when f was a question (answered if about one of our addresses).
  bool answer(const Bytes& f) {
    if constexpr (kV4) {
      if (!is_arp(f, kArpRequest)) return false;
      questions.push_back(f);
      if (load32(&f[38]) == ip) send(eth(mac_from_bytes(&f[6]), mac, kEtherTypeArp, arp_msg(kArpReply, mac, ip, mac_from_bytes(&f[22]), load32(&f[28]))));
    } else {
      if (!is_nd(f, kNdSolicit)) return false;
      questions.push_back(f);
      const Ip6 target = load_ip6(&f[14 + 40 + 8]);
      if (target == ip || target == link_local)
        send(nd_frame(mac_from_bytes(&f[6]), mac, target, load_ip6(&f[14 + 8]), kNdAdvert, kNdFlagSolicited | kNdFlagOverride, target));
    }
    return true;
  }
};

constexpr Mac kMacA = 0x020000000001, kMacB = 0x020000000002, kMacC = 0x020000000003;

// Host a on network blue, b on green, and router r on both.
template <class Ip>
struct TwoRoutedNetworks : ::testing::Test {
  static DataplaneOptions opts() {
    DataplaneOptions o;
    o.neighbor_age_s = 4;  // so the ageing tests are quick; re-asked after 2 s of use
    return o;
  }
  Switch sw{opts()};
  std::string sock = unique_socket("router");
  uint32_t net2 = 0, ia = 0, ib = 0, router = 0, rif1 = 0, rif2 = 0;
  Mac gw_mac1 = 0, gw_mac2 = 0;
  Host<Ip> a, b;

  void connect(const std::vector<std::string>& blue, const std::vector<std::string>& green, Host<Ip> host_a, Host<Ip> host_b) {
    net2 = *sw.dp->add_network("green");
    ia = sw.add("a", sock, 0);
    ib = sw.add("b", sock, 1, 0, net2);
    router = *sw.dp->add_router("r");
    rif1 = add_rif("r-blue", sw.net, blue);
    rif2 = add_rif("r-green", net2, green);
    gw_mac1 = sw.dp->router_interface_info(rif1)->mac;
    gw_mac2 = sw.dp->router_interface_info(rif2)->mac;
    a = std::move(host_a), b = std::move(host_b);
    a.c = connect_client(sock, 0);
    b.c = connect_client(sock, 1);
    ASSERT_TRUE(eventually([&] { return sw.info(ia).connected && sw.info(ib).connected; }));
  }
  uint32_t add_rif(const std::string& name, uint32_t network, const std::vector<std::string>& addrs, uint32_t mtu = 1500) {
    RouterInterfaceConfig c;
    c.name = name;
    c.router = router;
    c.network = network;
    c.mtu = mtu;
    for (auto& s : addrs) {
      auto p = parse_ip_prefix(s, true);
      c.addresses.push_back({p->addr, p->len});
    }
    auto r = sw.dp->add_router_interface(c);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : 0;
  }
  static NextHop hop(const std::string& via, uint32_t rif = 0) { return {*parse_ip(via), rif}; }
  void add_route(const std::string& prefix, RouteKind kind, std::vector<NextHop> via = {}) {
    Status s = sw.dp->add_routes(router, {Route{*parse_ip_prefix(prefix), kind, std::move(via)}});
    ASSERT_TRUE(s) << (s ? "" : s.error().message);
  }
  uint64_t drops(uint32_t iface, DropReason r) { return test::drops(sw.info(iface), r); }

  // Host c on a third network, red, whose router interface (rif3) has `address`.
  Host<Ip> join_red(Ip ip, const std::string& address, uint32_t mtu = 1500, uint32_t* rif3 = nullptr) {
    const uint32_t net3 = *sw.dp->add_network("red");
    const uint32_t ic = sw.add("c", sock, 2, 0, net3);
    Host<Ip> c{connect_client(sock, 2), kMacC, ip};
    EXPECT_TRUE(eventually([&] { return sw.info(ic).connected; }));
    const uint32_t rif = add_rif("r-red", net3, {address}, mtu);
    if (rif3) *rif3 = rif;
    return c;
  }

  // A memif ip-mode interface (VPP, libmemif: bare IP packets, no Ethernet) on `network`.
  static MemifInterfaceConfig ip_mode_memif(const std::string& socket, uint32_t network) {
    MemifInterfaceConfig cfg;
    cfg.name = "cnf";
    cfg.network = network;
    cfg.socket = socket;
    cfg.id = 7;
    cfg.ip_mode = true;
    return cfg;
  }
  Host<Ip> connect_ip_mode(Ip ip) {
    MemifClientConfig cc;
    cc.ip_mode = true;
    return {connect_client(sock, 7, cc), 0, ip};
  }

  // pipeline.md §2: the router decides on a private copy of the header, so a peer that
  // keeps rewriting its frames' destination while the switch works on them changes
  // nothing that was decided: every frame leaves with the header it was routed by. (If
  // transmit re-read the peer's buffers, about half the frames would reach b addressed
  // to c, or c addressed to b.) a sends to_b while a thread of its own writes bytes
  // [at, at + len) of its tx buffers as they are in to_c, then in to_b, without pause.
  // `counts(frame)` tells frames of the test from the router's questions; `misrouted(frame,
  // host)` a frame that reached host with another's header.
  template <class Counts, class Misrouted>
  void expect_rewrites_change_nothing(Host<Ip>& c, const Bytes& to_b, const Bytes& to_c, uint32_t at, uint32_t len, Counts counts, Misrouted misrouted) {
    const Bytes as_b(to_b.begin() + at, to_b.begin() + at + len), as_c(to_c.begin() + at, to_c.begin() + at + len);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> scribbles{0};
    std::thread hostile([&] {
      for (; !stop.load(); ++scribbles) {
        a.c->inject_scribble_tx_buffers(0, at, as_c.data(), len);
        a.c->inject_scribble_tx_buffers(0, at, as_b.data(), len);
      }
    });
    constexpr int kBursts = 1000, kPerBurst = 32;
    std::vector<TxFrame> frames(kPerBurst, TxFrame{to_b.data(), uint32_t(to_b.size())});
    uint64_t at_b = 0, at_c = 0, wrong = 0;
    auto drain = [&](Host<Ip>& h, uint64_t& count) {
      h.c->rx_burst(0, 256, [&](const uint8_t* f, uint32_t n) {
        if (!counts(f, n)) return;
        ++count;
        wrong += misrouted(f, h);
      });
    };
    ASSERT_TRUE(eventually([&] { return scribbles.load() > 0; }));
    // At least kBursts, and on until both ways happened: on a loaded machine the hostile
    // thread may sleep through a thousand bursts.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int i = 0; i < kBursts || ((at_b == 0 || at_c == 0) && std::chrono::steady_clock::now() < deadline); ++i) {
      for (uint32_t sent = 0; sent < kPerBurst;) sent += a.c->tx_burst(0, frames.data() + sent, kPerBurst - sent);
      drain(b, at_b);
      drain(c, at_c);
    }
    stop = true;
    hostile.join();
    eventually([&] {
      drain(b, at_b);
      drain(c, at_c);
      return at_b + at_c >= uint64_t(kBursts) * kPerBurst * 9 / 10;
    });
    EXPECT_EQ(wrong, 0u) << "of " << at_b << " frames at b and " << at_c << " at c";
    // Both ways happened: the peer's writes landed before and after the switch looked.
    EXPECT_GT(at_b, 0u);
    EXPECT_GT(at_c, 0u);
  }
};

}  // namespace memswitch::test
