// Traces: started and stopped by publishing a snapshot that lists them (a stopped
// trace's rings are freed after the grace period), read by draining every worker's ring
// into steps.
#include "control/dataplane_impl.h"
#include "stats/runtime.h"

namespace memswitch::detail {

Result<uint32_t> DataplaneImpl::start_trace(const TraceConfig& cfg) {
  std::lock_guard lock(mu_);
  bool raw_too = false;
  for (uint32_t port : cfg.interfaces) {
    auto it = ifaces_.find(port);
    if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface with index " + std::to_string(port));
    raw_too |= it->second.cfg.ip_mode;
  }
  auto trace = Trace::create(cfg.filter, cfg.interfaces, cfg.packets, uint32_t(workers_.size()), raw_too);
  if (!trace) return trace.error();
  const uint32_t id = next_trace_++;
  traces_[id].trace = std::move(*trace);
  publish();
  return id;
}

namespace {
// Up to max_steps of what the workers recorded, oldest first per worker.
TraceChunk drain(Trace& tr, size_t max_steps, double tsc_hz) {
  TraceChunk out{};
  const double ns_per_tick = 1e9 / tsc_hz;
  out.taken = tr.taken();
  for (uint32_t w = 0; w < tr.workers(); ++w) {
    tr.ring(w).drain([&](const TraceRecord& rec, const uint8_t* bytes) {
      if (out.steps.size() >= max_steps) return false;
      TraceStep& s = out.steps.emplace_back();
      s.packet = rec.packet;
      s.frame = rec.frame;
      s.worker = rec.worker;
      s.node = node_name(rec.node);
      s.start_ns = rec.start_ns;
      s.elapsed_ns = uint64_t(double(rec.tsc - rec.start_tsc) * ns_per_tick);
      s.interface = rec.port;
      s.length = rec.len;
      if (rec.next != kNoStage) s.next = node_name(node_of(Stage(rec.next)));
      s.egress.assign(rec.egress, rec.egress + std::min<uint32_t>(rec.n_egress, kTraceEgress));
      s.egress_count = rec.n_egress;
      s.routed = rec.routed;
      s.out_rif = rec.out_rif;
      if (rec.routed) s.next_hop = format_ip(rec.next_hop);
      if (rec.drop != DropReason::kCount) s.drop = kDropReasons[size_t(rec.drop)].name;
      s.ethernet = !rec.raw;
      s.bytes.assign(reinterpret_cast<const char*>(bytes), rec.cap_len);
      return true;
    });
    out.lost += tr.ring(w).lost();
  }
  return out;
}
}  // namespace

Result<TraceChunk> DataplaneImpl::read_trace(uint32_t id, size_t max_steps) {
  std::lock_guard lock(mu_);
  auto it = traces_.find(id);
  if (it == traces_.end()) return make_error(Errc::kNotFound, "no trace " + std::to_string(id));
  return drain(*it->second.trace, max_steps, tsc_hz());
}

// Once no worker holds the trace, every step of every packet it took has been written:
// the last read is complete.
Result<TraceChunk> DataplaneImpl::stop_trace(uint32_t id) {
  std::lock_guard lock(mu_);
  auto it = traces_.find(id);
  if (it == traces_.end()) return make_error(Errc::kNotFound, "no trace " + std::to_string(id));
  std::unique_ptr<Trace> trace = std::move(it->second.trace);
  traces_.erase(it);
  const uint64_t grace = publish();
  TraceChunk last = drain(*trace, SIZE_MAX, tsc_hz());
  if (!qsbr_.passed(grace)) retiring_.traces.push_back(std::move(trace));  // a stalled worker may still write
  return last;
}

}  // namespace memswitch::detail
