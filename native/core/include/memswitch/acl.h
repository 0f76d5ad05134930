// Ordered ACLs, as operators program them directly (VPP's acl-plugin): the first rule a
// packet matches decides, and a packet no rule matches is denied. Rules see IPv4 and
// IPv6 only: other frames (ARP) and IPv6 neighbour discovery always pass, as hosts and
// routers need them to talk at all.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "memswitch/result.h"
#include "memswitch/routing.h"

namespace memswitch {

// permit_reflect (VPP's permit+reflect): permit, and track the flow the packet opens, so
// that its replies, and ICMP errors about it, pass every ACL (memswitch/conntrack.h).
enum class AclAction : uint8_t { deny, permit, permit_reflect };

struct AclRule {
  std::optional<IpPrefix> src, dst;  // none: any address, of either family
  uint8_t proto = 0;                 // IP protocol; 0: any
  // TCP, UDP and SCTP ports (inclusive ranges). A packet without them (another protocol,
  // a fragment after the first, a truncated header) matches only the full ranges.
  uint16_t src_port_min = 0, src_port_max = 65535;
  uint16_t dst_port_min = 0, dst_port_max = 65535;
  // ICMP (proto 1) or ICMPv6 (58) type and code; -1: any.
  int16_t icmp_type = -1, icmp_code = -1;
  AclAction action = AclAction::deny;
};

// kInvalidArgument naming the rule ("rules[3]: ...") for a rule that can match nothing as
// written: prefixes of two families, host bits set, ports on a protocol without them,
// an ICMP type on another protocol or family, an empty range.
Status check_acl_rules(const std::vector<AclRule>& rules);

// Who an ACL is for: an operator's (its denials count as acl_denied), or one the daemon
// compiled from network policies (policy_denied).
enum class AclKind : uint8_t { acl, policy };

// Where an ACL applies on an interface: to what the switch receives from it (in), or to
// what it sends to it (out).
enum class AclDirection : uint8_t { in, out };

struct AclStats {
  std::vector<uint64_t> hits;  // per rule, summed over workers, since the rules were last set
  uint64_t default_denied;     // packets no rule matched
};

}  // namespace memswitch
