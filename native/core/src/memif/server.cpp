// The memif server: accepting control connections and running the handshake
// (memif-protocol.md §3-§5). Every field of every message is read once from our copy
// and validated; a bad peer is counted, told why, and disconnected.
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "control/dataplane_impl.h"
#include "memswitch/wire.h"

namespace memswitch::detail {

using memif::Msg;
using memif::MsgType;

Result<int> listen_in_netns(const SocketAddress& addr, const std::string& netns) {
  if (netns.empty()) return listen_seqpacket(addr);
  const int nsfd = open(netns.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return make_error(Errc::kNotFound, "netns: " + netns + " does not exist");
  Result<int> r = make_error(Errc::kIo, "netns: not entered");
  std::thread t([&] {
    if (setns(nsfd, CLONE_NEWNET) != 0) {
      r = errno_error("netns: setns " + netns);
      return;
    }
    r = listen_seqpacket(addr);
  });
  t.join();
  close(nsfd);
  return r;
}

void send_disconnect(int fd, const std::string& reason) {
  Msg m;
  std::memset(&m, 0, sizeof m);
  m.type = uint16_t(MsgType::kDisconnect);
  set_wire_string(m.disconnect.string, sizeof m.disconnect.string, reason);
  (void)send_msg(fd, m);
}

// Why a ring's eventfd cannot be used, or nullptr. The fd is written from a worker: it
// must really be an eventfd, and nonblocking so a peer that saturates the counter can
// never stall a worker.
const char* eventfd_problem(int fd) {
  char link[64] = {};
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (readlink(path.c_str(), link, sizeof link - 1) <= 0 || std::strcmp(link, "anon_inode:[eventfd]") != 0)
    return "Ring fd is not an eventfd";
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return nullptr;
}

// Why a ring cannot be used, or nullptr: the same checks for a handshake and a takeover.
const char* ring_problem(const PendingRing& p, const std::vector<SharedMemory>& regions) {
  if (p.region >= regions.size()) return "Invalid ring region";
  if (p.log2 < 1 || p.log2 > memif::kMaxLog2RingSize) return "Invalid ring size";
  if (p.offset % 64 != 0 || uint64_t(p.offset) + memif::ring_bytes(p.log2) > regions[p.region].size())
    return "Ring outside its region";
  return nullptr;
}

void DataplaneImpl::count_error(Conn& c, ProtocolError e) {
  if (c.iface >= 0 && ifaces_.count(uint32_t(c.iface)))
    ifaces_[uint32_t(c.iface)].errors[size_t(e)]++;
  else if (auto it = listeners_.find(c.listener); it != listeners_.end())
    it->second.errors[size_t(e)]++;
}

// Ends a connection: tells the peer (unless it is gone), detaches its session from
// the interface and retires it. The caller publishes afterwards.
void DataplaneImpl::close_conn(int64_t id, const std::string& reason, bool tell_peer) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  if (tell_peer) send_disconnect(c.fd, reason);
  std::string iface_name;
  if (c.iface >= 0) {
    auto ii = ifaces_.find(uint32_t(c.iface));
    if (ii != ifaces_.end() && ii->second.conn == id) {
      Interface& i = ii->second;
      iface_name = i.cfg.name;
      if (i.session) retiring_.sessions.push_back(std::move(i.session));
      i.conn = -1;
      i.peer_name.clear();
      i.peer_if_name.clear();
    }
  }
  const bool was_connected = c.state == Conn::State::kConnected;
  const std::string socket = c.listener;
  conns_.erase(it);  // closes the fd, which drops it from the epoll set
  if (was_connected) emit(EventKind::peer_disconnected, iface_name, socket, reason);
}

void DataplaneImpl::fail(int64_t id, Conn& c, ProtocolError e, const std::string& reason) {
  count_error(c, e);
  std::string name = c.iface >= 0 && ifaces_.count(uint32_t(c.iface)) ? ifaces_[uint32_t(c.iface)].cfg.name : "";
  emit(EventKind::protocol_error, name, c.listener, std::string(kProtocolErrors[size_t(e)].name) + ": " + reason);
  const bool had_session = c.state == Conn::State::kConnected;
  close_conn(id, reason);
  if (had_session) publish();
}

void DataplaneImpl::close_listener(Listener& l, bool unlink_file) {
  if (l.fd >= 0) close(l.fd);
  l.fd = -1;
  if (unlink_file && !l.addr.abstract) unlink(l.addr.name.c_str());
}

void DataplaneImpl::on_accept(Listener& l) {
  for (;;) {
    const int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->listener = l.key;
    c->deadline = Clock::now() + std::chrono::milliseconds(opts_.handshake_timeout_ms);
    Msg m;
    std::memset(&m, 0, sizeof m);
    m.type = uint16_t(MsgType::kHello);
    set_wire_string(m.hello.name, sizeof m.hello.name, opts_.app_name);
    m.hello.min_version = m.hello.max_version = memif::kVersion;
    m.hello.max_region = memif::kMaxRegionIndex;
    m.hello.max_s2c_ring = m.hello.max_c2s_ring = memif::kMaxRingIndex;
    m.hello.max_log2_ring_size = memif::kMaxLog2RingSize;
    if (!send_msg(fd, m)) continue;  // ~Conn closes it
    const int64_t id = next_conn_++;
    watch(fd, uint64_t(id));
    conns_[id] = std::move(c);
  }
}

void DataplaneImpl::on_readable(int64_t id) {
  for (;;) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    Msg m;
    Received r = recv_msg(c.fd, &m);
    if (r.status == RecvStatus::kWouldBlock) return;
    if (r.status != RecvStatus::kMessage) {
      const bool had_session = c.state == Conn::State::kConnected;
      close_conn(id, "peer closed the connection", false);  // EOF: tear down and send nothing
      if (had_session) publish();
      return;
    }
    if (r.extra_fds) return fail(id, c, ProtocolError::bad_fd, "Too many file descriptors");
    if (r.size != memif::kMsgSize) {
      if (r.fd >= 0) close(r.fd);
      return fail(id, c, ProtocolError::bad_message_size, "Invalid message size");
    }
    handle(id, c, m, r.fd);
  }
}

