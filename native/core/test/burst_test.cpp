// The private header copy (pipeline.md §2): once a stage privatized a frame's header,
// transmit sends the copy, whatever the ingress peer writes into its buffer afterwards.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "packet/burst.h"

namespace memswitch::detail {
namespace {

// A frame of `len` bytes (0, 1, 2, ...) split into segments of the given sizes.
struct Frame {
  std::vector<std::vector<uint8_t>> segs;
  std::vector<uint8_t> bytes;
  Frame(std::initializer_list<uint32_t> sizes) {
    uint8_t v = 0;
    for (uint32_t n : sizes) {
      segs.emplace_back(n);
      for (uint8_t& b : segs.back()) bytes.push_back(b = v++);
    }
  }
  void into(Burst& b) const {
    const uint32_t first = 0;
    uint32_t i = 0;
    for (const auto& s : segs) b.segs[i++] = {s.data(), uint32_t(s.size())};
    b.clear(3);
    b.add(first, uint32_t(segs.size()), uint32_t(bytes.size()));
  }
};

// Transmit's view: the frame read out in pieces of `chunk` bytes, as into posted buffers.
std::vector<uint8_t> transmitted(const Burst& b, uint32_t chunk) {
  std::vector<uint8_t> out(b.pkts[0].len);
  FrameReader r(b, 0);
  for (uint32_t off = 0; off < out.size(); off += chunk) r.read(out.data() + off, std::min<uint32_t>(chunk, uint32_t(out.size()) - off));
  return out;
}

TEST(Burst, WithoutAPrivateHeaderTransmitReadsTheSourceSegments) {
  static Burst b;
  Frame f{60, 140, 9};
  f.into(b);
  EXPECT_EQ(b.pkts[0].header_len, 0);
  for (uint32_t chunk : {1u, 50u, 64u, 2048u}) EXPECT_EQ(transmitted(b, chunk), f.bytes) << chunk;
}

TEST(Burst, APeerRewritingItsBufferAfterClassificationChangesNothingSent) {
  static Burst b;
  Frame f{60, 140, 9};
  f.into(b);
  uint8_t* h = b.privatize_header(0);
  ASSERT_EQ(b.pkts[0].header_len, kHeaderScratch);
  EXPECT_TRUE(std::equal(h, h + kHeaderScratch, f.bytes.begin()));
  h[37] = 0xEE;  // a stage rewrites a field (e.g. a NAT port) in the private copy
  std::vector<uint8_t> expect = f.bytes;
  expect[37] = 0xEE;
  // The hostile peer rewrites the header bytes of its buffer after rx (time of use).
  std::fill(f.segs[0].begin(), f.segs[0].end(), 0x55);
  std::fill(f.segs[1].begin(), f.segs[1].begin() + (kHeaderScratch - 60), 0x55);
  for (uint32_t chunk : {1u, 50u, 64u, 2048u}) EXPECT_EQ(transmitted(b, chunk), expect) << chunk;
}

TEST(Burst, AFrameShorterThanTheScratchIsCopiedWhole) {
  static Burst b;
  Frame f{14, 26};
  f.into(b);
  b.privatize_header(0);
  EXPECT_EQ(b.pkts[0].header_len, 40);
  for (auto& s : f.segs) std::fill(s.begin(), s.end(), 0);
  EXPECT_EQ(transmitted(b, 7), f.bytes);
}

TEST(Burst, PrivatizingTwiceKeepsTheFirstCopy) {
  static Burst b;
  Frame f{200};
  f.into(b);
  b.privatize_header(0)[0] = 0xAB;
  EXPECT_EQ(b.privatize_header(0)[0], 0xAB);
}

}  // namespace
}  // namespace memswitch::detail
