// The Dataplane implementation, shared by the files that each hold one of its concerns:
//   control/dataplane.cpp     API and registries (networks, interfaces, segments, MACs)
//   control/control_loop.cpp  the control thread: epoll, ticks, ageing, peer health
//   control/snapshot.cpp      building and publishing snapshots, reclamation after QSBR
//   control/routing.cpp       routers, router interfaces, routes, neighbours
//   memif/server.cpp          the memif handshake state machine
//   memif/takeover.cpp        planned restarts: handing sessions over and adopting them
// Locking: mu_ guards everything below it and is held only for short, bounded work;
// nothing waits (for QSBR, a peer or a successor) while holding it, so the JS thread's
// calls always answer promptly.
#pragma once
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "control/snapshot.h"
#include "memif/connection.h"
#include "memif/handover.h"
#include "memswitch/dataplane.h"
#include "memswitch/fib.h"
#include "memswitch/qsbr.h"
#include "pipeline/ip4_fib.h"
#include "pipeline/ip6_fib.h"
#include "pipeline/neighbor_table.h"
#include "worker/worker.h"

namespace memswitch::detail {

using Clock = std::chrono::steady_clock;

// A worker that has not passed a quiescent point this long after a publish is stalled.
constexpr auto kGrace = std::chrono::milliseconds(2000);
constexpr auto kHandoverTimeout = std::chrono::milliseconds(5000);
constexpr int kTickMs = 100;

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
  uint32_t acl_in = 0, acl_out = 0;  // bound ACLs (control/acl.cpp); 0: none
};

struct Network {
  std::string name;
};

// What a route points at. Routes with equal targets share one result id, so a million
// routes over a few next hops make a few results (and a results table workers cache).
struct RouteTarget {
  uint32_t router = 0;
  RouteAction action = RouteAction::none;
  uint16_t rif = 0;            // connected, local
  std::vector<NextHop> hops;   // forward, sorted
  auto operator<=>(const RouteTarget&) const = default;
};

struct Router {
  std::string name;
  std::unique_ptr<Ip4Fib> fib;
  std::unique_ptr<Ip6Fib> fib6;
  std::map<IpPrefix, uint32_t> derived;   // its interfaces' connected and local routes
  std::map<IpPrefix, uint32_t> shadowed;  // static routes an interface route hides
  uint32_t interfaces = 0;

  // The table of p's family.
  std::optional<uint32_t> get(IpPrefix p) const { return p.is4() ? fib->get(p.v4()) : fib6->get(p.v6()); }
  Status set(IpPrefix p, uint32_t id) {
    if (p.is4()) return fib->set(p.v4(), id);
    fib6->set(p.v6(), id);
    return Status::ok();
  }
  std::optional<uint32_t> erase(IpPrefix p) { return p.is4() ? fib->erase(p.v4()) : fib6->erase(p.v6()); }
};

struct RouterIf {
  RouterInterfaceConfig cfg;
  uint16_t segment;
};

// What workers may still reach through an unpublished snapshot, and the clean-ups that
// must wait until they cannot: freed once every worker passed a quiescent point.
struct Retired {
  uint64_t grace = 0;  // Qsbr ticket
  Clock::time_point since;
  bool reported = false;  // a stalled worker was reported for this one
  const Topology* topology = nullptr;
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<std::unique_ptr<XdpPort>> xdp;
  std::vector<uint32_t> removed_ports;   // counters reset, MAC entries dropped, index free again
  std::vector<uint32_t> downed_ports;    // learned MAC entries dropped (admin down)
  std::vector<uint16_t> removed_segments;  // MAC entries dropped, id free again
  std::vector<std::unique_ptr<Ip4Fib>> fibs;  // of removed routers
  std::vector<std::unique_ptr<Ip6Fib>> fibs6;
  std::vector<std::unique_ptr<Ip6Fib::Table>> ip6_tables;  // replaced by a rebuild
  std::vector<std::pair<Ip4Fib*, std::vector<uint32_t>>> plies;  // unlinked trie plies, reusable then
  std::vector<uint32_t> freed_targets;  // route result ids, reusable then
  std::vector<uint16_t> removed_rifs;   // neighbours flushed, id free again
  std::vector<std::unique_ptr<Capture>> captures;  // stopped
  std::vector<std::unique_ptr<Trace>> traces;      // stopped
  std::vector<std::unique_ptr<AclTable>> acl_tables;  // replaced or removed
};

class DataplaneImpl final : public Dataplane {
 public:
  explicit DataplaneImpl(const DataplaneOptions& o);
  ~DataplaneImpl() override;

