// Fragments and the ACL stages (virtual reassembly, fragments.h): the fragments after a
// datagram's first carry no ports, yet are judged and tracked with its ports, so a
// datagram passes whole or not at all; overlapping fragments and datagrams in too many
// pieces are counted drops. IPv4 and IPv6.
#include "bridged_fixture.h"
#include "pipeline/fragments.h"

using namespace memswitch;
using namespace memswitch::test;
using namespace memswitch::detail;

namespace {

constexpr Ip4 kIpA = 0x0A000001, kIpB = 0x0A000002;
constexpr uint16_t kMf = 0x2000;

// A UDP datagram (8-byte header, 48 bytes of data) from `from` to `to` in three fragments:
// [0, 24) with the UDP header, [24, 48), [48, 56).
std::vector<Bytes> fragmented(Mac dst, Mac src, Ip4 from, Ip4 to, uint16_t sport, uint16_t dport, uint16_t id) {
  const Bytes whole = udp(sport, dport, 48);
  std::vector<Bytes> out;
  for (auto [at, len] : {std::pair{0, 24}, std::pair{24, 24}, std::pair{48, 8}}) {
    const uint16_t frag = uint16_t(at / 8) | (at + len < int(whole.size()) ? kMf : 0);
    out.push_back(eth(dst, src, kEtherTypeIp4, ipv4({from, to, kProtoUdp, 64, frag, {}, id}, Bytes(whole.begin() + at, whole.begin() + at + len))));
  }
  return out;
}

// The same over IPv6, with a fragment header.
std::vector<Bytes> fragmented6(Mac dst, Mac src, Ip6 from, Ip6 to, uint16_t dport, uint32_t id) {
  const Bytes whole = udp(1000, dport, 48);
  std::vector<Bytes> out;
  for (auto [at, len] : {std::pair{0, 24}, std::pair{24, 24}, std::pair{48, 8}}) {
    Bytes fh(8);
    fh[0] = kProtoUdp;
    store16(&fh[2], uint16_t(at) | (at + len < int(whole.size()) ? 1 : 0));
    store32(&fh[4], id);
    fh.insert(fh.end(), whole.begin() + at, whole.begin() + at + len);
    out.push_back(eth(dst, src, kEtherTypeIp6, ipv6({from, to, 44}, fh)));
  }
  return out;
}

AclRule permit_udp_to(uint16_t port, AclAction action = AclAction::permit) {
  AclRule r;
  r.proto = kProtoUdp;
  r.dst_port_min = r.dst_port_max = port;
  r.action = action;
  return r;
}

}  // namespace

TEST(FragmentTable, LaterFragmentsGetTheFirstOnesTransport) {
  FragmentTable t;
  const FragmentId d{IpAddress(kIpA), IpAddress(kIpB), 7, 0, kProtoUdp};
  FragmentTransport ports{true, false, 1000, 53, 0, 0}, got;
  EXPECT_EQ(t.note(d, 0, 24, 1, &ports), FragmentVerdict::ok);
  EXPECT_EQ(t.note(d, 48, 56, 1, &got), FragmentVerdict::ok);  // out of order: a hole, not an overlap
  EXPECT_EQ(got.dport, 53);
  EXPECT_EQ(t.note(d, 24, 48, 1, &got), FragmentVerdict::ok);
  EXPECT_EQ(t.note(d, 16, 32, 1, &got), FragmentVerdict::overlap);
  EXPECT_EQ(t.note(d, 0, 24, 1, &got), FragmentVerdict::overlap);  // a duplicate
  EXPECT_TRUE(t.find(d, 2, &got));
  EXPECT_FALSE(t.find(d, 1 + FragmentTable::kLifeS + 1, &got));  // forgotten
  const FragmentId other{IpAddress(kIpA), IpAddress(kIpB), 8, 0, kProtoUdp};
  EXPECT_EQ(t.note(other, 24, 48, 1, &got), FragmentVerdict::unknown);  // its first never came
  const FragmentId endless{IpAddress(kIpA), IpAddress(kIpB), 9, 0, kProtoUdp};
  uint32_t refused = 0;
  for (uint32_t i = 0; i < 70; ++i) refused += t.note(endless, i * 8, i * 8 + 8, 1, &ports) == FragmentVerdict::too_many;
  EXPECT_EQ(refused, 70 - FragmentTable::kMaxPieces);
}

