#include "memswitch/dataplane.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <mutex>

#include "dataplane_internal.h"
#include "handover.h"
#include "memswitch/unix_socket.h"

namespace memswitch {
namespace {

using namespace detail;
using memif::Msg;
using memif::MsgType;
using Clock = std::chrono::steady_clock;

constexpr auto kGrace = std::chrono::milliseconds(2000);
constexpr auto kHandoverTimeout = std::chrono::milliseconds(5000);
constexpr int kTickMs = 100;

// Binds and listens with the calling thread moved into `netns` (a /var/run/netns or
// /proc/PID/ns/net path), so an abstract socket is reachable from that pod's namespace
// without any mount. The fd keeps working from every namespace afterwards.
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

struct Listener {
  std::string key;  // listeners_ key: the socket, prefixed by its netns for abstract names
  SocketAddress addr;
  int fd = -1;
  std::vector<uint32_t> interfaces;
  uint64_t errors[kNumProtocolErrors] = {};
};

struct PendingRing {
  uint16_t region;
  uint32_t offset;
  uint8_t log2;
  int eventfd;
};

// One accepted control connection, from HELLO until it closes.
struct Conn {
  int fd = -1;
  std::string listener;
  enum class State { kAwaitInit, kSetup, kConnected } state = State::kAwaitInit;
  Clock::time_point deadline;
  int64_t iface = -1;  // set once INIT named a configured interface
  std::string peer_name;
  std::vector<SharedMemory> regions;
  std::vector<PendingRing> c2s, s2c;
  ~Conn() {
    for (auto* v : {&c2s, &s2c})
      for (PendingRing& r : *v) close(r.eventfd);
    if (fd >= 0) close(fd);
  }
};

struct Interface {
  MemifInterfaceConfig cfg;  // the common fields serve every kind; memif fields are empty for AF_XDP
  std::string listener;      // memif: key of its listener (abstract names are per netns)
  std::unique_ptr<XdpPort> xdp;
  std::string netdev;
  uint16_t segment = 0;
  bool admin_up = true;
  int64_t conn = -1;  // the connection that passed INIT for this interface
  std::unique_ptr<Session> session;
  std::string peer_name, peer_if_name;
  uint64_t connects = 0;
  uint64_t errors[kNumProtocolErrors] = {};
};

struct Network {
  std::string name;
};

class DataplaneImpl final : public Dataplane {
 public:
  explicit DataplaneImpl(const DataplaneOptions& o) : opts_(o), fib_(o.fib_capacity), qsbr_(o.workers) {
    topology_.store(new Topology{{}, {{}}, std::vector<std::vector<RxAssignment>>(o.workers)});
    for (uint32_t w = 0; w < o.workers; ++w) {
      const int cpu = o.cpus.empty() ? -1 : o.cpus[w % o.cpus.size()];
      workers_.push_back(std::make_unique<Worker>(w, cpu, o.workers, WorkerShared{&topology_, &fib_, &qsbr_, &now_s_, &running_, o.adaptive_polling, uint64_t(o.idle_before_sleep_us) * 1000}));
    }
  }
  ~DataplaneImpl() override {
    stop();
    delete topology_.load();
  }

  void set_event_handler(EventHandler h) override {
    std::lock_guard g(mu_);
    events_ = std::move(h);
  }

  Status start() override {
    std::lock_guard g(mu_);
    if (started_) return make_error(Errc::kBusy, "dataplane already started");
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (epoll_ < 0 || wake_ < 0 || timer_ < 0) return errno_error("control thread setup");
    itimerspec its{{0, kTickMs * 1000000}, {0, kTickMs * 1000000}};
    timerfd_settime(timer_, 0, &its, nullptr);
    watch(wake_, kTagWake);
    watch(timer_, kTagTimer);
    for (auto& [spec, l] : listeners_) watch(l.fd, kTagListener | listener_tag(spec));
    for (auto& [id, c] : conns_) watch(c->fd, uint64_t(id));  // sessions taken over before start
    if (handover_listener_.fd >= 0) watch(handover_listener_.fd, kTagHandover);
    running_.store(true);
    for (auto& w : workers_) w->start();
    control_ = std::thread([this] { control_loop(); });
    started_ = true;
    return Status::ok();
  }

