// The vSwitch: networks (L2 bridge domains), memif server interfaces, polling workers
// and the control thread that runs every memif control channel. Thread-safe: any
// thread may call the control methods; workers never take the control lock.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "memswitch/afxdp.h"
#include "memswitch/acl.h"
#include "memswitch/conntrack.h"
#include "memswitch/drop_reason.h"
#include "memswitch/ethernet.h"
#include "memswitch/fib.h"
#include "memswitch/result.h"
#include "memswitch/routing.h"

namespace memswitch {

struct DataplaneOptions {
  uint32_t workers = 1;
  std::vector<int> cpus;              // worker i pins to cpus[i % size]; empty: no pinning
  uint32_t fib_capacity = 65536;
  uint32_t mac_age_s = 300;
  uint32_t neighbor_capacity = 65536;
  uint32_t neighbor_age_s = 300;  // dynamic ARP entries not confirmed for this long go
  uint32_t handshake_timeout_ms = 5000;
  // Adaptive: a worker idle for idle_before_sleep_us sleeps on its queues' eventfds (memif,
  // with MASK_INT cleared) and XSK fds, and busy-polls again when traffic arrives.
  bool adaptive_polling = true;
  uint32_t idle_before_sleep_us = 1000;
  std::string app_name = "memswitch";
  ConntrackOptions conntrack;
};

struct MemifInterfaceConfig : InterfaceCommon {
  std::string socket;   // path, or "@name" for an abstract socket
  uint32_t id = 0;
  std::string secret;   // empty: none
  std::string netns;    // optional: bind the listener inside this network namespace (path)
};

struct InterfaceCounters {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  uint64_t drops[kNumDropReasons] = {};
};

struct InterfaceInfo {
  uint32_t index;
  std::string kind;           // "memif" | "afxdp"
  std::string name;
  uint32_t network;
  std::string socket;
  uint32_t id;
  uint16_t vlan;
  Mac mac;
  bool ip_mode;
  bool connected;
  bool admin_up;
  std::string peer_name;      // from INIT
  std::string peer_if_name;   // from CONNECT
  uint32_t rx_queues, tx_queues;
  uint64_t peer_memory_bytes;
  // AF_XDP only
  std::string netdev;
  std::string xdp_mode;       // "zero-copy" | "copy": what the kernel granted
  std::string xdp_attach;     // "native" | "generic"
  bool multi_buffer = false;  // frames larger than a UMEM chunk are chained
  uint64_t connects;          // completed handshakes since creation
  uint64_t protocol_errors[kNumProtocolErrors];
  std::vector<InterfaceCounters> per_worker;
};

struct SocketInfo {
  std::string socket;
  uint64_t protocol_errors[kNumProtocolErrors];  // before the peer named an interface
};

// One node of a worker's runtime (`show runtime`): "rx", a pipeline stage, or "tx".
struct NodeRuntime {
  std::string node;
  uint64_t calls, vectors;  // bursts it worked on and the frames in them: exact
  // The same on the bursts that were timed (one in 64), and their cycles (TSC):
  // cycles / sampled_vectors is the node's cost per frame.
  uint64_t sampled_vectors, sampled_cycles;
};

struct WorkerInfo {
  uint32_t index;
  int cpu;
  uint64_t polls, busy_polls;
  uint64_t sleeps;  // times it went to sleep for lack of traffic (adaptive polling)
  std::vector<NodeRuntime> runtime;  // rx, the stages in pipeline order, tx
  // ICMP and ICMPv6 errors it sent, and those the 100/s limit held back.
  uint64_t icmp_errors, icmp_rate_limited;
};

// What the dataplane reports to the daemon, which adds its own kinds (interface_up, ...)
// under the same names (orchestrator/src/domain/events.ts, EventKind in types.proto).
#define MEMSWITCH_EVENT_KINDS(X)                                                      \
  X(peer_connected, "a memif peer finished its handshake, or an AF_XDP port attached") \
  X(peer_disconnected, "a memif peer left or was disconnected")                        \
  X(protocol_error, "a memif peer broke the protocol and was refused")                 \
  X(worker_stalled, "a worker did not pass a quiescent point in time")                 \
  X(handed_over, "a new memswitchd took this one's memif sessions: this one exits")

enum class EventKind : uint8_t {
#define X(name, help) name,
  MEMSWITCH_EVENT_KINDS(X)
#undef X
      kCount
};
constexpr std::array<const char*, size_t(EventKind::kCount)> kEventKinds = {{
#define X(name, help) #name,
    MEMSWITCH_EVENT_KINDS(X)
#undef X
}};
struct Event {
  EventKind kind;
  std::string interface;  // empty when not known yet
  std::string socket;
  std::string detail;
};
using EventHandler = std::function<void(const Event&)>;  // called on the control thread

struct TakeoverSummary {
  uint32_t listeners = 0;
  uint32_t sessions = 0;
};

// A packet capture (memswitch capture): frames received, sent or dropped on some
// interfaces that a pcap-filter(7) expression accepts, kept on the workers in a ring
// per worker (a full ring loses frames and counts them, it never stops forwarding).
struct CaptureConfig {
  std::vector<uint32_t> interfaces;  // empty: every interface, also those added later
  bool rx = true, tx = true, drops = false;
  std::string filter;  // empty: every frame
  uint32_t snaplen = 65535;
  uint32_t ring_bytes = 4u << 20;  // per worker
};

// What one read of a capture found: pcapng blocks (the first read starts with the
// section header; an interface is described before its first frame).
struct CaptureChunk {
  std::string pcapng;
  uint64_t frames;          // in this chunk
  uint64_t kept, lost;      // since the capture started: recorded, and lost to a full ring
};

// A packet trace (memswitch trace): the next `packets` frames a pcap-filter(7)
// expression accepts where they enter some interfaces, followed through every node of
// the worker that has them, with what each node decided.
struct TraceConfig {
  std::vector<uint32_t> interfaces;  // where frames enter; empty: every interface
  std::string filter;                // empty: every frame
  uint32_t packets = 10;             // 1 to 100000
};

// One node a traced frame passed, and what it decided.
struct TraceStep {
  uint32_t packet;      // the trace's packet number, from 0 in the order frames were taken
  uint32_t frame;       // 0: the frame received; 1, 2...: frames the router made for it
  uint32_t worker;
  std::string node;     // "rx", a stage (MEMSWITCH_STAGES), "tx"
  uint64_t start_ns;    // CLOCK_REALTIME when the packet was taken at rx
  uint64_t elapsed_ns;  // from then to when this node was done with it
  uint32_t interface;   // rx and stages: where the packet came in; tx: where this frame went out
  uint32_t length;      // the frame's length then (a frame refused at rx: what it claimed)
  std::string next;     // the stage it is for next; empty: none
  std::vector<uint32_t> egress;  // interfaces it is planned to leave by so far (at most 4 named)
  uint32_t egress_count;
  bool routed;          // a lookup chose a route: out_rif and next_hop
  uint32_t out_rif;
  std::string next_hop;
  std::string drop;     // the reason it was dropped here or before; empty: not dropped
  std::string bytes;    // its first bytes as they are after this node
  bool ethernet;        // they start with Ethernet; else with IP (memif ip mode)
};

struct TraceChunk {
  std::vector<TraceStep> steps;  // in each worker's order; a packet's steps in node order
  uint32_t taken;                // packets the trace has taken so far (at most `packets`)
  uint64_t lost;                 // steps a full ring lost
};

class Dataplane {
 public:
  static Result<std::unique_ptr<Dataplane>> create(const DataplaneOptions& opts);
  virtual ~Dataplane() = default;

