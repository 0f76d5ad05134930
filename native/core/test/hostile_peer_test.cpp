// A hostile container on the control channel and on its rings, while a good pair of
// clients keeps forwarding: the switch stays up and counts every bad event.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "memswitch/unix_socket.h"
#include "test_util.h"

using namespace memswitch;
using namespace memswitch::test;
using memif::Msg;
using memif::MsgType;

namespace {
constexpr Mac kMacA = 0x020000000001, kMacB = 0x020000000002, kMacC = 0x020000000003;

// A raw control-channel peer that says exactly what the test tells it to.
struct RawPeer {
  int fd = -1;
  explicit RawPeer(const std::string& sock) {
    auto a = SocketAddress::parse(sock);
    auto r = connect_seqpacket(*a);
    EXPECT_TRUE(r);
    fd = *r;
    Msg hello;
    EXPECT_EQ(next(&hello), MsgType::kHello);
  }
  ~RawPeer() { close(fd); }
  MsgType next(Msg* m, int timeout_ms = 2000) {
    for (int waited = 0; waited < timeout_ms; waited += 2) {
      Received r = recv_msg(fd, m);
      if (r.fd >= 0) close(r.fd);
      if (r.status == RecvStatus::kMessage) return MsgType(m->type);
      if (r.status != RecvStatus::kWouldBlock) return MsgType::kNone;
      usleep(2000);
    }
    return MsgType::kNone;
  }
  // Sends and returns the reply type; kDisconnect carries the reason in `reason`.
  MsgType send(const Msg& m, int pass_fd = -1, std::string* reason = nullptr) {
    EXPECT_TRUE(send_msg(fd, m, pass_fd));
    Msg reply;
    MsgType t = next(&reply);
    if (reason && t == MsgType::kDisconnect) *reason = wire_string(reply.disconnect.string, 96);
    return t;
  }
  MsgType init(uint32_t id) {
    Msg m{};
    m.type = uint16_t(MsgType::kInit);
    m.init.version = memif::kVersion;
    m.init.id = id;
    return send(m);
  }
};

Msg msg(MsgType t) {
  Msg m;
  std::memset(&m, 0, sizeof m);
  m.type = uint16_t(t);
  return m;
}

uint64_t socket_errors(Switch& sw, const std::string& sock, ProtocolError e) {
  for (auto& s : sw.dp->sockets())
    if (s.socket == sock) return s.protocol_errors[size_t(e)];
  return 0;
}

struct Hostile : ::testing::Test {
  Switch sw;
  std::string sock = unique_socket("hostile");
  uint32_t ia = 0, ib = 0, ih = 0;
  std::unique_ptr<MemifClient> a, b;
  TrafficEngine traffic;
  size_t sink = 0;
  void SetUp() override {
    ia = sw.add("a", sock, 0);
    ib = sw.add("b", sock, 1);
    ih = sw.add("hostile", sock, 2);
    a = connect_client(sock, 0);
    b = connect_client(sock, 1);
    traffic.add_generator(a.get(), {.pps = 200000, .src = kMacA, .dst = kMacB});
    sink = traffic.add_sink(b.get(), {});
    traffic.start();
  }
  void TearDown() override {
    // The good pair kept forwarding through whatever the test did.
    const uint64_t before = traffic.stats(sink).rx_packets;
    EXPECT_TRUE(eventually([&] { return traffic.stats(sink).rx_packets > before + 1000; }));
    traffic.stop();
    EXPECT_TRUE(sw.info(ia).connected);
    EXPECT_TRUE(sw.info(ib).connected);
  }
  uint64_t iface_errors(ProtocolError e) { return sw.info(ih).protocol_errors[size_t(e)]; }
};
}  // namespace

TEST_F(Hostile, WrongMessageSize) {
  RawPeer p(sock);
  char small[64] = {};
  ASSERT_EQ(::send(p.fd, small, sizeof small, MSG_NOSIGNAL), 64);
  Msg reply;
  ASSERT_EQ(p.next(&reply), MsgType::kDisconnect);
  EXPECT_EQ(wire_string(reply.disconnect.string, 96), "Invalid message size");
  EXPECT_EQ(socket_errors(sw, sock, ProtocolError::bad_message_size), 1u);
}