  void stop() override {
    {
      std::lock_guard g(mu_);
      if (!started_ && listeners_.empty() && adopt_listeners_.empty() && adopt_sessions_.empty() && handover_listener_.fd < 0) return;
    }
    if (control_.joinable()) {
      stopping_.store(true);
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(wake_, &one, sizeof one);
      control_.join();
    }
    running_.store(false);
    for (auto& w : workers_) w->join();
    std::lock_guard g(mu_);
    // Workers are gone: peers can be told and memory unmapped without a grace period.
    // Handed over, the peers and the socket files belong to the new process.
    for (auto& [id, c] : conns_) {
      if (!handed_over_ && (c->state == Conn::State::kConnected || c->iface >= 0)) send_disconnect(c->fd, "memswitch shutting down");
    }
    conns_.clear();
    for (auto& [idx, i] : ifaces_) i.session.reset(), i.xdp.reset(), i.conn = -1;
    for (auto& [spec, l] : listeners_) close_listener(l, /*unlink_file=*/!handed_over_);
    listeners_.clear();
    drop_adopted(/*completed=*/true);
    if (handover_listener_.fd >= 0) close_listener(handover_listener_);
    // Last: its EOF tells the new process that this one has let go of everything.
    if (handover_conn_ >= 0) close(handover_conn_), handover_conn_ = -1;
    for (int* fd : {&epoll_, &wake_, &timer_})
      if (*fd >= 0) close(*fd), *fd = -1;
    started_ = false;
  }

  Result<uint32_t> add_network(const std::string& name) override {
    std::lock_guard g(mu_);
    if (name.empty()) return make_error(Errc::kInvalidArgument, "network name is empty");
    for (auto& [id, n] : networks_)
      if (n.name == name) return make_error(Errc::kAlreadyExists, "network " + name + " already exists");
    const uint32_t id = next_network_++;
    networks_[id] = Network{name};
    return id;
  }

  Status remove_network(uint32_t network) override {
    std::lock_guard g(mu_);
    if (!networks_.count(network)) return make_error(Errc::kNotFound, "no network " + std::to_string(network));
    for (auto& [idx, i] : ifaces_)
      if (i.cfg.network == network)
        return make_error(Errc::kBusy, "network " + networks_[network].name + " still has interface " + i.cfg.name);
    networks_.erase(network);
    return Status::ok();
  }

  Result<uint32_t> add_memif(const MemifInterfaceConfig& cfg) override {
    std::lock_guard g(mu_);
    if (handed_over_) return make_error(Errc::kBusy, "this memswitchd handed its interfaces over and is exiting");
    if (cfg.name.empty()) return make_error(Errc::kInvalidArgument, "interface name is empty");
    if (!networks_.count(cfg.network)) return make_error(Errc::kNotFound, "no network " + std::to_string(cfg.network));
    if (cfg.vlan > 4094) return make_error(Errc::kInvalidArgument, "vlan must be 0-4094");
    if (cfg.secret.size() > memif::kSecretSize) return make_error(Errc::kInvalidArgument, "secret is longer than 24 bytes");
    Result<SocketAddress> addr = SocketAddress::parse(cfg.socket);
    if (!addr) return addr.error();
    // An abstract name lives in a network namespace; a path is the same in all of them.
    const std::string key = addr->abstract && !cfg.netns.empty() ? cfg.netns + "|" + addr->spec() : addr->spec();
    for (auto& [idx, i] : ifaces_) {
      if (i.cfg.name == cfg.name) return make_error(Errc::kAlreadyExists, "interface " + cfg.name + " already exists");
      if (i.listener == key && i.cfg.id == cfg.id)
        return make_error(Errc::kAlreadyExists, "socket " + cfg.socket + " id " + std::to_string(cfg.id) + " is taken by " + i.cfg.name);
    }
    uint32_t index = 0;
    while (index < kMaxInterfaces && ifaces_.count(index)) ++index;
    if (index == kMaxInterfaces) return make_error(Errc::kResourceExhausted, "interface limit reached");
    auto it = listeners_.find(key);
    if (it == listeners_.end()) {
      Listener l;
      l.key = key;
      l.addr = *addr;
      if (auto adopted = adopt_listeners_.find(key); adopted != adopt_listeners_.end()) {
        l.fd = adopted->second.fd;  // still bound and listening: peers never saw it go
        adopt_listeners_.erase(adopted);
      } else {
        Result<int> fd = listen_in_netns(*addr, cfg.netns);
        if (!fd) return fd.error();
        l.fd = *fd;
      }
      it = listeners_.emplace(key, std::move(l)).first;
      if (started_) watch(it->second.fd, kTagListener | listener_tag(key));
    }
    it->second.interfaces.push_back(index);
    Interface& i = ifaces_[index];
    i.cfg = cfg;
    i.cfg.socket = addr->spec();
    i.listener = key;
    if (i.cfg.mac == 0) i.cfg.mac = generated_mac(cfg.name);
    i.segment = acquire_segment(cfg.network, cfg.vlan);
    if (auto s = adopt_sessions_.find(session_key(key, cfg.id)); s != adopt_sessions_.end()) {
      handover::SessionState state = std::move(s->second);
      adopt_sessions_.erase(s);
      adopt_session(index, std::move(state));
    }
    return index;
  }

