#include <charconv>

#include "memswitch/routing.h"

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

std::optional<Ip4Prefix> parse_ip4_prefix(std::string_view s, bool host_bits_ok) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = parse_ip4(s.substr(0, slash));
  const std::string_view len_s = s.substr(slash + 1);
  unsigned len = 0;
  auto [q, ec] = std::from_chars(len_s.data(), len_s.data() + len_s.size(), len);
  if (!addr || ec != std::errc() || q != len_s.data() + len_s.size() || len_s.empty() || len > 32) return std::nullopt;
  if (!host_bits_ok && (*addr & ~ip4_mask(uint8_t(len)))) return std::nullopt;
  return Ip4Prefix{*addr, uint8_t(len)};
}

std::string format_ip4_prefix(Ip4Prefix p) { return format_ip4(p.addr) + "/" + std::to_string(p.len); }

}  // namespace memswitch