TEST_F(Hostile, UnknownTypeAndOutOfOrder) {
  {
    RawPeer p(sock);
    EXPECT_EQ(p.send(msg(MsgType(77))), MsgType::kDisconnect);
  }
  {
    RawPeer p(sock);
    EXPECT_EQ(p.send(msg(MsgType::kConnect)), MsgType::kDisconnect);
  }
  {
    RawPeer p(sock);
    ASSERT_EQ(p.init(2), MsgType::kAck);
    EXPECT_EQ(p.send(msg(MsgType::kInit)), MsgType::kDisconnect);  // INIT twice
  }
  EXPECT_EQ(socket_errors(sw, sock, ProtocolError::unknown_message_type), 1u);
  EXPECT_EQ(socket_errors(sw, sock, ProtocolError::unexpected_message), 1u);
  EXPECT_EQ(iface_errors(ProtocolError::unexpected_message), 1u);
}

TEST_F(Hostile, BadInitFields) {
  std::string why;
  {
    RawPeer p(sock);
    Msg m = msg(MsgType::kInit);
    m.init.version = 0x0100;
    EXPECT_EQ(p.send(m, -1, &why), MsgType::kDisconnect);
  }
  {
    RawPeer p(sock);
    EXPECT_EQ(p.init(99), MsgType::kDisconnect);
  }
  {
    RawPeer p(sock);
    EXPECT_EQ(p.init(0), MsgType::kDisconnect);  // taken by the good client
  }
  EXPECT_EQ(socket_errors(sw, sock, ProtocolError::bad_version), 1u);
  EXPECT_EQ(socket_errors(sw, sock, ProtocolError::unknown_id), 1u);
  EXPECT_EQ(sw.info(ia).protocol_errors[size_t(ProtocolError::already_connected)], 1u);
}

TEST_F(Hostile, BadRegions) {
  std::string why;
  {  // not a memfd: a pipe
    RawPeer p(sock);
    ASSERT_EQ(p.init(2), MsgType::kAck);
    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    Msg m = msg(MsgType::kAddRegion);
    m.add_region.size = 4096;
    EXPECT_EQ(p.send(m, pipefd[0], &why), MsgType::kDisconnect);
    close(pipefd[0]), close(pipefd[1]);
  }
  {  // size larger than the memfd: mapping it would SIGBUS on touch
    RawPeer p(sock);
    ASSERT_EQ(p.init(2), MsgType::kAck);
    const int mfd = memfd_create("small", 0);
    ASSERT_EQ(ftruncate(mfd, 4096), 0);
    Msg m = msg(MsgType::kAddRegion);
    m.add_region.size = 1ull << 30;
    EXPECT_EQ(p.send(m, mfd, &why), MsgType::kDisconnect);
    EXPECT_NE(why.find("exceeds"), std::string::npos) << why;
    close(mfd);
  }
  {  // missing fd
    RawPeer p(sock);
    ASSERT_EQ(p.init(2), MsgType::kAck);
    Msg m = msg(MsgType::kAddRegion);
    m.add_region.size = 4096;
    EXPECT_EQ(p.send(m), MsgType::kDisconnect);
  }
  {  // index out of order
    RawPeer p(sock);
    ASSERT_EQ(p.init(2), MsgType::kAck);
    const int mfd = memfd_create("r", 0);
    ASSERT_EQ(ftruncate(mfd, 4096), 0);
    Msg m = msg(MsgType::kAddRegion);
    m.add_region.index = 3;
    m.add_region.size = 4096;
    EXPECT_EQ(p.send(m, mfd), MsgType::kDisconnect);
    close(mfd);
  }
  EXPECT_EQ(iface_errors(ProtocolError::bad_region), 3u);
  EXPECT_EQ(iface_errors(ProtocolError::bad_fd), 1u);
  EXPECT_FALSE(sw.info(ih).connected);
}

