// The 16-8-8 trie against the obvious reference (every prefix, longest match wins), over
// random inserts, replacements and removals at every prefix length.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "lpm_reference.h"
#include "pipeline/ip4_fib.h"

using namespace memswitch;
using namespace memswitch::detail;

namespace {

uint32_t reference(const std::map<Ip4Prefix, uint32_t>& routes, Ip4 a) { return test::longest_match(routes, a, Ip4Fib::kNoRoute); }

// Addresses near the prefixes (inside, at their edges, just outside) and random ones.
std::vector<Ip4> probes(const std::map<Ip4Prefix, uint32_t>& routes, std::mt19937& rng) {
  std::vector<Ip4> out;
  for (auto& [p, v] : routes) {
    const Ip4 last = p.addr | ~ip4_mask(p.len);
    out.insert(out.end(), {p.addr, last, p.addr - 1, last + 1, p.addr | (Ip4(rng()) & ~ip4_mask(p.len))});
  }
  for (int i = 0; i < 200; ++i) out.push_back(rng());
  return out;
}

}  // namespace

TEST(Ip4Fib, MatchesTheReferenceThroughInsertsReplacementsAndRemovals) {
  std::mt19937 rng(7);
  Ip4Fib fib;
  std::map<Ip4Prefix, uint32_t> routes;
  // Clustered addresses so prefixes nest and share plies.
  auto random_prefix = [&] {
    const uint8_t len = uint8_t(rng() % 33);
    const Ip4 a = (0x0A000000u | (rng() & 0x0003FFFFu)) & ip4_mask(len);
    return Ip4Prefix{a, len};
  };
  for (int round = 0; round < 3000; ++round) {
    const Ip4Prefix p = random_prefix();
    if (rng() % 3 == 0 && !routes.empty()) {
      auto it = routes.begin();
      std::advance(it, rng() % routes.size());
      EXPECT_EQ(fib.erase(it->first), it->second);
      routes.erase(it);
    } else {
      const uint32_t v = 1 + rng() % 1000;
      ASSERT_TRUE(fib.set(p, v));
      routes[p] = v;
    }
    if (round % 100 == 0) {
      for (Ip4 a : probes(routes, rng)) ASSERT_EQ(fib.lookup(a), reference(routes, a)) << format_ip4(a) << " round " << round;
      fib.reuse(fib.take_retired());  // no readers here: plies may be reused at once
    }
  }
  EXPECT_EQ(fib.size(), routes.size());
  EXPECT_FALSE(fib.erase({0x0B000000, 8}));  // never added
}

TEST(Ip4Fib, BatchedLookupEqualsSingleLookups) {
  std::mt19937 rng(11);
  Ip4Fib fib;
  for (int i = 0; i < 5000; ++i) {
    const uint8_t len = uint8_t(8 + rng() % 25);
    ASSERT_TRUE(fib.set({Ip4(rng()) & ip4_mask(len), len}, 1 + i));
  }
  Ip4 a[64];
  uint32_t out[64];
  for (int round = 0; round < 100; ++round) {
    for (auto& x : a) x = rng();
    fib.lookup_n(a, out, 64);
    for (int i = 0; i < 64; ++i) ASSERT_EQ(out[i], fib.lookup(a[i]));
  }
}

TEST(Ip4Fib, RemovingEveryRouteGivesEveryPlyBack) {
  Ip4Fib fib;
  std::vector<Ip4Prefix> added;
  for (uint32_t i = 0; i < 2000; ++i) {
    added.push_back({0x0A000000u | (i << 8), 24});
    added.push_back({0x0A000000u | (i << 8) | 0x80, 25});
    added.push_back({0x0A000000u | (i << 8) | 0x81, 32});
  }
  for (auto& p : added) ASSERT_TRUE(fib.set(p, 5));
  const size_t full = fib.memory_bytes();
  for (auto& p : added) ASSERT_TRUE(fib.erase(p));
  const auto plies = fib.take_retired();
  EXPECT_GT(plies.size(), 2000u);  // every level-2 and level-3 ply folded back
  EXPECT_EQ(fib.lookup(0x0A000181), Ip4Fib::kNoRoute);
  fib.reuse(plies);
  for (auto& p : added) ASSERT_TRUE(fib.set(p, 6));  // reused, not grown
  EXPECT_EQ(fib.memory_bytes(), full);
  EXPECT_EQ(fib.lookup(0x0A000181), 6u);
}

TEST(Ip4Fib, ReportsAFullTableAndChangesNothing) {
  Ip4Fib fib(/*max_plies=*/2);
  ASSERT_TRUE(fib.set({0x0A000000, 8}, 1));
  ASSERT_TRUE(fib.set({0x0A000100, 32}, 2));  // two plies: 10.0/16 and 10.0.1/24
  const Status s = fib.set({0x0B000100, 32}, 3);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kResourceExhausted);
  EXPECT_EQ(fib.lookup(0x0B000100), Ip4Fib::kNoRoute);
  EXPECT_EQ(fib.lookup(0x0A000100), 2u);
  EXPECT_EQ(fib.lookup(0x0A000200), 1u);
  EXPECT_FALSE(fib.get({0x0B000100, 32}));
}

TEST(Ip4Addresses, ParseAndFormat) {
  EXPECT_EQ(parse_ip4("10.1.2.3"), 0x0A010203u);
  EXPECT_EQ(format_ip4(0xC0A80001), "192.168.0.1");
  for (const char* bad : {"10.1.2", "10.1.2.3.4", "256.1.1.1", "01.1.1.1", "a.b.c.d", "10.1.2.3 ", ""}) EXPECT_FALSE(parse_ip4(bad)) << bad;
  EXPECT_EQ(parse_ip4_prefix("10.0.0.0/8"), (Ip4Prefix{0x0A000000, 8}));
  EXPECT_FALSE(parse_ip4_prefix("10.0.0.1/8"));  // host bits
  EXPECT_EQ(parse_ip4_prefix("10.0.0.1/8", true), (Ip4Prefix{0x0A000001, 8}));
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x"}) EXPECT_FALSE(parse_ip4_prefix(bad)) << bad;
}
