// A burst: the frames one rx poll gathered, the metadata the pipeline stages read and
// write per frame, and the private header copies (pipeline.md §2). One per worker,
// reused for every poll; nothing here allocates.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "memswitch/drop_reason.h"
#include "memswitch/routing.h"

namespace memswitch::detail {

constexpr uint32_t kBurst = 64;
// Frames stages may add to a burst: ARP replies and requests, ICMP errors.
constexpr uint32_t kGenerated = 64;
constexpr uint32_t kSlots = kBurst + kGenerated;
constexpr uint32_t kMaxSegsPerPacket = 64;
constexpr uint32_t kMaxSegsPerBurst = 512;
// Enough for Ethernet + VLAN + IPv6 + TCP with options: what a stage may decide on.
constexpr uint32_t kHeaderScratch = 128;

// memcpy for at most kHeaderScratch bytes, inlined: 16-byte moves, then the tail (a libc
// call per frame costs more than the copy itself on the routed path).
inline void copy_small(uint8_t* to, const uint8_t* from, uint32_t n) {
  if (n >= 64) {
    std::memcpy(to, from, 64);
    to += 64, from += 64, n -= 64;
  }
  for (; n >= 16; n -= 16, to += 16, from += 16) std::memcpy(to, from, 16);
  for (; n > 0; --n) *to++ = *from++;
}

// Read-only bytes of the ingress peer's memory (or our UMEM), already bounds-checked.
struct Segment {
  const uint8_t* data;
  uint32_t len;
};

// Where a frame stands past the bridge: which L3 stage has it next.
enum class Next : uint8_t {
  kNone,       // nothing past L2 (bridged or flooded, or dropped)
  kRouter,     // for a router interface: ARP, IPv4 or IPv6 to check (l3_input)
  kIp4,        // a valid IPv4 packet received by a router (ip4_lookup)
  kIp4Local,   // one the router originates: an echo reply or ICMP error (ip4_lookup)
  kIp6,        // a valid IPv6 packet received by a router (ip6_lookup)
  kIp6Local,   // one the router originates: an echo reply or ICMPv6 error (ip6_lookup)
  kRewrite,    // routed: out_rif and next_hop are set (neighbor)
};

struct PacketMeta {
  uint16_t first_seg, n_segs;
  uint32_t len;  // bytes transmit sends
  // Of those, the first header_len come from Burst::header and the rest from the source
  // segments starting at src_off. Set once a stage decides on header fields, so a peer
  // rewriting its buffer after rx cannot change what was decided; a frame a stage built
  // whole (an ARP reply) has header_len == len and no segments.
  uint16_t header_len;
  uint16_t src_off;
  DropReason drop;  // kCount while the frame is still going somewhere
  Next next;
  uint8_t ct;  // CtMark bits: what the ACL stages learned of its tracked flow
};

// PacketMeta::ct. A frame a stage makes for another (a reply, an error, a fragment)
// inherits its origin's: what the origin was permitted, so is the answer to it.
enum CtMark : uint8_t {
  kCtLooked = 1,       // its flow was looked up
  kCtEstablished = 2,  // it belongs to a tracked flow: no ACL judges it
  kCtOpen = 4,         // a permit+reflect rule passed it: its flow opens once no ACL denies it
  kCtFragment = 8,     // a fragment the ACL stages' virtual reassembly has counted
};

struct Burst {
  uint32_t in_port = 0;
  uint32_t n = 0;     // frames received, then any a stage generated
  uint32_t n_l3 = 0;  // frames the bridge handed to a router: L3 stages skip bursts without
  uint32_t n_ip4 = 0;  // frames l3_input passed to ip4_lookup: IPv6-only bursts skip it
  uint32_t n_ip6 = 0;  // and to ip6_lookup: IPv4-only bursts skip that
  Segment segs[kMaxSegsPerBurst];
  PacketMeta pkts[kSlots];
  // Set by ip4_lookup and ip6_lookup for frames they route: the router interface out and
  // the neighbour whose MAC the frame needs.
  uint16_t out_rif[kSlots];
  IpAddress next_hop[kSlots];
  // Of a generated frame: the frame it was made for (a trace follows both). Written
  // only by generate(); stale for received frames.
  uint16_t made_for[kSlots];
  alignas(64) uint8_t header[kSlots][kHeaderScratch];