  // Events may arrive on the control thread from start() on; set before start().
  virtual void set_event_handler(EventHandler h) = 0;
  virtual Status start() = 0;
  // Sends DISCONNECT to every peer, removes socket files, joins all threads.
  virtual void stop() = 0;

  virtual Result<uint32_t> add_network(const std::string& name) = 0;
  virtual Status remove_network(uint32_t network) = 0;  // fails with kBusy while interfaces use it

  // The listener is bound before this returns, so a client started afterwards finds it.
  virtual Result<uint32_t> add_memif(const MemifInterfaceConfig& cfg) = 0;
  // Opens one XSK per selected queue of the netdev (loading libxdp's XDP program) and
  // starts polling them. The netdev must exist; removal detaches the program again.
  virtual Result<uint32_t> add_afxdp(const AfXdpInterfaceConfig& cfg) = 0;
  virtual Status remove_interface(uint32_t index) = 0;
  // Admin down: the peer may stay connected, but the switch neither polls nor sends to it.
  virtual Status set_admin_up(uint32_t index, bool up) = 0;

  virtual Status add_static_mac(uint32_t network, uint16_t vlan, Mac mac, uint32_t interface) = 0;
  virtual Status remove_static_mac(uint32_t network, uint16_t vlan, Mac mac) = 0;
  struct MacEntry {
    uint32_t network;
    uint16_t vlan;
    Mac mac;
    uint32_t interface;
    bool is_static;
    uint32_t age_s;
  };
  virtual std::vector<MacEntry> mac_table() = 0;
  virtual size_t flush_mac_table(uint32_t network) = 0;  // dynamic entries only

  // Routers (VRFs). A router interface sits on a network (segment) with a MAC and
  // addresses: frames to that MAC are routed, and its addresses are the network's
  // gateways. Each address, IPv4 or IPv6, adds a connected route (its subnet) and a local
  // one (/32, /128); an IPv6 link-local address adds neither (it means nothing off its link).
  virtual Result<uint32_t> add_router(const std::string& name) = 0;
  virtual Status remove_router(uint32_t router) = 0;  // kBusy while it has interfaces; its routes go with it
  virtual Result<uint32_t> add_router_interface(const RouterInterfaceConfig& cfg) = 0;
  virtual Status remove_router_interface(uint32_t rif) = 0;
  virtual Result<RouterInterfaceInfo> router_interface_info(uint32_t rif) = 0;
  // Static routes, all or nothing: every route is checked before any is applied. A
  // prefix already present is replaced. A next hop is usable while one of the router's
  // interfaces has a subnet holding it (or names the interface); a route none of whose
  // next hops is usable answers like an unreachable one.
  virtual Status add_routes(uint32_t router, const std::vector<Route>& routes) = 0;
  virtual Result<size_t> remove_routes(uint32_t router, const std::vector<IpPrefix>& prefixes) = 0;
  struct RouterStats {
    size_t routes;        // in the table, static and interface routes
    size_t table_bytes;   // the lookup structure and its index
  };
  virtual Result<RouterStats> router_stats(uint32_t router) = 0;
  virtual Status add_static_neighbor(uint32_t rif, IpAddress ip, Mac mac) = 0;
  virtual Result<bool> remove_neighbor(uint32_t rif, IpAddress ip) = 0;
  virtual std::vector<NeighborEntry> neighbors() = 0;

