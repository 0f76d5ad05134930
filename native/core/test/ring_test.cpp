// Wire layout and free-running index arithmetic (memif-protocol.md §4.3).
#include <gtest/gtest.h>

#include <cstring>

#include "memswitch/unix_socket.h"
#include "memswitch/wire.h"

using namespace memswitch;
using namespace memswitch::memif;

TEST(Ring, IndexDifferenceSurvivesWrap) {
  uint16_t head = 65530, tail = 65530;
  for (int i = 0; i < 20; ++i) ++head;  // wraps past 65535
  EXPECT_EQ(head, 14);
  EXPECT_EQ(uint16_t(head - tail), 20);
  const uint16_t mask = (1 << 10) - 1;
  EXPECT_EQ(uint16_t(65535) & mask, 1023);
  EXPECT_EQ(uint16_t(65535 + 1) & mask, 0);
}

TEST(Ring, FreeSlotsAtEveryOffset) {
  constexpr uint16_t kSize = 1 << 4;
  for (uint32_t base = 0; base < 65536; base += 4099) {
    for (uint16_t used = 0; used <= kSize; ++used) {
      const uint16_t tail = uint16_t(base), head = uint16_t(base + used);
      EXPECT_EQ(uint16_t(head - tail), used);
      EXPECT_EQ(kSize - uint16_t(head - tail), kSize - used);
    }
  }
}

TEST(Ring, HeaderAndDescriptorLayout) {
  EXPECT_EQ(sizeof(RingHeader), 128u);
  EXPECT_EQ(offsetof(RingHeader, head), 6u);
  EXPECT_EQ(offsetof(RingHeader, tail), 64u);
  EXPECT_EQ(ring_bytes(10), 128u + 16u * 1024u);
  EXPECT_EQ(sizeof(Desc), 16u);
}

TEST(Wire, WireStringIsBoundedWithoutNul) {
  char field[24];
  std::memset(field, 'x', sizeof field);  // a secret that fills all 24 bytes, no NUL
  EXPECT_EQ(wire_string(field, sizeof field), std::string(24, 'x'));
  set_wire_string(field, sizeof field, std::string(40, 'y'));
  EXPECT_EQ(wire_string(field, sizeof field), std::string(23, 'y'));
}

TEST(Wire, SocketAddressParsing) {
  auto a = SocketAddress::parse("@memif-a");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->abstract);
  EXPECT_EQ(a->name, "memif-a");
  EXPECT_FALSE(SocketAddress::parse(""));
  EXPECT_FALSE(SocketAddress::parse("@"));
  EXPECT_FALSE(SocketAddress::parse("/" + std::string(200, 'a')));
}
