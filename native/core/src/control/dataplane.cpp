#include "control/dataplane_impl.h"

#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace memswitch {
namespace detail {

DataplaneImpl::DataplaneImpl(const DataplaneOptions& o)
    : created_tsc_(__rdtsc()), created_(Clock::now()), opts_(o), fib_(o.fib_capacity), neighbors_(o.neighbor_capacity), qsbr_(o.workers), conntrack_(std::make_unique<Conntrack>(o.conntrack, o.workers)) {
  topology_.store(new Topology{kL2Stages, {}, {{}}, std::vector<std::vector<RxAssignment>>(o.workers)});
  for (uint32_t w = 0; w < o.workers; ++w) {
    const int cpu = o.cpus.empty() ? -1 : o.cpus[w % o.cpus.size()];
    workers_.push_back(std::make_unique<Worker>(w, cpu, WorkerShared{&topology_, &fib_, &neighbors_, &qsbr_, &now_s_, &running_, o.adaptive_polling, uint64_t(o.idle_before_sleep_us) * 1000}));
  }
}

DataplaneImpl::~DataplaneImpl() {
  stop();
  delete topology_.load();
}

void DataplaneImpl::set_event_handler(EventHandler h) {
  std::lock_guard g(mu_);
  events_ = std::move(h);
}

Status DataplaneImpl::start() {
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

void DataplaneImpl::stop() {
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
  reclaim(/*workers_stopped=*/true);
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

Result<uint32_t> DataplaneImpl::add_network(const std::string& name) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s.error();
  if (name.empty()) return make_error(Errc::kInvalidArgument, "network name is empty");
  for (auto& [id, n] : networks_)
    if (n.name == name) return make_error(Errc::kAlreadyExists, "network " + name + " already exists");
  const uint32_t id = next_network_++;
  networks_[id] = Network{name};
  return id;
}

Status DataplaneImpl::remove_network(uint32_t network) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s;
  if (!networks_.count(network)) return make_error(Errc::kNotFound, "no network " + std::to_string(network));
  for (auto& [idx, i] : ifaces_)
    if (i.cfg.network == network)
      return make_error(Errc::kBusy, "network " + networks_[network].name + " still has interface " + i.cfg.name);
  for (auto& [id, x] : rifs_)
    if (x.cfg.network == network)
      return make_error(Errc::kBusy, "network " + networks_[network].name + " still has router interface " + x.cfg.name);
  networks_.erase(network);
  return Status::ok();
}

Result<uint32_t> DataplaneImpl::add_memif(const MemifInterfaceConfig& cfg) {
  std::lock_guard g(mu_);
  if (Status s = check_new_interface(cfg); !s) return s.error();
  if (cfg.secret.size() > memif::kSecretSize) return make_error(Errc::kInvalidArgument, "secret is longer than 24 bytes");
  Result<SocketAddress> addr = SocketAddress::parse(cfg.socket);
  if (!addr) return addr.error();
  // An abstract name lives in a network namespace; a path is the same in all of them.
  const std::string key = addr->abstract && !cfg.netns.empty() ? cfg.netns + "|" + addr->spec() : addr->spec();
  for (auto& [idx, i] : ifaces_) {
    if (i.listener == key && i.cfg.id == cfg.id)
      return make_error(Errc::kAlreadyExists, "socket " + cfg.socket + " id " + std::to_string(cfg.id) + " is taken by " + i.cfg.name);
  }
  Result<uint32_t> free = free_index();
  if (!free) return free.error();
  const uint32_t index = *free;
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

Result<uint32_t> DataplaneImpl::add_afxdp(const AfXdpInterfaceConfig& cfg) {
  std::lock_guard g(mu_);
  if (Status s = check_new_interface(cfg); !s) return s.error();
  for (auto& [idx, i] : ifaces_) {
    if (i.xdp && i.netdev == cfg.netdev)
      return make_error(Errc::kAlreadyExists, "netdev: " + cfg.netdev + " is already attached as " + i.cfg.name);
  }
  Result<uint32_t> free = free_index();
  if (!free) return free.error();
  const uint32_t index = *free;
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
  emit(EventKind::peer_connected, cfg.name, "", "AF_XDP on " + cfg.netdev);
  return index;
}

Status DataplaneImpl::remove_interface(uint32_t index) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s;
  auto it = ifaces_.find(index);
  if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface " + std::to_string(index));
  Interface& i = it->second;
  if (i.conn >= 0) close_conn(i.conn, "interface deleted");
  if (i.xdp) retiring_.xdp.push_back(std::move(i.xdp));
  const uint16_t segment = i.segment;
  if (i.netdev.empty()) release_listener(i.listener, index);
  ifaces_.erase(it);
  release_segment(segment);
  // Gone from the table now; a worker still in its last burst may learn it once more,
  // so reclaim() drops its entries again before the index can be reused.
  fib_.flush_port(index);
  retiring_.removed_ports.push_back(index);
  retired_ports_.insert(index);
  publish();
  return Status::ok();
}

void DataplaneImpl::release_listener(const std::string& spec, uint32_t index) {
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

Status DataplaneImpl::set_admin_up(uint32_t index, bool up) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s;
  auto it = ifaces_.find(index);
  if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface " + std::to_string(index));
  if (it->second.admin_up == up) return Status::ok();
  it->second.admin_up = up;
  if (!up) {
    // Learned entries would black-hole traffic meant for it; static ones are configuration.
    // Dropped now and once more after the grace period, for what a last burst learned.
    fib_.flush_port(index, /*include_static=*/false);
    retiring_.downed_ports.push_back(index);
  }
  publish();
  return Status::ok();
}

Status DataplaneImpl::add_static_mac(uint32_t network, uint16_t vlan, Mac mac, uint32_t interface) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s;
  if (mac_is_multicast(mac) || mac == 0) return make_error(Errc::kInvalidArgument, "static MAC must be unicast");
  auto it = ifaces_.find(interface);
  if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface " + std::to_string(interface));
  if (it->second.cfg.network != network || it->second.cfg.vlan != vlan)
    return make_error(Errc::kInvalidArgument, "interface " + it->second.cfg.name + " is not in that network and VLAN");
  return fib_.add_static(fib_key(it->second.segment, mac), interface);
}

