// Where a worker's time goes (VPP's `show runtime`): per node — rx, each pipeline stage,
// tx — the bursts it worked on and the frames in them, counted exactly, and the cycles it
// took, timed on one busy poll in kSampleEvery. Timing every burst would cost two TSC
// reads per node per burst; sampled, it costs nothing measurable, so it is always on and
// a reader needs no switch to flip first. One writer (the worker), any reader.
#pragma once
#include <x86intrin.h>

#include <atomic>
#include <cstdint>

#include "pipeline/stages.h"
#include "stats/counters.h"

namespace memswitch::detail {

// Nodes a burst passes: the receive, the stages in MEMSWITCH_STAGES order, the transmit.
constexpr size_t kRxNode = 0;
constexpr size_t node_of(Stage s) { return 1 + size_t(s); }
constexpr size_t kTxNode = 1 + kNumStages;
constexpr size_t kNumNodes = kNumStages + 2;
inline const char* node_name(size_t node) {
  static constexpr const char* kNames[kNumNodes] = {
      "rx",
#define X(name, help) #name,
      MEMSWITCH_STAGES(X)
#undef X
          "tx",
  };
  return kNames[node];
}

constexpr uint64_t kSampleEvery = 64;  // a power of two

struct NodeClock {
  std::atomic<uint64_t> calls{0}, vectors{0};                 // every burst
  std::atomic<uint64_t> sampled_vectors{0}, sampled_cycles{0};  // the timed ones
};

struct alignas(64) WorkerRuntime {
  NodeClock node[kNumNodes];

  // A node worked on `frames` frames of this burst (none: it had nothing to do and is
  // not counted). Timed bursts also add the cycles since `*since`, and move it to now.
  template <bool kTimed>
  [[gnu::always_inline]] void count(size_t n, uint32_t frames, uint64_t* since) {
    NodeClock& c = node[n];
    if (frames) {
      bump(c.calls);
      bump(c.vectors, frames);
    }
    if constexpr (kTimed) {
      const uint64_t now = __rdtsc();
      if (frames) {
        bump(c.sampled_vectors, frames);
        bump(c.sampled_cycles, now - *since);
      }
      *since = now;
    }
  }
};

}  // namespace memswitch::detail
