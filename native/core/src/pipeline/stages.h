// The packet pipeline's stages, in the order a burst runs through them (pipeline.md §1).
// This list is the only place that spells them: the Stage enum and the driver in
// pipeline.h come from it (and the names trace and runtime counters will show).
#pragma once
#include <cstddef>
#include <cstdint>

namespace memswitch::detail {

#define MEMSWITCH_STAGES(X)                                                                     \
  X(acl_in, "ordered ACL on what an interface receives (its private header copy)")                 \
  X(l2_bridge, "parse Ethernet, learn source MACs, look up destinations, flood within the segment") \
  X(l3_input, "frames for a router: answer and learn ARP and ND, check IPv4 and IPv6 headers")    \
  X(ip4_lookup, "IPv4 longest-prefix match, ECMP, TTL and MTU; echo replies and ICMP errors")       \
  X(ip6_lookup, "IPv6 longest-prefix match, ECMP, hop limit and MTU; echo replies and ICMPv6 errors") \
  X(neighbor, "next hop MAC (ARP or ND resolution, held packets), Ethernet rewrite, egress port") \
  X(acl_out, "ordered ACL on what the plan sends to an interface, per interface")

enum class Stage : uint8_t {
#define X(name, help) name,
  MEMSWITCH_STAGES(X)
#undef X
      kCount
};
constexpr size_t kNumStages = size_t(Stage::kCount);
static_assert(kNumStages <= 32, "StageMask has a bit per stage");

using StageMask = uint32_t;
constexpr StageMask stage_bit(Stage s) { return StageMask(1) << uint32_t(s); }
// What a burst needs when nothing past L2 is configured: exactly the bridge.
constexpr StageMask kL2Stages = stage_bit(Stage::l2_bridge);
// Once any router interface exists.
constexpr StageMask kL3Stages = stage_bit(Stage::l3_input) | stage_bit(Stage::ip4_lookup) | stage_bit(Stage::ip6_lookup) | stage_bit(Stage::neighbor);

}  // namespace memswitch::detail
