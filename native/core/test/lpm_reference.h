// What every longest-prefix-match table must agree with: the longest matching prefix,
// found by trying them all.
#pragma once
#include <cstdint>
#include <map>
#include <type_traits>

#include "memswitch/routing.h"

namespace memswitch::test {

template <class Prefix, class Addr>  // Ip4Prefix and Ip4, or Ip6Prefix and Ip6
uint32_t longest_match(const std::map<Prefix, uint32_t>& routes, Addr a, uint32_t no_route) {
  int best = -1;
  uint32_t result = no_route;
  for (auto& [p, r] : routes) {
    bool holds;
    if constexpr (std::is_same_v<Prefix, Ip4Prefix>) holds = ip4_in(a, p);
    else holds = ip6_in(a, p);
    if (holds && p.len > best) best = p.len, result = r;
  }
  return result;
}

}  // namespace memswitch::test
