#include "xdp/xsk_port.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "base/cpu.h"
#include "memswitch/ethernet.h"
#include "xdp/afxdp_rings.h"

namespace memswitch::detail {

uint32_t xsk_rx(XskQueue& q, uint32_t port, Burst& b, PortCounters& c, uint64_t* rx_addrs, RxDrops* drops) {
  XskRings& r = *q.rings;
  uint32_t idx = 0;
  const uint32_t n = xsk_ring_cons__peek(&r.rx, kBurst, &idx);
  if (n == 0) {
    // Copy mode: the kernel fills the rx ring only after a wakeup when it ran dry.
    if (xsk_ring_prod__needs_wakeup(&r.fill)) recvfrom(q.fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
    return 0;
  }
  b.clear(port);
  const uint64_t umem_size = uint64_t(q.n_frames) * q.frame_size;
  uint8_t* const base = q.umem_mem.data();
  uint32_t n_segs = 0, consumed = 0;
  uint64_t rx_bytes = 0;
  // A multi-buffer frame spans descriptors (XDP_PKT_CONTD on all but the last); only
  // whole frames are consumed, a tail cut off by the burst waits for the next poll.
  for (uint32_t i = 0; i < n;) {
    uint32_t j = i;
    while (j < n && (xsk_ring_cons__rx_desc(&r.rx, idx + j)->options & XDP_PKT_CONTD)) ++j;
    if (j == n) break;
    const uint32_t first = n_segs;
    uint32_t total = 0;
    uint32_t claimed = 0;
    bool bad = j - i + 1 > kMaxSegsPerPacket;
    for (uint32_t k = i; k <= j; ++k) {
      const xdp_desc* d = xsk_ring_cons__rx_desc(&r.rx, idx + k);
      rx_addrs[consumed++] = d->addr - d->addr % q.frame_size;
      claimed += d->len;
      if (bad || d->addr + d->len > umem_size) {
        bad = true;
        continue;
      }
      __builtin_prefetch(base + d->addr);
      b.segs[n_segs++] = {base + d->addr, d->len};
      total += d->len;
    }
    i = j + 1;
    if (bad || total > kMaxFrameSize) {
      n_segs = first;
      c.count_drop(DropReason::bad_chain);
      if (drops) drops->add(claimed, DropReason::bad_chain);
      continue;
    }
    b.add(first, n_segs - first, total);
    rx_bytes += total;
  }
  bump(c.rx_packets, b.n);
  bump(c.rx_bytes, rx_bytes);
  return consumed;
}

void xsk_rx_release(XskQueue& q, const uint64_t* rx_addrs, uint32_t consumed) {
  XskRings& r = *q.rings;
  // Copied out: every rx frame goes straight back to the kernel.
  uint32_t fidx = 0;
  if (xsk_ring_prod__reserve(&r.fill, consumed, &fidx) == consumed) {
    for (uint32_t k = 0; k < consumed; ++k) *xsk_ring_prod__fill_addr(&r.fill, fidx + k) = rx_addrs[k];
    xsk_ring_prod__submit(&r.fill, consumed);
  }
  xsk_ring_cons__release(&r.rx, consumed);
}

void xsk_tx(XdpPort& x, uint32_t worker, const Burst& b, const Batch& batch, PortCounters& c, TxDrops* drops) {
  XskQueue& q = *x.queues()[worker % x.queues().size()];
  XskRings& r = *q.rings;
  if (q.tx_shared)
    while (q.tx_lock.test_and_set(std::memory_order_acquire)) cpu_relax();
  // Reclaim frames the kernel has sent.
  uint32_t cidx = 0;
  const uint32_t done = xsk_ring_cons__peek(&r.comp, q.n_frames, &cidx);
  for (uint32_t k = 0; k < done; ++k) q.tx_free.push_back(*xsk_ring_cons__comp_addr(&r.comp, cidx + k));
  xsk_ring_cons__release(&r.comp, done);

  uint8_t* const base = q.umem_mem.data();
  uint32_t submitted = 0;
  uint64_t tx_pkts = 0, tx_bytes = 0;
  for (uint32_t k = 0; k < batch.n; ++k) {
    const uint16_t pkt = batch.pkt[k];
    const PacketMeta& p = b.pkts[pkt];
    const uint32_t frames = (p.len + q.frame_size - 1) / q.frame_size;
    if (frames > 1 && !x.multi_buffer()) {
      c.count_drop(DropReason::too_big);
      if (drops) drops->add(pkt, DropReason::too_big);
      continue;
    }
    uint32_t tidx = 0;
    if (q.tx_free.size() < frames || xsk_ring_prod__reserve(&r.tx, frames, &tidx) != frames) {
      c.count_drop(DropReason::no_buffer);
      if (drops) drops->add(pkt, DropReason::no_buffer);
      continue;
    }
    FrameReader frame(b, pkt);
    uint32_t left = p.len;
    for (uint32_t f = 0; f < frames; ++f) {
      const uint64_t addr = q.tx_free.back();
      q.tx_free.pop_back();
      const uint32_t chunk = std::min(q.frame_size, left);
      frame.read(base + addr, chunk);
      left -= chunk;
      xdp_desc* d = xsk_ring_prod__tx_desc(&r.tx, tidx + f);
      d->addr = addr;
      d->len = chunk;
      d->options = left ? XDP_PKT_CONTD : 0;
    }
    submitted += frames;
    ++tx_pkts;
    tx_bytes += p.len;
  }
  if (submitted) {
    xsk_ring_prod__submit(&r.tx, submitted);
    // Copy mode transmits only on a kick (the one syscall of the AF_XDP path), and one
    // kick sends at most a kernel batch (32): kick until the kernel took the whole burst.
    for (int kick = 0; kick < 16 && xsk_ring_prod__needs_wakeup(&r.tx); ++kick) {
      if (__atomic_load_n(r.tx.consumer, __ATOMIC_ACQUIRE) == *r.tx.producer) break;
      if (sendto(q.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS) break;
    }
  }
  if (q.tx_shared) q.tx_lock.clear(std::memory_order_release);
  bump(c.tx_packets, tx_pkts);
  bump(c.tx_bytes, tx_bytes);
}

}  // namespace memswitch::detail
