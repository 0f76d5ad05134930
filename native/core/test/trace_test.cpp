// Trace: the frames a filter selects are followed through rx, each stage that has them
// and tx, with each node's outcome; frames the router makes for them are followed too;
// a trace takes exactly its packet count and then leaves forwarding alone.
#include <map>

#include "router_fixture.h"
#include "stats/trace.h"

using namespace memswitch;
using namespace memswitch::test;
using namespace memswitch::detail;

namespace {

// Every step of a trace, read until it took `packets` and then stopped.
std::vector<TraceStep> run_out(Dataplane& dp, uint32_t id, uint32_t packets) {
  std::vector<TraceStep> steps;
  const bool all_taken = eventually([&] {
    auto c = dp.read_trace(id, 1 << 16);
    EXPECT_TRUE(c);
    steps.insert(steps.end(), c->steps.begin(), c->steps.end());
    return c->taken == packets;
  });
  EXPECT_TRUE(all_taken) << "the trace took fewer than " << packets << " packets";
  auto last = dp.stop_trace(id);
  EXPECT_TRUE(last);
  steps.insert(steps.end(), last->steps.begin(), last->steps.end());
  EXPECT_EQ(last->lost, 0u);
  return steps;
}

// packet -> its steps, in the order they were recorded.
std::map<uint32_t, std::vector<TraceStep>> by_packet(const std::vector<TraceStep>& steps) {
  std::map<uint32_t, std::vector<TraceStep>> out;
  for (const TraceStep& s : steps) out[s.packet].push_back(s);
  return out;
}

std::vector<std::string> nodes(const std::vector<TraceStep>& steps, uint32_t frame) {
  std::vector<std::string> out;
  for (const TraceStep& s : steps)
    if (s.frame == frame) out.push_back(s.node);
  return out;
}

const TraceStep& step(const std::vector<TraceStep>& steps, const std::string& node, uint32_t frame = 0) {
  for (const TraceStep& s : steps)
    if (s.node == node && s.frame == frame) return s;
  static const TraceStep kNone{};
  ADD_FAILURE() << "no " << node << " step for frame " << frame;
  return kNone;
}

Bytes bytes_of(const TraceStep& s) { return Bytes(s.bytes.begin(), s.bytes.end()); }
Bytes first(const Bytes& f, size_t n) { return Bytes(f.begin(), f.begin() + std::min(n, f.size())); }

struct RoutedTrace : TwoRoutedNetworks<Ip4> {
  const Ip4 kIpA = *parse_ip4("10.1.0.2"), kIpB = *parse_ip4("10.2.0.2");
  void SetUp() override {
    connect({"10.1.0.1/24"}, {"10.2.0.1/24"}, {nullptr, kMacA, kIpA}, {nullptr, kMacB, kIpB});
    ASSERT_EQ(a.ask(*parse_ip4("10.1.0.1")), gw_mac1);
    ASSERT_EQ(b.ask(*parse_ip4("10.2.0.1")), gw_mac2);  // the router knows b: nothing is held
  }
  Bytes udp_to(Ip4 dst, uint8_t ttl = 64) { return eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, dst, kProtoUdp, ttl}, udp(1000, 2000, 32))); }
};

}  // namespace

