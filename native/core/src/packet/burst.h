// A burst: the frames one rx poll gathered, the metadata the pipeline stages read and
// write per frame, and the private header copies (pipeline.md §2). One per worker,
// reused for every poll; nothing here allocates.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "memswitch/drop_reason.h"

namespace memswitch::detail {

constexpr uint32_t kBurst = 64;
constexpr uint32_t kMaxSegsPerPacket = 64;
constexpr uint32_t kMaxSegsPerBurst = 512;
// Enough for Ethernet + VLAN + IPv6 + TCP with options: what a stage may decide on.
constexpr uint32_t kHeaderScratch = 128;

// Read-only bytes of the ingress peer's memory (or our UMEM), already bounds-checked.
struct Segment {
  const uint8_t* data;
  uint32_t len;
};

struct PacketMeta {
  uint16_t first_seg, n_segs;
  uint32_t len;
  // Bytes of Burst::header that replace the frame's first bytes on transmit (0: none).
  // Set once a stage decides on header fields, so a peer rewriting its buffer after rx
  // cannot change what was decided.
  uint16_t header_len;
  DropReason drop;  // kCount while the frame is still going somewhere
};

struct Burst {
  uint32_t in_port = 0;
  uint32_t n = 0;
  Segment segs[kMaxSegsPerBurst];
  PacketMeta pkts[kBurst];
  alignas(64) uint8_t header[kBurst][kHeaderScratch];

  void clear(uint32_t port) {
    in_port = port;
    n = 0;
  }
  void add(uint32_t first_seg, uint32_t n_segs, uint32_t len) {
    pkts[n++] = {uint16_t(first_seg), uint16_t(n_segs), len, 0, DropReason::kCount};
  }
  // Copies the frame's first bytes (up to kHeaderScratch) into worker-local memory; from
  // here on stages read and write header[k], and transmit sends it.
  uint8_t* privatize_header(uint32_t k) {
    PacketMeta& p = pkts[k];
    if (p.header_len == 0) {
      const uint32_t want = std::min(p.len, kHeaderScratch);
      uint32_t got = 0;
      for (uint32_t s = p.first_seg; got < want; ++s) {
        const uint32_t n_bytes = std::min(want - got, segs[s].len);
        std::memcpy(header[k] + got, segs[s].data, n_bytes);
        got += n_bytes;
      }
      p.header_len = uint16_t(want);
    }
    return header[k];
  }
};

// The bytes of one frame as transmit must send them: the private header, if any, then
// the rest from the source segments. read() hands out consecutive pieces.
class FrameReader {
 public:
  FrameReader(const Burst& b, uint32_t k) : b_(b), p_(b.pkts[k]), k_(k), seg_(p_.first_seg) { skip(p_.header_len); }

  void read(uint8_t* to, uint32_t n) {
    if (pos_ < p_.header_len) {
      const uint32_t h = std::min<uint32_t>(n, p_.header_len - pos_);
      std::memcpy(to, b_.header[k_] + pos_, h);
      pos_ += h, to += h, n -= h;
    }
    while (n > 0) {
      const Segment& s = b_.segs[seg_];
      const uint32_t m = std::min(n, s.len - off_);
      std::memcpy(to, s.data + off_, m);
      pos_ += m, to += m, n -= m, off_ += m;
      if (off_ == s.len) ++seg_, off_ = 0;
    }
  }

 private:
  void skip(uint32_t n) {  // past the bytes the private header stands for
    while (n > 0) {
      const uint32_t m = std::min(n, b_.segs[seg_].len - off_);
      n -= m, off_ += m;
      if (off_ == b_.segs[seg_].len) ++seg_, off_ = 0;
    }
  }
  const Burst& b_;
  const PacketMeta& p_;
  uint32_t k_;
  uint32_t seg_;
  uint32_t off_ = 0;
  uint32_t pos_ = 0;
};

// Where the pipeline sends each frame: one batch per egress port, in first-use order,
// so transmit makes one ring reservation per port per burst.
struct Batch {
  uint32_t port;
  uint16_t n;
  uint16_t pkt[kBurst];
};

}  // namespace memswitch::detail
