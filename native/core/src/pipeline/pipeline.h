// The pipeline driver and the stage functions it calls, one per MEMSWITCH_STAGES entry.
// A stage is a pure function of (burst, immutable snapshot, this worker's state): it
// skips frames already dropped, marks and counts the ones it drops, and may name
// egress ports in the plan. It returns how many frames it was handed (0: nothing to do),
// which the runtime counts. Workers never lock or allocate in here.
#pragma once
#include <cstdint>

#include "control/snapshot.h"
#include "memswitch/fib.h"
#include "packet/burst.h"
#include "packet/egress.h"
#include "pipeline/l3.h"
#include "pipeline/neighbor_table.h"
#include "stats/counters.h"
#include "stats/runtime.h"
#include "stats/trace.h"

namespace memswitch::detail {

struct StageContext {
  const Topology& topology;
  MacTable& fib;
  PortCounters* counters;  // this worker's, by port index
  EgressPlan& egress;
  uint32_t now_s;
  NeighborTable& neighbors;
  L3State& l3;
  uint32_t worker;
  FragmentTable& fragments;  // the ACL stages' virtual reassembly

  void drop(PacketMeta& p, uint32_t port, DropReason r) {
    p.drop = r;
    counters[port].count_drop(r);
  }
};

#define X(name, help) uint32_t name(StageContext& ctx, Burst& b);
MEMSWITCH_STAGES(X)
#undef X

// Every stage the snapshot enables, in list order, over the whole burst; a timed burst
// (kTimed) also takes each stage's cycles, starting from *since. A burst with traced
// frames (kTraced) has them recorded after each stage, outside the stages' cycles.
template <bool kTimed, bool kTraced>
inline void run_pipeline(StageContext& ctx, Burst& b, WorkerRuntime& rt, uint64_t* since, BurstTrace* trace) {
  const StageMask on = ctx.topology.stages;
#define X(name, help)                                                          \
  if (on & stage_bit(Stage::name)) {                                           \
    const uint32_t before = b.n;                                               \
    rt.count<kTimed>(node_of(Stage::name), name(ctx, b), since);               \
    if constexpr (kTraced) {                                                   \
      trace->after_stage(Stage::name, b, ctx.egress, before);                  \
      if constexpr (kTimed) *since = __rdtsc();                                \
    }                                                                          \
  }
  MEMSWITCH_STAGES(X)
#undef X
}

}  // namespace memswitch::detail