  Result<uint32_t> add_afxdp(const AfXdpInterfaceConfig& cfg) override {
    std::lock_guard g(mu_);
    if (handed_over_) return make_error(Errc::kBusy, "this memswitchd handed its interfaces over and is exiting");
    if (cfg.name.empty()) return make_error(Errc::kInvalidArgument, "interface name is empty");
    if (!networks_.count(cfg.network)) return make_error(Errc::kNotFound, "no network " + std::to_string(cfg.network));
    if (cfg.vlan > 4094) return make_error(Errc::kInvalidArgument, "vlan must be 0-4094");
    for (auto& [idx, i] : ifaces_) {
      if (i.cfg.name == cfg.name) return make_error(Errc::kAlreadyExists, "interface " + cfg.name + " already exists");
      if (i.xdp && i.netdev == cfg.netdev)
        return make_error(Errc::kAlreadyExists, "netdev: " + cfg.netdev + " is already attached as " + i.cfg.name);
    }
    uint32_t index = 0;
    while (index < kMaxInterfaces && ifaces_.count(index)) ++index;
    if (index == kMaxInterfaces) return make_error(Errc::kResourceExhausted, "interface limit reached");
    Result<std::unique_ptr<XdpPort>> port = XdpPort::open(cfg, uint32_t(workers_.size()));
    if (!port) return port.error();
    Interface& i = ifaces_[index];
    static_cast<InterfaceCommon&>(i.cfg) = cfg;
    if (i.cfg.mac == 0) i.cfg.mac = generated_mac(cfg.name);
    i.netdev = cfg.netdev;
    i.xdp = std::move(*port);
    i.segment = acquire_segment(cfg.network, cfg.vlan);
    i.connects = 1;
    publish();
    emit(EventKind::kConnected, cfg.name, "", "AF_XDP on " + cfg.netdev);
    return index;
  }

  Status remove_interface(uint32_t index) override {
    std::lock_guard g(mu_);
    auto it = ifaces_.find(index);
    if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface " + std::to_string(index));
    Interface& i = it->second;
    if (i.conn >= 0) close_conn(i.conn, "interface deleted");
    if (i.xdp) retired_xdp_.push_back(std::move(i.xdp));
    publish();
    fib_.flush_port(index);
    release_segment(i.segment);
    if (i.netdev.empty()) release_listener(i.listener, index);
    ifaces_.erase(it);
    // No worker can reach this index any more: start its counters from zero for reuse.
    for (auto& w : workers_) {
      PortCounters& c = w->counters(index);
      for (auto* a : {&c.rx_packets, &c.rx_bytes, &c.tx_packets, &c.tx_bytes}) a->store(0);
      for (auto& d : c.drops) d.store(0);
    }
    return Status::ok();
  }

  void release_listener(const std::string& spec, uint32_t index) {
    Listener& l = listeners_.at(spec);
    std::erase(l.interfaces, index);
    if (l.interfaces.empty()) {
      std::vector<int64_t> orphans;
      for (auto& [id, c] : conns_)
        if (c->listener == spec) orphans.push_back(id);
      for (int64_t id : orphans) close_conn(id, "socket closed");
      close_listener(l);
      listeners_.erase(spec);
    }
  }

  Status set_admin_up(uint32_t index, bool up) override {
    std::lock_guard g(mu_);
    auto it = ifaces_.find(index);
    if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface " + std::to_string(index));
    if (it->second.admin_up == up) return Status::ok();
    it->second.admin_up = up;
    publish();
    // Learned entries would black-hole traffic meant for it; static ones are configuration.
    if (!up) fib_.flush_port(index, /*include_static=*/false);
    return Status::ok();
  }

