#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "afxdp_rings.h"
#include "dataplane_internal.h"
#include "memswitch/ethernet.h"

namespace memswitch::detail {

namespace {
constexpr uint16_t kNoBatch = UINT16_MAX;
inline void cpu_relax() { __builtin_ia32_pause(); }

// A descriptor is usable only if [offset, offset+length) lies inside a region the
// peer mapped for us; computed without overflow on hostile values.
inline const uint8_t* checked_buffer(const Session& s, const memif::Desc& d) {
  if (d.region >= s.bounds.size() || d.length == 0) return nullptr;
  const PeerRegion& r = s.bounds[d.region];
  if (d.length > r.size || d.offset > r.size - d.length) return nullptr;
  return r.base + d.offset;
}
}  // namespace

Session::~Session() {
  for (int fd : eventfds) close(fd);
}

Worker::Worker(uint32_t index, int cpu, uint32_t n_workers, WorkerShared shared)
    : index_(index),
      cpu_(cpu),
      n_workers_(n_workers),
      sh_(shared),
      counters_(std::make_unique<PortCounters[]>(kMaxInterfaces)),
      batch_of_port_(std::make_unique<uint16_t[]>(kMaxInterfaces)),
      batches_(std::make_unique<Batch[]>(kMaxInterfaces)) {
  for (uint32_t i = 0; i < kMaxInterfaces; ++i) batch_of_port_[i] = kNoBatch;
}

Worker::~Worker() {
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Worker::start() {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}
void Worker::join() {
  wake();
  if (thread_.joinable()) thread_.join();
}
void Worker::wake() {
  const uint64_t one = 1;
  if (wake_fd_ >= 0) [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

// Offline (holding no pointers) until woken, the topology changed, or timeout_ms.
void Worker::idle_wait(int timeout_ms) {
  sh_.qsbr->offline(index_);
  pollfd p{wake_fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) > 0) {
    uint64_t v;
    [[maybe_unused]] ssize_t n = read(wake_fd_, &v, sizeof v);
  }
  sh_.qsbr->online(index_);
}

void Worker::run() {
  if (cpu_ >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu_, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  pthread_setname_np(pthread_self(), ("msw-worker-" + std::to_string(index_)).c_str());
  sh_.qsbr->online(index_);
  uint32_t idle_polls = 0;
  uint64_t idle_since_ns = 0;
  while (sh_.running->load(std::memory_order_relaxed)) {
    const Topology* t = sh_.topology->load(std::memory_order_acquire);
    const auto& mine = t->per_worker[index_];
    if (mine.empty()) {
      idle_wait(100);  // nothing to poll: the control thread wakes us when that changes
      bump(polls_);    // a pass all the same: polls advancing is how the daemon sees we live
      continue;
    }
    const uint32_t now = sh_.now_s->load(std::memory_order_relaxed);
    bool busy = false;
    for (const RxAssignment& a : mine) busy |= a.xsk ? poll_xsk(*t, a, now) : poll_memif(*t, a, now);
    bump(polls_);
    if (busy) {
      bump(busy_polls_);
      idle_polls = 0;
      idle_since_ns = 0;
    } else if (sh_.adaptive && ++idle_polls == 1024) {
      // The clock is read once per 1024 idle polls (~20 µs): cheap enough to never matter.
      idle_polls = 0;
      timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      const uint64_t ns = uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
      if (idle_since_ns == 0) {
        idle_since_ns = ns;
      } else if (ns - idle_since_ns > sh_.idle_before_sleep_ns) {
        // A sleep that ended by timeout found nothing: after one pass over the queues,
        // sleep again at once instead of spinning for another idle period.
        const bool quiet = sleep_until_traffic(*t);
        idle_since_ns = quiet ? 1 : 0;
        idle_polls = quiet ? 1023 : 0;
        continue;  // online again; reload the topology
      }
    }
    sh_.qsbr->quiescent(index_);  // no Topology or Session pointer is held past here
    if (!busy) cpu_relax();
  }
  sh_.qsbr->offline(index_);
}

// Interrupt mode for an idle worker. While online: drain the memif eventfds, clear
// MASK_INT so peers signal us, fence, and re-check every ring (the lost-wakeup rule of
// memif-protocol.md §4.6). Then sleep offline on the eventfds, the XSK fds and our wake
// fd; peers that do not honour MASK_INT are caught by the timeout.
bool Worker::sleep_until_traffic(const Topology& t) {
  constexpr size_t kMaxFds = 256;
  pollfd fds[kMaxFds];
  size_t n = 0;
  fds[n++] = {wake_fd_, POLLIN, 0};
  const auto& mine = t.per_worker[index_];
  for (const RxAssignment& a : mine) {
    if (n == kMaxFds) return false;  // too many queues to sleep on: stay polling
    if (a.xsk) {
      fds[n++] = {a.xsk->fd, POLLIN, 0};
      continue;
    }
    const int efd = a.ring->eventfd;
    uint64_t v;
    while (read(efd, &v, sizeof v) > 0) {
    }
    memif::store_relaxed(a.ring->hdr->flags, 0);
    fds[n++] = {efd, POLLIN, 0};
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  bool pending = false;
  for (const RxAssignment& a : mine) {
    if (a.xsk) pending |= xsk_cons_nb_avail(&a.xsk->rings->rx, 1) > 0;
    else pending |= memif::load_acquire(a.ring->hdr->head) != a.ring->last_head;
  }
  bool timed_out = false;
  if (!pending) {
    bump(sleeps_);
    sh_.qsbr->offline(index_);
    // Timeout: DPDK and VPP transmitters skip the fence, so a wakeup can be lost.
    timed_out = poll(fds, n, 10) == 0;
    uint64_t v;
    [[maybe_unused]] ssize_t r = read(wake_fd_, &v, sizeof v);
    sh_.qsbr->online(index_);
  }
  // Back to busy polling: mask signalling again on whatever rings we own now.
  const Topology* now = sh_.topology->load(std::memory_order_acquire);
  for (const RxAssignment& a : now->per_worker[index_])
    if (!a.xsk) memif::store_relaxed(a.ring->hdr->flags, memif::kRingFlagMaskInt);
  return timed_out;
}

void Worker::stage(uint32_t port, uint16_t pkt) {
  uint16_t b = batch_of_port_[port];
  if (b == kNoBatch) {
    b = uint16_t(n_batches_++);
    batch_of_port_[port] = b;
    batches_[b].port = port;
    batches_[b].n = 0;
  }
  batches_[b].pkt[batches_[b].n++] = pkt;
}

bool Worker::poll_memif(const Topology& t, const RxAssignment& a, uint32_t now_s) {
  RxRing& r = *a.ring;
  const PortView& in = t.ports[a.port];
  Session& s = *in.session;
  const uint16_t head = memif::load_acquire(r.hdr->head);
  const uint16_t avail = uint16_t(head - r.last_head);
  if (avail == 0) return false;
  if (avail > r.size) [[unlikely]] {
    // The peer broke the index contract; nothing in the ring can be trusted. Count
    // it once and let the control thread disconnect the peer.
    if (!s.bad_peer.exchange(true, std::memory_order_relaxed)) drop(a.port, DropReason::bad_ring_index);
    return false;
  }

  // 1. Read each descriptor once into a local copy, validate it, gather packets.
  uint32_t n_pkts = 0, n_segs = 0;
  uint16_t i = 0;
  uint64_t rx_bytes = 0;
  while (i < avail && n_pkts < kBurst && n_segs + kMaxSegsPerPacket <= kMaxSegsPerBurst) {
    const uint32_t first = n_segs;
    uint32_t total = 0;
    DropReason why = DropReason::kCount;
    for (;;) {
      const memif::Desc d = r.desc[uint16_t(r.last_head + i) & r.mask];
      ++i;
      const uint8_t* p = checked_buffer(s, d);
      if (!p) {
        why = DropReason::bad_descriptor;
      } else if (n_segs - first == kMaxSegsPerPacket || total + d.length > kMaxFrameSize) {
        why = DropReason::bad_chain;
      } else if (why == DropReason::kCount) {
        // The line is in the peer's cache: start every transfer of the burst now so
        // they overlap, instead of paying one cross-core miss per packet later.
        __builtin_prefetch(p);
        segs_[n_segs++] = {p, d.length};
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
      drop(a.port, why);
      continue;
    }
    pkts_[n_pkts++] = {uint16_t(first), uint16_t(n_segs - first), total};
    rx_bytes += total;
  }
  PortCounters& in_c = counters_[a.port];
  bump(in_c.rx_packets, n_pkts);
  bump(in_c.rx_bytes, rx_bytes);
  forward(t, a.port, n_pkts, now_s);
  r.last_head = uint16_t(r.last_head + i);
  memif::store_release(r.hdr->tail, r.last_head);  // slots are free for the peer only now
  return true;
}

// Steps 2 and 3 of every burst, whatever the ingress port kind: learn the source, look
// up the destination, stage per egress port, then one copy per packet per egress port.
void Worker::forward(const Topology& t, uint32_t in_port, uint32_t n_pkts, uint32_t now_s) {
  const PortView& in = t.ports[in_port];

  // 2. Switch: learn the source, look up the destination, stage per egress port.
  // Frames of a burst mostly share their MACs: remember the last learn and lookup.
  Mac last_src = UINT64_MAX, last_dst = UINT64_MAX;
  uint32_t last_out = kNoPort;
  for (uint32_t k = 0; k < n_pkts; ++k) {
    const Segment& s0 = segs_[pkts_[k].first_seg];
    EthHeader eh;
    if (!parse_eth(s0.data, s0.len, &eh)) {
      drop(in_port, DropReason::runt);
      continue;
    }
    if (in.vlan != 0 && (eh.ether_type == kEtherTypeVlan || eh.ether_type == kEtherTypeQinQ)) {
      drop(in_port, DropReason::vlan_tagged_on_access);
      continue;
    }
    if (eh.src != last_src && !mac_is_multicast(eh.src)) {
      sh_.fib->learn(fib_key(in.segment, eh.src), in_port, now_s);
      last_src = eh.src;
    }
    if (!mac_is_multicast(eh.dst)) {
      if (eh.dst != last_dst) {
        last_out = sh_.fib->lookup(fib_key(in.segment, eh.dst));
        last_dst = eh.dst;
      }
      const uint32_t out = last_out;
      if (out != kNoPort) {
        if (out == in_port) {
          drop(in_port, DropReason::hairpin);
        } else if (out >= t.ports.size() || !t.ports[out].up()) {
          drop(in_port, DropReason::interface_down);
        } else {
          stage(out, uint16_t(k));
        }
        continue;
      }
    }
    bool staged = false;
    for (uint32_t m : t.flood[in.segment]) {
      if (m == in_port) continue;
      stage(m, uint16_t(k));
      staged = true;
    }
    if (!staged) drop(in_port, DropReason::no_destination);
  }

  // 3. One copy per packet per egress port, then hand the rx slots back.
  for (uint32_t b = 0; b < n_batches_; ++b) {
    transmit(t, batches_[b]);
    batch_of_port_[batches_[b].port] = kNoBatch;
  }
  n_batches_ = 0;
}

void Worker::transmit(const Topology& t, const Batch& b) {
  const PortView& out = t.ports[b.port];
  if (out.session) {
    transmit_memif(*out.session, b);
  } else {
    transmit_xsk(*out.xdp, b);
  }
}

void Worker::transmit_memif(Session& s, const Batch& b) {
  TxRing& r = s.tx[index_ % s.n_tx];
  PortCounters& c = counters_[b.port];
  if (r.shared)
    while (r.lock.test_and_set(std::memory_order_acquire)) cpu_relax();
  const uint16_t head = memif::load_acquire(r.hdr->head);
  uint16_t free = uint16_t(head - r.tail);
  if (free > r.size) [[unlikely]] {
    s.bad_peer.store(true, std::memory_order_relaxed);
    drop(b.port, DropReason::bad_tx_descriptor, b.n);
    if (r.shared) r.lock.clear(std::memory_order_release);
    return;
  }
  const uint16_t tail = r.tail;
  uint64_t tx_pkts = 0, tx_bytes = 0;
  // Pass 1: reserve destination slots for every packet, reading each posted descriptor
  // once and prefetching its buffer for writing, so the copies below do not stall on
  // one cross-core miss at a time. A failed packet gives its slots back untouched.
  uint32_t used = 0;
  for (uint32_t k = 0; k < b.n; ++k) {
    const Packet& p = pkts_[b.pkt[k]];
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
      tx_dst_[used++] = d;
      capacity += d.length;
    }
    if (why != DropReason::kCount) {
      drop(b.port, why);
      used = start;
      tx_plan_[k] = {0, 0};
      continue;
    }
    tx_plan_[k] = {uint16_t(start), uint16_t(used - start)};
  }
  // Pass 2: the one copy of this hop, source segments -> destination buffers.
  for (uint32_t k = 0; k < b.n; ++k) {
    const auto [first, n_dst] = tx_plan_[k];
    if (n_dst == 0) continue;
    const Packet& p = pkts_[b.pkt[k]];
    const memif::Desc* dst = &tx_dst_[first];
    const Segment* src = &segs_[p.first_seg];
    if (p.n_segs == 1 && n_dst == 1) {
      std::memcpy(s.bounds[dst[0].region].base + dst[0].offset, src->data, p.len);
      memif::Desc& out = r.desc[uint16_t(tail + first) & r.mask];
      out.length = p.len;
      out.flags = 0;
    } else {
      uint32_t si = 0, soff = 0, left = p.len;
      for (uint32_t d = 0; d < n_dst; ++d) {
        uint8_t* to = s.bounds[dst[d].region].base + dst[d].offset;
        const uint32_t chunk = std::min(dst[d].length, left);
        for (uint32_t done = 0; done < chunk;) {
          const uint32_t n = std::min(chunk - done, src[si].len - soff);
          std::memcpy(to + done, src[si].data + soff, n);
          done += n;
          soff += n;
          if (soff == src[si].len) ++si, soff = 0;
        }
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

namespace memswitch::detail {

bool Worker::poll_xsk(const Topology& t, const RxAssignment& a, uint32_t now_s) {
  XskQueue& q = *a.xsk;
  XskRings& r = *q.rings;
  uint32_t idx = 0;
  const uint32_t n = xsk_ring_cons__peek(&r.rx, kBurst, &idx);
  if (n == 0) {
    // Copy mode: the kernel fills the rx ring only after a wakeup when it ran dry.
    if (xsk_ring_prod__needs_wakeup(&r.fill)) recvfrom(q.fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
    return false;
  }
  const uint64_t umem_size = uint64_t(q.n_frames) * q.frame_size;
  uint8_t* const base = q.umem_mem.data();
  uint32_t n_pkts = 0, n_segs = 0, consumed = 0;
  uint64_t rx_bytes = 0;
  // A multi-buffer frame spans descriptors (XDP_PKT_CONTD on all but the last); only
  // whole frames are consumed, a tail cut off by the burst waits for the next poll.
  for (uint32_t i = 0; i < n;) {
    uint32_t j = i;
    while (j < n && (xsk_ring_cons__rx_desc(&r.rx, idx + j)->options & XDP_PKT_CONTD)) ++j;
    if (j == n) break;
    const uint32_t first = n_segs;
    uint32_t total = 0;
    bool bad = j - i + 1 > kMaxSegsPerPacket;
    for (uint32_t k = i; k <= j; ++k) {
      const xdp_desc* d = xsk_ring_cons__rx_desc(&r.rx, idx + k);
      xsk_rx_addrs_[consumed++] = d->addr - d->addr % q.frame_size;
      if (bad || d->addr + d->len > umem_size) {
        bad = true;
        continue;
      }
      __builtin_prefetch(base + d->addr);
      segs_[n_segs++] = {base + d->addr, d->len};
      total += d->len;
    }
    i = j + 1;
    if (bad || total > kMaxFrameSize) {
      n_segs = first;
      drop(a.port, DropReason::bad_chain);
      continue;
    }
    pkts_[n_pkts++] = {uint16_t(first), uint16_t(n_segs - first), total};
    rx_bytes += total;
  }
  if (consumed == 0) return false;
  PortCounters& c = counters_[a.port];
  bump(c.rx_packets, n_pkts);
  bump(c.rx_bytes, rx_bytes);
  forward(t, a.port, n_pkts, now_s);
  // Copied out: every rx frame goes straight back to the kernel.
  uint32_t fidx = 0;
  if (xsk_ring_prod__reserve(&r.fill, consumed, &fidx) == consumed) {
    for (uint32_t k = 0; k < consumed; ++k) *xsk_ring_prod__fill_addr(&r.fill, fidx + k) = xsk_rx_addrs_[k];
    xsk_ring_prod__submit(&r.fill, consumed);
  }
  xsk_ring_cons__release(&r.rx, consumed);
  return true;
}

void Worker::transmit_xsk(XdpPort& x, const Batch& b) {
  XskQueue& q = *x.queues()[index_ % x.queues().size()];
  XskRings& r = *q.rings;
  PortCounters& c = counters_[b.port];
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
  for (uint32_t k = 0; k < b.n; ++k) {
    const Packet& p = pkts_[b.pkt[k]];
    const uint32_t frames = (p.len + q.frame_size - 1) / q.frame_size;
    if (frames > 1 && !x.multi_buffer()) {
      drop(b.port, DropReason::too_big);
      continue;
    }
    uint32_t tidx = 0;
    if (q.tx_free.size() < frames || xsk_ring_prod__reserve(&r.tx, frames, &tidx) != frames) {
      drop(b.port, DropReason::no_buffer);
      continue;
    }
    const Segment* src = &segs_[p.first_seg];
    uint32_t si = 0, soff = 0, left = p.len;
    for (uint32_t f = 0; f < frames; ++f) {
      const uint64_t addr = q.tx_free.back();
      q.tx_free.pop_back();
      const uint32_t chunk = std::min(q.frame_size, left);
      for (uint32_t got = 0; got < chunk;) {
        const uint32_t m = std::min(chunk - got, src[si].len - soff);
        std::memcpy(base + addr + got, src[si].data + soff, m);
        got += m;
        soff += m;
        if (soff == src[si].len) ++si, soff = 0;
      }
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
