// Planned restarts that keep memif peers (DPDK's net_memif never reconnects). The old
// process hands its listeners and live sessions (control connection, region memfds,
// ring eventfds, ring indices) over the handover socket; the new one validates each
// like a fresh handshake and polls on from the indices the old one reached.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>

#include "control/dataplane_impl.h"

namespace memswitch::detail {

std::string DataplaneImpl::session_key(const std::string& listener, uint32_t id) { return listener + "#" + std::to_string(id); }

Status DataplaneImpl::listen_for_handover(const std::string& path) {
  std::lock_guard g(mu_);
  if (handover_listener_.fd >= 0) return make_error(Errc::kAlreadyExists, "already serving handover requests");
  Result<SocketAddress> addr = SocketAddress::parse(path);
  if (!addr) return addr.error();
  if (addr->abstract) return make_error(Errc::kInvalidArgument, "handover socket must be a path: only root may take the sessions");
  Result<int> fd = listen_seqpacket(*addr);
  if (!fd) return fd.error();
  chmod(addr->name.c_str(), 0600);
  handover_listener_ = Listener{path, *addr, *fd, {}, {}};
  if (started_) watch(handover_listener_.fd, kTagHandover);
  return Status::ok();
}

Result<TakeoverSummary> DataplaneImpl::take_over(const std::string& path, std::chrono::milliseconds timeout) {
  std::lock_guard g(mu_);
  if (started_ || !ifaces_.empty()) return make_error(Errc::kBusy, "take over before start() and before adding interfaces");
  Result<SocketAddress> addr = SocketAddress::parse(path);
  if (!addr) return addr.error();
  Result<int> conn = connect_seqpacket(*addr);
  if (!conn) return make_error(Errc::kNotFound, "no memswitchd serves handover requests on " + path);
  const int fd = *conn;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  Result<TakeoverSummary> r = receive_handover(fd, timeout);
  if (!r) {
    // Nothing acknowledged: the old process keeps (or takes back) everything.
    drop_adopted(/*completed=*/false);
    close(fd);
    return r;
  }
  // The old process holds the API socket and our netdevs until it exits; the
  // connection's EOF says it has.
  Result<handover::Record> eof = handover::recv_record(fd, timeout);
  close(fd);
  if (eof) return make_error(Errc::kProtocol, "handover: unexpected record after the acknowledgement");
  if (eof.error().code == Errc::kTimeout) return make_error(Errc::kTimeout, "the previous memswitchd handed over but did not exit");
  return r;
}

uint32_t DataplaneImpl::finish_takeover() {
  std::lock_guard g(mu_);
  return drop_adopted(/*completed=*/true);
}

// Runs on the control thread. Every wait for the other side (its request, our grace
// period, its acknowledgement) happens without mu_: changes are refused meanwhile
// (mutable_now), so the registries the exchange reads cannot move, and the API keeps
// answering reads.
void DataplaneImpl::on_handover_request(std::unique_lock<std::mutex>& lock) {
  const int fd = accept4(handover_listener_.fd, nullptr, nullptr, SOCK_CLOEXEC);  // blocking: a short, bounded exchange
  if (fd < 0) return;
  const timeval send_limit{kHandoverTimeout.count() / 1000, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_limit, sizeof send_limit);  // a successor that stops reading
  if (handed_over_) {
    close(fd);
    return;
  }
  handing_over_ = true;
  lock.unlock();
  // A successor asks at once; anything else must not hold the control thread long.
  Result<handover::Record> req = handover::recv_record(fd, std::chrono::milliseconds(1000));
  lock.lock();
  if (!req || req->type != handover::RecordType::kRequest) {
    handing_over_ = false;
    close(fd);
    return;
  }
  uint32_t sessions = 0;
  for (auto& [idx, i] : ifaces_) sessions += i.session != nullptr;
  const Status s = hand_over(fd, lock);
  handing_over_ = false;
  if (!s) {
    close(fd);
    publish();  // not taken: forward on every session again
    emit(EventKind::protocol_error, "", handover_listener_.key, "handover failed, keeping every session: " + s.error().message);
    return;
  }
  handed_over_ = true;
  handover_conn_ = fd;  // closed last in stop(): its EOF tells the new process we are gone
  emit(EventKind::handed_over, "", handover_listener_.key,
       std::to_string(sessions) + " memif sessions and " + std::to_string(listeners_.size()) + " sockets handed over");
}

// Sends everything and waits for the successor to take it.
Status DataplaneImpl::hand_over(int fd, std::unique_lock<std::mutex>& lock) {
  const uint64_t grace = publish();  // without the sessions (handing_over_)
  lock.unlock();
  // Workers let go of every session before the new process polls them.
  const bool released = qsbr_.wait(grace, kGrace);
  Status sent = released ? send_state(fd) : make_error(Errc::kBusy, "a worker is stalled inside a poll");
  Result<handover::Record> ack = sent ? handover::recv_record(fd, kHandoverTimeout) : Result<handover::Record>(sent.error());
  lock.lock();
  if (!ack) return ack.error();
  if (ack->type != handover::RecordType::kAck) return make_error(Errc::kProtocol, "expected an acknowledgement");
  // The new process owns the sockets now: stop accepting and reading on them.
  for (auto& [key, l] : listeners_) epoll_ctl(epoll_, EPOLL_CTL_DEL, l.fd, nullptr);
  for (auto& [id, c] : conns_) epoll_ctl(epoll_, EPOLL_CTL_DEL, c->fd, nullptr);
  return Status::ok();
}

Status DataplaneImpl::send_state(int fd) {
  for (auto& [key, l] : listeners_)
    if (Status s = handover::send_listener(fd, {key, l.addr.spec(), l.fd}); !s) return s;
  for (auto& [idx, i] : ifaces_) {
    if (!i.session || i.conn < 0) continue;
    if (Status s = handover::send_session(fd, export_session(i, *conns_.at(i.conn))); !s) return s;
  }
  return handover::send_record(fd, handover::RecordType::kEnd);
}

// A live session as the handshake described it, plus the ring indices we reached.
// The fds stay ours; sending duplicates them into the new process.
handover::SessionState DataplaneImpl::export_session(const Interface& i, const Conn& c) {
  handover::SessionState st;
  st.listener = i.listener;
  st.id = i.cfg.id;
  st.peer_name = i.peer_name;
  st.peer_if_name = i.peer_if_name;
  st.fds.push_back(c.fd);
  const Session& s = *i.session;
  for (const SharedMemory& r : s.regions) st.region_sizes.push_back(r.size()), st.fds.push_back(r.fd());
  auto place = [&](const memif::RingHeader* hdr, uint16_t size, uint16_t index) {
    const auto* p = reinterpret_cast<const uint8_t*>(hdr);
    handover::RingState r{0, 0, uint8_t(std::countr_zero(size)), index};
    for (uint16_t k = 0; k < s.bounds.size(); ++k)
      if (p >= s.bounds[k].base && p < s.bounds[k].base + s.bounds[k].size) r.region = k, r.offset = uint32_t(p - s.bounds[k].base);
    return r;
  };
  for (const RxRing& r : s.rx) st.c2s.push_back(place(r.hdr, r.size, r.last_head)), st.fds.push_back(r.eventfd);
  for (uint32_t k = 0; k < s.n_tx; ++k) st.s2c.push_back(place(s.tx[k].hdr, s.tx[k].size, s.tx[k].tail)), st.fds.push_back(s.tx[k].eventfd);
  return st;
}

Result<TakeoverSummary> DataplaneImpl::receive_handover(int fd, std::chrono::milliseconds timeout) {
  if (Status s = handover::send_record(fd, handover::RecordType::kRequest); !s) return s.error();
  TakeoverSummary sum;
  for (;;) {
    Result<handover::Record> r = handover::recv_record(fd, timeout);
    if (!r) return r.error();
    switch (r->type) {
      case handover::RecordType::kListener: {
        auto [it, inserted] = adopt_listeners_.try_emplace(r->listener.key, r->listener);
        if (!inserted) close(r->listener.fd);
        sum.listeners += inserted;
        break;
      }
      case handover::RecordType::kSession: {
        auto [it, inserted] = adopt_sessions_.try_emplace(session_key(r->session.listener, r->session.id), std::move(r->session));
        if (!inserted) handover::close_fds(r->session.fds);
        sum.sessions += inserted;
        break;
      }
      case handover::RecordType::kEnd:
        if (Status s = handover::send_record(fd, handover::RecordType::kAck); !s) return s.error();
        return sum;
      default:
        return make_error(Errc::kProtocol, "handover: unexpected record");
    }
  }
}

// A session taken over from the previous process, validated like a handshake (memfds
// of the claimed size, eventfds, rings inside their regions with their cookie), then
// polled from the ring indices the previous process reached. No CONNECTED: for the
// peer the session never ended.
void DataplaneImpl::adopt_session(uint32_t index, handover::SessionState st) {
  Interface& i = ifaces_[index];
  auto owned = std::make_unique<Conn>();
  owned->fd = std::exchange(st.fds[0], -1);
  owned->listener = i.listener;
  owned->state = Conn::State::kSetup;
  owned->iface = index;
  owned->peer_name = st.peer_name;
  const int64_t id = next_conn_++;
  Conn& c = *(conns_[id] = std::move(owned));
  i.conn = id;
  if (started_) watch(c.fd, uint64_t(id));
  size_t k = 1;
  for (uint64_t size : st.region_sizes) {
    Result<SharedMemory> mem = SharedMemory::map_peer(std::exchange(st.fds[k++], -1), size);
    if (!mem) {
      handover::close_fds(st.fds);
      return fail(id, c, ProtocolError::bad_region, mem.error().message);
    }
    c.regions.push_back(std::move(*mem));
  }
  for (const handover::RingState& r : st.c2s) c.c2s.push_back({r.region, r.offset, r.log2, std::exchange(st.fds[k++], -1)});
  for (const handover::RingState& r : st.s2c) c.s2c.push_back({r.region, r.offset, r.log2, std::exchange(st.fds[k++], -1)});
  if (c.regions.empty() || c.c2s.empty() || c.s2c.empty()) return fail(id, c, ProtocolError::incomplete_setup, "Missing region or rings");
  for (auto* rings : {&c.c2s, &c.s2c})
    for (const PendingRing& p : *rings) {
      if (const char* why = eventfd_problem(p.eventfd)) return fail(id, c, ProtocolError::bad_fd, why);
      if (const char* why = ring_problem(p, c.regions)) return fail(id, c, ProtocolError::bad_ring, why);
    }
  std::unique_ptr<Session> s = make_session(id, c);
  if (!s) return;
  for (size_t q = 0; q < s->rx.size(); ++q) s->rx[q].last_head = st.c2s[q].index;
  for (uint32_t q = 0; q < s->n_tx; ++q) s->tx[q].tail = st.s2c[q].index;
  i.peer_if_name = st.peer_if_name;
  i.peer_name = st.peer_name;
  i.session = std::move(s);
  i.connects++;
  c.state = Conn::State::kConnected;
  publish();
  emit(EventKind::peer_connected, i.cfg.name, c.listener, i.peer_name);
}

// What was taken over but not claimed by an interface. After a completed takeover the
// peers are told and the socket files removed; after a failed one the previous process
// still serves them, so our copies just close.
uint32_t DataplaneImpl::drop_adopted(bool completed) {
  uint32_t n = 0;
  for (auto& [key, st] : adopt_sessions_) {
    if (completed) send_disconnect(st.fds[0], "interface not configured after restart"), ++n;
    handover::close_fds(st.fds);
  }
  adopt_sessions_.clear();
  for (auto& [key, l] : adopt_listeners_) {
    close(l.fd);
    Result<SocketAddress> a = SocketAddress::parse(l.spec);
    if (completed && a && !a->abstract) unlink(a->name.c_str());
  }
  adopt_listeners_.clear();
  return n;
}

}  // namespace memswitch::detail