  Status add_static_mac(uint32_t network, uint16_t vlan, Mac mac, uint32_t interface) override {
    std::lock_guard g(mu_);
    if (mac_is_multicast(mac) || mac == 0) return make_error(Errc::kInvalidArgument, "static MAC must be unicast");
    auto it = ifaces_.find(interface);
    if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface " + std::to_string(interface));
    if (it->second.cfg.network != network || it->second.cfg.vlan != vlan)
      return make_error(Errc::kInvalidArgument, "interface " + it->second.cfg.name + " is not in that network and VLAN");
    return fib_.add_static(fib_key(it->second.segment, mac), interface);
  }

  Status remove_static_mac(uint32_t network, uint16_t vlan, Mac mac) override {
    std::lock_guard g(mu_);
    auto seg = segments_.find({network, vlan});
    if (seg == segments_.end() || !fib_.remove(fib_key(seg->second.id, mac)))
      return make_error(Errc::kNotFound, "no MAC entry " + format_mac(mac));
    return Status::ok();
  }

  std::vector<MacEntry> mac_table() override {
    std::lock_guard g(mu_);
    std::vector<MacEntry> out;
    for (const FibEntry& e : fib_.entries(now_s_.load())) {
      for (auto& [key, seg] : segments_)
        if (seg.id == e.segment) out.push_back({key.first, key.second, e.mac, e.port, e.is_static, e.age_s});
    }
    return out;
  }

  size_t flush_mac_table(uint32_t network) override {
    std::lock_guard g(mu_);
    size_t n = 0;
    for (auto& [key, seg] : segments_)
      if (key.first == network) n += fib_.flush_segment(seg.id, false);
    return n;
  }

  Result<InterfaceInfo> interface_info(uint32_t index) override {
    std::lock_guard g(mu_);
    auto it = ifaces_.find(index);
    if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface " + std::to_string(index));
    const Interface& i = it->second;
    InterfaceInfo info{index, i.xdp ? "afxdp" : "memif", i.cfg.name, i.cfg.network, i.cfg.socket, i.cfg.id, i.cfg.vlan, i.cfg.mac,
                       i.session != nullptr || i.xdp != nullptr, i.admin_up, i.peer_name, i.peer_if_name, 0, 0, 0,
                       {}, {}, {}, false, i.connects, {}, {}};
    if (i.xdp) {
      info.netdev = i.netdev;
      info.xdp_mode = i.xdp->zero_copy() ? "zero-copy" : "copy";
      info.xdp_attach = i.xdp->native() ? "native" : "generic";
      info.multi_buffer = i.xdp->multi_buffer();
      info.rx_queues = info.tx_queues = uint32_t(i.xdp->queues().size());
    }
    std::memcpy(info.protocol_errors, i.errors, sizeof i.errors);
    if (i.session) {
      info.rx_queues = uint32_t(i.session->rx.size());
      info.tx_queues = i.session->n_tx;
      for (auto& r : i.session->bounds) info.peer_memory_bytes += r.size;
    }
    for (auto& w : workers_) {
      PortCounters& c = w->counters(index);
      InterfaceCounters ic{c.rx_packets.load(), c.rx_bytes.load(), c.tx_packets.load(), c.tx_bytes.load(), {}};
      for (size_t d = 0; d < kNumDropReasons; ++d) ic.drops[d] = c.drops[d].load(std::memory_order_relaxed);
      info.per_worker.push_back(ic);
    }
    return info;
  }

  std::vector<uint32_t> interfaces() override {
    std::lock_guard g(mu_);
    std::vector<uint32_t> out;
    for (auto& [idx, i] : ifaces_) out.push_back(idx);
    return out;
  }

  std::vector<SocketInfo> sockets() override {
    std::lock_guard g(mu_);
    std::vector<SocketInfo> out;
    for (auto& [spec, l] : listeners_) {
      SocketInfo s{spec, {}};
      std::memcpy(s.protocol_errors, l.errors, sizeof l.errors);
      out.push_back(s);
    }
    return out;
  }

  std::vector<WorkerInfo> workers() override {
    std::vector<WorkerInfo> out;
    for (auto& w : workers_) out.push_back({w->index(), w->cpu(), w->polls(), w->busy_polls(), w->sleeps()});
    return out;
  }

  uint64_t fib_evictions() override { return fib_.evictions(); }

