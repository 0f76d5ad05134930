// Planned restarts: a second Dataplane takes the live memif sessions and listeners of a
// first one over the handover socket, while our client keeps sending, and the client
// never sees its session end.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <future>

#include "memif/handover.h"
#include "memswitch/unix_socket.h"
#include "test_util.h"

using namespace memswitch;
using namespace memswitch::test;

namespace {
constexpr Mac kMacA = 0x020000000001, kMacB = 0x020000000002;

std::string handover_path() {
  static int n = 0;
  return "/tmp/msw-handover-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".sock";
}

std::unique_ptr<Dataplane> make_dataplane() {
  DataplaneOptions o;
  o.handshake_timeout_ms = 1000;
  auto r = Dataplane::create(o);
  EXPECT_TRUE(r);
  return r ? std::move(*r) : nullptr;
}

uint32_t add(Dataplane& dp, uint32_t net, const std::string& name, const std::string& socket, uint32_t id) {
  MemifInterfaceConfig c;
  c.name = name;
  c.network = net;
  c.socket = socket;
  c.id = id;
  auto r = dp.add_memif(c);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : 0;
}

// A successor's first half: asks, and takes every record up to kEnd (closing what it
// got). Returns the sessions received; the caller decides whether to acknowledge.
int take_everything(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  EXPECT_TRUE(handover::send_record(fd, handover::RecordType::kRequest));
  int sessions = 0;
  for (;;) {
    Result<handover::Record> r = handover::recv_record(fd, std::chrono::milliseconds(2000));
    EXPECT_TRUE(r) << r.error().message;
    if (!r || r->type == handover::RecordType::kEnd) return sessions;
    if (r->type == handover::RecordType::kSession) ++sessions, handover::close_fds(r->session.fds);
    if (r->type == handover::RecordType::kListener) close(r->listener.fd);
  }
}
}  // namespace

TEST(Handover, NewProcessTakesLiveSessionsWithoutLosingAFrame) {
  const std::string path = handover_path();
  const std::string sock = unique_socket("handover");
  auto old_dp = make_dataplane();
  std::promise<std::string> handed_over;
  old_dp->set_event_handler([&](const Event& e) {
    if (e.kind == EventKind::handed_over) handed_over.set_value(e.detail);
  });
  const uint32_t old_net = *old_dp->add_network("blue");
  add(*old_dp, old_net, "a", sock, 0);
  add(*old_dp, old_net, "b", sock, 1);
  add(*old_dp, old_net, "gone", sock, 2);  // not in the new process's config
  ASSERT_TRUE(old_dp->listen_for_handover(path));
  ASSERT_TRUE(old_dp->start());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A deep sink ring: with ctest -j2 on two CPUs the sink thread is sometimes
  // descheduled for tens of ms, and its full ring would be counted against the handover.
  MemifClientConfig deep;
  deep.log2_ring_size = 14;
  auto a = connect_client(sock, 0);
  auto b = connect_client(sock, 1, deep);
  auto gone = connect_client(sock, 2);
  ASSERT_TRUE(a && b && gone);
  TrafficEngine e;
  constexpr uint64_t kFrames = 60000;
  e.add_generator(a.get(), {.pps = 100000, .count = kFrames, .src = kMacA, .dst = kMacB});
  const size_t sink = e.add_sink(b.get(), {});
  e.start();
  ASSERT_TRUE(eventually([&] { return e.stats(sink).rx_packets > 5000; }));

  // The new process: takes over before it starts or adds anything.
  auto new_dp = make_dataplane();
  auto takeover = std::async(std::launch::async, [&] { return new_dp->take_over(path, std::chrono::milliseconds(5000)); });
  auto handed = handed_over.get_future();
  ASSERT_EQ(handed.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(handed.get(), "3 memif sessions and 1 sockets handed over");
  const uint64_t at_handover = e.stats(sink).rx_packets;
  old_dp->stop();  // what the old process does on handed_over: exit, telling nobody
  Result<TakeoverSummary> taken = takeover.get();
  ASSERT_TRUE(taken) << taken.error().message;
  EXPECT_EQ(taken->sessions, 3u);
  EXPECT_EQ(taken->listeners, 1u);
  EXPECT_EQ(old_dp->add_memif({}).error().code, Errc::kBusy);

  const uint32_t net = *new_dp->add_network("blue");
  const uint32_t ia = add(*new_dp, net, "a", sock, 0);
  const uint32_t ib = add(*new_dp, net, "b", sock, 1);
  ASSERT_TRUE(new_dp->start());
  EXPECT_EQ(new_dp->finish_takeover(), 1u);  // "gone": told, disconnected

  ASSERT_TRUE(eventually([&] { return e.generators_done() && e.stats(sink).rx_packets >= kFrames; }, std::chrono::seconds(10)))
      << e.stats(sink).rx_packets << " of " << kFrames;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  e.stop();
  const TaskStats s = e.stats(sink);
  EXPECT_LT(at_handover, kFrames);  // the handover happened mid-stream
  // Ring indices carried over exactly: nothing lost, duplicated or reordered.
  EXPECT_EQ(s.rx_packets, kFrames);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.reordered, 0u);
  EXPECT_TRUE(s.connected);
  EXPECT_TRUE(a->poll_control());
  EXPECT_TRUE(b->poll_control());
  EXPECT_FALSE(gone->poll_control());
  EXPECT_EQ(gone->disconnect_reason(), "interface not configured after restart");

  const InterfaceInfo ia_info = *new_dp->interface_info(ia);
  EXPECT_TRUE(ia_info.connected);
  EXPECT_EQ(ia_info.peer_name, "memswitch-client");
  EXPECT_EQ(ia_info.peer_if_name, "memif0");
  EXPECT_GT(total(*new_dp->interface_info(ib), &InterfaceCounters::tx_packets), 0u);

  // The socket itself came over: a client that reconnects later finds the new process.
  gone.reset();
  a->disconnect("bye");
  ASSERT_TRUE(eventually([&] { return !new_dp->interface_info(ia)->connected; }));
  auto again = connect_client(sock, 0);
  ASSERT_TRUE(again);
  EXPECT_TRUE(eventually([&] { return new_dp->interface_info(ia)->connected; }));
  new_dp->stop();
  EXPECT_NE(stat(path.c_str(), &st), 0);
}

