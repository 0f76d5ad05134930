#include "worker/worker.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <string>

#include "base/clock.h"
#include "base/cpu.h"
#include "xdp/afxdp_rings.h"
#include "xdp/xsk_port.h"

namespace memswitch::detail {

Worker::Worker(uint32_t index, int cpu, WorkerShared shared)
    : index_(index), cpu_(cpu), sh_(shared), counters_(std::make_unique<PortCounters[]>(kMaxInterfaces)), trace_(index) {}

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

// Offline (holding no pointers) until woken, the snapshot changed, or timeout_ms.
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
    for (const RxAssignment& a : mine) busy |= poll_queue(*t, a, now);
    if (!l3_.hold.empty() && (sh_.neighbors->generation() != held_generation_ || now != held_checked_s_)) {
      held_generation_ = sh_.neighbors->generation();
      held_checked_s_ = now;
      release_held(*t, now);
    }
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
        continue;  // online again; reload the snapshot
      }
    }
    sh_.qsbr->quiescent(index_);  // no Topology or Session pointer is held past here
    if (!busy) cpu_relax();
  }
  sh_.qsbr->offline(index_);
}

// One burst from one queue: rx, the pipeline, transmit, then the rx slots go back
// (the frames were read in place until transmit copied them). The clock of a timed
// burst starts before rx, which cannot know whether it will find frames: the next poll
// that does is the timed one.
bool Worker::poll_queue(const Topology& t, const RxAssignment& a, uint32_t now_s) {
  return (bursts_ & (kSampleEvery - 1)) == 0 ? poll_burst<true>(t, a, now_s) : poll_burst<false>(t, a, now_s);
}

template <bool kTimed>
bool Worker::poll_burst(const Topology& t, const RxAssignment& a, uint32_t now_s) {
  uint64_t since = kTimed ? __rdtsc() : 0;
  PortCounters& in = counters_[a.port];
  const PortView& view = t.ports[a.port];
  RxDrops* refused = nullptr;
  if (view.watch & (kCaptureDrops | kWatchTrace)) [[unlikely]] {
    refused = &rx_drops_;
    refused->n = 0;
  }
  // What goes back to the queue after transmit: XSK frames consumed, or memif slots.
  const uint32_t taken = a.xsk ? xsk_rx(*a.xsk, a.port, burst_, in, xsk_rx_addrs_, refused) : memif_rx(*view.session, *a.ring, a.port, burst_, in, refused);
  if (refused && refused->n) watch_refused(t, a.port, *refused);
  if (taken == 0) return false;
  ++bursts_;
  runtime_.count<kTimed>(kRxNode, burst_.n, &since);
  bool traced = false;
  if (view.watch & (kCaptureRx | kWatchTrace)) [[unlikely]] {
    if (view.watch & kCaptureRx) capture(t, a.port, kCaptureRx, nullptr, burst_.n);
    if (view.watch & kWatchTrace) traced = trace_.start(t.traces, burst_, view.ip_mode, capture_scratch_);
  }
  StageContext ctx{t, *sh_.fib, counters_.get(), egress_, now_s, *sh_.neighbors, l3_, index_, fragments_};
  if (traced) [[unlikely]] forward<kTimed, true>(ctx, &since);
  else forward<kTimed, false>(ctx, &since);
  if (a.xsk) xsk_rx_release(*a.xsk, xsk_rx_addrs_, taken);
  else memif_rx_release(*a.ring, uint16_t(taken));
  return true;
}

template <bool kTimed, bool kTraced>
void Worker::forward(StageContext& ctx, uint64_t* since) {
  if constexpr (kTraced && kTimed) *since = __rdtsc();  // the trace's rx records are not the first stage's cycles
  run_pipeline<kTimed, kTraced>(ctx, burst_, runtime_, since, &trace_);
  if (ctx.topology.capture_drops) [[unlikely]] capture_drops(ctx.topology);
  runtime_.count<kTimed>(kTxNode, transmit<kTraced>(ctx.topology), since);
}

