// pcapng blocks (draft-ietf-opsawg-pcapng), what a capture stream is made of: a section
// header, an interface description per interface seen, an enhanced packet per frame.
// Host byte order (little-endian here; readers take it from the section header).
#pragma once
#include <cstdint>
#include <string>

namespace memswitch::detail::pcapng {

constexpr uint16_t kLinkEthernet = 1;  // LINKTYPE_ETHERNET
constexpr uint16_t kLinkRaw = 101;     // LINKTYPE_RAW: IPv4 or IPv6, no link layer
// epb_flags direction bits.
constexpr uint32_t kInbound = 1, kOutbound = 2;

void section_header(std::string& out, const std::string& app);
// Timestamps in nanoseconds (if_tsresol 9).
void interface_description(std::string& out, uint16_t linktype, uint32_t snaplen, const std::string& name);
// `comment` (empty: none) goes into opt_comment.
void enhanced_packet(std::string& out, uint32_t interface, uint64_t ts_ns, const uint8_t* data, uint32_t cap_len, uint32_t wire_len, uint32_t flags, const std::string& comment);

}  // namespace memswitch::detail::pcapng