TEST_F(Hostile, BadRings) {
  auto ring_attempt = [&](auto mutate, int ring_fd_kind) {
    RawPeer p(sock);
    EXPECT_EQ(p.init(2), MsgType::kAck);
    const int mfd = memfd_create("r", 0);
    EXPECT_EQ(ftruncate(mfd, 1 << 20), 0);
    Msg m = msg(MsgType::kAddRegion);
    m.add_region.size = 1 << 20;
    EXPECT_EQ(p.send(m, mfd), MsgType::kAck);
    close(mfd);
    Msg r = msg(MsgType::kAddRing);
    r.add_ring.flags = memif::kAddRingFlagC2S;
    r.add_ring.log2_ring_size = 10;
    mutate(r.add_ring);
    int efd = ring_fd_kind == 0 ? eventfd(0, 0) : memfd_create("not-eventfd", 0);
    const MsgType t = p.send(r, efd);
    close(efd);
    return t;
  };
  EXPECT_EQ(ring_attempt([](memif::MsgAddRing& r) { r.log2_ring_size = 15; }, 0), MsgType::kDisconnect);
  EXPECT_EQ(ring_attempt([](memif::MsgAddRing& r) { r.offset = (1 << 20) - 256; }, 0), MsgType::kDisconnect);
  EXPECT_EQ(ring_attempt([](memif::MsgAddRing& r) { r.region = 1; }, 0), MsgType::kDisconnect);
  EXPECT_EQ(ring_attempt([](memif::MsgAddRing& r) { r.private_hdr_size = 8; }, 0), MsgType::kDisconnect);
  EXPECT_EQ(ring_attempt([](memif::MsgAddRing& r) { r.index = 4; }, 0), MsgType::kDisconnect);
  EXPECT_EQ(ring_attempt([](memif::MsgAddRing&) {}, 1), MsgType::kDisconnect);  // fd is no eventfd
  EXPECT_EQ(ring_attempt([](memif::MsgAddRing&) {}, 0), MsgType::kAck);          // control: valid ring
  EXPECT_EQ(iface_errors(ProtocolError::bad_ring), 5u);
  EXPECT_EQ(iface_errors(ProtocolError::bad_fd), 1u);
}

TEST_F(Hostile, ConnectWithoutRingsOrWithBadCookie) {
  {
    RawPeer p(sock);
    ASSERT_EQ(p.init(2), MsgType::kAck);
    EXPECT_EQ(p.send(msg(MsgType::kConnect)), MsgType::kDisconnect);
  }
  {
    RawPeer p(sock);
    ASSERT_EQ(p.init(2), MsgType::kAck);
    const int mfd = memfd_create("r", 0);
    ASSERT_EQ(ftruncate(mfd, 1 << 16), 0);  // zero-filled: no cookie
    Msg m = msg(MsgType::kAddRegion);
    m.add_region.size = 1 << 16;
    ASSERT_EQ(p.send(m, mfd), MsgType::kAck);
    for (int dir = 0; dir < 2; ++dir) {
      Msg r = msg(MsgType::kAddRing);
      r.add_ring.flags = dir == 0 ? memif::kAddRingFlagC2S : 0;
      r.add_ring.offset = dir * 4096;
      r.add_ring.log2_ring_size = 4;
      const int efd = eventfd(0, 0);
      ASSERT_EQ(p.send(r, efd), MsgType::kAck);
      close(efd);
    }
    EXPECT_EQ(p.send(msg(MsgType::kConnect)), MsgType::kDisconnect);
    close(mfd);
  }
  EXPECT_EQ(iface_errors(ProtocolError::incomplete_setup), 1u);
  EXPECT_EQ(iface_errors(ProtocolError::bad_ring_cookie), 1u);
}

TEST_F(Hostile, StalledHandshakeHitsDeadlineAndFreesId) {
  {
    RawPeer p(sock);
    ASSERT_EQ(p.init(2), MsgType::kAck);
    Msg m;
    ASSERT_EQ(p.next(&m, 3000), MsgType::kDisconnect);  // deadline is 1 s in tests
    EXPECT_EQ(wire_string(m.disconnect.string, 96), "Handshake timeout");
  }
  EXPECT_EQ(iface_errors(ProtocolError::handshake_timeout), 1u);
  auto again = connect_client(sock, 2);  // the id is free again
  EXPECT_TRUE(again && again->connected());
}

