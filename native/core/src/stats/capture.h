// Packet capture on the workers: a classic BPF filter compiled by libpcap, run on the
// worker with bpf_filter (no syscall), and the frames it accepts copied into one ring per
// worker that the reader drains. A full ring drops the record and counts it; neither the
// capture nor forwarding stops.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "memswitch/drop_reason.h"
#include "memswitch/ethernet.h"
#include "memswitch/result.h"
#include "packet/burst.h"

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

// One worker's ring of records, each followed by its bytes and padded to 8 bytes. One
// producer (the worker) and one consumer (the reader), no lock.
class CaptureRing {
 public:
  explicit CaptureRing(size_t bytes);  // rounded up to a power of two

  // Producer. false: not enough room, the record is lost (and counted).
  bool push(const CaptureRecord& rec, const uint8_t* bytes);
  // Consumer: f(record, bytes) for records in order until none is left or f returns false
  // (that record stays for next time).
  template <class F>
  void drain(F&& f) {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    const uint64_t head = head_.load(std::memory_order_acquire);
    while (tail != head) {
      const size_t pos = tail & mask_;
      const size_t to_end = buf_.size() - pos;
      if (to_end < sizeof(CaptureRecord) || reinterpret_cast<const CaptureRecord*>(&buf_[pos])->cap_len == kPad) {
        tail += to_end;  // the producer wrapped here
        continue;
      }
      const auto* rec = reinterpret_cast<const CaptureRecord*>(&buf_[pos]);
      if (!f(*rec, &buf_[pos + sizeof(CaptureRecord)])) break;
      tail += record_size(rec->cap_len);
    }
    tail_.store(tail, std::memory_order_release);
  }
  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }
  uint64_t kept() const { return kept_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kPad = ~0u;
  static size_t record_size(uint32_t cap_len) { return (sizeof(CaptureRecord) + cap_len + 7) & ~size_t(7); }
  std::vector<uint8_t> buf_;
  size_t mask_;
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer
  std::atomic<uint64_t> kept_{0}, lost_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer
};

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
  bool matches(bool ip_mode, const uint8_t* bytes, uint32_t wire_len, uint32_t have) const;
  // libpcap's programs, out of this header: its bpf.h and the kernel's (libxdp) clash.
  struct Filter;
  CaptureSpec spec_;
  std::unique_ptr<Filter> ethernet_;
  std::unique_ptr<Filter> raw_;  // null: ip-mode frames never match
  std::vector<std::unique_ptr<CaptureRing>> rings_;
};

}  // namespace memswitch::detail
