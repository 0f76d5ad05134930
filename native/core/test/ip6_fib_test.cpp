// The IPv6 table against a reference (the longest matching prefix by brute force) over
// random route sets and churn, and the address text forms both families accept.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "lpm_reference.h"
#include "pipeline/ip6_fib.h"

using namespace memswitch;
using namespace memswitch::detail;

namespace {

uint32_t reference(const std::map<Ip6Prefix, uint32_t>& routes, Ip6 a) { return test::longest_match(routes, a, Ip6Fib::kNoRoute); }

}  // namespace

TEST(Ip6Fib, MatchesAReferenceThroughInsertsReplacementsAndRemovals) {
  std::mt19937_64 rng(7);
  Ip6Fib fib;
  std::map<Ip6Prefix, uint32_t> routes;
  // Lengths as real tables have them, under a few common /32s so prefixes nest.
  const uint8_t lens[] = {0, 16, 32, 40, 48, 56, 64, 64, 64, 96, 127, 128, 128};
  const uint64_t sites[] = {0x20010db800000000ull, 0xfd00000100000000ull, 0x2a00000000000000ull};
  const auto random_addr = [&] { return Ip6{sites[rng() % 3] | (rng() & 0xFFFFFFFF & (rng() % 2 ? 0xFFFF : ~0ull)), rng() % 4 ? rng() : 1}; };
  for (int round = 0; round < 30; ++round) {
    for (int i = 0; i < 300; ++i) {
      const uint8_t len = lens[rng() % std::size(lens)];
      const Ip6Prefix p{ip6_and(random_addr(), ip6_mask(len)), len};
      if (rng() % 4 == 0 && !routes.empty()) {
        auto it = routes.begin();
        std::advance(it, rng() % routes.size());
        EXPECT_EQ(fib.erase(it->first), it->second);
        routes.erase(it);
      } else {
        const uint32_t r = uint32_t(1 + rng() % 1000);
        fib.set(p, r);
        routes[p] = r;
      }
    }
    ASSERT_EQ(fib.size(), routes.size());
    std::vector<Ip6> batch;
    for (int i = 0; i < 2048; ++i) {
      Ip6 a = random_addr();
      if (i % 2 && !routes.empty()) {  // inside a route, at its edges now and then
        auto it = routes.begin();
        std::advance(it, rng() % routes.size());
        a = it->first.addr;
        if (i % 4 == 1) a.lo |= ~ip6_mask(it->first.len).lo;
      }
      ASSERT_EQ(fib.lookup(a), reference(routes, a)) << format_ip(a) << " round " << round;
      batch.push_back(a);
    }
    // Batched as the stage does it: bursts of up to 128.
    for (size_t at = 0; at < batch.size(); at += 128) {
      const uint32_t n = uint32_t(std::min<size_t>(128 - round, batch.size() - at));
      uint32_t out[128];
      fib.lookup_n(batch.data() + at, out, n);
      for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(out[i], reference(routes, batch[at + i])) << format_ip(batch[at + i]);
    }
    fib.take_retired();  // no readers here: nothing waits for a grace period
  }
  EXPECT_FALSE(fib.erase({ip6_mask(12), 12}));
  for (auto& [p, r] : routes) EXPECT_EQ(fib.get(p), r);
}

TEST(Ip6Fib, AReplacedTableIsRetiredNotFreed) {
  Ip6Fib fib;
  for (uint64_t i = 0; i < 100; ++i) fib.set({{0xfd00000000000000ull | i << 16, 0}, 48}, 1);
  // Growing from 64 slots: the old tables wait for the caller's grace period.
  EXPECT_FALSE(fib.take_retired().empty());
  EXPECT_TRUE(fib.take_retired().empty());
  EXPECT_EQ(fib.lookup({0xfd00000000000000ull | 99 << 16, 5}), 1u);
  EXPECT_EQ(fib.lookup({0xfd00000000000000ull | 100 << 16, 5}), Ip6Fib::kNoRoute);
}

TEST(IpText, ParsesAndFormatsBothFamilies) {
  for (auto [in, out] : std::initializer_list<std::pair<const char*, const char*>>{
           {"2001:db8::1", "2001:db8::1"},
           {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
           {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // one zero group stays
           {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},            // the longer run is compressed
           {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},      // a tie: the first one
           {"::", "::"},
           {"fe80::", "fe80::"},
           {"10.1.2.3", "10.1.2.3"}}) {
    auto a = parse_ip(in);
    ASSERT_TRUE(a) << in;
    EXPECT_EQ(format_ip(*a), out);
  }
  EXPECT_TRUE(parse_ip("10.1.2.3")->is4());
  EXPECT_FALSE(parse_ip("fd00::1")->is4());
  for (const char* bad : {"::ffff:10.1.2.3", "2001:db8::1::2", "2001:db8:::1", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "2001:db8::g", " ::1", ""})
    EXPECT_FALSE(parse_ip(bad)) << bad;
  EXPECT_EQ(format_ip_prefix(*parse_ip_prefix("fd00:1::/64")), "fd00:1::/64");
  EXPECT_FALSE(parse_ip_prefix("fd00:1::1/64"));  // host bits
  EXPECT_TRUE(parse_ip_prefix("fd00:1::1/64", true));
  for (const char* bad : {"fd00::/129", "fd00::/064", "fd00::", "10.0.0.0/33", "fd00::/"}) EXPECT_FALSE(parse_ip_prefix(bad)) << bad;
  EXPECT_EQ(parse_ip_prefix("::/0")->len, 0);
}
