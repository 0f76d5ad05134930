// Packet trace (VPP's `trace add`, without its buffer that stops when full): the next N
// frames a pcap-filter(7) expression selects where they enter some interfaces are
// followed through every node of the worker — rx, each stage that has them, tx — and
// each node's outcome is recorded: where the frame is for next, the route a lookup chose,
// the egress ports planned, a drop and its reason, and the frame's first bytes as they
// are then. Frames a stage makes for a traced one (a reply, an ICMP error, a fragment,
// an ARP request for its next hop) are followed as part of the same packet.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "memswitch/drop_reason.h"
#include "memswitch/result.h"
#include "memswitch/routing.h"
#include "packet/burst.h"
#include "packet/egress.h"
#include "pipeline/stages.h"
#include "stats/packet_filter.h"
#include "stats/record_ring.h"

namespace memswitch::detail {

constexpr uint32_t kTraceBytes = 96;   // of each frame, per node: Ethernet, IPv6 and TCP
constexpr uint32_t kTraceEgress = 4;   // egress ports a record names (of n_egress)
constexpr uint8_t kNoStage = uint8_t(kNumStages);

struct TraceRecord {
  uint64_t start_ns;   // CLOCK_REALTIME when the packet was taken at rx
  uint64_t start_tsc;  // the TSC then
  uint64_t tsc;        // when this node was done with the frame
  IpAddress next_hop;  // where `routed`
  uint32_t packet;     // the trace's packet number, from 0 in the order frames were taken
  uint32_t port;       // rx and the stages: where it came in; tx: where it went out
  uint32_t len;        // the frame's length then (rx of a refused frame: what it claimed)
  uint32_t cap_len;    // of its bytes that follow the record
  uint32_t egress[kTraceEgress];
  uint16_t n_egress;   // ports planned for it so far
  uint16_t out_rif;    // where `routed`
  uint8_t node;        // kRxNode, node_of(stage), kTxNode
  uint8_t worker;
  uint8_t frame;       // 0: the frame received; 1, 2...: frames made for it, in order
  uint8_t next;        // the Stage it is for next, or kNoStage
  DropReason drop;     // kCount: not dropped
  bool routed;         // a lookup chose out_rif and next_hop
  bool raw;            // the bytes start at the IP header (memif ip mode), not Ethernet
  uint8_t pad[5];
};
static_assert(sizeof(TraceRecord) == 88);

using TraceRing = RecordRing<TraceRecord>;

// Which stage a frame is for next.
constexpr uint8_t stage_for(Next n) {
  switch (n) {
    case Next::kRouter: return uint8_t(Stage::l3_input);
    case Next::kIp4:
    case Next::kIp4Local: return uint8_t(Stage::ip4_lookup);
    case Next::kIp6:
    case Next::kIp6Local: return uint8_t(Stage::ip6_lookup);
    case Next::kRewrite: return uint8_t(Stage::neighbor);
    case Next::kNone: break;
  }
  return kNoStage;
}

class Trace {
 public:
  // kInvalidArgument with libpcap's message for a bad filter, or for a packet count
  // outside 1..kMaxPackets. Empty `ports`: frames entering any port.
  static constexpr uint32_t kMaxPackets = 100000;
  static Result<std::unique_ptr<Trace>> create(const std::string& filter, std::vector<uint32_t> ports, uint32_t packets, uint32_t workers, bool raw_too);

  bool covers(uint32_t port) const;
  bool names(uint32_t port) const;  // among the ports it was started on (not "every port")
  bool done() const { return taken_.load(std::memory_order_relaxed) >= packets_; }
  // Worker side: the next packet number, or false once all were taken. Several workers
  // may race past the end; the counter only grows, by at most one a worker.
  bool take(uint32_t* number) {
    if (done()) return false;
    *number = taken_.fetch_add(1, std::memory_order_relaxed);
    return *number < packets_;
  }
  uint32_t taken() const { return std::min(taken_.load(std::memory_order_relaxed), packets_); }
  uint32_t packets() const { return packets_; }
  const PacketFilter& filter() const { return *filter_; }
  TraceRing& ring(uint32_t worker) { return *rings_[worker]; }
  uint32_t workers() const { return uint32_t(rings_.size()); }

 private:
  Trace() = default;
  std::vector<uint32_t> ports_;
  uint32_t packets_ = 0;
  std::atomic<uint32_t> taken_{0};
  std::unique_ptr<PacketFilter> filter_;
  std::vector<std::unique_ptr<TraceRing>> rings_;
};

// One worker's trace of the burst in hand: which frames are traced, by which trace and
// as which packet, and the records they make at each node. Used only on bursts with a
// traced frame; nothing here runs otherwise.
class BurstTrace {
 public:
  explicit BurstTrace(uint32_t worker) : worker_(worker) {}
  // rx: offers the burst's frames to the traces covering `port` (the first trace that
  // takes a frame has it) and records rx for those taken. True when any was.
  bool start(const std::vector<Trace*>& traces, const Burst& b, bool ip_mode, uint8_t* scratch);
  // Frames refused at receive: no bytes, the length they claimed and why.
  void refused(const std::vector<Trace*>& traces, uint32_t port, bool ip_mode, const RxDrops& r);
  // After a stage: adopts the frames it made for traced ones, and records each traced
  // frame it had something to do with (it was for the stage, or the stage changed it).
  void after_stage(Stage s, const Burst& b, const EgressPlan& plan, uint32_t n_before);
  // Transmit of batch `out`: a record per traced frame in it, sent or dropped (`drops`).
  void sent(const Burst& b, const Batch& out, bool out_ip_mode, const TxDrops& drops);

 private:
  struct Mark {
    Trace* trace;  // null: frame not traced
    uint32_t packet;
    uint8_t frame;
    bool routed;
    bool in_ip_mode;  // it came without an Ethernet header
    // What the last record said, to tell whether a stage changed anything.
    uint8_t next;
    DropReason drop;
    uint16_t n_egress;
    uint16_t header_len;
    uint32_t len;
    uint64_t start_ns, start_tsc;
  };
  // `tsc`: when the node was done with the frame, less the trace's own time so far.
  void record(const Burst& b, uint32_t k, uint8_t node, uint32_t port, const uint32_t* egress, uint16_t n_egress, DropReason drop, bool raw, uint64_t tsc);
  uint32_t worker_;
  Mark marks_[kSlots];
  uint16_t traced_[kSlots];  // the frames with a mark, in slot order
  uint32_t n_traced_ = 0;
  uint64_t overhead_ = 0;  // TSC ticks the trace itself spent on this burst so far
  uint8_t bytes_[kTraceBytes];
};

}  // namespace memswitch::detail
