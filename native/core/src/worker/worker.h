// A polling worker: its run loop, adaptive sleep and quiescent points. Each poll takes
// one burst from one rx queue through the pipeline and transmits it.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "control/snapshot.h"
#include "memif/port.h"
#include "memswitch/fib.h"
#include "memswitch/qsbr.h"
#include "packet/burst.h"
#include "packet/egress.h"
#include "pipeline/l3.h"
#include "pipeline/neighbor_table.h"
#include "pipeline/pipeline.h"
#include "stats/counters.h"
#include "stats/runtime.h"
#include "stats/trace.h"

namespace memswitch::detail {

struct WorkerShared {
  std::atomic<const Topology*>* topology;
  MacTable* fib;
  NeighborTable* neighbors;
  Qsbr* qsbr;
  std::atomic<uint32_t>* now_s;
  std::atomic<bool>* running;
  bool adaptive;               // sleep on the queues' fds when idle
  uint64_t idle_before_sleep_ns;
};

class Worker {
 public:
  Worker(uint32_t index, int cpu, WorkerShared shared);
  ~Worker();
  void start();
  void join();
  // Any thread: makes a sleeping worker look at the (new) snapshot now.
  void wake();

  PortCounters& counters(uint32_t port) { return counters_[port]; }
  const WorkerRuntime& runtime() const { return runtime_; }
  uint64_t icmp_errors() const { return l3_.icmp_errors.load(std::memory_order_relaxed); }
  uint64_t icmp_rate_limited() const { return l3_.icmp_rate_limited.load(std::memory_order_relaxed); }
  uint64_t polls() const { return polls_.load(std::memory_order_relaxed); }
  uint64_t busy_polls() const { return busy_polls_.load(std::memory_order_relaxed); }
  uint64_t sleeps() const { return sleeps_.load(std::memory_order_relaxed); }
  uint32_t index() const { return index_; }
  int cpu() const { return cpu_; }

 private:
  void run();
  bool poll_queue(const Topology& t, const RxAssignment& a, uint32_t now_s);
  template <bool kTimed>
  bool poll_burst(const Topology& t, const RxAssignment& a, uint32_t now_s);
  template <bool kTimed, bool kTraced>
  void forward(StageContext& ctx, uint64_t* since);  // the pipeline, then transmit
  template <bool kTraced>
  uint32_t transmit(const Topology& t);  // the frames it planned, for the runtime
  void capture(const Topology& t, uint32_t port, uint8_t point, const uint16_t* pkts, uint32_t n, const DropReason* why = nullptr);
  void capture_drops(const Topology& t);
  void watch_refused(const Topology& t, uint32_t port, const RxDrops& refused);
  void release_held(const Topology& t, uint32_t now_s);  // packets whose next hop answered
  bool sleep_until_traffic(const Topology& t);  // true: woke by timeout, nothing arrived
  void idle_wait(int timeout_ms);

  uint32_t index_;
  int cpu_;
  WorkerShared sh_;
  std::thread thread_;
  std::unique_ptr<PortCounters[]> counters_;
  std::atomic<uint64_t> polls_{0}, busy_polls_{0}, sleeps_{0};
  WorkerRuntime runtime_;
  uint64_t bursts_ = 0;  // polls that found frames: every kSampleEvery-th is timed
  int wake_fd_ = -1;
  // Per-burst state, touched only by this worker's thread.
  Burst burst_;
  EgressPlan egress_;
  MemifTxScratch memif_tx_;
  TxDrops tx_drops_;
  RxDrops rx_drops_;
  L3State l3_;
  FragmentTable fragments_;
  uint64_t held_generation_ = 0;  // the neighbour table's, when the hold queue was last checked
  uint32_t held_checked_s_ = 0;
  uint64_t xsk_rx_addrs_[kBurst];
  BurstTrace trace_;
  uint8_t capture_scratch_[kMaxFrameSize];  // a frame made contiguous for a capture or trace filter
};

}  // namespace memswitch::detail
