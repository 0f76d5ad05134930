#include "stats/trace.h"

#include <x86intrin.h>

#include <algorithm>

#include "base/clock.h"
#include "memswitch/ethernet.h"
#include "stats/runtime.h"

namespace memswitch::detail {

namespace {
// Records per packet are few (rx, four stages, a tx or a few): a ring that holds this
// many per packet it may trace is drained long before it fills, and a flood to many ports
// that outruns it loses records, counted.
constexpr size_t kRingBytesPerPacket = 8 * (sizeof(TraceRecord) + kTraceBytes);
constexpr size_t kMinRingBytes = 64 << 10, kMaxRingBytes = 16 << 20;
}  // namespace

Result<std::unique_ptr<Trace>> Trace::create(const std::string& filter, std::vector<uint32_t> ports, uint32_t packets, uint32_t workers, bool raw_too) {
  if (packets < 1 || packets > kMaxPackets)
    return make_error(Errc::kInvalidArgument, "a trace takes 1 to " + std::to_string(kMaxPackets) + " packets");
  std::unique_ptr<Trace> t(new Trace());
  auto compiled = PacketFilter::compile(filter, kMaxFrameSize, raw_too);
  if (!compiled) return compiled.error();
  t->filter_ = std::move(*compiled);
  t->ports_ = std::move(ports);
  t->packets_ = packets;
  const size_t ring = std::clamp(packets * kRingBytesPerPacket, kMinRingBytes, kMaxRingBytes);
  for (uint32_t w = 0; w < workers; ++w) t->rings_.push_back(std::make_unique<TraceRing>(ring));
  return t;
}

bool Trace::covers(uint32_t port) const { return ports_.empty() || names(port); }
bool Trace::names(uint32_t port) const { return std::find(ports_.begin(), ports_.end(), port) != ports_.end(); }

bool BurstTrace::start(const std::vector<Trace*>& traces, const Burst& b, bool ip_mode, uint8_t* scratch) {
  n_traced_ = 0;
  const uint64_t now_ns = realtime_ns();
  for (uint32_t k = 0; k < b.n; ++k) {
    Mark& m = marks_[k];
    m.trace = nullptr;
    const PacketMeta& p = b.pkts[k];
    for (Trace* t : traces) {
      if (!t->covers(b.in_port) || t->done() || !t->filter().can_match(ip_mode)) continue;
      // The whole frame, as tcpdump would filter it.
      if (!t->filter().matches(ip_mode, PacketFilter::view(b, k, p.len, scratch), p.len, p.len)) continue;
      uint32_t number;
      if (!t->take(&number)) continue;
      m = {t, number, 0, false, ip_mode, kNoStage, DropReason::kCount, 0, 0, 0, now_ns, 0};
      traced_[n_traced_++] = uint16_t(k);
      break;
    }
  }
  // Elapsed times count from here, and leave out the trace's own work from here on:
  // they say what the worker spends on the burst, not what following it costs.
  const uint64_t now = __rdtsc();
  overhead_ = 0;
  for (uint32_t i = 0; i < n_traced_; ++i) {
    marks_[traced_[i]].start_tsc = now;
    record(b, traced_[i], uint8_t(kRxNode), b.in_port, nullptr, 0, DropReason::kCount, ip_mode, now);
  }
  overhead_ += __rdtsc() - now;
  return n_traced_ > 0;
}

void BurstTrace::refused(const std::vector<Trace*>& traces, uint32_t port, bool ip_mode, const RxDrops& r) {
  static const uint8_t kNothing[1] = {};
  const uint64_t now_ns = realtime_ns(), now_tsc = __rdtsc();
  for (uint32_t i = 0; i < r.n; ++i)
    for (Trace* t : traces) {
      uint32_t number;
      if (!t->covers(port) || !t->filter().matches(ip_mode, kNothing, r.claimed[i], 0) || !t->take(&number)) continue;
      TraceRecord rec{};
      rec.start_ns = now_ns, rec.start_tsc = rec.tsc = now_tsc;
      rec.packet = number, rec.port = port, rec.len = r.claimed[i];
      rec.node = uint8_t(kRxNode), rec.worker = uint8_t(worker_), rec.next = kNoStage, rec.drop = r.why[i];
      t->ring(worker_).push(rec, kNothing);
      break;
    }
}

void BurstTrace::after_stage(Stage s, const Burst& b, const EgressPlan& plan, uint32_t n_before) {
  const uint64_t done = __rdtsc();
  for (uint32_t j = n_before; j < b.n; ++j) {
    Mark& m = marks_[j];
    const Mark& origin = marks_[b.made_for[j]];
    m.trace = nullptr;
    if (!origin.trace) continue;
    uint8_t made = 0;  // frames already made for the same packet
    for (uint32_t i = 0; i < n_traced_; ++i) {
      const Mark& o = marks_[traced_[i]];
      if (o.trace == origin.trace && o.packet == origin.packet) made = std::max(made, o.frame);
    }
    m = {origin.trace, origin.packet, uint8_t(made + 1), false, false, kNoStage, DropReason::kCount, 0, 0, 0, origin.start_ns, origin.start_tsc};
    traced_[n_traced_++] = uint16_t(j);
  }
  const uint8_t stage = uint8_t(s);
  for (uint32_t i = 0; i < n_traced_; ++i) {
    const uint32_t k = traced_[i];
    const Mark& m = marks_[k];
    const PacketMeta& p = b.pkts[k];
    uint32_t egress[kTraceEgress];
    uint16_t n_egress = 0;
    for (uint32_t x = 0; x < plan.size(); ++x) {
      const Batch& batch = plan[x];
      if (std::find(batch.pkt, batch.pkt + batch.n, k) == batch.pkt + batch.n) continue;
      if (n_egress < kTraceEgress) egress[n_egress] = batch.port;
      ++n_egress;
    }
    // The bridge has every frame first; later stages only those that were for them, or
    // that they changed (a frame made during the stage is new to it).
    const bool concerned = (s == Stage::l2_bridge && m.drop == DropReason::kCount) || m.next == stage || k >= n_before || stage_for(p.next) != m.next ||
                           p.drop != m.drop || n_egress != m.n_egress || p.header_len != m.header_len;
    // An ip-mode frame has Ethernet once l3_input made its private header, and loses it
    // again in the neighbor stage when it leaves by an ip-mode interface.
    const bool raw = (m.in_ip_mode && p.header_len == 0) || (s == Stage::neighbor && p.len + kEthHeaderSize == m.len);
    if (concerned) record(b, k, uint8_t(node_of(s)), b.in_port, egress, n_egress, p.drop, raw, done - overhead_);
  }
  overhead_ += __rdtsc() - done;
}

void BurstTrace::sent(const Burst& b, const Batch& out, bool out_ip_mode, const TxDrops& drops) {
  const uint64_t done = __rdtsc();
  for (uint32_t i = 0; i < n_traced_; ++i) {
    const uint32_t k = traced_[i];
    if (std::find(out.pkt, out.pkt + out.n, k) == out.pkt + out.n) continue;
    DropReason why = DropReason::kCount;
    for (uint32_t d = 0; d < drops.n; ++d)
      if (drops.pkt[d] == k) why = drops.why[d];
    record(b, k, uint8_t(kTxNode), out.port, &out.port, 1, why, out_ip_mode, done - overhead_);
  }
  overhead_ += __rdtsc() - done;
}

void BurstTrace::record(const Burst& b, uint32_t k, uint8_t node, uint32_t port, const uint32_t* egress, uint16_t n_egress, DropReason drop, bool raw, uint64_t tsc) {
  Mark& m = marks_[k];
  const PacketMeta& p = b.pkts[k];
  const uint8_t next = stage_for(p.next);
  if (next == uint8_t(Stage::neighbor)) m.routed = true;
  TraceRecord rec{};
  rec.start_ns = m.start_ns, rec.start_tsc = m.start_tsc, rec.tsc = tsc;
  rec.packet = m.packet, rec.port = port, rec.len = p.len;
  rec.cap_len = std::min(p.len, kTraceBytes);
  for (uint16_t e = 0; e < std::min<uint16_t>(n_egress, kTraceEgress); ++e) rec.egress[e] = egress[e];
  rec.n_egress = n_egress;
  rec.node = node, rec.worker = uint8_t(worker_), rec.frame = m.frame, rec.next = next, rec.drop = drop, rec.raw = raw;
  if (m.routed) rec.routed = true, rec.out_rif = b.out_rif[k], rec.next_hop = b.next_hop[k];
  FrameReader(b, k).read(bytes_, rec.cap_len);
  m.trace->ring(worker_).push(rec, bytes_);
  m.next = next, m.drop = p.drop, m.n_egress = n_egress, m.header_len = p.header_len, m.len = p.len;
}

}  // namespace memswitch::detail
