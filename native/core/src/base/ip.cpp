#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "memswitch/routing.h"
#include "packet/ip.h"

namespace memswitch {

std::optional<Ip4> parse_ip4(std::string_view s) {
  Ip4 a = 0;
  const char* p = s.data();
  const char* end = s.data() + s.size();
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    unsigned v = 0;
    const char* start = p;
    auto [q, ec] = std::from_chars(p, end, v);
    // Decimal only, no leading zeros (inet_aton would read them as octal).
    if (ec != std::errc() || v > 255 || q - start > 3 || (q - start > 1 && *start == '0')) return std::nullopt;
    a = a << 8 | v;
    p = q;
  }
  if (p != end) return std::nullopt;
  return a;
}

std::string format_ip4(Ip4 a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xFF) + "." + std::to_string((a >> 8) & 0xFF) + "." + std::to_string(a & 0xFF);
}

namespace {

std::optional<uint8_t> parse_len(std::string_view s, unsigned max) {
  unsigned len = 0;
  auto [q, ec] = std::from_chars(s.data(), s.data() + s.size(), len);
  if (s.empty() || ec != std::errc() || q != s.data() + s.size() || len > max || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  return uint8_t(len);
}

}  // namespace

std::optional<Ip4Prefix> parse_ip4_prefix(std::string_view s, bool host_bits_ok) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = parse_ip4(s.substr(0, slash));
  auto len = parse_len(s.substr(slash + 1), 32);
  if (!addr || !len) return std::nullopt;
  if (!host_bits_ok && (*addr & ~ip4_mask(*len))) return std::nullopt;
  return Ip4Prefix{*addr, *len};
}

std::string format_ip4_prefix(Ip4Prefix p) { return format_ip4(p.addr) + "/" + std::to_string(p.len); }


std::optional<IpAddress> parse_ip(std::string_view s) {
  if (s.find(':') == std::string_view::npos) {
    auto a = parse_ip4(s);
    return a ? std::optional<IpAddress>(*a) : std::nullopt;
  }
  // inet_pton takes exactly RFC 4291 §2.2's text forms (and nothing with a zone or spaces).
  char buf[INET6_ADDRSTRLEN];
  uint8_t bytes[16];
  if (s.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  if (inet_pton(AF_INET6, buf, bytes) != 1) return std::nullopt;
  const Ip6 a = detail::load_ip6(bytes);
  if (ip6_v4_mapped(a)) return std::nullopt;  // an IPv4 address has one spelling: the dotted quad
  return IpAddress(a);
}

std::string format_ip(IpAddress a) {
  if (a.is4()) return format_ip4(a.v4());
  uint8_t bytes[16];
  detail::store_ip6(bytes, a.bits);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, bytes, buf, sizeof buf);  // RFC 5952's canonical form
  return buf;
}

std::optional<IpPrefix> parse_ip_prefix(std::string_view s, bool host_bits_ok) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = parse_ip(s.substr(0, slash));
  if (!addr) return std::nullopt;
  auto len = parse_len(s.substr(slash + 1), addr->is4() ? 32 : 128);
  if (!len) return std::nullopt;
  IpPrefix p(*addr, *len);
  if (!host_bits_ok && !p.host_bits_clear()) return std::nullopt;
  return p;
}

std::string format_ip_prefix(IpPrefix p) { return format_ip(p.addr) + "/" + std::to_string(p.len); }

}  // namespace memswitch