TEST(Handover, NobodyToTakeOverFrom) {
  auto dp = make_dataplane();
  Result<TakeoverSummary> r = dp->take_over(handover_path(), std::chrono::milliseconds(500));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
}

TEST(Handover, AbstractHandoverSocketIsRefused) {
  auto dp = make_dataplane();
  Status s = dp->listen_for_handover("@msw-handover");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
}

// A successor that dies after receiving the sessions but before acknowledging them (or
// a stranger speaking garbage on the handover socket): the running process keeps every
// session and keeps forwarding.
TEST(Handover, UnacknowledgedHandoverKeepsEverything) {
  const std::string path = handover_path();
  const std::string sock = unique_socket("handover-abort");
  auto dp = make_dataplane();
  std::atomic<int> handed{0}, failed{0};
  dp->set_event_handler([&](const Event& e) {
    if (e.kind == EventKind::handed_over) handed++;
    if (e.kind == EventKind::protocol_error) failed++;
  });
  const uint32_t net = *dp->add_network("blue");
  const uint32_t ia = add(*dp, net, "a", sock, 0);
  add(*dp, net, "b", sock, 1);
  ASSERT_TRUE(dp->listen_for_handover(path));
  ASSERT_TRUE(dp->start());
  MemifClientConfig deep;
  deep.log2_ring_size = 14;  // as above: the sink's own stalls are not the subject
  auto a = connect_client(sock, 0);
  auto b = connect_client(sock, 1, deep);
  ASSERT_TRUE(a && b);
  TrafficEngine e;
  constexpr uint64_t kFrames = 40000;
  e.add_generator(a.get(), {.pps = 100000, .count = kFrames, .src = kMacA, .dst = kMacB});
  const size_t sink = e.add_sink(b.get(), {});
  e.start();

  {  // garbage: not a takeover request
    Result<int> c = connect_seqpacket(*SocketAddress::parse(path));
    ASSERT_TRUE(c);
    const char junk[] = "not a handover record";
    ASSERT_EQ(send(*c, junk, sizeof junk, MSG_NOSIGNAL), ssize_t(sizeof junk));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    close(*c);
  }
  {  // a successor that takes everything and then dies without acknowledging
    Result<int> c = connect_seqpacket(*SocketAddress::parse(path));
    ASSERT_TRUE(c);
    EXPECT_EQ(take_everything(*c), 2);
    close(*c);
  }
  ASSERT_TRUE(eventually([&] { return failed.load() == 1; }));
  EXPECT_EQ(handed.load(), 0);
  ASSERT_TRUE(eventually([&] { return e.generators_done() && e.stats(sink).rx_packets >= kFrames; }, std::chrono::seconds(10)))
      << e.stats(sink).rx_packets;
  e.stop();
  EXPECT_EQ(e.stats(sink).lost, 0u);
  EXPECT_TRUE(a->poll_control());
  EXPECT_TRUE(dp->interface_info(ia)->connected);
  EXPECT_EQ(dp->interface_info(ia)->connects, 1u);
  dp->stop();
}

