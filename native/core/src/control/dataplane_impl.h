// The Dataplane implementation, shared by the files that each hold one of its concerns:
//   control/dataplane.cpp     API and registries (networks, interfaces, segments, MACs)
//   control/control_loop.cpp  the control thread: epoll, ticks, ageing, peer health
//   control/snapshot.cpp      building and publishing snapshots, reclamation after QSBR
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
};

struct Network {
  std::string name;
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
  Result<InterfaceInfo> interface_info(uint32_t index) override;
  std::vector<uint32_t> interfaces() override;
  std::vector<SocketInfo> sockets() override;
  std::vector<WorkerInfo> workers() override;
  uint64_t fib_evictions() override { return fib_.evictions(); }
  Status listen_for_handover(const std::string& path) override;
  Result<TakeoverSummary> take_over(const std::string& path, std::chrono::milliseconds timeout) override;
  uint32_t finish_takeover() override;

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

  // control/dataplane.cpp
  Status mutable_now();  // refuses changes while a handover runs or after it completed
  Status check_new_interface(const InterfaceCommon& cfg);
  Result<uint32_t> free_index();
  static Mac generated_mac(const std::string& name);
  uint16_t acquire_segment(uint32_t network, uint16_t vlan);
  void release_segment(uint16_t id);
  void release_listener(const std::string& spec, uint32_t index);

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
