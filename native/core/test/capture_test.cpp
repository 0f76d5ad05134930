// Capture: the worker-side ring, libpcap's filters run on burst frames, and pcapng that
// libpcap itself reads back.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <random>

#include "packets.h"
#include "stats/capture.h"
#include "stats/pcapng.h"

namespace memswitch::detail {
namespace {

using test::Bytes;

Bytes udp_frame(size_t payload) {
  return test::eth(0x020000000002, 0x020000000001, 0x0800, test::ipv4({0x0A000001, 0x0A000002}, test::udp(1000, 2000, payload)));
}
Bytes tcp_frame() {
  return test::eth(0x020000000002, 0x020000000001, 0x0800, test::ipv4({0x0A000001, 0x0A000002, kProtoTcp}, Bytes(20, 0)));
}

// Frames as rx leaves them in a burst: one segment each, or split into `pieces`.
struct Frames {
  std::vector<Bytes> bytes;
  Burst b;
  void add(Bytes f, uint32_t pieces = 1) {
    bytes.push_back(std::move(f));
    const Bytes& kept = bytes.back();
    uint32_t first = 0;
    for (uint32_t k = 0; k < b.n; ++k) first += b.pkts[k].n_segs;
    const size_t step = (kept.size() + pieces - 1) / pieces;
    uint32_t n = 0;
    for (size_t off = 0; off < kept.size(); off += step, ++n) b.segs[first + n] = {kept.data() + off, uint32_t(std::min(step, kept.size() - off))};
    b.add(first, n, uint32_t(kept.size()));
  }
  Frames() { bytes.reserve(16); }
};

struct Kept {
  CaptureRecord rec;
  Bytes bytes;
};
std::vector<Kept> drain(CaptureRing& r) {
  std::vector<Kept> out;
  r.drain([&](const CaptureRecord& rec, const uint8_t* p) {
    out.push_back({rec, Bytes(p, p + rec.cap_len)});
    return true;
  });
  return out;
}

TEST(CaptureRing, RecordsComeOutInOrderAcrossManyWraps) {
  CaptureRing ring(4096);
  std::mt19937 rng(7);
  uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 2000; ++round) {
    const int pushes = int(rng() % 5);
    for (int i = 0; i < pushes; ++i) {
      Bytes data(rng() % 300);
      for (size_t j = 0; j < data.size(); ++j) data[j] = uint8_t(next_in + j);
      if (ring.push({next_in, 0, uint32_t(data.size()), uint32_t(data.size()), kCaptureRx, DropReason::kCount, 0}, data.data())) ++next_in;
    }
    for (const Kept& k : drain(ring)) {
      ASSERT_EQ(k.rec.ts_ns, next_out);
      for (size_t j = 0; j < k.bytes.size(); ++j) ASSERT_EQ(k.bytes[j], uint8_t(next_out + j));
      ++next_out;
    }
  }
  EXPECT_EQ(next_in, next_out);
  EXPECT_EQ(ring.kept(), next_in);
  EXPECT_GT(next_in, 3000u);
}

TEST(CaptureRing, AFullRingLosesAndCountsThenKeepsGoing) {
  CaptureRing ring(4096);
  const Bytes data(1000, 0xAB);
  uint32_t ok = 0;
  for (int i = 0; i < 10; ++i) ok += ring.push({uint64_t(i), 0, 1000, 1000, kCaptureRx, DropReason::kCount, 0}, data.data());
  EXPECT_EQ(ok, 4u);  // 1024-byte records in 4096 bytes
  EXPECT_EQ(ring.lost(), 6u);
  EXPECT_EQ(drain(ring).size(), 4u);
  EXPECT_TRUE(ring.push({99, 0, 1000, 1000, kCaptureRx, DropReason::kCount, 0}, data.data()));
  EXPECT_EQ(drain(ring).at(0).rec.ts_ns, 99u);
}

TEST(Capture, BadFilterGivesLibpcapsMessage) {
  auto c = Capture::create("udp port", {}, 1, false);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::kInvalidArgument);
  EXPECT_NE(c.error().message.find("syntax error"), std::string::npos) << c.error().message;
}

