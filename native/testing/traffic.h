// Native traffic generator, sink and reflector over our memif clients: one thread runs
// every task given to an engine, so a test or benchmark occupies exactly one CPU.
// Frames carry a stream id, a sequence number and a send timestamp (CLOCK_MONOTONIC)
// so the receiving side reports loss, reordering and latency.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "memswitch/ethernet.h"
#include "memswitch/histogram.h"
#include "memswitch/memif_client.h"
#include "memswitch/routing.h"

namespace memswitch {

constexpr uint16_t kTestEtherType = 0x88B5;  // IEEE local experimental
constexpr uint32_t kTestMagic = 0x4D535754;  // "MSWT"
constexpr uint32_t kTestHeaderSize = kEthHeaderSize + 4 + 4 + 8 + 8;
constexpr uint32_t kMinTestFrame = 60;

struct GeneratorSpec {
  uint32_t queue = 0;
  uint32_t frame_size = 64;
  uint64_t pps = 0;        // 0: as fast as the ring allows
  uint64_t count = 0;      // 0: until stopped
  Mac src = 0, dst = 0;
  uint16_t vlan = 0;       // nonzero: send 802.1Q tagged
  uint32_t stream = 0;
  // ip4_dst nonzero: IPv4/UDP frames (for routers) instead of the test ethertype. The
  // test header then overlaps the UDP length and checksum (at byte 38), so it fits a
  // 64-byte frame; nothing on a memif benchmark path reads those two fields. Frame k
  // goes to ip4_dst + (k * dst_stride) % dst_count, spreading destinations over
  // a route table; UDP source ports vary too, for ECMP.
  uint32_t ip4_src = 0, ip4_dst = 0;
  // ip6_dst nonzero: IPv6/UDP frames alike (64 bytes only `bare`: the test header sits at
  // byte 58). Destinations move by whole /48s: frame k goes to ip6_dst + (index << 80),
  // so they spread over a table of /48 routes.
  Ip6 ip6_src, ip6_dst;
  uint32_t dst_count = 1, dst_stride = 1;  // either family
  // No test header (no sequence, timestamp or loss accounting at the sink): the least
  // work per frame, so a benchmark's generator outruns the switch it measures.
  bool bare = false;
  // Every frame from UDP source port 1024 (else 1024 + its slot in the burst): then
  // dst_count destinations are dst_count flows, no more (a connection tracking table's size).
  bool one_source_port = false;
};

// Receives on every queue of its client; frames that are not ours count as foreign.
struct SinkSpec {};

// Frames received on `a` are sent on `b` and back, like testpmd's mac forwarding with
// --tx-first: each side first sends `initial_burst` frames, then forwards what it gets
// with src = own MAC and dst = the other side's MAC.
struct LoopSpec {
  uint32_t frame_size = 64;
  uint32_t initial_burst = 256;
  Mac a_mac = 0, b_mac = 0;
};

struct TaskStats {
  uint64_t tx_packets = 0, tx_bytes = 0, tx_ring_full = 0;
  uint64_t rx_packets = 0, rx_bytes = 0, rx_foreign = 0;
  uint64_t lost = 0, reordered = 0;
  uint64_t latency_samples = 0;
  uint64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, max_ns = 0;
  bool connected = true;
};

class TrafficEngine {
 public:
  ~TrafficEngine() { stop(); }
  // Tasks refer to clients the caller keeps alive until stop(). Returns the task id.
  size_t add_generator(MemifClient* c, const GeneratorSpec& spec);
  size_t add_sink(MemifClient* c, const SinkSpec& spec);
  size_t add_loop(MemifClient* a, MemifClient* b, const LoopSpec& spec);

  void start(int cpu = -1);
  void stop();
  bool running() const { return running_.load(); }
  // True once every generator with a count has sent it.
  bool generators_done() const { return generators_done_.load(); }
  TaskStats stats(size_t task);
  void reset_stats();

 private:
  struct Stream {
    uint64_t expected = 0;
    bool seen = false;
  };
  struct Task {
    enum class Kind { kGenerator, kSink, kLoop } kind;
    MemifClient* a = nullptr;
    MemifClient* b = nullptr;
    GeneratorSpec gen;
    LoopSpec loop;
    std::vector<uint8_t> frames;  // generator: kBurst copies of the template frame
    uint64_t next_seq = 0;
    uint32_t dst_index = 0;  // generator: offset of the next destination from ip4_dst or ip6_dst
    uint64_t start_ns = 0;
    std::vector<Stream> streams;  // sink: by stream id
    TaskStats stats;
    LatencyHistogram latency;
    bool initial_sent = false;
  };
  void run(int cpu);
  bool step_generator(Task& t, uint64_t now);
  bool step_sink(Task& t, MemifClient* c, uint64_t now);
  bool step_loop(Task& t, uint64_t now);
  void account_rx(Task& t, const uint8_t* p, uint32_t len, uint64_t now);

  void publish_stats();

  std::vector<std::unique_ptr<Task>> tasks_;
  std::mutex mu_;  // guards `published_` against the engine thread
  struct Published {
    TaskStats stats;
    LatencyHistogram latency;
  };
  std::vector<Published> published_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> generators_done_{false};
  std::atomic<bool> reset_{false};
};

uint64_t monotonic_ns();

}  // namespace memswitch

namespace memswitch {
// One-way latency of bouncing a cache line between threads pinned to cpu_a and cpu_b,
// in ns. memif throughput between two pollers tracks it (memif-protocol.md §8.5), so
// benchmarks report it next to every figure.
double cache_line_ping_pong_ns(int cpu_a, int cpu_b, uint32_t duration_ms);
}  // namespace memswitch
