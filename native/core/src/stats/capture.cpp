#include "stats/capture.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "memswitch/ethernet.h"

namespace memswitch::detail {

CaptureRing::CaptureRing(size_t bytes) : buf_(std::bit_ceil(std::max<size_t>(bytes, 4096))), mask_(buf_.size() - 1) {}

bool CaptureRing::push(const CaptureRecord& rec, const uint8_t* bytes) {
  const size_t need = record_size(rec.cap_len);
  uint64_t head = head_.load(std::memory_order_relaxed);
  const uint64_t tail = tail_.load(std::memory_order_acquire);
  const size_t pos = head & mask_;
  const size_t to_end = buf_.size() - pos;
  // A record never wraps: the end of the ring is skipped (marked when a header fits).
  const size_t skip = to_end < need ? to_end : 0;
  if (need > buf_.size() || (head - tail) + skip + need > buf_.size()) {
    lost_.store(lost_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  if (skip) {
    if (skip >= sizeof(CaptureRecord)) reinterpret_cast<CaptureRecord*>(&buf_[pos])->cap_len = kPad;
    head += skip;
  }
  uint8_t* at = &buf_[head & mask_];
  std::memcpy(at, &rec, sizeof rec);
  std::memcpy(at + sizeof rec, bytes, rec.cap_len);
  head_.store(head + need, std::memory_order_release);
  kept_.store(kept_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return true;
}

Capture::Capture(const CaptureSpec& spec, uint32_t workers) : spec_(spec) {
  for (uint32_t w = 0; w < workers; ++w) rings_.push_back(std::make_unique<CaptureRing>(spec.ring_bytes));
}

struct Capture::Filter {
  bpf_program program{};
  ~Filter() { pcap_freecode(&program); }
  // libpcap compiles against a "dead" handle of the link type: no device, no syscall.
  static Result<std::unique_ptr<Filter>> compile(const std::string& filter, int linktype, uint32_t snaplen) {
    pcap_t* dead = pcap_open_dead(linktype, int(snaplen));
    if (!dead) return make_error(Errc::kResourceExhausted, "pcap_open_dead failed");
    auto f = std::make_unique<Filter>();
    const int rc = pcap_compile(dead, &f->program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN);
    std::string message = rc == 0 ? "" : pcap_geterr(dead);
    pcap_close(dead);
    if (rc != 0) return make_error(Errc::kInvalidArgument, "filter \"" + filter + "\": " + message);
    return f;
  }
};

Capture::~Capture() = default;

Result<std::unique_ptr<Capture>> Capture::create(const std::string& filter, const CaptureSpec& spec, uint32_t workers, bool raw_too) {
  if (spec.snaplen == 0) return make_error(Errc::kInvalidArgument, "snap length must be at least 1 byte");
  if (spec.points == 0 || spec.points > (kCaptureRx | kCaptureTx | kCaptureDrops))
    return make_error(Errc::kInvalidArgument, "capture needs rx, tx or drops");
  std::unique_ptr<Capture> c(new Capture(spec, workers));
  c->spec_.snaplen = std::min<uint32_t>(spec.snaplen, kMaxFrameSize);
  auto ethernet = Filter::compile(filter, DLT_EN10MB, c->spec_.snaplen);
  if (!ethernet) return ethernet.error();
  c->ethernet_ = std::move(*ethernet);
  // An Ethernet-only filter ("ether host ...") cannot judge ip-mode frames: only a
  // capture asked for such interfaces must compile for them.
  auto raw = Filter::compile(filter, DLT_RAW, c->spec_.snaplen);
  if (raw) c->raw_ = std::move(*raw);
  else if (raw_too) return raw.error();
  return c;
}

bool Capture::covers(uint32_t port) const {
  return spec_.ports.empty() || std::find(spec_.ports.begin(), spec_.ports.end(), port) != spec_.ports.end();
}

bool Capture::matches(bool ip_mode, const uint8_t* bytes, uint32_t wire_len, uint32_t have) const {
  const Filter* filter = ip_mode ? raw_.get() : ethernet_.get();
  return filter && bpf_filter(filter->program.bf_insns, bytes, wire_len, have) != 0;
}

void Capture::offer_refused(uint32_t worker, uint64_t ts_ns, uint32_t port, bool ip_mode, uint32_t claimed, DropReason why) {
  static const uint8_t kNothing[1] = {};
  if (!matches(ip_mode, kNothing, claimed, 0)) return;
  rings_[worker]->push({ts_ns, port, claimed, 0, kCaptureDrops, why, uint8_t(worker), false}, kNothing);
}

void Capture::offer(uint32_t worker, uint64_t ts_ns, uint32_t port, uint8_t point, bool ip_mode, const Burst& b, uint32_t k, uint8_t* scratch, DropReason why) {
  if (!(ip_mode ? raw_ : ethernet_)) return;
  const PacketMeta& p = b.pkts[k];
  // The filter reads at most the snap length, like tcpdump -s: one contiguous view.
  const uint32_t have = std::min(p.len, spec_.snaplen);
  const uint8_t* bytes;
  if (p.header_len == 0 && p.n_segs == 1) {
    bytes = b.segs[p.first_seg].data;
  } else {
    FrameReader(b, k).read(scratch, have);
    bytes = scratch;
  }
  if (!matches(ip_mode, bytes, p.len, have)) return;
  const bool at_tx = why != DropReason::kCount;
  const CaptureRecord rec{ts_ns, port, p.len, have, point, at_tx ? why : p.drop, uint8_t(worker), point == kCaptureTx || at_tx};
  rings_[worker]->push(rec, bytes);
}

}  // namespace memswitch::detail
