#include "stats/capture.h"

#include <algorithm>

#include "memswitch/ethernet.h"

namespace memswitch::detail {

Capture::Capture(const CaptureSpec& spec, uint32_t workers) : spec_(spec) {
  for (uint32_t w = 0; w < workers; ++w) rings_.push_back(std::make_unique<CaptureRing>(spec.ring_bytes));
}

Capture::~Capture() = default;

Result<std::unique_ptr<Capture>> Capture::create(const std::string& filter, const CaptureSpec& spec, uint32_t workers, bool raw_too) {
  if (spec.snaplen == 0) return make_error(Errc::kInvalidArgument, "snap length must be at least 1 byte");
  if (spec.points == 0 || spec.points > (kCaptureRx | kCaptureTx | kCaptureDrops))
    return make_error(Errc::kInvalidArgument, "capture needs rx, tx or drops");
  std::unique_ptr<Capture> c(new Capture(spec, workers));
  c->spec_.snaplen = std::min<uint32_t>(spec.snaplen, kMaxFrameSize);
  auto compiled = PacketFilter::compile(filter, c->spec_.snaplen, raw_too);
  if (!compiled) return compiled.error();
  c->filter_ = std::move(*compiled);
  return c;
}

bool Capture::covers(uint32_t port) const { return spec_.ports.empty() || names(port); }

bool Capture::names(uint32_t port) const { return std::find(spec_.ports.begin(), spec_.ports.end(), port) != spec_.ports.end(); }

void Capture::offer_refused(uint32_t worker, uint64_t ts_ns, uint32_t port, bool ip_mode, uint32_t claimed, DropReason why) {
  static const uint8_t kNothing[1] = {};
  if (!filter_->matches(ip_mode, kNothing, claimed, 0)) return;
  rings_[worker]->push({ts_ns, port, claimed, 0, kCaptureDrops, why, uint8_t(worker), false}, kNothing);
}

void Capture::offer(uint32_t worker, uint64_t ts_ns, uint32_t port, uint8_t point, bool ip_mode, const Burst& b, uint32_t k, uint8_t* scratch, DropReason why) {
  if (!filter_->can_match(ip_mode)) return;
  const PacketMeta& p = b.pkts[k];
  // The filter reads at most the snap length, like tcpdump -s.
  const uint32_t have = std::min(p.len, spec_.snaplen);
  const uint8_t* bytes = PacketFilter::view(b, k, have, scratch);
  if (!filter_->matches(ip_mode, bytes, p.len, have)) return;
  const bool at_tx = why != DropReason::kCount;
  const CaptureRecord rec{ts_ns, port, p.len, have, point, at_tx ? why : p.drop, uint8_t(worker), point == kCaptureTx || at_tx};
  rings_[worker]->push(rec, bytes);
}

}  // namespace memswitch::detail
