#include <gtest/gtest.h>

#include "memswitch/ethernet.h"
#include "memswitch/histogram.h"

using namespace memswitch;

TEST(Ethernet, ParsesHeaderFields) {
  const uint8_t f[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x10, 0x81, 0x00, 0x00, 0x64};
  EthHeader h;
  ASSERT_TRUE(parse_eth(f, sizeof f, &h));
  EXPECT_EQ(h.dst, 0xffffffffffffull);
  EXPECT_EQ(h.src, 0x020000000010ull);
  EXPECT_EQ(h.ether_type, kEtherTypeVlan);
  EXPECT_TRUE(mac_is_multicast(h.dst));
  EXPECT_FALSE(mac_is_multicast(h.src));
}

TEST(Ethernet, ParsedMacsKeepTheirByteOrder) {
  const uint8_t f[14] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54, 0x76, 0x08, 0x00};
  EthHeader h;
  ASSERT_TRUE(parse_eth(f, sizeof f, &h));
  EXPECT_EQ(h.dst, 0x0123456789abull);
  EXPECT_EQ(h.src, 0xcdef10325476ull);
  EXPECT_EQ(h.ether_type, 0x0800);
  EXPECT_EQ(h.dst, mac_from_bytes(f));
  EXPECT_EQ(h.src, mac_from_bytes(f + 6));
}

TEST(Ethernet, RejectsRunt) {
  const uint8_t f[13] = {};
  EthHeader h;
  EXPECT_FALSE(parse_eth(f, sizeof f, &h));
}

TEST(Ethernet, MacTextRoundTrip) {
  auto m = parse_mac("02:00:0A:bc:00:10");
  ASSERT_TRUE(m);
  EXPECT_EQ(format_mac(*m), "02:00:0a:bc:00:10");
  EXPECT_FALSE(parse_mac("02:00:0a:bc:00"));
  EXPECT_FALSE(parse_mac("02-00-0a-bc-00-10"));
  EXPECT_FALSE(parse_mac("02:00:0a:bc:00:1g"));
}

TEST(Histogram, QuantilesWithinBucketError) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 10000; ++v) h.record(v * 10);
  EXPECT_EQ(h.total(), 10000u);
  const double p50 = double(h.quantile(0.5)), p99 = double(h.quantile(0.99));
  EXPECT_NEAR(p50, 50000, 50000 * 0.07);
  EXPECT_NEAR(p99, 99000, 99000 * 0.07);
  EXPECT_EQ(h.quantile(1.0), 100000u);
}

TEST(Histogram, IndexIsMonotonic) {
  int prev = -1;
  for (uint64_t v = 0; v < (1u << 20); v += 7) {
    const int i = LatencyHistogram::index(v);
    EXPECT_GE(i, prev);
    EXPECT_GE(LatencyHistogram::upper_bound(i), v);
    prev = i;
  }
}