// The other side of a takeover is checked like any memif peer: a session whose "region"
// is not a memory file is refused when its interface adopts it, counted, and the peer
// told, and the interface serves new clients as usual.
TEST(Handover, BogusSessionIsRefusedLikeABadHandshake) {
  const std::string path = handover_path();
  const std::string sock = unique_socket("handover-bogus");
  Result<int> listener = listen_seqpacket({path, false});
  ASSERT_TRUE(listener);
  int peer_pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, peer_pair), 0);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  // A stand-in for the old process, speaking the handover protocol with bad contents.
  std::thread old_side([&] {
    pollfd p{*listener, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    const int c = accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(c, 0);
    Result<handover::Record> req = handover::recv_record(c, std::chrono::milliseconds(2000));
    ASSERT_TRUE(req && req->type == handover::RecordType::kRequest);
    handover::SessionState s;
    s.listener = sock;
    s.id = 0;
    s.peer_name = "impostor";
    s.region_sizes = {1 << 20};
    s.c2s = {{0, 0, 10, 0}};
    s.s2c = {{0, 16384 + 64, 10, 0}};
    s.fds = {peer_pair[1], pipe_fds[0], eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC)};
    EXPECT_TRUE(handover::send_session(c, s));
    EXPECT_TRUE(handover::send_record(c, handover::RecordType::kEnd));
    Result<handover::Record> ack = handover::recv_record(c, std::chrono::milliseconds(2000));
    EXPECT_TRUE(ack && ack->type == handover::RecordType::kAck);
    close(s.fds[2]), close(s.fds[3]);
    close(c);  // "exited"
  });
  auto dp = make_dataplane();
  Result<TakeoverSummary> taken = dp->take_over(path, std::chrono::milliseconds(5000));
  old_side.join();
  close(*listener);
  unlink(path.c_str());
  ASSERT_TRUE(taken) << taken.error().message;
  EXPECT_EQ(taken->sessions, 1u);

  const uint32_t net = *dp->add_network("blue");
  const uint32_t ia = add(*dp, net, "a", sock, 0);
  ASSERT_TRUE(dp->start());
  const InterfaceInfo info = *dp->interface_info(ia);
  EXPECT_FALSE(info.connected);
  EXPECT_EQ(info.protocol_errors[size_t(ProtocolError::bad_region)], 1u);
  memif::Msg m;
  Received r = recv_msg(peer_pair[0], &m);  // the peer was told why
  ASSERT_EQ(r.status, RecvStatus::kMessage);
  EXPECT_EQ(memif::MsgType(m.type), memif::MsgType::kDisconnect);
  EXPECT_EQ(dp->finish_takeover(), 0u);
  // The interface itself works: a real client connects.
  auto client = connect_client(sock, 0);
  ASSERT_TRUE(client);
  EXPECT_TRUE(eventually([&] { return dp->interface_info(ia)->connected; }));
  close(peer_pair[0]), close(pipe_fds[1]);
  dp->stop();
}

// The old process waits up to 5 s for a successor's acknowledgement. Meanwhile the API
// the daemon's JS thread calls must keep answering: reads at once, changes at once with
// kUnavailable (the exchange reads the registries, so they may not move under it).
TEST(Handover, TheApiAnswersWhileASuccessorTakesItsTime) {
  const std::string path = handover_path();
  const std::string sock = unique_socket("handover-slow");
  auto dp = make_dataplane();
  std::atomic<int> failed{0};
  dp->set_event_handler([&](const Event& e) {
    if (e.kind == EventKind::protocol_error) failed++;
  });
  const uint32_t net = *dp->add_network("blue");
  const uint32_t ia = add(*dp, net, "a", sock, 0);
  add(*dp, net, "b", sock, 1);
  ASSERT_TRUE(dp->listen_for_handover(path));
  ASSERT_TRUE(dp->start());
  auto a = connect_client(sock, 0);
  auto b = connect_client(sock, 1);
  ASSERT_TRUE(a && b);

  Result<int> c = connect_seqpacket(*SocketAddress::parse(path));
  ASSERT_TRUE(c);
  ASSERT_EQ(take_everything(*c), 2);  // then think about it for a while
  // The old process now waits for the acknowledgement.
  auto within_100ms = [](auto&& call) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    return std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(100);
  };
  for (int round = 0; round < 5; ++round) {
    EXPECT_TRUE(within_100ms([&] { EXPECT_TRUE(dp->interface_info(ia)); }));
    EXPECT_TRUE(within_100ms([&] { EXPECT_EQ(dp->interfaces().size(), 2u); }));
    EXPECT_TRUE(within_100ms([&] { (void)dp->mac_table(); }));
    EXPECT_TRUE(within_100ms([&] { EXPECT_EQ(dp->add_network("red").error().code, Errc::kUnavailable); }));
    EXPECT_TRUE(within_100ms([&] { EXPECT_EQ(dp->set_admin_up(ia, false).error().code, Errc::kUnavailable); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  close(*c);  // the successor gives up: the old process keeps everything
  ASSERT_TRUE(eventually([&] { return failed.load() == 1; }));
  EXPECT_TRUE(dp->add_network("red"));
  EXPECT_TRUE(dp->interface_info(ia)->connected);
  EXPECT_TRUE(a->poll_control());
  dp->stop();
}