  void clear(uint32_t port) {
    in_port = port;
    n = 0;
    n_l3 = 0;
    n_ip4 = 0;
    n_ip6 = 0;
  }
  void add(uint32_t first_seg, uint32_t n_segs, uint32_t len) {
    pkts[n++] = {uint16_t(first_seg), uint16_t(n_segs), len, 0, 0, DropReason::kCount, Next::kNone, 0};
  }
  // A new frame of `len` bytes (<= kHeaderScratch), made for frame `origin` (a reply,
  // an error, a fragment, a question about its next hop), built in header[*k]; nullptr
  // when the burst has no slot left (the caller drops or skips what it wanted to send).
  uint8_t* generate(uint32_t len, uint32_t origin, uint32_t* k) {
    if (n == kSlots) return nullptr;
    *k = n;
    made_for[n] = uint16_t(origin);
    pkts[n++] = {0, 0, len, uint16_t(len), 0, DropReason::kCount, Next::kNone, pkts[origin].ct};
    return header[*k];
  }
  // Copies the frame's first bytes (up to kHeaderScratch) into worker-local memory; from
  // here on stages read and write header[k], and transmit sends it. `room` bytes are
  // left free in front (and added to the frame) for a header the frame came without:
  // the Ethernet header of a memif ip-mode frame.
  uint8_t* privatize_header(uint32_t k, uint32_t room = 0) {
    PacketMeta& p = pkts[k];
    if (p.header_len == 0) {
      const uint32_t want = std::min(p.len, kHeaderScratch - room);
      uint32_t got = 0;
      for (uint32_t s = p.first_seg; got < want; ++s) {
        const uint32_t n_bytes = std::min(want - got, segs[s].len);
        copy_small(header[k] + room + got, segs[s].data, n_bytes);
        got += n_bytes;
      }
      p.header_len = uint16_t(room + want);
      p.src_off = uint16_t(want);
      p.len += room;
    }
    return header[k];
  }
};

// The bytes of one frame as transmit must send them: the private header, if any, then
// the rest from the source segments. read() hands out consecutive pieces.
class FrameReader {
 public:
  FrameReader(const Burst& b, uint32_t k) : b_(b), p_(b.pkts[k]), k_(k), seg_(p_.first_seg) { skip(p_.src_off); }

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
  void skip(uint32_t n) {  // to where the source bytes after the private header start
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

// Frames transmit gave up on (the destination's ring was full, its buffers too small or
// bad), and why: filled only for a port whose drops a capture watches.
struct TxDrops {
  uint32_t n = 0;
  uint16_t pkt[kSlots];
  DropReason why[kSlots];
  void add(uint16_t k, DropReason r) { pkt[n] = k, why[n++] = r; }
};

// Frames receive refused before they became part of a burst (their descriptors pointed
// outside the peer's memory, or their chain was malformed): only the length they claimed
// and why. Filled only for a port whose drops a capture watches.
struct RxDrops {
  uint32_t n = 0;
  uint32_t claimed[kBurst];
  DropReason why[kBurst];
  void add(uint32_t len, DropReason r) {
    if (n < kBurst) claimed[n] = len, why[n++] = r;
  }
};

// Where the pipeline sends each frame: one batch per egress port, in first-use order,
// so transmit makes one ring reservation per port per burst.
struct Batch {
  uint32_t port;
  uint16_t n;
  uint16_t pkt[kSlots];
};

}  // namespace memswitch::detail