  void set_event_handler(EventHandler h) override;
  Status start() override;
  void stop() override;
  Result<uint32_t> add_network(const std::string& name) override;
  Status remove_network(uint32_t network) override;
  Result<uint32_t> add_memif(const MemifInterfaceConfig& cfg) override;
  Result<uint32_t> add_afxdp(const AfXdpInterfaceConfig& cfg) override;
  Status remove_interface(uint32_t index) override;
  Status set_admin_up(uint32_t index, bool up) override;
  Status add_static_mac(uint32_t network, uint16_t vlan, Mac mac, uint32_t interface) override;
  Status remove_static_mac(uint32_t network, uint16_t vlan, Mac mac) override;
  std::vector<MacEntry> mac_table() override;
  size_t flush_mac_table(uint32_t network) override;
  Result<uint32_t> add_router(const std::string& name) override;
  Status remove_router(uint32_t router) override;
  Result<uint32_t> add_router_interface(const RouterInterfaceConfig& cfg) override;
  Status remove_router_interface(uint32_t rif) override;
  Result<RouterInterfaceInfo> router_interface_info(uint32_t rif) override;
  Status add_routes(uint32_t router, const std::vector<Route>& routes) override;
  Result<size_t> remove_routes(uint32_t router, const std::vector<IpPrefix>& prefixes) override;
  Result<RouterStats> router_stats(uint32_t router) override;
  Status add_static_neighbor(uint32_t rif, IpAddress ip, Mac mac) override;
  Result<bool> remove_neighbor(uint32_t rif, IpAddress ip) override;
  std::vector<NeighborEntry> neighbors() override;
  Result<InterfaceInfo> interface_info(uint32_t index) override;
  std::vector<uint32_t> interfaces() override;
  std::vector<SocketInfo> sockets() override;
  std::vector<WorkerInfo> workers() override;
  double tsc_hz() override;
  uint64_t fib_evictions() override { return fib_.evictions(); }
  Result<uint32_t> start_capture(const CaptureConfig& cfg) override;
  Result<CaptureChunk> read_capture(uint32_t id, size_t max_bytes, uint64_t max_frames) override;
  Status stop_capture(uint32_t id) override;
  Result<uint32_t> start_trace(const TraceConfig& cfg) override;
  Result<TraceChunk> read_trace(uint32_t id, size_t max_steps) override;
  Result<TraceChunk> stop_trace(uint32_t id) override;
  Result<uint32_t> add_acl(const std::string& name, std::vector<AclRule> rules, AclKind kind) override;
  Status set_acl_rules(uint32_t acl, std::vector<AclRule> rules) override;
  Status set_acl_rules_many(std::vector<std::pair<uint32_t, std::vector<AclRule>>> changes) override;
  Status remove_acl(uint32_t acl) override;
  Status bind_acl(uint32_t interface, AclDirection d, uint32_t acl) override;
  Result<AclStats> acl_stats(uint32_t acl) override;
  ConntrackPage conntrack_flows(uint64_t cursor, uint32_t limit) override;
  ConntrackStats conntrack_stats() override;
  void clear_conntrack() override;
  Status listen_for_handover(const std::string& path) override;
  Result<TakeoverSummary> take_over(const std::string& path, std::chrono::milliseconds timeout) override;
  uint32_t finish_takeover() override;

 private:
  const uint64_t created_tsc_;  // with created_, what tsc_hz() measures against
  const Clock::time_point created_;
  static constexpr uint64_t kTagWake = 1ull << 62;
  static constexpr uint64_t kTagTimer = 2ull << 62;
  static constexpr uint64_t kTagListener = 3ull << 62;
  static constexpr uint64_t kTagMask = 3ull << 62;
  static constexpr uint64_t kTagHandover = kTagWake | 1;  // in the wake tag's space

  struct Segment {
    uint16_t id;
    uint32_t refs;
  };

  // control/dataplane.cpp
  Status mutable_now();  // refuses changes while a handover runs or after it completed
  Status check_new_interface(const InterfaceCommon& cfg);
  Result<uint32_t> free_index();
  static Mac generated_mac(const std::string& name);
  uint16_t acquire_segment(uint32_t network, uint16_t vlan);
  void release_segment(uint16_t id);
  void release_listener(const std::string& spec, uint32_t index);

  // control/routing.cpp
  uint32_t intern(const RouteTarget& t);  // a result id holding one more reference
  void unref(uint32_t id);
  // Points `p` at result `id` (taking its reference); *previous: the id it had, or 0.
  Status put_static(Router& r, IpPrefix p, uint32_t id, uint32_t* previous);
  uint32_t take_static(Router& r, IpPrefix p);  // unlinks it; its reference goes to the caller
  size_t erase_static(Router& r, IpPrefix p);
  Status add_interface_routes(Router& r, uint16_t rif, const RouterInterfaceConfig& cfg);
  void remove_interface_routes(Router& r, const RouterInterfaceConfig& cfg);
  void retire_plies(Router& r);
  void build_l3(Topology& t);  // for publish()