TEST(Trace, BridgedFramesTheFilterSelectsAndNoMore) {
  Switch sw;
  auto [ia, ib, a, b] = connect_pair(sw, "trace-l2");
  ASSERT_TRUE(a && b);
  // b speaks first, so the bridge knows where kMacB is.
  const Bytes hello = eth(kMacA, kMacB, 0x88B5, Bytes(46, 1));
  TxFrame h{hello.data(), uint32_t(hello.size())};
  ASSERT_EQ(b->tx_burst(0, &h, 1), 1u);
  ASSERT_TRUE(eventually([&] { return a->rx_burst(0, 64, [](const uint8_t*, uint32_t) {}) > 0; }));

  TraceConfig cfg;
  cfg.interfaces = {ia};
  cfg.filter = "udp dst port 2000";
  cfg.packets = 3;
  auto id = sw.dp->start_trace(cfg);
  ASSERT_TRUE(id) << id.error().message;
  std::vector<Bytes> frames;
  for (int i = 0; i < 8; ++i) {
    const uint16_t dport = i % 2 ? 2000 : 3000;  // every other frame matches
    frames.push_back(eth(kMacB, kMacA, kEtherTypeIp4, ipv4({0x0A000001, 0x0A000002}, udp(uint16_t(1000 + i), dport, 32))));
  }
  for (const Bytes& f : frames) {
    TxFrame t{f.data(), uint32_t(f.size())};
    ASSERT_EQ(a->tx_burst(0, &t, 1), 1u);
  }
  size_t at_b = 0;
  ASSERT_TRUE(eventually([&] { return (at_b += b->rx_burst(0, 64, [](const uint8_t*, uint32_t) {})) == frames.size(); }))
      << "forwarding went on past the trace: " << at_b;
  const auto packets = by_packet(run_out(*sw.dp, *id, 3));
  ASSERT_EQ(packets.size(), 3u);
  for (uint32_t n = 0; n < 3; ++n) {
    const auto& steps = packets.at(n);
    EXPECT_EQ(nodes(steps, 0), (std::vector<std::string>{"rx", "l2_bridge", "tx"})) << "packet " << n;
    const Bytes& sent = frames[2 * n + 1];  // the 1st, 3rd and 5th matching frames
    const TraceStep& rx = step(steps, "rx");
    EXPECT_EQ(rx.interface, ia);
    EXPECT_EQ(rx.length, sent.size());
    EXPECT_EQ(bytes_of(rx), first(sent, 96));
    EXPECT_EQ(step(steps, "l2_bridge").egress, std::vector<uint32_t>{ib});
    EXPECT_EQ(step(steps, "l2_bridge").next, "");
    const TraceStep& tx = step(steps, "tx");
    EXPECT_EQ(tx.interface, ib);
    EXPECT_EQ(tx.drop, "");
    EXPECT_EQ(bytes_of(tx), first(sent, 96));
    EXPECT_GE(tx.elapsed_ns, rx.elapsed_ns);
    EXPECT_GT(rx.start_ns, 0u);
  }
}

TEST(Trace, BadRequestsAreRefused) {
  Switch sw;
  TraceConfig cfg;
  cfg.filter = "udp port";
  auto bad = sw.dp->start_trace(cfg);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("syntax error"), std::string::npos) << bad.error().message;
  cfg.filter = "";
  cfg.packets = 0;
  EXPECT_EQ(sw.dp->start_trace(cfg).error().code, Errc::kInvalidArgument);
  cfg.packets = Trace::kMaxPackets + 1;
  EXPECT_EQ(sw.dp->start_trace(cfg).error().code, Errc::kInvalidArgument);
  cfg.packets = 1;
  cfg.interfaces = {99};
  EXPECT_EQ(sw.dp->start_trace(cfg).error().code, Errc::kNotFound);
  EXPECT_EQ(sw.dp->read_trace(12345, 10).error().code, Errc::kNotFound);
  EXPECT_EQ(sw.dp->stop_trace(12345).error().code, Errc::kNotFound);
}

TEST_F(RoutedTrace, RoutedPacketShowsEveryStageAndTheRoute) {
  TraceConfig cfg;
  cfg.interfaces = {ia};
  cfg.filter = "udp";
  cfg.packets = 1;
  auto id = sw.dp->start_trace(cfg);
  ASSERT_TRUE(id);
  const Bytes sent = udp_to(kIpB);
  a.send(sent);
  auto got = b.receive(1);
  ASSERT_EQ(got.size(), 1u);
  const auto packets = by_packet(run_out(*sw.dp, *id, 1));
  const auto& steps = packets.at(0);
  EXPECT_EQ(nodes(steps, 0), (std::vector<std::string>{"rx", "l2_bridge", "l3_input", "ip4_lookup", "neighbor", "tx"}));
  EXPECT_EQ(step(steps, "l2_bridge").next, "l3_input");
  EXPECT_EQ(step(steps, "l3_input").next, "ip4_lookup");
  const TraceStep& lookup = step(steps, "ip4_lookup");
  EXPECT_EQ(lookup.next, "neighbor");
  EXPECT_TRUE(lookup.routed);
  EXPECT_EQ(lookup.out_rif, rif2);
  EXPECT_EQ(lookup.next_hop, "10.2.0.2");
  EXPECT_EQ(step(steps, "neighbor").egress, std::vector<uint32_t>{ib});
  // tx shows the frame as it left: b's MAC, the router's, TTL 63: what b received.
  const TraceStep& tx = step(steps, "tx");
  EXPECT_EQ(tx.interface, ib);
  EXPECT_EQ(bytes_of(tx), first(got[0], 96));
  EXPECT_EQ(bytes_of(step(steps, "rx")), first(sent, 96));
  for (const TraceStep& s : steps) EXPECT_EQ(s.drop, "") << s.node;
}