  virtual Result<InterfaceInfo> interface_info(uint32_t index) = 0;
  virtual std::vector<uint32_t> interfaces() = 0;
  virtual std::vector<SocketInfo> sockets() = 0;
  virtual std::vector<WorkerInfo> workers() = 0;
  // TSC ticks per second (what NodeRuntime cycles count), measured against the monotonic
  // clock over the dataplane's life so far.
  virtual double tsc_hz() = 0;
  virtual uint64_t fib_evictions() = 0;

  // kInvalidArgument with libpcap's message for a bad filter; kNotFound for an unknown
  // interface. Reads drain the workers' rings (one reader at a time) up to about
  // max_bytes or exactly max_frames; stop frees them.
  virtual Result<uint32_t> start_capture(const CaptureConfig& cfg) = 0;
  virtual Result<CaptureChunk> read_capture(uint32_t id, size_t max_bytes, uint64_t max_frames = UINT64_MAX) = 0;
  virtual Status stop_capture(uint32_t id) = 0;

  // kInvalidArgument with libpcap's message for a bad filter or a packet count out of
  // range; kNotFound for an unknown interface. Reads drain the workers' rings (one reader
  // at a time), up to max_steps. A trace that has taken all its packets stops looking at
  // frames. Stop returns every step not read yet (no worker is still writing one, unless
  // one is stalled) and frees the rings.
  virtual Result<uint32_t> start_trace(const TraceConfig& cfg) = 0;
  virtual Result<TraceChunk> read_trace(uint32_t id, size_t max_steps) = 0;
  virtual Result<TraceChunk> stop_trace(uint32_t id) = 0;

  // Ordered ACLs (acl.h). Rules are checked whole before anything changes; replacing them
  // swaps the table workers read at once (a packet meets the old rules or the new ones,
  // never neither) and restarts the hit counters. kAlreadyExists for a name in use;
  // kBusy to remove one still bound. An interface has at most one ACL per direction
  // (acl 0 unbinds); binding one turns its stage on, for that interface only.
  virtual Result<uint32_t> add_acl(const std::string& name, std::vector<AclRule> rules, AclKind kind = AclKind::acl) = 0;
  virtual Status set_acl_rules(uint32_t acl, std::vector<AclRule> rules) = 0;
  // Several ACLs' rules swapped in one snapshot: a packet meets all the old rule sets or
  // all the new ones (a policy change touches the ingress of one interface and the egress
  // of another; a flow must never meet one old and one new). Checked whole first.
  virtual Status set_acl_rules_many(std::vector<std::pair<uint32_t, std::vector<AclRule>>> changes) = 0;
  virtual Status remove_acl(uint32_t acl) = 0;
  virtual Status bind_acl(uint32_t interface, AclDirection d, uint32_t acl) = 0;
  virtual Result<AclStats> acl_stats(uint32_t acl) = 0;
  // Connection tracking (conntrack.h): the tracked flows a page at a time (from cursor 0,
  // on while next is not 0), the table's figures, and forgetting every flow (their next
  // packets are judged by the rules again).
  virtual ConntrackPage conntrack_flows(uint64_t cursor, uint32_t limit) = 0;
  virtual ConntrackStats conntrack_stats() = 0;
  virtual void clear_conntrack() = 0;

  // Planned restarts that keep memif peers connected (DPDK's net_memif never reconnects).
  // The running process serves takeover requests on `path` (a filesystem socket, 0600).
  // When it has handed its sessions over it emits handed_over and stops forwarding on
  // them; its stop() then neither disconnects peers nor removes socket files.
  virtual Status listen_for_handover(const std::string& path) = 0;
  // The new process, before start() and before adding interfaces: takes the listening
  // sockets and live memif sessions of the process serving `path`, then waits up to
  // `timeout` for that process to exit. add_memif() adopts them by socket and id,
  // validating each like a fresh handshake. kNotFound when nobody serves `path`.
  virtual Result<TakeoverSummary> take_over(const std::string& path, std::chrono::milliseconds timeout) = 0;
  // After the interfaces are added: disconnects the taken-over sessions and closes the
  // listeners that no interface claimed. Returns the number of sessions disconnected.
  virtual uint32_t finish_takeover() = 0;
};

}  // namespace memswitch
