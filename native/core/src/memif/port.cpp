#include "memif/port.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/cpu.h"
#include "memswitch/ethernet.h"

namespace memswitch::detail {

uint16_t memif_rx(Session& s, RxRing& r, uint32_t port, Burst& b, PortCounters& c, RxDrops* drops) {
  const uint16_t head = memif::load_acquire(r.hdr->head);
  const uint16_t avail = uint16_t(head - r.last_head);
  if (avail == 0) return 0;
  if (avail > r.size) [[unlikely]] {
    // The peer broke the index contract; nothing in the ring can be trusted. Count
    // it once and let the control thread disconnect the peer.
    if (!s.bad_peer.exchange(true, std::memory_order_relaxed)) c.count_drop(DropReason::bad_ring_index);
    return 0;
  }
  b.clear(port);
  uint32_t n_segs = 0;
  uint16_t i = 0;
  uint64_t rx_bytes = 0;
  while (i < avail && b.n < kBurst && n_segs + kMaxSegsPerPacket <= kMaxSegsPerBurst) {
    const uint32_t first = n_segs;
    uint32_t total = 0;
    uint32_t claimed = 0;  // what the descriptors say, valid or not
    DropReason why = DropReason::kCount;
    for (;;) {
      const memif::Desc d = r.desc[uint16_t(r.last_head + i) & r.mask];
      ++i;
      claimed += d.length;
      const uint8_t* p = checked_buffer(s, d);
      if (!p) {
        why = DropReason::bad_descriptor;
      } else if (n_segs - first == kMaxSegsPerPacket || total + d.length > kMaxFrameSize) {
        why = DropReason::bad_chain;
      } else if (why == DropReason::kCount) {
        // The line is in the peer's cache: start every transfer of the burst now so
        // they overlap, instead of paying one cross-core miss per packet later.
        __builtin_prefetch(p);
        b.segs[n_segs++] = {p, d.length};
        total += d.length;
      }
      if (!(d.flags & memif::kDescFlagNext)) break;
      if (i == avail) {  // NEXT on the last published slot: a half chain is malformed
        why = DropReason::bad_chain;
        break;
      }
    }
    if (why != DropReason::kCount) {
      n_segs = first;
      c.count_drop(why);
      if (drops) drops->add(claimed, why);
      continue;
    }
    b.add(first, n_segs - first, total);
    rx_bytes += total;
  }
  bump(c.rx_packets, b.n);
  bump(c.rx_bytes, rx_bytes);
  return i;
}

void memif_tx(Session& s, uint32_t worker, const Burst& b, const Batch& batch, PortCounters& c, MemifTxScratch& scratch, TxDrops* drops) {
  TxRing& r = s.tx[worker % s.n_tx];
  if (r.shared)
    while (r.lock.test_and_set(std::memory_order_acquire)) cpu_relax();
  const uint16_t head = memif::load_acquire(r.hdr->head);
  uint16_t free = uint16_t(head - r.tail);
  if (free > r.size) [[unlikely]] {
    s.bad_peer.store(true, std::memory_order_relaxed);
    c.count_drop(DropReason::bad_tx_descriptor, batch.n);
    if (drops)
      for (uint32_t k = 0; k < batch.n; ++k) drops->add(batch.pkt[k], DropReason::bad_tx_descriptor);
    if (r.shared) r.lock.clear(std::memory_order_release);
    return;
  }
  const uint16_t tail = r.tail;
  uint64_t tx_pkts = 0, tx_bytes = 0;
  // Pass 1: reserve destination slots for every frame, reading each posted descriptor
  // once and prefetching its buffer for writing, so the copies below do not stall on
  // one cross-core miss at a time. A failed frame gives its slots back untouched.
  uint32_t used = 0;
  for (uint32_t k = 0; k < batch.n; ++k) {
    const PacketMeta& p = b.pkts[batch.pkt[k]];
    const uint32_t start = used;
    uint32_t capacity = 0;
    DropReason why = DropReason::kCount;
    while (capacity < p.len) {
      if (used == free) { why = DropReason::no_buffer; break; }
      if (used - start == kMaxSegsPerPacket) { why = DropReason::too_big; break; }
      const memif::Desc d = r.desc[uint16_t(tail + used) & r.mask];
      const uint8_t* buf = checked_buffer(s, d);
      if (!buf) { why = DropReason::bad_tx_descriptor; break; }
      __builtin_prefetch(buf, 1);
      scratch.dst[used++] = d;
      capacity += d.length;
    }
    if (why != DropReason::kCount) {
      c.count_drop(why);
      if (drops) drops->add(batch.pkt[k], why);
      used = start;
      scratch.plan[k] = {0, 0};
      continue;
    }
    scratch.plan[k] = {uint16_t(start), uint16_t(used - start)};
  }
  // Pass 2: the one copy of this hop, source -> destination buffers.
  for (uint32_t k = 0; k < batch.n; ++k) {
    const auto [first, n_dst] = scratch.plan[k];
    if (n_dst == 0) continue;
    const uint16_t pkt = batch.pkt[k];
    const PacketMeta& p = b.pkts[pkt];
    const memif::Desc* dst = &scratch.dst[first];
    if (n_dst == 1 && p.n_segs <= 1) {
      uint8_t* to = s.bounds[dst[0].region].base + dst[0].offset;
      if (p.header_len == 0) {
        std::memcpy(to, b.segs[p.first_seg].data, p.len);
      } else {  // the private header, then the rest of the one source segment
        const uint32_t h = std::min<uint32_t>(p.header_len, p.len);
        copy_small(to, b.header[pkt], h);
        if (p.len > h) std::memcpy(to + h, b.segs[p.first_seg].data + p.src_off, p.len - h);
      }
      memif::Desc& out = r.desc[uint16_t(tail + first) & r.mask];
      out.length = p.len;
      out.flags = 0;
    } else {
      FrameReader frame(b, pkt);
      uint32_t left = p.len;
      for (uint32_t d = 0; d < n_dst; ++d) {
        const uint32_t chunk = std::min(dst[d].length, left);
        frame.read(s.bounds[dst[d].region].base + dst[d].offset, chunk);
        left -= chunk;
        memif::Desc& out = r.desc[uint16_t(tail + first + d) & r.mask];
        out.length = chunk;
        out.flags = left ? memif::kDescFlagNext : 0;  // whole field, never |= (§4.2)
      }
    }
    ++tx_pkts;
    tx_bytes += p.len;
  }
  if (used) {
    r.tail = uint16_t(tail + used);
    memif::store_release(r.hdr->tail, r.tail);
  }
  if (r.shared) r.lock.clear(std::memory_order_release);
  bump(c.tx_packets, tx_pkts);
  bump(c.tx_bytes, tx_bytes);
  if (tx_pkts) {
    // Pairs with the receiver's fence between clearing MASK_INT and re-reading tail.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!(memif::load_relaxed(r.hdr->flags) & memif::kRingFlagMaskInt)) {
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(r.eventfd, &one, sizeof one);  // nonblocking
    }
  }
}

}  // namespace memswitch::detail