TEST_F(RoutedTrace, DroppedPacketShowsTheStageAndTheErrorItCaused) {
  TraceConfig cfg;
  cfg.interfaces = {ia};
  cfg.filter = "dst host 10.9.9.9";  // the ICMP error back to a is not taken: it is followed
  cfg.packets = 1;
  auto id = sw.dp->start_trace(cfg);
  ASSERT_TRUE(id);
  a.send(udp_to(*parse_ip4("10.9.9.9")));  // no route
  auto got = a.receive(1);
  ASSERT_EQ(got.size(), 1u);  // destination unreachable
  const auto packets = by_packet(run_out(*sw.dp, *id, 1));
  ASSERT_EQ(packets.size(), 1u);
  const auto& steps = packets.at(0);
  EXPECT_EQ(nodes(steps, 0), (std::vector<std::string>{"rx", "l2_bridge", "l3_input", "ip4_lookup"}));
  EXPECT_EQ(step(steps, "ip4_lookup").drop, "no_route");
  // The error the router made for it: frame 1, routed back to a by the same stage.
  EXPECT_EQ(nodes(steps, 1), (std::vector<std::string>{"ip4_lookup", "neighbor", "tx"}));
  const TraceStep& error = step(steps, "ip4_lookup", 1);
  EXPECT_TRUE(error.routed);
  EXPECT_EQ(error.next_hop, "10.1.0.2");
  EXPECT_EQ(step(steps, "tx", 1).interface, ia);
  EXPECT_EQ(bytes_of(step(steps, "tx", 1)), first(got[0], 96));
}