  Status listen_for_handover(const std::string& path) override {
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

  Result<TakeoverSummary> take_over(const std::string& path, std::chrono::milliseconds timeout) override {
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

  uint32_t finish_takeover() override {
    std::lock_guard g(mu_);
    return drop_adopted(/*completed=*/true);
  }

 private:
  static constexpr uint64_t kTagWake = 1ull << 62;
  static constexpr uint64_t kTagTimer = 2ull << 62;
  static constexpr uint64_t kTagListener = 3ull << 62;
  static constexpr uint64_t kTagMask = 3ull << 62;
  static constexpr uint64_t kTagHandover = kTagWake | 1;  // in the wake tag's space

  struct Segment {
    uint16_t id;
    uint32_t refs;
  };

  uint64_t listener_tag(const std::string& spec) {
    auto [it, inserted] = listener_ids_.try_emplace(spec, next_listener_id_);
    if (inserted) ++next_listener_id_;
    return it->second;
  }
  void watch(int fd, uint64_t tag) {
    epoll_event ev{EPOLLIN, {}};
    ev.data.u64 = tag;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }

  static Mac generated_mac(const std::string& name) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across restarts for the same name
    for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
    return (0x02feull << 32) | (h & 0xFFFFFFFFull);  // locally administered, unicast
  }

  uint16_t acquire_segment(uint32_t network, uint16_t vlan) {
    auto [it, inserted] = segments_.try_emplace({network, vlan}, Segment{0, 0});
    if (inserted) {
      uint16_t id = 1;
      for (;;) {
        bool used = false;
        for (auto& [k, s] : segments_) used |= s.id == id;
        if (!used) break;
        ++id;
      }
      it->second.id = id;
    }
    it->second.refs++;
    return it->second.id;
  }
  void release_segment(uint16_t id) {
    for (auto it = segments_.begin(); it != segments_.end(); ++it)
      if (it->second.id == id && --it->second.refs == 0) {
        fib_.flush_segment(id, true);
        segments_.erase(it);
        return;
      }
  }

  void emit(EventKind kind, const std::string& iface, const std::string& socket, const std::string& detail) {
    if (events_) events_(Event{kind, iface, socket, detail});
  }

  // Builds and publishes a new Topology, then frees what the old one reached once
  // every worker has passed a quiescent point. Called with mu_ held.
  void publish() {
    auto* t = new Topology;
    t->per_worker.resize(workers_.size());
    uint32_t max_seg = 0;
    for (auto& [k, s] : segments_) max_seg = std::max<uint32_t>(max_seg, s.id);
    t->flood.resize(max_seg + 1);
    uint32_t max_idx = 0;
    for (auto& [idx, i] : ifaces_) max_idx = std::max(max_idx, idx + 1);
    t->ports.resize(max_idx);
    size_t next_worker = 0;
    for (auto& [idx, i] : ifaces_) {
      PortView& v = t->ports[idx];
      v.segment = i.segment;
      v.vlan = i.cfg.vlan;
      // Handed over: another process forwards on the sessions now; we must not touch them.
      Session* session = handed_over_ ? nullptr : i.session.get();
      if (!i.admin_up || !(session || i.xdp)) continue;
      v.session = session;
      v.xdp = i.xdp.get();
      t->flood[i.segment].push_back(idx);
      if (session)
        for (RxRing& r : session->rx) t->per_worker[next_worker++ % workers_.size()].push_back({idx, &r, nullptr});
      if (i.xdp)
        for (auto& q : i.xdp->queues()) t->per_worker[next_worker++ % workers_.size()].push_back({idx, nullptr, q.get()});
    }
    const Topology* old = topology_.exchange(t, std::memory_order_acq_rel);
    for (auto& w : workers_) w->wake();  // a sleeping worker picks up new queues at once
    if (qsbr_.synchronize(kGrace)) {
      delete old;
      retired_.clear();
      retired_xdp_.clear();
    } else {
      // A worker is stuck inside a poll: freeing could unmap memory under it. Keep
      // everything; it is retried at the next publish.
      stalled_.push_back(old);
      emit(EventKind::kWorkerStalled, "", "", "a worker did not pass a quiescent point in 2 s");
    }
  }

  void count_error(Conn& c, ProtocolError e) {
    if (c.iface >= 0 && ifaces_.count(uint32_t(c.iface)))
      ifaces_[uint32_t(c.iface)].errors[size_t(e)]++;
    else if (auto it = listeners_.find(c.listener); it != listeners_.end())
      it->second.errors[size_t(e)]++;
  }

  static void send_disconnect(int fd, const std::string& reason) {
    Msg m;
    std::memset(&m, 0, sizeof m);
    m.type = uint16_t(MsgType::kDisconnect);
    set_wire_string(m.disconnect.string, sizeof m.disconnect.string, reason);
    (void)send_msg(fd, m);
  }

  // Ends a connection: tells the peer (unless it is gone), detaches its session from
  // the interface and retires it. The caller publishes afterwards.
  void close_conn(int64_t id, const std::string& reason, bool tell_peer = true) {
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
        if (i.session) retired_.push_back(std::move(i.session));
        i.conn = -1;
        i.peer_name.clear();
        i.peer_if_name.clear();
      }
    }
    const bool was_connected = c.state == Conn::State::kConnected;
    const std::string socket = c.listener;
    conns_.erase(it);  // closes the fd, which drops it from the epoll set
    if (was_connected) emit(EventKind::kDisconnected, iface_name, socket, reason);
  }