// A stateless rule on ports: the fragments after the first carry none, and pass or not
// with their datagram.
TEST_F(Bridged, FragmentsOfADatagramAreJudgedByItsFirstFragmentsPorts) {
  ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::in, acl("dns-only", {permit_udp_to(53)})));
  for (const Bytes& f : fragmented(kMacB, kMacA, kIpA, kIpB, 1000, 53, 1)) send(*a, f);
  EXPECT_EQ(receive(*b, 3), 3u);
  for (const Bytes& f : fragmented(kMacB, kMacA, kIpA, kIpB, 1000, 54, 2)) send(*a, f);
  EXPECT_EQ(receive(*b, 1, 150), 0u);
  EXPECT_TRUE(eventually([&] { return denied(ia) == 3; })) << denied(ia);
  const Ip6 a6 = parse_ip("fd00::1")->bits, b6 = parse_ip("fd00::2")->bits;
  for (const Bytes& f : fragmented6(kMacB, kMacA, a6, b6, 53, 3)) send(*a, f);
  EXPECT_EQ(receive(*b, 3), 3u);
  for (const Bytes& f : fragmented6(kMacB, kMacA, a6, b6, 54, 4)) send(*a, f);
  EXPECT_EQ(receive(*b, 1, 150), 0u);
  EXPECT_TRUE(eventually([&] { return denied(ia) == 6; })) << denied(ia);
}

// Stateful: a's fragmented datagram opens its flow, and b's fragmented reply comes back
// whole through a's deny-everything ACL; b's unsolicited fragmented datagram does not.
TEST_F(Bridged, AFragmentedReplyOfATrackedFlowPassesWhole) {
  ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::in, acl("a-starts", {permit_udp_to(53, AclAction::permit_reflect)})));
  ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::out, acl("nothing-in", {})));
  for (const Bytes& f : fragmented(kMacB, kMacA, kIpA, kIpB, 1000, 53, 10)) send(*a, f);
  EXPECT_EQ(receive(*b, 3), 3u);
  for (const Bytes& f : fragmented(kMacA, kMacB, kIpB, kIpA, 53, 1000, 11)) send(*b, f);
  EXPECT_EQ(receive(*a, 3), 3u);
  for (const Bytes& f : fragmented(kMacA, kMacB, kIpB, kIpA, 53, 1001, 12)) send(*b, f);
  EXPECT_EQ(receive(*a, 1, 150), 0u);
  EXPECT_TRUE(eventually([&] { return denied(ia) == 3; })) << denied(ia);
}

TEST_F(Bridged, OverlappingAndEndlessFragmentsAreCountedDrops) {
  ASSERT_TRUE(sw.dp->bind_acl(ia, AclDirection::in, acl("dns-only", {permit_udp_to(53)})));
  const std::vector<Bytes> f = fragmented(kMacB, kMacA, kIpA, kIpB, 1000, 53, 20);
  send(*a, f[0]);
  send(*a, f[0]);  // again: overlaps the first
  send(*a, eth(kMacB, kMacA, kEtherTypeIp4, ipv4({kIpA, kIpB, kProtoUdp, 64, uint16_t(kMf | 2), {}, 20}, Bytes(16, 0))));  // [16, 32): overlaps
  send(*a, f[1]);
  send(*a, f[2]);
  EXPECT_EQ(receive(*b, 4), 3u);
  EXPECT_TRUE(eventually([&] { return drops(sw.info(ia), DropReason::fragment_overlap) == 2; })) << drops(sw.info(ia), DropReason::fragment_overlap);
  // A datagram that never ends: its first fragment, then 8-byte pieces on and on.
  send(*a, eth(kMacB, kMacA, kEtherTypeIp4, ipv4({kIpA, kIpB, kProtoUdp, 64, kMf, {}, 21}, udp(1000, 53, 0))));
  for (uint16_t i = 1; i < 70; ++i) send(*a, eth(kMacB, kMacA, kEtherTypeIp4, ipv4({kIpA, kIpB, kProtoUdp, 64, uint16_t(kMf | i), {}, 21}, Bytes(8, 0))));
  EXPECT_EQ(receive(*b, 70), 64u);
  EXPECT_TRUE(eventually([&] { return drops(sw.info(ia), DropReason::fragment_too_many) == 6; })) << drops(sw.info(ia), DropReason::fragment_too_many);
}