TEST_F(RoutedTrace, TransmitDropsShowTheirReason) {
  // b stops reading: its ring (1024 slots) fills and the rest is dropped at transmit.
  constexpr uint32_t kFrames = 1500;
  TraceConfig cfg;
  cfg.interfaces = {ia};
  cfg.packets = kFrames;
  auto id = sw.dp->start_trace(cfg);
  ASSERT_TRUE(id);
  const uint64_t before = drops(ib, DropReason::no_buffer);
  const Bytes f = udp_to(kIpB);
  std::vector<TxFrame> burst(32, TxFrame{f.data(), uint32_t(f.size())});
  for (uint32_t sent = 0; sent < kFrames;) {
    sent += a.c->tx_burst(0, burst.data(), std::min<uint32_t>(32, kFrames - sent));
    if (sent % 256 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a's own ring has room again
  }
  const auto steps = run_out(*sw.dp, *id, kFrames);
  uint64_t sent_ok = 0, no_buffer = 0;
  for (const TraceStep& s : steps) {
    if (s.node != "tx" || s.frame != 0) continue;  // not an ARP request made for one
    EXPECT_EQ(s.interface, ib);
    if (s.drop.empty()) ++sent_ok;
    else if (s.drop == "no_buffer") ++no_buffer;
    else ADD_FAILURE() << "tx dropped for " << s.drop;
  }
  EXPECT_EQ(sent_ok + no_buffer, kFrames);
  EXPECT_GT(no_buffer, 0u);
  EXPECT_EQ(no_buffer, drops(ib, DropReason::no_buffer) - before);
}

TEST_F(RoutedTrace, EveryInterfaceWhenNoneIsNamed) {
  TraceConfig cfg;
  cfg.filter = "icmp";
  cfg.packets = 2;
  auto id = sw.dp->start_trace(cfg);
  ASSERT_TRUE(id);
  const Bytes ping_a = eth(gw_mac1, kMacA, kEtherTypeIp4, ipv4({kIpA, kIpB, kProtoIcmp}, icmp_echo(7, 1, 16)));
  a.send(ping_a);
  ASSERT_EQ(b.receive(1).size(), 1u);
  const Bytes ping_b = eth(gw_mac2, kMacB, kEtherTypeIp4, ipv4({kIpB, kIpA, kProtoIcmp}, icmp_echo(7, 1, 16)));
  b.send(ping_b);
  ASSERT_EQ(a.receive(1).size(), 1u);
  const auto packets = by_packet(run_out(*sw.dp, *id, 2));
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(step(packets.at(0), "rx").interface, ia);
  EXPECT_EQ(step(packets.at(0), "tx").interface, ib);
  EXPECT_EQ(step(packets.at(1), "rx").interface, ib);
  EXPECT_EQ(step(packets.at(1), "tx").interface, ia);
}

// memif ip mode: the steps say whether their bytes start with Ethernet or with IP.
TEST_F(RoutedTrace, IpModeStepsSayWhereTheirBytesStart) {
  const uint32_t net4 = *sw.dp->add_network("ipnet");
  const uint32_t icnf = *sw.dp->add_memif(ip_mode_memif(sock, net4));
  add_rif("r-ip", net4, {"10.4.0.1/24"});
  Host<Ip4> cnf = connect_ip_mode(*parse_ip4("10.4.0.2"));
  ASSERT_TRUE(eventually([&] { return sw.info(icnf).connected; }));
  TraceConfig cfg;
  cfg.filter = "udp";  // compiled for raw IP frames too
  cfg.packets = 2;
  auto id = sw.dp->start_trace(cfg);
  ASSERT_TRUE(id) << id.error().message;
  const Bytes in = ipv4({cnf.ip, kIpB}, udp(7, 9, 40));
  cnf.send(in);
  ASSERT_EQ(b.receive(1).size(), 1u);
  const Bytes back = ipv4({kIpB, cnf.ip}, udp(9, 7, 40));
  b.send(eth(gw_mac2, kMacB, kEtherTypeIp4, back));
  auto got = cnf.receive(1);
  ASSERT_EQ(got.size(), 1u);
  const auto packets = by_packet(run_out(*sw.dp, *id, 2));
  ASSERT_EQ(packets.size(), 2u);
  const auto& from_cnf = packets.at(0);
  EXPECT_FALSE(step(from_cnf, "rx").ethernet);
  EXPECT_EQ(bytes_of(step(from_cnf, "rx")), first(in, 96));
  EXPECT_TRUE(step(from_cnf, "l3_input").ethernet);
  EXPECT_TRUE(step(from_cnf, "tx").ethernet);
  const auto& to_cnf = packets.at(1);
  EXPECT_TRUE(step(to_cnf, "rx").ethernet);
  EXPECT_TRUE(step(to_cnf, "ip4_lookup").ethernet);
  EXPECT_FALSE(step(to_cnf, "neighbor").ethernet);
  EXPECT_FALSE(step(to_cnf, "tx").ethernet);
  EXPECT_EQ(bytes_of(step(to_cnf, "tx")), first(got[0], 96));
}

// A trace or capture naming an interface keeps its index from being reused while it runs:
// it must not start following whatever interface comes next.
TEST(Trace, RemovedInterfacesIndexIsNotReusedWhileWatched) {
  Switch sw;
  const std::string sock = unique_socket("trace-reuse");
  sw.add("a", sock, 0);  // stays: the index to watch is not the lowest one
  uint32_t id = 1;
  // Starts watching a new interface by its index, removes the interface, and returns the
  // index and what stops the watch.
  const auto watch_removed = [&](auto start, auto stop) {
    const uint32_t index = sw.add("w" + std::to_string(id), sock, id);
    ++id;
    auto running = start(index);
    EXPECT_TRUE(running);
    EXPECT_TRUE(sw.dp->remove_interface(index));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // no worker holds it any more
    const uint32_t next = sw.add("n" + std::to_string(id), sock, id);
    ++id;
    EXPECT_NE(next, index) << "a new interface took the index a watch still names";
    EXPECT_TRUE(sw.dp->remove_interface(next));
    stop(*running);
    // Once nothing names it, the index is free again.
    EXPECT_TRUE(eventually([&] {
      const uint32_t again = sw.add("x" + std::to_string(id), sock, id);
      EXPECT_TRUE(sw.dp->remove_interface(again));
      return again == index;
    }));
    ++id;
  };
  watch_removed(
      [&](uint32_t index) {
        TraceConfig t;
        t.interfaces = {index};
        return sw.dp->start_trace(t);
      },
      [&](uint32_t trace) { EXPECT_TRUE(sw.dp->stop_trace(trace)); });
  watch_removed(
      [&](uint32_t index) {
        CaptureConfig c;
        c.interfaces = {index};
        return sw.dp->start_capture(c);
      },
      [&](uint32_t capture) { EXPECT_TRUE(sw.dp->stop_capture(capture)); });
}