  void fail(int64_t id, Conn& c, ProtocolError e, const std::string& reason) {
    count_error(c, e);
    std::string name = c.iface >= 0 && ifaces_.count(uint32_t(c.iface)) ? ifaces_[uint32_t(c.iface)].cfg.name : "";
    emit(EventKind::kProtocolError, name, c.listener, std::string(kProtocolErrors[size_t(e)].name) + ": " + reason);
    const bool had_session = c.state == Conn::State::kConnected;
    close_conn(id, reason);
    if (had_session) publish();
  }

  void close_listener(Listener& l, bool unlink_file = true) {
    if (l.fd >= 0) close(l.fd);
    l.fd = -1;
    if (unlink_file && !l.addr.abstract) unlink(l.addr.name.c_str());
  }

  void control_loop() {
    pthread_setname_np(pthread_self(), "msw-control");
    epoll_event evs[32];
    const auto t0 = Clock::now();
    while (!stopping_.load()) {
      const int n = epoll_wait(epoll_, evs, 32, kTickMs * 2);
      std::lock_guard g(mu_);
      for (int k = 0; k < n; ++k) {
        const uint64_t tag = evs[k].data.u64;
        switch (tag & kTagMask) {
          case kTagWake:
            if (tag == kTagHandover) on_handover_request();
            break;
          case kTagTimer: {
            uint64_t ticks;
            [[maybe_unused]] ssize_t r = read(timer_, &ticks, sizeof ticks);
            on_tick(uint32_t(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count()));
            break;
          }
          case kTagListener:
            for (auto& [spec, id] : listener_ids_)
              if (id == (tag & ~kTagMask) && listeners_.count(spec)) on_accept(listeners_[spec]);
            break;
          default: on_readable(int64_t(tag)); break;
        }
      }
    }
  }

  void on_tick(uint32_t now_s) {
    now_s_.store(now_s, std::memory_order_relaxed);
    if (now_s != last_age_s_) {
      last_age_s_ = now_s;
      fib_.age(now_s, opts_.mac_age_s);
    }
    const auto now = Clock::now();
    std::vector<std::pair<int64_t, ProtocolError>> doomed;
    for (auto& [id, c] : conns_) {
      if (c->state != Conn::State::kConnected && now > c->deadline) doomed.push_back({id, ProtocolError::handshake_timeout});
      if (c->state == Conn::State::kConnected && c->iface >= 0 && !handed_over_) {
        Interface& i = ifaces_[uint32_t(c->iface)];
        // A truncated region comes first: the zero pages that replaced it also make ring
        // indices look out of range, and the truncation is the cause worth reporting.
        if (i.session && std::any_of(i.session->regions.begin(), i.session->regions.end(), [](const SharedMemory& r) { return r.faulted(); }))
          doomed.push_back({id, ProtocolError::bad_region});
        else if (i.session && i.session->bad_peer.load())
          doomed.push_back({id, ProtocolError::bad_ring_index});
      }
    }
    for (auto& [id, why] : doomed) {
      auto it = conns_.find(id);
      static const std::map<ProtocolError, const char*> kReasons = {{ProtocolError::handshake_timeout, "Handshake timeout"},
                                                                    {ProtocolError::bad_ring_index, "Ring index out of range"},
                                                                    {ProtocolError::bad_region, "Region truncated"}};
      if (it != conns_.end()) fail(id, *it->second, why, kReasons.at(why));
    }
    if (!stalled_.empty() && qsbr_.synchronize(std::chrono::milliseconds(0))) {
      for (const Topology* t : stalled_) delete t;
      stalled_.clear();
      retired_.clear();
      retired_xdp_.clear();
    }
  }

