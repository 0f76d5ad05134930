// The worker's side of a memif session: frames from a C2S ring into a burst, and a
// batch of a burst's frames into an S2C ring (the one copy of the hop).
#pragma once
#include <cstdint>
#include <utility>

#include "memif/session.h"
#include "packet/burst.h"
#include "stats/counters.h"

namespace memswitch::detail {

// Gathers up to kBurst frames from `r` into `b` (cleared for `port` first), reading every
// descriptor once into a local copy and checking it against the peer's regions. Returns
// the ring slots it consumed; hand them back with memif_rx_release() once the burst is
// transmitted, since its frames are read in place. 0: nothing to do (or the peer broke
// the ring index: counted once and flagged for the control thread). Frames it refuses go
// to `drops` too, when given.
uint16_t memif_rx(Session& s, RxRing& r, uint32_t port, Burst& b, PortCounters& c, RxDrops* drops);

inline void memif_rx_release(RxRing& r, uint16_t slots) {
  r.last_head = uint16_t(r.last_head + slots);
  memif::store_release(r.hdr->tail, r.last_head);  // slots are free for the peer only now
}

// Transmit plan of one batch: reserved destination descriptors and, per frame, (first
// reserved slot, slots), or (0, 0) when the frame was dropped. Per worker.
struct MemifTxScratch {
  memif::Desc dst[kSlots * kMaxSegsPerPacket];
  std::pair<uint16_t, uint16_t> plan[kSlots];
};

// Copies the batch's frames into the buffers the peer posted on its S2C ring for
// `worker`, and signals the peer if it asked for interrupts. Frames it drops go to
// `drops` too, when given.
void memif_tx(Session& s, uint32_t worker, const Burst& b, const Batch& batch, PortCounters& c, MemifTxScratch& scratch, TxDrops* drops);

}  // namespace memswitch::detail
