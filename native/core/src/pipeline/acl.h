// The ACL stages: acl_in (first, on what an interface receives) and acl_out (last, on
// what the plan sends to an interface). Each classifies a worker-private copy of the
// header (pipeline.md §2): transmit sends that copy, so a peer rewriting its buffer after
// rx cannot change what was judged.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "memswitch/acl.h"
#include "pipeline/conntrack.h"
#include "pipeline/fragments.h"
#include "packet/burst.h"
#include "stats/counters.h"

namespace memswitch::detail {

// What an ICMP or ICMPv6 message is to connection tracking.
enum class IcmpKind : uint8_t { none, echo_request, echo_reply, error, other };

// What a rule, and connection tracking, can see of a packet.
struct AclKey {
  IpAddress src, dst;
  uint8_t proto = 0;
  bool has_ports = false;  // TCP/UDP/SCTP with its ports here (not a later fragment, not truncated)
  bool has_icmp = false;   // ICMP/ICMPv6 with its type and code here
  bool later_fragment = false;
  uint16_t sport = 0, dport = 0;  // ports, or ICMP type and code
  uint8_t tcp_flags = 0;
  IcmpKind icmp = IcmpKind::none;
  uint16_t echo_id = 0;
  uint16_t inner_at = 0;  // an ICMP error: where the header it quotes starts
  // A fragment: its datagram's identification and the bytes of it it carries.
  bool fragment = false;
  uint32_t frag_id = 0, frag_offset = 0, frag_end = 0;
};


// One ACL's rules, as workers read them (immutable once published), and its hit counters:
// one row per worker, each written by that worker only.
class AclTable {
 public:
  AclTable(std::vector<AclRule> rules, uint32_t workers, AclKind kind = AclKind::acl);
  // The rule a key matches first, or rules().size() when none does (denied).
  uint32_t classify(const AclKey& k) const;
  const std::vector<AclRule>& rules() const { return rules_; }
  bool reflects() const { return reflects_; }  // has a permit_reflect rule
  DropReason denial() const { return kind_ == AclKind::policy ? DropReason::policy_denied : DropReason::acl_denied; }
  AclKind kind() const { return kind_; }
  void count(uint32_t worker, uint32_t rule) { bump(hits_[worker * (rules_.size() + 1) + rule]); }
  AclStats stats() const;

 private:
  std::vector<AclRule> rules_;
  uint32_t workers_;
  bool reflects_;
  AclKind kind_;
  std::unique_ptr<std::atomic<uint64_t>[]> hits_;
};

// The ACL's verdicts on frames pkts[0..n) of b, whose headers the caller has made
// private: `ip_mode` says they start at the IP header (`at` bytes in: room left for an
// Ethernet header). why[i] is the reason pkts[i] is dropped (acl_denied, or a fragment
// virtual reassembly refused), or kCount; frames that are not IP (ARP, neighbour
// discovery) pass. Counts the rule that decided each. With connection tracking (ct), a
// frame of a tracked flow (or an ICMP error about one) is permitted unjudged, and one a
// permit+reflect rule passes is marked for its flow to open (PacketMeta::ct).
struct AclBatch {
  AclTable& acl;
  Conntrack* ct;
  FragmentTable& fragments;  // this worker's
  uint32_t zone, now_s, worker;
};
void acl_judge(const AclBatch& with, Burst& b, const uint16_t* pkts, uint32_t n, uint32_t at, bool ip_mode, DropReason* why);

}  // namespace memswitch::detail