TEST_F(Hostile, MalformedDescriptorsAreCountedDrops) {
  auto h = connect_client(sock, 2);
  ASSERT_TRUE(h);
  CaptureConfig watch;  // refused frames appear in a capture of the port's drops
  watch.interfaces = {ih};
  watch.rx = watch.tx = false;
  watch.drops = true;
  auto capture = sw.dp->start_capture(watch);
  ASSERT_TRUE(capture);
  TraceConfig follow;  // and in a trace, as packets that rx dropped
  follow.interfaces = {ih};
  follow.packets = 60;
  auto trace = sw.dp->start_trace(follow);
  ASSERT_TRUE(trace);
  using B = MemifClient::BadDesc;
  const std::pair<B, DropReason> cases[] = {
      {B::kRegionIndex, DropReason::bad_descriptor}, {B::kOffsetPastRegion, DropReason::bad_descriptor},
      {B::kLengthPastRegion, DropReason::bad_descriptor}, {B::kZeroLength, DropReason::bad_descriptor},
      {B::kChainPastHead, DropReason::bad_chain}, {B::kHugeFrame, DropReason::bad_chain}};
  uint64_t expected[kNumDropReasons] = {};
  for (auto [kind, reason] : cases) {
    ASSERT_EQ(h->inject_bad_tx(0, kind, 10), 10u);
    expected[size_t(reason)] += 10;
    ASSERT_TRUE(eventually([&] { return drops(sw.info(ih), reason) == expected[size_t(reason)]; }))
        << kDropReasons[size_t(reason)].name << " = " << drops(sw.info(ih), reason);
  }
  EXPECT_TRUE(sw.info(ih).connected);  // bad descriptors are drops, not a disconnect
  // Every refused frame, with no bytes but its reason. (The drops also hold the good
  // pair's flooded frames this peer never takes off its ring: no_buffer.)
  std::string pcapng;
  for (;;) {
    auto chunk = sw.dp->read_capture(*capture, 1 << 20);
    ASSERT_TRUE(chunk);
    pcapng += chunk->pcapng;
    if (chunk->frames == 0) break;
  }
  const auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = pcapng.find(what); at != std::string::npos; at = pcapng.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("drop: bad_descriptor"), 40u);
  EXPECT_EQ(count("drop: bad_chain"), 20u);
  auto traced = sw.dp->stop_trace(*trace);
  ASSERT_TRUE(traced);
  EXPECT_EQ(traced->taken, 60u);
  std::map<std::string, size_t> by_reason;
  for (const TraceStep& s : traced->steps) {
    EXPECT_EQ(s.node, "rx");
    ++by_reason[s.drop];
  }
  EXPECT_EQ(by_reason, (std::map<std::string, size_t>{{"bad_descriptor", 40}, {"bad_chain", 20}}));
}

TEST_F(Hostile, RingIndexBeyondSizeDisconnectsPeer) {
  auto h = connect_client(sock, 2);
  ASSERT_TRUE(h);
  h->inject_bad_head(0);
  ASSERT_TRUE(eventually([&] { return !sw.info(ih).connected; }));
  EXPECT_EQ(drops(sw.info(ih), DropReason::bad_ring_index), 1u);
  EXPECT_EQ(iface_errors(ProtocolError::bad_ring_index), 1u);
  EXPECT_TRUE(eventually([&] { return !h->poll_control(); }));
  EXPECT_EQ(h->disconnect_reason(), "Ring index out of range");
}

TEST_F(Hostile, PeerTruncatingItsMemoryIsDisconnectedNotFatal) {
  MemifClientConfig cfg;
  cfg.seal_memory = false;  // DPDK sends unsealed regions too
  auto h = connect_client(sock, 2, cfg);
  ASSERT_TRUE(h);
  // Its own client: `a` already transmits from the fixture's engine, and two threads
  // producing on one ring would corrupt it.
  sw.add("c", sock, 3);
  auto c = connect_client(sock, 3);
  ASSERT_TRUE(c);
  // Keep only the first page (ring headers); the buffers the switch writes into are gone.
  ASSERT_EQ(ftruncate(h->memory_fd(), 4096), 0);
  // Broadcasts from a good client flood to the hostile one: the switch writes into the
  // truncated buffers, which would be SIGBUS without the guard.
  TrafficEngine flood;
  flood.add_generator(c.get(), {.pps = 100000, .count = 2000, .src = kMacC, .dst = 0xFFFFFFFFFFFF});
  flood.start();
  ASSERT_TRUE(eventually([&] { return !sw.info(ih).connected; }));
  flood.stop();
  EXPECT_EQ(iface_errors(ProtocolError::bad_region), 1u);
  EXPECT_TRUE(eventually([&] { return !h->poll_control(); }));
  EXPECT_EQ(h->disconnect_reason(), "Region truncated");
}
