// Snapshots: built from the registries on the control side, published with one atomic
// store, and freed (with whatever else workers could still reach) only after every
// worker has passed a quiescent point. Nothing here waits long: a stalled worker leaves
// its garbage to the control thread instead of holding the caller.
#include <algorithm>

#include "control/dataplane_impl.h"

namespace memswitch::detail {

namespace {
// Workers pass a quiescent point every poll (microseconds) or sleep offline, so a
// publish usually finishes its own clean-up before it returns; callers then see a
// removed port's netdev released at once. Longer than this is left to reclaim().
constexpr auto kPublishWait = std::chrono::milliseconds(1);
}  // namespace

// Called with mu_ held, after the changes of one call; hands what they retired, and the
// old snapshot, to reclamation.
uint64_t DataplaneImpl::publish() {
  auto* t = new Topology;
  t->per_worker.resize(workers_.size());
  uint32_t max_seg = 0;
  for (auto& [k, s] : segments_) max_seg = std::max<uint32_t>(max_seg, s.id);
  t->flood.resize(max_seg + 1);
  uint32_t max_idx = 0;
  for (auto& [idx, i] : ifaces_) max_idx = std::max(max_idx, idx + 1);
  t->ports.resize(max_idx);
  size_t next_worker = 0;
  // Handing over: the successor forwards on the sessions from now on; we must not touch them.
  const bool keep_sessions = !handing_over_ && !handed_over_;
  for (auto& [idx, i] : ifaces_) {
    PortView& v = t->ports[idx];
    v.segment = i.segment;
    v.vlan = i.cfg.vlan;
    v.ip_mode = i.cfg.ip_mode;
    if (i.acl_in || i.acl_out) {
      t->acls.resize(t->ports.size());
      Topology::PortAcls& p = t->acls[idx];
      if (i.acl_in) p.in = acls_.at(i.acl_in).table.get(), t->stages |= stage_bit(Stage::acl_in);
      if (i.acl_out) p.out = acls_.at(i.acl_out).table.get(), t->stages |= stage_bit(Stage::acl_out);
      // Tracking costs a lookup per judged frame: only while some rule asks for it. Then
      // acl_out runs for every frame, to open the flows acl_in's rules passed.
      if ((p.in && p.in->reflects()) || (p.out && p.out->reflects())) t->conntrack = conntrack_.get(), t->stages |= stage_bit(Stage::acl_out);
    }
    Session* session = keep_sessions ? i.session.get() : nullptr;
    if (!i.admin_up || !(session || i.xdp)) continue;
    v.session = session;
    v.xdp = i.xdp.get();
    t->flood[i.segment].push_back(idx);
    if (session)
      for (RxRing& r : session->rx) t->per_worker[next_worker++ % workers_.size()].push_back({idx, &r, nullptr});
    if (i.xdp)
      for (auto& q : i.xdp->queues()) t->per_worker[next_worker++ % workers_.size()].push_back({idx, nullptr, q.get()});
  }
  build_l3(*t);
  for (auto& [id, c] : captures_) {
    t->captures.push_back(c.capture.get());
    const CaptureSpec& spec = c.capture->spec();
    t->capture_drops |= (spec.points & kCaptureDrops) != 0;
    for (uint32_t port = 0; port < t->ports.size(); ++port)
      if (c.capture->covers(port)) t->ports[port].watch |= spec.points;
  }
  for (auto& [id, tr] : traces_) {
    if (tr.trace->done()) continue;  // its last packets are through: nothing left to take
    t->traces.push_back(tr.trace.get());
    for (uint32_t port = 0; port < t->ports.size(); ++port)
      if (tr.trace->covers(port)) t->ports[port].watch |= kWatchTrace;
  }
  Retired r = std::move(retiring_);
  retiring_ = Retired{};
  r.topology = topology_.exchange(t, std::memory_order_acq_rel);
  for (auto& w : workers_) w->wake();  // a sleeping worker picks up new queues at once
  r.grace = qsbr_.start_grace();
  r.since = Clock::now();
  const uint64_t grace = r.grace;
  retired_.push_back(std::move(r));
  qsbr_.wait(grace, kPublishWait);
  reclaim();
  if (!retired_.empty() && started_) {
    const uint64_t one = 1;  // the control thread takes over the waiting
    [[maybe_unused]] ssize_t n = write(wake_, &one, sizeof one);
  }
  return grace;
}

// Frees, oldest first, what no worker can reach any more; with the workers stopped,
// everything.
void DataplaneImpl::reclaim(bool workers_stopped) {
  while (!retired_.empty() && (workers_stopped || qsbr_.passed(retired_.front().grace))) {
    Retired& r = retired_.front();
    delete r.topology;
    r.sessions.clear();  // unmaps the peers' memory, closes their eventfds
    r.xdp.clear();       // closes the XSKs, detaches our XDP program
    for (uint32_t port : r.downed_ports) fib_.flush_port(port, /*include_static=*/false);
    for (uint32_t port : r.removed_ports) {
      fib_.flush_port(port);
      for (auto& w : workers_) w->counters(port).reset();  // the index starts from zero when reused
      retired_ports_.erase(port);
    }
    for (uint16_t segment : r.removed_segments) {
      fib_.flush_segment(segment, true);
      retired_segments_.erase(segment);
    }
    for (auto& [fib, plies] : r.plies) fib->reuse(plies);
    r.fibs.clear();
    r.captures.clear();  // their rings
    r.traces.clear();
    r.acl_tables.clear();
    free_targets_.insert(free_targets_.end(), r.freed_targets.begin(), r.freed_targets.end());
    for (uint16_t rif : r.removed_rifs) {
      neighbors_.flush_interface(rif);  // again: a worker's last burst may have learned one
      retired_rifs_.erase(rif);
    }
    retired_.pop_front();
  }
}

}  // namespace memswitch::detail