  // control/control_loop.cpp
  uint64_t listener_tag(const std::string& spec);
  void watch(int fd, uint64_t tag);
  void emit(EventKind kind, const std::string& iface, const std::string& socket, const std::string& detail);
  void control_loop();
  void on_tick(uint32_t now_s);

  // control/snapshot.cpp
  uint64_t publish();  // returns the grace ticket of what it retired
  void reclaim(bool workers_stopped = false);

  // memif/server.cpp
  void count_error(Conn& c, ProtocolError e);
  void close_conn(int64_t id, const std::string& reason, bool tell_peer = true);
  void fail(int64_t id, Conn& c, ProtocolError e, const std::string& reason);
  static void close_listener(Listener& l, bool unlink_file = true);
  void on_accept(Listener& l);
  void on_readable(int64_t id);
  void handle(int64_t id, Conn& c, const memif::Msg& m, int fd);
  void ack(int64_t id, Conn& c);
  void on_init(int64_t id, Conn& c, const memif::MsgInit& init);
  void on_add_region(int64_t id, Conn& c, const memif::MsgAddRegion& msg, int fd);
  void on_add_ring(int64_t id, Conn& c, const memif::MsgAddRing& msg, int fd);
  std::unique_ptr<Session> make_session(int64_t id, Conn& c);
  void on_connect(int64_t id, Conn& c, const memif::MsgConnect& msg);
  void send_connected(int64_t id, Conn& c);
  void send_pending_connected();

  // memif/takeover.cpp
  static std::string session_key(const std::string& listener, uint32_t id);
  void on_handover_request(std::unique_lock<std::mutex>& lock);
  Status hand_over(int fd, std::unique_lock<std::mutex>& lock);
  Status send_state(int fd);
  static handover::SessionState export_session(const Interface& i, const Conn& c);
  Result<TakeoverSummary> receive_handover(int fd, std::chrono::milliseconds timeout);
  void adopt_session(uint32_t index, handover::SessionState st);
  uint32_t drop_adopted(bool completed);

  DataplaneOptions opts_;
  MacTable fib_;
  NeighborTable neighbors_;
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
  std::map<uint32_t, Router> routers_;
  uint32_t next_router_ = 1;
  std::map<uint32_t, RouterIf> rifs_;
  std::set<uint16_t> retired_rifs_;
  struct TargetSlot {
    RouteTarget target;
    uint32_t refs = 0;  // 0: free (or waiting for a grace period)
  };
  std::vector<TargetSlot> targets_{1};  // by result id; 0 is Ip4Fib::kNoRoute
  std::map<RouteTarget, uint32_t> target_ids_;
  std::vector<uint32_t> free_targets_;
  int64_t next_conn_ = 1;
  // control/capture.cpp: running captures and, per capture, the pcapng interface id of
  // each port its stream has described so far.
  struct CaptureState {
    std::unique_ptr<Capture> capture;
    std::map<uint32_t, uint32_t> described;
    bool header_sent = false;
  };
  std::map<uint32_t, CaptureState> captures_;
  uint32_t next_capture_ = 1;
  // control/trace.cpp: running traces.
  struct TraceState {
    std::unique_ptr<Trace> trace;
  };
  std::map<uint32_t, TraceState> traces_;
  uint32_t next_trace_ = 1;
  // control/acl.cpp: ACLs by id (from 1), each with the table workers read.
  struct AclState {
    std::string name;
    std::unique_ptr<AclTable> table;
  };
  std::map<uint32_t, AclState> acls_;
  uint32_t next_acl_ = 1;
  std::unique_ptr<Conntrack> conntrack_;  // swept a slice per tick
  // Gathered by the changes of one call, handed to the next publish().
  Retired retiring_;
  std::deque<Retired> retired_;            // oldest first
  std::set<uint32_t> retired_ports_;       // removed, not yet reusable
  std::set<uint16_t> retired_segments_;
  uint32_t last_age_s_ = 0;
  // Planned restarts (see listen_for_handover / take_over).
  Listener handover_listener_;
  int handover_conn_ = -1;
  bool handing_over_ = false;  // an exchange is under way: mu_ is released during its waits
  bool handed_over_ = false;
  std::map<std::string, handover::ListenerState> adopt_listeners_;
  std::map<std::string, handover::SessionState> adopt_sessions_;  // by session_key()
};

}  // namespace memswitch::detail
