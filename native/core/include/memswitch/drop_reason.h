// One list generates the enum, the names the API and metrics show, and the
// per-worker counter arrays, so a new reason cannot be counted but unnamed.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace memswitch {

#define MEMSWITCH_DROP_REASONS(X)                                                       \
  X(bad_descriptor, "rx descriptor region, offset or length outside the peer's memory") \
  X(bad_chain, "chained descriptor runs past the published ring or over the frame limit") \
  X(bad_ring_index, "peer moved its ring index by more than the ring size")             \
  X(runt, "frame shorter than an Ethernet header")                                      \
  X(vlan_tagged_on_access, "802.1Q tagged frame received on an access-VLAN interface")  \
  X(no_buffer, "destination ring had no free buffer posted")                            \
  X(bad_tx_descriptor, "destination peer posted a buffer outside its memory")           \
  X(too_big, "frame larger than the destination's posted buffers can hold")             \
  X(hairpin, "destination MAC was learned on the ingress interface")                    \
  X(no_destination, "flooded frame had no other interface in its segment")             \
  X(interface_down, "destination interface is not connected or is admin down")          \
  X(bad_ethertype, "frame for a router interface that is neither IPv4, IPv6 nor ARP")  \
  X(arp_malformed, "ARP packet too short or not Ethernet/IPv4")                        \
  X(nd_malformed, "IPv6 neighbour discovery message with a hop limit other than 255, a bad checksum, code, length or option") \
  X(ip_truncated, "frame ends before its IPv4 or IPv6 header does")                    \
  X(ip_bad_version, "IPv4 or IPv6 ethertype but the header's version is not 4 or 6")   \
  X(ip_bad_ihl, "IPv4 header length below 20 bytes")                                   \
  X(ip_bad_length, "IPv4 total length shorter than its header, or IPv4 or IPv6 length longer than the frame") \
  X(ip_bad_checksum, "IPv4 header checksum wrong")                                     \
  X(ip_martian, "source or destination a router never forwards (IPv4 0/8, 127/8, multicast, broadcast; IPv6 ::, ::1, IPv4-mapped, multicast)") \
  X(ip6_scope, "IPv6 packet to forward with a link-local source or destination, or to a link-local address not the router's") \
  X(ttl_expired, "TTL or hop limit 0 or 1 on a packet to forward (ICMP time exceeded sent)") \
  X(no_route, "no route, an unreachable route, or no usable next hop (ICMP or ICMPv6 unreachable sent)") \
  X(blackhole, "route is a blackhole")                                                 \
  X(mtu_exceeded, "larger than the outgoing interface's MTU: IPv4 with DF (ICMP fragmentation needed sent) or IPv6 (ICMPv6 packet too big sent)") \
  X(local_unsupported, "addressed to the router itself, but not an echo request")      \
  X(neighbor_queue_full, "next hop unresolved and its queue of held packets was full")  \
  X(neighbor_unresolved, "next hop did not answer ARP or neighbour solicitation in time") \
  X(acl_denied, "denied by an ACL: a deny rule matched, or no rule did")                \
  X(policy_denied, "denied by network policy: the interface is isolated in that direction and no policy allows the new flow") \
  X(conntrack_full, "a permit+reflect rule passed the first packet of a flow, but the connection tracking table had no room for it") \
  X(fragment_overlap, "a fragment overlapping one already seen of its datagram (an ACL was to judge it)") \
  X(fragment_too_many, "a fragment of a datagram in more than 64 pieces, or with more than 8 holes (an ACL was to judge it)")

enum class DropReason : uint8_t {
#define X(name, help) name,
  MEMSWITCH_DROP_REASONS(X)
#undef X
      kCount
};
constexpr size_t kNumDropReasons = static_cast<size_t>(DropReason::kCount);

struct DropReasonInfo {
  const char* name;
  const char* help;
};
constexpr std::array<DropReasonInfo, kNumDropReasons> kDropReasons = {{
#define X(name, help) {#name, help},
    MEMSWITCH_DROP_REASONS(X)
#undef X
}};

// Control-channel faults of memif peers, counted per interface (or per socket while
// the peer has not yet named an interface id).
#define MEMSWITCH_PROTOCOL_ERRORS(X)                                              \
  X(bad_message_size, "control message not exactly 128 bytes")                    \
  X(unknown_message_type, "control message type outside the protocol")            \
  X(unexpected_message, "message out of handshake order")                         \
  X(bad_version, "unsupported protocol version")                                  \
  X(unknown_id, "INIT named an interface id not configured on this socket")       \
  X(already_connected, "INIT named an interface that already has a peer")         \
  X(bad_secret, "INIT secret did not match")                                      \
  X(bad_mode, "INIT asked for a mode other than the interface's (ethernet or ip)") \
  X(bad_region, "ADD_REGION with a bad index, size or fd")                        \
  X(bad_ring, "ADD_RING with a bad index, region, offset, size or fd")            \
  X(bad_fd, "message carried a missing, extra or unusable file descriptor")       \
  X(bad_ring_cookie, "ring header cookie wrong at CONNECT")                       \
  X(incomplete_setup, "CONNECT before at least one region and ring each way")     \
  X(handshake_timeout, "peer did not finish the handshake before the deadline")   \
  X(bad_ring_index, "connected peer moved a ring index by more than the ring size")

enum class ProtocolError : uint8_t {
#define X(name, help) name,
  MEMSWITCH_PROTOCOL_ERRORS(X)
#undef X
      kCount
};
constexpr size_t kNumProtocolErrors = static_cast<size_t>(ProtocolError::kCount);
constexpr std::array<DropReasonInfo, kNumProtocolErrors> kProtocolErrors = {{
#define X(name, help) {#name, help},
    MEMSWITCH_PROTOCOL_ERRORS(X)
#undef X
}};

}  // namespace memswitch
