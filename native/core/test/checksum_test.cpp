// The Internet checksum helpers the routed path uses, against the definition (RFC 1071:
// the one's-complement sum of 16-bit words) over many headers, and the TTL decrement's
// shortcut against recomputing the checksum.
#include <gtest/gtest.h>

#include <random>

#include "packet/ip.h"

using namespace memswitch;
using namespace memswitch::detail;

namespace {

// RFC 1071 by the letter: the checksum field is whatever makes the header sum to 0xFFFF.
uint16_t reference_csum(const uint8_t* ip, uint32_t ihl) {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < ihl; i += 2)
    if (i != ip4::kCsum) sum += uint32_t(ip[i] << 8 | ip[i + 1]);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return uint16_t(~sum);
}

}  // namespace

TEST(Checksum, HeaderChecksumMatchesTheDefinitionWithAndWithoutOptions) {
  std::mt19937 rng(7);
  for (uint32_t ihl = 20; ihl <= 60; ihl += 4) {
    for (int n = 0; n < 2000; ++n) {
      uint8_t ip[60];
      for (auto& x : ip) x = uint8_t(rng());
      store16(ip + ip4::kCsum, 0);
      const uint16_t c = ip4_header_csum(ip, ihl);
      ASSERT_EQ(c, reference_csum(ip, ihl)) << "ihl " << ihl;
      store16(ip + ip4::kCsum, c);
      ASSERT_EQ(ip4_header_csum(ip, ihl), 0) << "a header with its checksum in place sums to zero";
    }
  }
}

TEST(Checksum, FoldTakesAnySumToSixteenBits) {
  for (uint32_t sum : {0u, 1u, 0xFFFFu, 0x10000u, 0x1FFFEu, 0x1FFFFu, 0xFFFF0000u, 0xFFFFFFFFu, 0x12345678u}) {
    uint64_t s = sum;
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    EXPECT_EQ(csum_fold(sum), uint16_t(~s)) << std::hex << sum;
  }
}

// Every TTL from 2 to 255 and checksums all over their range, including the words whose
// sums sit at one's-complement zero (0x0000 and 0xFFFF).
TEST(Checksum, TtlDecrementKeepsTheHeaderValid) {
  std::mt19937 rng(11);
  uint32_t checked = 0;
  for (uint32_t ttl = 2; ttl <= 255; ++ttl) {
    for (int n = 0; n < 400; ++n) {
      uint8_t ip[20];
      for (auto& x : ip) x = uint8_t(rng());
      ip[ip4::kVerIhl] = 0x45;
      ip[ip4::kTtl] = uint8_t(ttl);
      store16(ip + ip4::kCsum, 0);
      store16(ip + ip4::kCsum, ip4_header_csum(ip, 20));
      uint8_t before[20];
      std::memcpy(before, ip, sizeof ip);
      ip4_decrement_ttl(ip);
      ASSERT_EQ(ip[ip4::kTtl], ttl - 1);
      ASSERT_EQ(ip4_header_csum(ip, 20), 0) << "ttl " << ttl << " checksum " << std::hex << load16(before + ip4::kCsum);
      for (uint32_t i = 0; i < 20; ++i)
        if (i != ip4::kTtl && i != ip4::kCsum && i != ip4::kCsum + 1) ASSERT_EQ(ip[i], before[i]);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 254u * 400u);
}
