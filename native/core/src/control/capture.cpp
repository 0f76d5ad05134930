// Captures: started and stopped by publishing a snapshot that lists them (a stopped
// capture's rings are freed after the grace period), read by draining every worker's
// ring into pcapng blocks.
#include "control/dataplane_impl.h"
#include "stats/pcapng.h"

namespace memswitch::detail {

Result<uint32_t> DataplaneImpl::start_capture(const CaptureConfig& cfg) {
  std::lock_guard lock(mu_);
  CaptureSpec spec;
  spec.ports = cfg.interfaces;
  spec.points = uint8_t((cfg.rx ? kCaptureRx : 0) | (cfg.tx ? kCaptureTx : 0) | (cfg.drops ? kCaptureDrops : 0));
  spec.snaplen = cfg.snaplen;
  spec.ring_bytes = cfg.ring_bytes;
  if (cfg.ring_bytes < 65536 || cfg.ring_bytes > (1u << 30))
    return make_error(Errc::kInvalidArgument, "capture ring size must be between 64 KiB and 1 GiB");
  bool raw_too = false;
  for (uint32_t port : cfg.interfaces) {
    auto it = ifaces_.find(port);
    if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface with index " + std::to_string(port));
    raw_too |= it->second.cfg.ip_mode;
  }
  auto capture = Capture::create(cfg.filter, spec, uint32_t(workers_.size()), raw_too);
  if (!capture) return capture.error();
  const uint32_t id = next_capture_++;
  captures_[id].capture = std::move(*capture);
  publish();
  return id;
}

Result<CaptureChunk> DataplaneImpl::read_capture(uint32_t id, size_t max_bytes, uint64_t max_frames) {
  std::lock_guard lock(mu_);
  auto it = captures_.find(id);
  if (it == captures_.end()) return make_error(Errc::kNotFound, "no capture " + std::to_string(id));
  CaptureState& st = it->second;
  Capture& c = *st.capture;
  CaptureChunk out{};
  if (!st.header_sent) {
    pcapng::section_header(out.pcapng, opts_.app_name);
    st.header_sent = true;
  }
  for (uint32_t w = 0; w < c.workers(); ++w) {
    c.ring(w).drain([&](const CaptureRecord& rec, const uint8_t* bytes) {
      if (out.frames == max_frames || (out.frames > 0 && out.pcapng.size() + rec.cap_len + 256 > max_bytes)) return false;
      auto [d, added] = st.described.try_emplace(rec.port, uint32_t(st.described.size()));
      if (added) {
        auto iface = ifaces_.find(rec.port);
        const bool ip_mode = iface != ifaces_.end() && iface->second.cfg.ip_mode;
        const std::string name = iface != ifaces_.end() ? iface->second.cfg.name : "interface-" + std::to_string(rec.port);
        pcapng::interface_description(out.pcapng, ip_mode ? pcapng::kLinkRaw : pcapng::kLinkEthernet, c.spec().snaplen, name);
      }
      const std::string comment = rec.point == kCaptureDrops ? std::string("drop: ") + kDropReasons[size_t(rec.drop)].name : "";
      pcapng::enhanced_packet(out.pcapng, d->second, rec.ts_ns, bytes, rec.cap_len, rec.wire_len, rec.outbound ? pcapng::kOutbound : pcapng::kInbound, comment);
      ++out.frames;
      return true;
    });
    out.kept += c.ring(w).kept();
    out.lost += c.ring(w).lost();
  }
  return out;
}

Status DataplaneImpl::stop_capture(uint32_t id) {
  std::lock_guard lock(mu_);
  auto it = captures_.find(id);
  if (it == captures_.end()) return make_error(Errc::kNotFound, "no capture " + std::to_string(id));
  retiring_.captures.push_back(std::move(it->second.capture));
  captures_.erase(it);
  publish();
  return Status::ok();
}

}  // namespace memswitch::detail