  void on_accept(Listener& l) {
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

  void on_readable(int64_t id) {
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
  void handle(int64_t id, Conn& c, const Msg& m, int fd) {
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

  void ack(int64_t id, Conn& c) {
    Msg m;
    std::memset(&m, 0, sizeof m);
    m.type = uint16_t(MsgType::kAck);
    if (!send_msg(c.fd, m)) close_conn(id, "send failed", false);
  }

  void on_init(int64_t id, Conn& c, const memif::MsgInit& init) {
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
      emit(EventKind::kProtocolError, iface->cfg.name, c.listener, "already_connected: Already connected");
      close_conn(id, "Already connected");
      return;
    }
    c.iface = index;
    const std::string secret = wire_string(init.secret, sizeof init.secret);
    if (secret != iface->cfg.secret) {
      // Constant-time compare would not help: the secret is an access check, not a MAC.
      return fail(id, c, ProtocolError::bad_secret, "Incorrect secret");
    }
    if (init.mode != memif::kModeEthernet) return fail(id, c, ProtocolError::bad_mode, "Only ethernet mode is supported");
    iface->conn = id;
    c.peer_name = wire_string(init.name, sizeof init.name);
    c.state = Conn::State::kSetup;
    ack(id, c);
  }

  void on_add_region(int64_t id, Conn& c, const memif::MsgAddRegion& msg, int fd) {
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

  // Why a ring's eventfd cannot be used, or nullptr. The fd is written from a worker: it
  // must really be an eventfd, and nonblocking so a peer that saturates the counter can
  // never stall a worker.
  static const char* eventfd_problem(int fd) {
    char link[64] = {};
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    if (readlink(path.c_str(), link, sizeof link - 1) <= 0 || std::strcmp(link, "anon_inode:[eventfd]") != 0)
      return "Ring fd is not an eventfd";
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return nullptr;
  }

  // Why a ring cannot be used, or nullptr: the same checks for a handshake and a takeover.
  static const char* ring_problem(const PendingRing& p, const std::vector<SharedMemory>& regions) {
    if (p.region >= regions.size()) return "Invalid ring region";
    if (p.log2 < 1 || p.log2 > memif::kMaxLog2RingSize) return "Invalid ring size";
    if (p.offset % 64 != 0 || uint64_t(p.offset) + memif::ring_bytes(p.log2) > regions[p.region].size())
      return "Ring outside its region";
    return nullptr;
  }

  void on_add_ring(int64_t id, Conn& c, const memif::MsgAddRing& msg, int fd) {
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
  std::unique_ptr<Session> make_session(int64_t id, Conn& c) {
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

  void on_connect(int64_t id, Conn& c, const memif::MsgConnect& msg) {
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
    publish();  // workers poll the rings before the peer hears CONNECTED
    Msg reply;
    std::memset(&reply, 0, sizeof reply);
    reply.type = uint16_t(MsgType::kConnected);
    set_wire_string(reply.connect.if_name, sizeof reply.connect.if_name, i.cfg.name);
    if (!send_msg(c.fd, reply)) {
      close_conn(id, "send failed", false);
      publish();
      return;
    }
    emit(EventKind::kConnected, i.cfg.name, c.listener, i.peer_name);
  }

  // ---- Planned restarts: the old process's side ----

  static std::string session_key(const std::string& listener, uint32_t id) { return listener + "#" + std::to_string(id); }

  void on_handover_request() {
    const int fd = accept4(handover_listener_.fd, nullptr, nullptr, SOCK_CLOEXEC);  // blocking: a short, bounded exchange
    if (fd < 0) return;
    // A successor asks at once; anything else must not hold the control thread long.
    Result<handover::Record> req = handover::recv_record(fd, std::chrono::milliseconds(1000));
    if (!req || req->type != handover::RecordType::kRequest || handed_over_) {
      close(fd);
      return;
    }
    uint32_t sessions = 0;
    for (auto& [idx, i] : ifaces_) sessions += i.session != nullptr;
    if (Status s = hand_over(fd); !s) {
      close(fd);
      emit(EventKind::kProtocolError, "", handover_listener_.key, "handover failed, keeping every session: " + s.error().message);
      return;
    }
    handover_conn_ = fd;  // closed last in stop(): its EOF tells the new process we are gone
    emit(EventKind::kHandedOver, "", handover_listener_.key,
         std::to_string(sessions) + " memif sessions and " + std::to_string(listeners_.size()) + " sockets handed over");
  }

  Status hand_over(int fd) {
    handed_over_ = true;
    publish();  // workers let go of every session before the new process polls them
    Status done = acknowledged_state(fd);
    if (!done) {
      handed_over_ = false;  // not taken: forward on every session again
      publish();
      return done;
    }
    // The new process owns the sockets now: stop accepting and reading on them.
    for (auto& [key, l] : listeners_) epoll_ctl(epoll_, EPOLL_CTL_DEL, l.fd, nullptr);
    for (auto& [id, c] : conns_) epoll_ctl(epoll_, EPOLL_CTL_DEL, c->fd, nullptr);
    return Status::ok();
  }

  // Sends everything and waits for the successor to take it.
  Status acknowledged_state(int fd) {
    if (!stalled_.empty()) return make_error(Errc::kBusy, "a worker is stalled inside a poll");
    if (Status s = send_state(fd); !s) return s;
    Result<handover::Record> ack = handover::recv_record(fd, kHandoverTimeout);
    if (!ack) return ack.error();
    if (ack->type != handover::RecordType::kAck) return make_error(Errc::kProtocol, "expected an acknowledgement");
    return Status::ok();
  }

  Status send_state(int fd) {
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
  static handover::SessionState export_session(const Interface& i, const Conn& c) {
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

  // ---- Planned restarts: the new process's side ----

  Result<TakeoverSummary> receive_handover(int fd, std::chrono::milliseconds timeout) {
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
  void adopt_session(uint32_t index, handover::SessionState st) {
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
    emit(EventKind::kConnected, i.cfg.name, c.listener, i.peer_name);
  }

  // What was taken over but not claimed by an interface. After a completed takeover the
  // peers are told and the socket files removed; after a failed one the previous process
  // still serves them, so our copies just close.
  uint32_t drop_adopted(bool completed) {
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

  DataplaneOptions opts_;
  MacTable fib_;
  Qsbr qsbr_;
  std::atomic<const Topology*> topology_{nullptr};
  std::atomic<uint32_t> now_s_{0};
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::thread control_;

  std::mutex mu_;  // everything below; never taken by workers
  bool started_ = false;
  EventHandler events_;
  int epoll_ = -1, wake_ = -1, timer_ = -1;
  std::map<uint32_t, Network> networks_;
  uint32_t next_network_ = 1;
  std::map<uint32_t, Interface> ifaces_;
  std::map<std::string, Listener> listeners_;
  std::map<std::string, uint64_t> listener_ids_;
  uint64_t next_listener_id_ = 1;
  std::map<std::pair<uint32_t, uint16_t>, Segment> segments_;
  std::map<int64_t, std::unique_ptr<Conn>> conns_;
  int64_t next_conn_ = 1;
  std::vector<std::unique_ptr<Session>> retired_;
  std::vector<std::unique_ptr<XdpPort>> retired_xdp_;
  std::vector<const Topology*> stalled_;
  uint32_t last_age_s_ = 0;
  // Planned restarts (see listen_for_handover / take_over).
  Listener handover_listener_;
  int handover_conn_ = -1;
  bool handed_over_ = false;
  std::map<std::string, handover::ListenerState> adopt_listeners_;
  std::map<std::string, handover::SessionState> adopt_sessions_;  // by session_key()
};

}  // namespace

Result<std::unique_ptr<Dataplane>> Dataplane::create(const DataplaneOptions& opts) {
  if (opts.workers == 0 || opts.workers > 64) return make_error(Errc::kInvalidArgument, "workers must be 1-64");
  for (int cpu : opts.cpus)
    if (cpu < 0 || cpu >= CPU_SETSIZE) return make_error(Errc::kInvalidArgument, "cpu " + std::to_string(cpu) + " out of range");
  if (opts.fib_capacity < 64 || opts.fib_capacity > (1u << 24))
    return make_error(Errc::kInvalidArgument, "fib capacity must be 64-16777216");
  return std::unique_ptr<Dataplane>(new DataplaneImpl(opts));
}

}  // namespace memswitch