TEST(Capture, EthernetOnlyFilterFailsOnlyWhereIpModeIsAsked) {
  EXPECT_FALSE(Capture::create("ether host 02:00:00:00:00:01", {}, 1, true));
  auto c = Capture::create("ether host 02:00:00:00:00:01", {}, 1, false);
  ASSERT_TRUE(c);
  Frames f;
  f.add(udp_frame(10));
  std::vector<uint8_t> scratch(kMaxFrameSize);
  (*c)->offer(0, 1, 3, kCaptureRx, /*ip_mode=*/true, f.b, 0, scratch.data());
  (*c)->offer(0, 1, 3, kCaptureRx, /*ip_mode=*/false, f.b, 0, scratch.data());
  EXPECT_EQ(drain((*c)->ring(0)).size(), 1u);
}

TEST(Capture, KeepsWhatTheFilterSelectsByteForByte) {
  CaptureSpec spec;
  spec.snaplen = 100;
  auto c = Capture::create("udp", spec, 2, false);
  ASSERT_TRUE(c);
  Frames f;
  f.add(udp_frame(30));
  f.add(tcp_frame());
  f.add(udp_frame(500), 3);  // chained: made contiguous, cut at the snap length
  std::vector<uint8_t> scratch(kMaxFrameSize);
  for (uint32_t k = 0; k < f.b.n; ++k) (*c)->offer(1, 42, 5, kCaptureTx, false, f.b, k, scratch.data());
  EXPECT_TRUE(drain((*c)->ring(0)).empty());
  const auto kept = drain((*c)->ring(1));
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].bytes, f.bytes[0]);
  EXPECT_EQ(kept[1].rec.wire_len, f.bytes[2].size());
  EXPECT_EQ(kept[1].bytes, Bytes(f.bytes[2].begin(), f.bytes[2].begin() + 100));
  EXPECT_EQ(kept[1].rec.port, 5u);
  EXPECT_EQ(kept[1].rec.point, kCaptureTx);
  EXPECT_EQ(kept[1].rec.worker, 1u);
  EXPECT_TRUE(kept[1].rec.outbound);
}

TEST(Capture, SeesThePrivateHeaderNotThePeersBuffer) {
  auto c = Capture::create("ip[8] = 63", {}, 1, false);  // TTL after routing
  ASSERT_TRUE(c);
  Frames f;
  f.add(udp_frame(30));
  uint8_t* h = f.b.privatize_header(0);
  h[14 + 8] = 63;
  f.bytes[0][14 + 8] = 1;  // what the peer wrote afterwards
  std::vector<uint8_t> scratch(kMaxFrameSize);
  (*c)->offer(0, 1, 0, kCaptureTx, false, f.b, 0, scratch.data());
  const auto kept = drain((*c)->ring(0));
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].bytes[14 + 8], 63);
}

TEST(Pcapng, LibpcapReadsWhatWeWrite) {
  std::string out;
  pcapng::section_header(out, "memswitch test");
  pcapng::interface_description(out, pcapng::kLinkEthernet, 65535, "pod-a");
  pcapng::interface_description(out, pcapng::kLinkEthernet, 65535, "pod-b");
  const Bytes a = udp_frame(31), b = tcp_frame();
  pcapng::enhanced_packet(out, 0, 1'700'000'000'123'456'789ull, a.data(), uint32_t(a.size()), uint32_t(a.size()), pcapng::kInbound, "");
  pcapng::enhanced_packet(out, 1, 1'700'000'001'000'000'001ull, b.data(), 20, uint32_t(b.size()), pcapng::kOutbound, "drop: no_route");
  ASSERT_EQ(out.size() % 4, 0u);
  FILE* file = fmemopen(out.data(), out.size(), "rb");
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, err);
  ASSERT_NE(p, nullptr) << err;
  EXPECT_EQ(pcap_datalink(p), DLT_EN10MB);
  pcap_pkthdr* hdr;
  const u_char* data;
  ASSERT_EQ(pcap_next_ex(p, &hdr, &data), 1);
  EXPECT_EQ(hdr->ts.tv_sec, 1'700'000'000);
  EXPECT_EQ(hdr->ts.tv_usec, 123'456'789);  // nanoseconds at this precision
  EXPECT_EQ(Bytes(data, data + hdr->caplen), a);
  ASSERT_EQ(pcap_next_ex(p, &hdr, &data), 1);
  EXPECT_EQ(hdr->caplen, 20u);
  EXPECT_EQ(hdr->len, b.size());
  EXPECT_EQ(Bytes(data, data + 20), Bytes(b.begin(), b.begin() + 20));
  EXPECT_EQ(pcap_next_ex(p, &hdr, &data), PCAP_ERROR_BREAK);
  pcap_close(p);
}

}  // namespace
}  // namespace memswitch::detail
