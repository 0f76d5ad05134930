#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace memswitch {

constexpr size_t kEthHeaderSize = 14;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88A8;
// Largest frame any port accepts: 9000-byte MTU + Ethernet header + one VLAN tag.
constexpr uint32_t kMaxFrameSize = 9018;

// A MAC address packed into the low 48 bits, first octet most significant, so
// keys compare and hash as plain integers.
using Mac = uint64_t;

inline Mac mac_from_bytes(const uint8_t* p) {
  return (uint64_t(p[0]) << 40) | (uint64_t(p[1]) << 32) | (uint64_t(p[2]) << 24) | (uint64_t(p[3]) << 16) |
         (uint64_t(p[4]) << 8) | uint64_t(p[5]);
}
inline void mac_to_bytes(Mac m, uint8_t* p) {
  for (int i = 0; i < 6; ++i) p[i] = uint8_t(m >> (40 - 8 * i));
}
inline bool mac_is_multicast(Mac m) { return (m >> 40) & 1; }  // includes broadcast
std::optional<Mac> parse_mac(std::string_view s);
std::string format_mac(Mac m);

// The fields the switch needs, copied out of (possibly peer-writable) memory once.
struct EthHeader {
  Mac dst;
  Mac src;
  uint16_t ether_type;
};

// Returns false for a runt. `p` must hold at least `len` readable bytes.
inline bool parse_eth(const uint8_t* p, uint32_t len, EthHeader* out) {
  if (len < kEthHeaderSize) return false;
  uint8_t h[kEthHeaderSize];
  std::memcpy(h, p, sizeof h);  // one read of shared memory; the peer may rewrite it meanwhile
  // Each MAC as one 8-byte load of the copy, byte-swapped: assembling six bytes one by
  // one costs the bridge more than its table lookups.
  uint64_t dst_word, src_word;
  std::memcpy(&dst_word, h, 8);
  std::memcpy(&src_word, h + 6, 8);
  out->dst = __builtin_bswap64(dst_word) >> 16;
  out->src = __builtin_bswap64(src_word) >> 16;
  out->ether_type = uint16_t(h[12] << 8 | h[13]);
  return true;
}

}  // namespace memswitch