// Every field of every message is read once from `m` (our copy) and validated here.
void DataplaneImpl::handle(int64_t id, Conn& c, const memif::Msg& m, int fd) {
  const auto type = MsgType(m.type);
  const bool wants_fd = type == MsgType::kAddRegion || type == MsgType::kAddRing;
  if (fd >= 0 && !wants_fd) {
    close(fd);
    return fail(id, c, ProtocolError::bad_fd, "Unexpected file descriptor");
  }
  switch (type) {
    case MsgType::kInit: return on_init(id, c, m.init);
    case MsgType::kAddRegion: return on_add_region(id, c, m.add_region, fd);
    case MsgType::kAddRing: return on_add_ring(id, c, m.add_ring, fd);
    case MsgType::kConnect: return on_connect(id, c, m.connect);
    case MsgType::kDisconnect: {
      const bool had_session = c.state == Conn::State::kConnected;
      close_conn(id, wire_string(m.disconnect.string, sizeof m.disconnect.string), false);
      if (had_session) publish();
      return;
    }
    case MsgType::kAck:
    case MsgType::kHello:
    case MsgType::kConnected:
      return fail(id, c, ProtocolError::unexpected_message, "Unexpected message");
    default:
      if (fd >= 0) close(fd);
      return fail(id, c, ProtocolError::unknown_message_type, "Unknown message type");
  }
}

void DataplaneImpl::ack(int64_t id, Conn& c) {
  Msg m;
  std::memset(&m, 0, sizeof m);
  m.type = uint16_t(MsgType::kAck);
  if (!send_msg(c.fd, m)) close_conn(id, "send failed", false);
}

