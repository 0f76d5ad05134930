// Virtual reassembly for the ACL stages, as VPP's shallow reassembly and Linux's
// nf_defrag give their filters, but without holding packets: a datagram's first fragment
// leaves what its transport header says (ports, ICMP type and identifier) here, and the
// fragments after it, which carry no transport header, are judged and tracked as if they
// had it. A fragment overlapping one already seen of its datagram, or a datagram past 64
// pieces, is refused. A later fragment whose first never came (or came more than 2 s
// before) is judged without ports. One table per worker: a datagram's fragments come in
// on one queue.
#pragma once
#include <cstdint>
#include <memory>

#include "memswitch/routing.h"

namespace memswitch::detail {

// A datagram: addresses, protocol, identification (IPv4's 16 bits, IPv6's 32) and zone.
struct FragmentId {
  IpAddress src, dst;
  uint32_t id = 0;
  uint32_t zone = 0;
  uint8_t proto = 0;
  bool operator==(const FragmentId&) const = default;
};

// What the first fragment's transport header said.
struct FragmentTransport {
  bool has_ports = false, has_icmp = false;
  uint16_t sport = 0, dport = 0;  // or ICMP type and code
  uint8_t icmp = 0;               // IcmpKind
  uint16_t echo_id = 0;
};

enum class FragmentVerdict : uint8_t { ok, overlap, too_many, unknown };

class FragmentTable {
 public:
  static constexpr uint32_t kSets = 256, kWays = 4;  // 1024 datagrams in flight per worker
  static constexpr uint32_t kMaxPieces = 64, kMaxRanges = 8, kLifeS = 2;

  FragmentTable();
  // A fragment of bytes [offset, end) of datagram `d` (offsets in bytes, multiples of 8
  // but the last end). The first (offset 0) leaves `t`; a later one gets it back in *t,
  // or `unknown`. Overlaps and too many pieces are refused; the datagram stays known,
  // so its other fragments are judged alike.
  FragmentVerdict note(const FragmentId& d, uint32_t offset, uint32_t end, uint32_t now_s, FragmentTransport* t);
  // The transport of a datagram already noted (a frame's second ACL stage), without
  // counting the fragment again.
  bool find(const FragmentId& d, uint32_t now_s, FragmentTransport* t) const;

 private:
  struct Entry {
    FragmentId id;
    FragmentTransport transport;
    bool known = false;      // its first fragment came
    uint32_t since_s = 0;    // its first fragment of any kind
    uint16_t pieces = 0;
    uint8_t ranges = 0;      // byte ranges received, sorted, apart
    bool used = false;
    uint32_t from[kMaxRanges], to[kMaxRanges];
  };
  Entry* lookup(const FragmentId& d, uint32_t now_s, bool make);
  std::unique_ptr<Entry[]> entries_;
};

}  // namespace memswitch::detail
