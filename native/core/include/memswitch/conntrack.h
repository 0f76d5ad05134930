// Connection tracking, for ACL rules that permit and reflect (permit+reflect): the first
// packet of a flow such a rule permits opens a tracked flow, and from then on its packets
// both ways, and ICMP errors about it, pass every ACL without being judged again, until
// the flow ends (TCP RST, or FIN and the transitory timeout) or idles out.
#pragma once
#include <cstdint>
#include <vector>

#include "memswitch/routing.h"

namespace memswitch {

// Idle timeouts by state, in seconds. Defaults as Linux conntrack's where it has one
// (TCP 432000 s established is longer than any pod lives; VPP's acl-plugin idles TCP out
// after 24 h): TCP established a day, TCP opening or closing 120 s, UDP and other
// protocols 120 s, ICMP echo 30 s.
struct ConntrackTimeouts {
  uint32_t tcp_established_s = 86400;
  uint32_t tcp_transitory_s = 120;
  uint32_t udp_s = 120;
  uint32_t icmp_s = 30;
};

struct ConntrackOptions {
  // Flows tracked at once. The table reserves 64-byte slots for 1.5 to 3 times as many
  // (a power of two), committed as flows touch them (in 2 MiB transparent huge pages
  // where the kernel has them): an idle table costs nothing.
  uint32_t max_flows = 262144;
  ConntrackTimeouts timeouts;
};

enum class FlowState : uint8_t { tcp_syn_sent, tcp_established, tcp_closing, udp, icmp, other };
const char* flow_state_name(FlowState s);

struct ConntrackFlow {
  // Where it was seen: a router (a flow on a network with a router interface), or else
  // a network and VLAN. Addresses are only unique within one.
  uint32_t router;
  uint32_t network;
  uint16_t vlan;
  uint8_t proto;
  IpAddress src, dst;      // as the flow's first packet had them
  uint16_t sport, dport;   // ICMP echo: the identifier, both
  FlowState state;
  bool replied;            // a packet went the other way
  uint32_t age_s, idle_s, expires_in_s;
};

struct ConntrackPage {
  std::vector<ConntrackFlow> flows;
  uint64_t next = 0;  // where the next page starts; 0: that was the last
};

struct ConntrackStats {
  uint64_t flows;       // tracked now (a flow past its timeout counts until swept, at most a few seconds)
  uint64_t capacity;
  uint64_t created;     // since start
  uint64_t full;        // new flows refused for want of room (dropped as conntrack_full)
  ConntrackTimeouts timeouts;
};

}  // namespace memswitch