void DataplaneImpl::on_init(int64_t id, Conn& c, const memif::MsgInit& init) {
  if (c.state != Conn::State::kAwaitInit) return fail(id, c, ProtocolError::unexpected_message, "Unexpected INIT");
  if (init.version != memif::kVersion) return fail(id, c, ProtocolError::bad_version, "Unsupported version");
  Interface* iface = nullptr;
  uint32_t index = 0;
  for (uint32_t idx : listeners_[c.listener].interfaces)
    if (ifaces_[idx].cfg.id == init.id) iface = &ifaces_[idx], index = idx;
  if (!iface) return fail(id, c, ProtocolError::unknown_id, "ID not found");
  if (iface->conn >= 0) {
    // Count against the interface the peer asked for, but leave its owner alone.
    iface->errors[size_t(ProtocolError::already_connected)]++;
    emit(EventKind::protocol_error, iface->cfg.name, c.listener, "already_connected: Already connected");
    close_conn(id, "Already connected");
    return;
  }
  c.iface = index;
  const std::string secret = wire_string(init.secret, sizeof init.secret);
  if (secret != iface->cfg.secret) {
    // Constant-time compare would not help: the secret is an access check, not a MAC.
    return fail(id, c, ProtocolError::bad_secret, "Incorrect secret");
  }
  const uint8_t mode = iface->cfg.ip_mode ? memif::kModeIp : memif::kModeEthernet;
  if (init.mode != mode) return fail(id, c, ProtocolError::bad_mode, iface->cfg.ip_mode ? "Interface is in ip mode" : "Interface is in ethernet mode");
  iface->conn = id;
  c.peer_name = wire_string(init.name, sizeof init.name);
  c.state = Conn::State::kSetup;
  ack(id, c);
}

void DataplaneImpl::on_add_region(int64_t id, Conn& c, const memif::MsgAddRegion& msg, int fd) {
  if (fd < 0) return fail(id, c, ProtocolError::bad_fd, "Missing region fd");
  if (c.state != Conn::State::kSetup) {
    close(fd);
    return fail(id, c, ProtocolError::unexpected_message, "Unexpected ADD_REGION");
  }
  if (msg.index != c.regions.size() || msg.index > memif::kMaxRegionIndex) {
    close(fd);
    return fail(id, c, ProtocolError::bad_region, "Invalid region index");
  }
  Result<SharedMemory> mem = SharedMemory::map_peer(fd, msg.size);  // owns fd from here
  if (!mem) return fail(id, c, ProtocolError::bad_region, mem.error().message);
  c.regions.push_back(std::move(*mem));
  ack(id, c);
}

void DataplaneImpl::on_add_ring(int64_t id, Conn& c, const memif::MsgAddRing& msg, int fd) {
  if (fd < 0) return fail(id, c, ProtocolError::bad_fd, "Missing ring eventfd");
  auto reject = [&](ProtocolError e, const char* why) {
    close(fd);
    fail(id, c, e, why);
  };
  if (c.state != Conn::State::kSetup) return reject(ProtocolError::unexpected_message, "Unexpected ADD_RING");
  if (const char* why = eventfd_problem(fd)) return reject(ProtocolError::bad_fd, why);
  const bool is_c2s = msg.flags & memif::kAddRingFlagC2S;
  auto& rings = is_c2s ? c.c2s : c.s2c;
  if (msg.index != rings.size() || msg.index > memif::kMaxRingIndex) return reject(ProtocolError::bad_ring, "Invalid ring index");
  if (msg.private_hdr_size != 0) return reject(ProtocolError::bad_ring, "Private headers not supported");
  const PendingRing ring{msg.region, msg.offset, msg.log2_ring_size, fd};
  if (const char* why = ring_problem(ring, c.regions)) return reject(ProtocolError::bad_ring, why);
  rings.push_back(ring);
  ack(id, c);
}