Status DataplaneImpl::remove_static_mac(uint32_t network, uint16_t vlan, Mac mac) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s;
  auto seg = segments_.find({network, vlan});
  if (seg == segments_.end() || !fib_.remove(fib_key(seg->second.id, mac)))
    return make_error(Errc::kNotFound, "no MAC entry " + format_mac(mac));
  return Status::ok();
}

std::vector<Dataplane::MacEntry> DataplaneImpl::mac_table() {
  std::lock_guard g(mu_);
  std::vector<MacEntry> out;
  for (const FibEntry& e : fib_.entries(now_s_.load())) {
    for (auto& [key, seg] : segments_)
      if (seg.id == e.segment) out.push_back({key.first, key.second, e.mac, e.port, e.is_static, e.age_s});
  }
  return out;
}

size_t DataplaneImpl::flush_mac_table(uint32_t network) {
  std::lock_guard g(mu_);
  size_t n = 0;
  for (auto& [key, seg] : segments_)
    if (key.first == network) n += fib_.flush_segment(seg.id, false);
  return n;
}

Result<InterfaceInfo> DataplaneImpl::interface_info(uint32_t index) {
  std::lock_guard g(mu_);
  auto it = ifaces_.find(index);
  if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface " + std::to_string(index));
  const Interface& i = it->second;
  InterfaceInfo info{index, i.xdp ? "afxdp" : "memif", i.cfg.name, i.cfg.network, i.cfg.socket, i.cfg.id, i.cfg.vlan, i.cfg.mac, i.cfg.ip_mode,
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

std::vector<uint32_t> DataplaneImpl::interfaces() {
  std::lock_guard g(mu_);
  std::vector<uint32_t> out;
  for (auto& [idx, i] : ifaces_) out.push_back(idx);
  return out;
}

std::vector<SocketInfo> DataplaneImpl::sockets() {
  std::lock_guard g(mu_);
  std::vector<SocketInfo> out;
  for (auto& [spec, l] : listeners_) {
    SocketInfo s{spec, {}};
    std::memcpy(s.protocol_errors, l.errors, sizeof l.errors);
    out.push_back(s);
  }
  return out;
}

double DataplaneImpl::tsc_hz() {
  const uint64_t tsc = __rdtsc();
  const double s = std::chrono::duration<double>(Clock::now() - created_).count();
  return s > 0 ? double(tsc - created_tsc_) / s : 0;
}

std::vector<WorkerInfo> DataplaneImpl::workers() {
  std::vector<WorkerInfo> out;
  for (auto& w : workers_) {
    WorkerInfo& i = out.emplace_back(WorkerInfo{w->index(), w->cpu(), w->polls(), w->busy_polls(), w->sleeps(), {}, w->icmp_errors(), w->icmp_rate_limited()});
    for (size_t n = 0; n < kNumNodes; ++n) {
      const NodeClock& c = w->runtime().node[n];
      const auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
      i.runtime.push_back({node_name(n), get(c.calls), get(c.vectors), get(c.sampled_vectors), get(c.sampled_cycles)});
    }
  }
  return out;
}

Mac DataplaneImpl::generated_mac(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across restarts for the same name
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return (0x02feull << 32) | (h & 0xFFFFFFFFull);  // locally administered, unicast
}

uint16_t DataplaneImpl::acquire_segment(uint32_t network, uint16_t vlan) {
  auto [it, inserted] = segments_.try_emplace({network, vlan}, Segment{0, 0});
  if (inserted) {
    uint16_t id = 1;
    for (;;) {
      bool used = false;
      for (auto& [k, s] : segments_) used |= s.id == id;
      if (!used && !retired_segments_.count(id)) break;
      ++id;
    }
    it->second.id = id;
  }
  it->second.refs++;
  return it->second.id;
}

void DataplaneImpl::release_segment(uint16_t id) {
  for (auto it = segments_.begin(); it != segments_.end(); ++it)
    if (it->second.id == id && --it->second.refs == 0) {
      // Not reusable before the grace period: a last burst may still learn into it.
      fib_.flush_segment(id, true);
      retiring_.removed_segments.push_back(id);
      retired_segments_.insert(id);
      segments_.erase(it);
      return;
    }
}

// Changes are refused while a handover exchange runs (the control thread waits for the
// successor without holding mu_) and after one completed (the successor owns it all).
Status DataplaneImpl::mutable_now() {
  if (handing_over_) return make_error(Errc::kUnavailable, "a planned restart is handing this memswitchd's sessions over; try again");
  if (handed_over_) return make_error(Errc::kBusy, "this memswitchd handed its interfaces over and is exiting");
  return Status::ok();
}

// What every kind of new interface must satisfy.
Status DataplaneImpl::check_new_interface(const InterfaceCommon& cfg) {
  if (Status s = mutable_now(); !s) return s;
  if (cfg.name.empty()) return make_error(Errc::kInvalidArgument, "interface name is empty");
  if (!networks_.count(cfg.network)) return make_error(Errc::kNotFound, "no network " + std::to_string(cfg.network));
  if (cfg.vlan > 4094) return make_error(Errc::kInvalidArgument, "vlan must be 0-4094");
  for (auto& [idx, i] : ifaces_) {
    if (i.cfg.name == cfg.name) return make_error(Errc::kAlreadyExists, "interface " + cfg.name + " already exists");
    if (i.cfg.network == cfg.network && i.cfg.vlan == cfg.vlan && (i.cfg.ip_mode || cfg.ip_mode))
      return make_error(Errc::kAlreadyExists, "network: an ip-mode interface has its network to itself, and " + i.cfg.name + " is there");
  }
  return Status::ok();
}

// The lowest index neither in use, nor still reachable by a worker in its last burst, nor
// named by a running capture or trace (which would otherwise follow a new interface that
// took a removed one's index).
Result<uint32_t> DataplaneImpl::free_index() {
  const auto watched = [&](uint32_t index) {
    for (const auto& [id, c] : captures_)
      if (c.capture->names(index)) return true;
    for (const auto& [id, t] : traces_)
      if (t.trace->names(index)) return true;
    return false;
  };
  for (uint32_t index = 0; index < kMaxInterfaces; ++index)
    if (!ifaces_.count(index) && !retired_ports_.count(index) && !watched(index)) return index;
  return make_error(Errc::kResourceExhausted, "interface limit reached");
}

}  // namespace detail

Result<std::unique_ptr<Dataplane>> Dataplane::create(const DataplaneOptions& opts) {
  if (opts.workers == 0 || opts.workers > 64) return make_error(Errc::kInvalidArgument, "workers must be 1-64");
  for (int cpu : opts.cpus)
    if (cpu < 0 || cpu >= CPU_SETSIZE) return make_error(Errc::kInvalidArgument, "cpu " + std::to_string(cpu) + " out of range");
  if (opts.fib_capacity < 64 || opts.fib_capacity > (1u << 24))
    return make_error(Errc::kInvalidArgument, "fib capacity must be 64-16777216");
  return std::unique_ptr<Dataplane>(new detail::DataplaneImpl(opts));
}

}  // namespace memswitch
