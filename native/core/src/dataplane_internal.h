// Shared between the control thread (dataplane.cpp) and the workers (worker.cpp).
#pragma once
#include <atomic>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "memswitch/afxdp.h"
#include "memswitch/dataplane.h"
#include "memswitch/fib.h"
#include "memswitch/qsbr.h"
#include "memswitch/shm.h"
#include "memswitch/wire.h"

namespace memswitch::detail {

constexpr uint32_t kMaxInterfaces = 1024;
constexpr uint32_t kBurst = 64;
constexpr uint32_t kMaxSegsPerPacket = 64;
constexpr uint32_t kMaxSegsPerBurst = 512;

struct PeerRegion {
  uint8_t* base;
  uint64_t size;
};

// C2S ring as seen by its one polling worker.
struct RxRing {
  memif::RingHeader* hdr;
  memif::Desc* desc;
  uint16_t size, mask;
  uint16_t last_head;  // our shadow of tail: never trust the shared copy
  int eventfd;         // the peer signals it when we clear MASK_INT (adaptive polling)
};

// S2C ring; several workers transmit on it only when the peer has fewer queues than
// there are workers, and then they take `lock`.
struct alignas(64) TxRing {
  memif::RingHeader* hdr;
  memif::Desc* desc;
  uint16_t size, mask;
  uint16_t tail;
  int eventfd;
  bool shared;
  std::atomic_flag lock = ATOMIC_FLAG_INIT;
};

// A connected peer's memory and rings. Built by the control thread at CONNECT, read by
// workers through the published Topology, freed only after a QSBR grace period.
struct Session {
  std::vector<SharedMemory> regions;
  std::vector<PeerRegion> bounds;
  std::vector<RxRing> rx;
  std::unique_ptr<TxRing[]> tx;
  uint32_t n_tx = 0;
  std::vector<int> eventfds;                // C2S then S2C, owned
  std::atomic<bool> bad_peer{false};        // set by a worker; the control thread tears down
  ~Session();
};

// One port in the published table: a memif session or an AF_XDP port (neither: the
// port is not connected or admin down, and nothing is sent to it).
struct PortView {
  Session* session = nullptr;
  XdpPort* xdp = nullptr;
  uint16_t segment = 0;
  uint16_t vlan = 0;
  bool up() const { return session || xdp; }
};

struct RxAssignment {
  uint32_t port;
  RxRing* ring;   // memif C2S ring, or
  XskQueue* xsk;  // an AF_XDP queue
};

// Immutable once published: the control thread builds a new one for every change.
struct Topology {
  std::vector<PortView> ports;                     // by interface index
  std::vector<std::vector<uint32_t>> flood;        // by segment: connected ports
  std::vector<std::vector<RxAssignment>> per_worker;
};

struct alignas(64) PortCounters {
  std::atomic<uint64_t> rx_packets{0}, rx_bytes{0}, tx_packets{0}, tx_bytes{0};
  std::atomic<uint64_t> drops[kNumDropReasons]{};
};

// Single-writer counter bump: a plain load/add/store, no locked instruction.
inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct WorkerShared {
  std::atomic<const Topology*>* topology;
  MacTable* fib;
  Qsbr* qsbr;
  std::atomic<uint32_t>* now_s;
  std::atomic<bool>* running;
  bool adaptive;               // sleep on the queues' fds when idle
  uint64_t idle_before_sleep_ns;
};

class Worker {
 public:
  Worker(uint32_t index, int cpu, uint32_t n_workers, WorkerShared shared);
  void start();
  void join();
  PortCounters& counters(uint32_t port) { return counters_[port]; }
  uint64_t polls() const { return polls_.load(std::memory_order_relaxed); }
  uint64_t busy_polls() const { return busy_polls_.load(std::memory_order_relaxed); }
  uint32_t index() const { return index_; }
  int cpu() const { return cpu_; }
  uint64_t sleeps() const { return sleeps_.load(std::memory_order_relaxed); }
  // Any thread: makes a sleeping worker look at the (new) topology now.
  void wake();
  ~Worker();

 private:
  struct Segment {
    const uint8_t* data;
    uint32_t len;
  };
  struct Packet {
    uint16_t first_seg, n_segs;
    uint32_t len;
  };
  struct Batch {
    uint32_t port;
    uint16_t n;
    uint16_t pkt[kBurst];
  };
  void run();
  bool sleep_until_traffic(const Topology& t);  // true: woke by timeout, nothing arrived
  void idle_wait(int timeout_ms);
  bool poll_memif(const Topology& t, const RxAssignment& a, uint32_t now_s);
  bool poll_xsk(const Topology& t, const RxAssignment& a, uint32_t now_s);
  void forward(const Topology& t, uint32_t in_port, uint32_t n_pkts, uint32_t now_s);
  void stage(uint32_t port, uint16_t pkt);
  void transmit(const Topology& t, const Batch& b);
  void transmit_memif(Session& s, const Batch& b);
  void transmit_xsk(XdpPort& x, const Batch& b);
  void drop(uint32_t port, DropReason r, uint64_t n = 1) { bump(counters_[port].drops[size_t(r)], n); }

  uint32_t index_;
  int cpu_;
  uint32_t n_workers_;
  WorkerShared sh_;
  std::thread thread_;
  std::unique_ptr<PortCounters[]> counters_;
  std::atomic<uint64_t> polls_{0}, busy_polls_{0}, sleeps_{0};
  int wake_fd_ = -1;
  // Per-burst scratch, touched only by this worker's thread.
  Segment segs_[kMaxSegsPerBurst];
  Packet pkts_[kBurst];
  // Transmit plan of one batch: reserved destination descriptors and, per packet,
  // (first reserved slot, slots), or (0, 0) when the packet was dropped.
  memif::Desc tx_dst_[kBurst * kMaxSegsPerPacket];
  std::pair<uint16_t, uint16_t> tx_plan_[kBurst];
  uint64_t xsk_rx_addrs_[kBurst * kMaxSegsPerPacket];  // rx frames to refill after a burst
  std::unique_ptr<uint16_t[]> batch_of_port_;  // kNoBatch when the port has none
  std::unique_ptr<Batch[]> batches_;
  uint32_t n_batches_ = 0;
};

}  // namespace memswitch::detail