// The session a connection's regions and rings describe; it takes them (and the
// rings' eventfds) from the connection. nullptr after failing the connection.
std::unique_ptr<Session> DataplaneImpl::make_session(int64_t id, Conn& c) {
  for (auto* list : {&c.c2s, &c.s2c})
    for (const PendingRing& p : *list) {
      auto* hdr = reinterpret_cast<memif::RingHeader*>(c.regions[p.region].data() + p.offset);
      if (std::atomic_ref<uint32_t>(hdr->cookie).load() != memif::kCookie) {
        fail(id, c, ProtocolError::bad_ring_cookie, "Wrong ring cookie");
        return nullptr;
      }
    }
  auto s = std::make_unique<Session>();
  for (const SharedMemory& r : c.regions) s->bounds.push_back({r.data(), r.size()});
  for (const PendingRing& p : c.c2s) {
    auto* hdr = reinterpret_cast<memif::RingHeader*>(c.regions[p.region].data() + p.offset);
    const uint16_t size = uint16_t(1u << p.log2);
    // We poll: mask before CONNECTED so the peer never signals (§4.6, §8.4).
    memif::store_relaxed(hdr->flags, memif::kRingFlagMaskInt);
    s->rx.push_back({hdr, memif::ring_descs(hdr), size, uint16_t(size - 1), memif::load_relaxed(hdr->tail), p.eventfd});
    s->eventfds.push_back(p.eventfd);
  }
  s->n_tx = uint32_t(c.s2c.size());
  s->tx = std::make_unique<TxRing[]>(s->n_tx);
  for (uint32_t k = 0; k < s->n_tx; ++k) {
    const PendingRing& p = c.s2c[k];
    auto* hdr = reinterpret_cast<memif::RingHeader*>(c.regions[p.region].data() + p.offset);
    TxRing& t = s->tx[k];
    t.hdr = hdr;
    t.desc = memif::ring_descs(hdr);
    t.size = uint16_t(1u << p.log2);
    t.mask = uint16_t(t.size - 1);
    t.tail = memif::load_relaxed(hdr->tail);
    t.eventfd = p.eventfd;
    t.shared = workers_.size() > s->n_tx;
    s->eventfds.push_back(p.eventfd);
  }
  c.c2s.clear();
  c.s2c.clear();  // eventfds now belong to the session
  s->regions = std::move(c.regions);
  return s;
}

void DataplaneImpl::on_connect(int64_t id, Conn& c, const memif::MsgConnect& msg) {
  if (c.state != Conn::State::kSetup) return fail(id, c, ProtocolError::unexpected_message, "Unexpected CONNECT");
  if (c.regions.empty() || c.c2s.empty() || c.s2c.empty())
    return fail(id, c, ProtocolError::incomplete_setup, "Missing region or rings");
  std::unique_ptr<Session> s = make_session(id, c);
  if (!s) return;
  Interface& i = ifaces_[uint32_t(c.iface)];
  i.peer_if_name = wire_string(msg.if_name, sizeof msg.if_name);
  i.peer_name = c.peer_name;
  i.session = std::move(s);
  i.connects++;
  c.state = Conn::State::kConnected;
  // Workers must poll the rings before the peer hears CONNECTED (a DPDK peer sends at
  // once, and its first frames would find no port): answer once every worker has seen
  // the new snapshot, at once in the usual case, else from the control loop.
  c.connected_after = publish();
  if (qsbr_.passed(c.connected_after)) send_connected(id, c);
}

void DataplaneImpl::send_connected(int64_t id, Conn& c) {
  c.connected_after = 0;
  Interface& i = ifaces_[uint32_t(c.iface)];
  Msg reply;
  std::memset(&reply, 0, sizeof reply);
  reply.type = uint16_t(MsgType::kConnected);
  set_wire_string(reply.connect.if_name, sizeof reply.connect.if_name, i.cfg.name);
  if (!send_msg(c.fd, reply)) {
    close_conn(id, "send failed", false);
    publish();
    return;
  }
  emit(EventKind::peer_connected, i.cfg.name, c.listener, i.peer_name);
}

void DataplaneImpl::send_pending_connected() {
  std::vector<int64_t> ready;
  for (auto& [id, c] : conns_)
    if (c->connected_after != 0 && qsbr_.passed(c->connected_after)) ready.push_back(id);
  for (int64_t id : ready)
    if (auto it = conns_.find(id); it != conns_.end()) send_connected(id, *it->second);
}

}  // namespace memswitch::detail