// One held packet at a time: the slow path of a next hop's first seconds.
void Worker::release_held(const Topology& t, uint32_t now_s) {
  StageContext ctx{t, *sh_.fib, counters_.get(), egress_, now_s, *sh_.neighbors, l3_, index_, fragments_};
  const auto resolved = [&](const NeighborKey& key) { return sh_.neighbors->find(key); };
  const auto expired = [&](uint32_t port) { counters_[port].count_drop(DropReason::neighbor_unresolved); };
  while (l3_.hold.take_ready(burst_, now_s, resolved, expired)) {
    if (burst_.in_port >= t.ports.size() || burst_.out_rif[0] >= t.l3.rifs.size() || !t.l3.rifs[burst_.out_rif[0]].router) {
      counters_[burst_.in_port].count_drop(DropReason::interface_down);  // gone while it waited
      continue;
    }
    neighbor(ctx, burst_);
    if (t.stages & stage_bit(Stage::acl_out)) acl_out(ctx, burst_);  // it was planned for no interface before
    transmit<false>(t);
  }
}

// A traced burst has every batch's transmit drops listed, for the trace's tx records.
template <bool kTraced>
uint32_t Worker::transmit(const Topology& t) {
  uint32_t planned = 0;
  for (uint32_t k = 0; k < egress_.size(); ++k) {
    const Batch& b = egress_[k];
    planned += b.n;
    const PortView& out = t.ports[b.port];
    if (out.watch & kCaptureTx) [[unlikely]] capture(t, b.port, kCaptureTx, b.pkt, b.n);
    TxDrops* drops = nullptr;
    if (kTraced || (out.watch & kCaptureDrops)) [[unlikely]] {
      drops = &tx_drops_;
      drops->n = 0;
    }
    if (out.session)
      memif_tx(*out.session, index_, burst_, b, counters_[b.port], memif_tx_, drops);
    else
      xsk_tx(*out.xdp, index_, burst_, b, counters_[b.port], drops);
    if constexpr (kTraced) trace_.sent(burst_, b, out.ip_mode, *drops);
    if (drops && drops->n && (out.watch & kCaptureDrops)) capture(t, b.port, kCaptureDrops, drops->pkt, drops->n, drops->why);
  }
  egress_.clear();
  return planned;
}

// Offers frames of the burst (pkts[0..n), or the first n when pkts is null) to every
// capture watching `point` of `port`; a drop's reason is why[i], or the frame's own.
void Worker::capture(const Topology& t, uint32_t port, uint8_t point, const uint16_t* pkts, uint32_t n, const DropReason* why) {
  const uint64_t ns = realtime_ns();
  for (Capture* c : t.captures) {
    if (!(c->spec().points & point) || !c->covers(port)) continue;
    for (uint32_t i = 0; i < n; ++i) c->offer(index_, ns, port, point, t.ports[port].ip_mode, burst_, pkts ? pkts[i] : i, capture_scratch_, why ? why[i] : DropReason::kCount);
  }
}

// Frames refused at receive have no bytes we may read: records of their length and reason.
void Worker::watch_refused(const Topology& t, uint32_t port, const RxDrops& refused) {
  const PortView& view = t.ports[port];
  if (view.watch & kWatchTrace) trace_.refused(t.traces, port, view.ip_mode, refused);
  if (!(view.watch & kCaptureDrops)) return;
  const uint64_t ns = realtime_ns();
  for (Capture* c : t.captures)
    if ((c->spec().points & kCaptureDrops) && c->covers(port))
      for (uint32_t i = 0; i < refused.n; ++i) c->offer_refused(index_, ns, port, view.ip_mode, refused.claimed[i], refused.why[i]);
}

// The stages count every drop against the ingress port.
void Worker::capture_drops(const Topology& t) {
  if (!(t.ports[burst_.in_port].watch & kCaptureDrops)) return;
  uint16_t dropped[kSlots];
  uint32_t n = 0;
  for (uint32_t k = 0; k < burst_.n; ++k)
    if (burst_.pkts[k].drop != DropReason::kCount) dropped[n++] = uint16_t(k);
  if (n) capture(t, burst_.in_port, kCaptureDrops, dropped, n);
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
    timed_out = ::poll(fds, n, 10) == 0;
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

}  // namespace memswitch::detail
