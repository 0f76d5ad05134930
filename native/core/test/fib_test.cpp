#include <gtest/gtest.h>

#include "memswitch/fib.h"

using namespace memswitch;

TEST(MacTable, LearnsAndLooksUp) {
  MacTable t(1024);
  EXPECT_EQ(t.lookup(fib_key(1, 0x020000000001)), kNoPort);
  t.learn(fib_key(1, 0x020000000001), 3, 10);
  EXPECT_EQ(t.lookup(fib_key(1, 0x020000000001)), 3u);
  // The same MAC in another segment is a different entry.
  EXPECT_EQ(t.lookup(fib_key(2, 0x020000000001)), kNoPort);
}

TEST(MacTable, MovesWhenSeenOnAnotherPort) {
  MacTable t(1024);
  t.learn(fib_key(1, 0xAA), 3, 10);
  t.learn(fib_key(1, 0xAA), 5, 11);
  EXPECT_EQ(t.lookup(fib_key(1, 0xAA)), 5u);
  EXPECT_EQ(t.entries(11).size(), 1u);
}

TEST(MacTable, StaticEntriesNeitherMoveNorAge) {
  MacTable t(1024);
  ASSERT_TRUE(t.add_static(fib_key(1, 0xBB), 7));
  t.learn(fib_key(1, 0xBB), 2, 10);
  EXPECT_EQ(t.lookup(fib_key(1, 0xBB)), 7u);
  EXPECT_EQ(t.age(100000, 300), 0u);
  EXPECT_EQ(t.lookup(fib_key(1, 0xBB)), 7u);
  EXPECT_TRUE(t.remove(fib_key(1, 0xBB)));
  EXPECT_EQ(t.lookup(fib_key(1, 0xBB)), kNoPort);
}

TEST(MacTable, AgesOutIdleDynamicEntries) {
  MacTable t(1024);
  t.learn(fib_key(1, 0x1), 1, 100);
  t.learn(fib_key(1, 0x2), 1, 350);
  EXPECT_EQ(t.age(401, 300), 1u);  // 0x1 idle 301 s, 0x2 idle 51 s
  EXPECT_EQ(t.lookup(fib_key(1, 0x1)), kNoPort);
  EXPECT_EQ(t.lookup(fib_key(1, 0x2)), 1u);
  t.learn(fib_key(1, 0x2), 1, 700);  // a refresh restarts the clock
  EXPECT_EQ(t.age(800, 300), 0u);
}

TEST(MacTable, FlushPortCanKeepStaticEntries) {
  MacTable t(1024);
  t.learn(fib_key(1, 0x10), 4, 1);
  ASSERT_TRUE(t.add_static(fib_key(1, 0x11), 4));
  EXPECT_EQ(t.flush_port(4, false), 1u);
  EXPECT_EQ(t.lookup(fib_key(1, 0x11)), 4u);
  EXPECT_EQ(t.flush_port(4), 1u);
  EXPECT_EQ(t.lookup(fib_key(1, 0x11)), kNoPort);
}

TEST(MacTable, FlushByPortAndSegment) {
  MacTable t(1024);
  for (Mac m = 1; m <= 50; ++m) t.learn(fib_key(uint16_t(1 + m % 2), m), uint32_t(m % 5), 1);
  EXPECT_EQ(t.flush_port(0), 10u);
  EXPECT_EQ(t.flush_segment(1, false), 20u);  // even MACs were segment 1; 5 of 25 were port 0
  EXPECT_EQ(t.entries(1).size(), 20u);
}

TEST(MacTable, FullBucketEvictsOldestDynamic) {
  MacTable t(64);  // 16 buckets of 4
  // Fill far past capacity; every lookup of the newest key must still hit.
  for (Mac m = 1; m <= 1000; ++m) {
    t.learn(fib_key(1, m), uint32_t(m), uint32_t(m));
    ASSERT_EQ(t.lookup(fib_key(1, m)), uint32_t(m));
  }
  EXPECT_GT(t.evictions(), 0u);
  EXPECT_LE(t.entries(1000).size(), 64u);
}

TEST(MacTable, StaticBucketFullIsAnError) {
  MacTable t(64);
  int failures = 0;
  for (Mac m = 1; m <= 200; ++m) failures += !t.add_static(fib_key(1, m), 1);
  EXPECT_GT(failures, 0);
  EXPECT_EQ(t.entries(0).size(), 64u);
}
