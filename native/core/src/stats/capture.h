// Packet capture on the workers: a classic BPF filter compiled by libpcap, run on the
// worker with bpf_filter (no syscall), and the frames it accepts copied into one ring per
// worker that the reader drains. A full ring drops the record and counts it; neither the
// capture nor forwarding stops.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "memswitch/drop_reason.h"
#include "memswitch/ethernet.h"
#include "memswitch/result.h"
#include "packet/burst.h"
#include "stats/packet_filter.h"
#include "stats/record_ring.h"

namespace memswitch::detail {

// Where a capture looks, as bits: what a port receives, what it sends, what is dropped
// there (the frame as it was when dropped, with the reason).
enum CapturePoint : uint8_t { kCaptureRx = 1, kCaptureTx = 2, kCaptureDrops = 4 };

struct CaptureRecord {
  uint64_t ts_ns;     // CLOCK_REALTIME
  uint32_t port;
  uint32_t wire_len;  // the frame's length
  uint32_t cap_len;   // bytes kept (the snap length cuts longer frames)
  uint8_t point;      // one CapturePoint
  DropReason drop;    // for kCaptureDrops
  uint8_t worker;
  bool outbound;      // sent, or dropped at transmit
};
static_assert(sizeof(CaptureRecord) == 24);

using CaptureRing = RecordRing<CaptureRecord>;

struct CaptureSpec {
  std::vector<uint32_t> ports;  // empty: every port
  uint8_t points = kCaptureRx | kCaptureTx;
  uint32_t snaplen = 65535;
  size_t ring_bytes = 4u << 20;  // per worker
};

class Capture {
 public:
  // kInvalidArgument with libpcap's message when the filter does not compile. The filter
  // is compiled for Ethernet and, where `raw_too`, for frames without a link layer (memif
  // ip mode); a filter that only makes sense with Ethernet fails there only then.
  static Result<std::unique_ptr<Capture>> create(const std::string& filter, const CaptureSpec& spec, uint32_t workers, bool raw_too);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  const CaptureSpec& spec() const { return spec_; }
  bool covers(uint32_t port) const;
  bool names(uint32_t port) const;  // among the ports it was started on (not "every port")

  // Worker side: offers frame k of the burst (bytes as they are now: the private header
  // if any, then the source), seen at `point` of `port`. `scratch` holds kMaxFrameSize.
  // A drop's reason is `why` for one at transmit, or (kCount) the one a stage gave it.
  void offer(uint32_t worker, uint64_t ts_ns, uint32_t port, uint8_t point, bool ip_mode, const Burst& b, uint32_t k, uint8_t* scratch, DropReason why = DropReason::kCount);

  // A frame refused at receive: no bytes, only the length its descriptors claimed. It
  // matches only a filter that accepts an empty frame (none given: every frame).
  void offer_refused(uint32_t worker, uint64_t ts_ns, uint32_t port, bool ip_mode, uint32_t claimed, DropReason why);

  CaptureRing& ring(uint32_t worker) { return *rings_[worker]; }
  uint32_t workers() const { return uint32_t(rings_.size()); }

 private:
  Capture(const CaptureSpec& spec, uint32_t workers);
  CaptureSpec spec_;
  std::unique_ptr<PacketFilter> filter_;
  std::vector<std::unique_ptr<CaptureRing>> rings_;
};

}  // namespace memswitch::detail
