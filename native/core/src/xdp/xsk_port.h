// The worker's side of an AF_XDP queue: rx frames of our UMEM into a burst (and back
// to the fill ring once sent on), and a batch of a burst's frames into tx frames.
#pragma once
#include <cstdint>

#include "memswitch/afxdp.h"
#include "packet/burst.h"
#include "stats/counters.h"

namespace memswitch::detail {

// Gathers whole frames (multi-buffer chains included) into `b`, cleared for `port`
// first; the frames' UMEM addresses go to `rx_addrs` (kBurst: one peek takes at most
// that many descriptors). Returns the rx descriptors
// consumed (0: nothing); give them back with xsk_rx_release() after transmit. Frames it
// refuses go to `drops` too, when given.
uint32_t xsk_rx(XskQueue& q, uint32_t port, Burst& b, PortCounters& c, uint64_t* rx_addrs, RxDrops* drops);
void xsk_rx_release(XskQueue& q, const uint64_t* rx_addrs, uint32_t consumed);

// Frames it drops go to `drops` too, when given.
void xsk_tx(XdpPort& x, uint32_t worker, const Burst& b, const Batch& batch, PortCounters& c, TxDrops* drops);

}  // namespace memswitch::detail
