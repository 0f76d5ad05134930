#include "pipeline/acl.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "packet/ip.h"
#include "pipeline/pipeline.h"

namespace memswitch {

Status check_acl_rules(const std::vector<AclRule>& rules) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const AclRule& r = rules[i];
    const auto bad = [&](const std::string& what) { return make_error(Errc::kInvalidArgument, "rules[" + std::to_string(i) + "]: " + what); };
    for (const auto& p : {r.src, r.dst})
      if (p && (p->len > p->max_len() || !p->host_bits_clear())) return bad("prefix " + format_ip_prefix(*p) + " has bits set past its length");
    if (r.src && r.dst && r.src->is4() != r.dst->is4()) return bad("src and dst are of different families");
    const bool ports = r.src_port_min != 0 || r.src_port_max != 65535 || r.dst_port_min != 0 || r.dst_port_max != 65535;
    if (ports && r.proto != detail::kProtoTcp && r.proto != detail::kProtoUdp && r.proto != detail::kProtoSctp)
      return bad("ports need protocol 6 (TCP), 17 (UDP) or 132 (SCTP)");
    if (r.src_port_min > r.src_port_max || r.dst_port_min > r.dst_port_max) return bad("a port range ends before it starts");
    if (r.icmp_type < -1 || r.icmp_type > 255 || r.icmp_code < -1 || r.icmp_code > 255) return bad("ICMP type and code are 0-255 (or -1: any)");
    if (r.icmp_code >= 0 && r.icmp_type < 0) return bad("an ICMP code needs its type");
    if (r.icmp_type >= 0) {
      if (r.proto != detail::kProtoIcmp && r.proto != detail::kProtoIcmp6) return bad("an ICMP type needs protocol 1 (ICMP) or 58 (ICMPv6)");
      const std::optional<IpPrefix>& any = r.src ? r.src : r.dst;
      if (any && any->is4() != (r.proto == detail::kProtoIcmp)) return bad("ICMP goes with IPv4 prefixes, ICMPv6 with IPv6 ones");
    }
  }
  return Status::ok();
}

namespace detail {

AclTable::AclTable(std::vector<AclRule> rules, uint32_t workers, AclKind kind)
    : rules_(std::move(rules)),
      workers_(workers),
      reflects_(std::any_of(rules_.begin(), rules_.end(), [](const AclRule& r) { return r.action == AclAction::permit_reflect; })),
      kind_(kind),
      hits_(std::make_unique<std::atomic<uint64_t>[]>(size_t(workers) * (rules_.size() + 1))) {}

uint32_t AclTable::classify(const AclKey& k) const {
  for (uint32_t i = 0; i < rules_.size(); ++i) {
    const AclRule& r = rules_[i];
    if (r.src && !r.src->contains(k.src)) continue;
    if (r.dst && !r.dst->contains(k.dst)) continue;
    if (r.proto && r.proto != k.proto) continue;
    if (r.src_port_min != 0 || r.src_port_max != 65535 || r.dst_port_min != 0 || r.dst_port_max != 65535) {
      if (!k.has_ports || k.sport < r.src_port_min || k.sport > r.src_port_max || k.dport < r.dst_port_min || k.dport > r.dst_port_max) continue;
    }
    if (r.icmp_type >= 0 && (!k.has_icmp || k.sport != r.icmp_type || (r.icmp_code >= 0 && k.dport != r.icmp_code))) continue;
    return i;
  }
  return uint32_t(rules_.size());
}

AclStats AclTable::stats() const {
  AclStats s{std::vector<uint64_t>(rules_.size()), 0};
  for (uint32_t w = 0; w < workers_; ++w)
    for (size_t i = 0; i <= rules_.size(); ++i) {
      const uint64_t n = hits_[w * (rules_.size() + 1) + i].load(std::memory_order_relaxed);
      (i < rules_.size() ? s.hits[i] : s.default_denied) += n;
    }
  return s;
}

namespace {

enum class Parsed : uint8_t { not_ip, ip, malformed };

IcmpKind icmp_kind(uint8_t proto, uint8_t type) {
  if (proto == kProtoIcmp) {
    if (type == 8) return IcmpKind::echo_request;
    if (type == 0) return IcmpKind::echo_reply;
    // unreachable, source quench, redirect, time exceeded, parameter problem
    return type == 3 || type == 4 || type == 5 || type == 11 || type == 12 ? IcmpKind::error : IcmpKind::other;
  }
  if (type == 128) return IcmpKind::echo_request;
  if (type == 129) return IcmpKind::echo_reply;
  return type >= 1 && type <= 4 ? IcmpKind::error : IcmpKind::other;
}

// The transport header at `l4` of the private header: ports and TCP flags, or ICMP type,
// code and what connection tracking reads of it.
void transport(const uint8_t* h, uint32_t have, uint32_t l4, AclKey& k) {
  if (has_ports(k.proto) && l4 + 4 <= have) {
    k.has_ports = true, k.sport = load16(h + l4), k.dport = load16(h + l4 + 2);
    if (k.proto == kProtoTcp && l4 + 14 <= have) k.tcp_flags = h[l4 + 13];
  } else if ((k.proto == kProtoIcmp || k.proto == kProtoIcmp6) && l4 + 2 <= have) {
    k.has_icmp = true, k.sport = h[l4], k.dport = h[l4 + 1];
    if (l4 + 8 <= have) {
      k.icmp = icmp_kind(k.proto, h[l4]);
      k.echo_id = load16(h + l4 + 4);
      k.inner_at = uint16_t(l4 + 8);
    }
  }
}

Parsed parse_ip4(const uint8_t* h, uint32_t have, uint32_t l3, AclKey& k) {
  if (l3 + kIp4MinHeader > have || (h[l3] >> 4) != 4 || (h[l3] & 0xF) < 5) return Parsed::malformed;
  const uint8_t* ip = h + l3;
  k.src = Ip4(load32(ip + ip4::kSrc)), k.dst = Ip4(load32(ip + ip4::kDst)), k.proto = ip[ip4::kProto];
  const uint16_t frag = load16(ip + ip4::kFrag);
  const uint32_t ihl = (ip[0] & 0xF) * 4u, offset = (frag & kIp4OffsetMask) * 8u;
  k.later_fragment = offset != 0;
  if (frag & (kIp4FragMask & ~kIp4FlagDf)) {  // more fragments, or an offset
    const uint16_t total = load16(ip + ip4::kTotalLen);
    k.fragment = true, k.frag_id = load16(ip + ip4::kId), k.frag_offset = offset, k.frag_end = offset + (total > ihl ? total - ihl : 0);
  }
  if (!k.later_fragment) transport(h, have, l3 + ihl, k);
  return Parsed::ip;
}

// IPv6 past its extension headers (as far as the private header holds them). Neighbour
// discovery and router solicitations and advertisements are not the ACL's: without them
// no IPv6 host reaches anything.
Parsed parse_ip6(const uint8_t* h, uint32_t have, uint32_t l3, AclKey& k) {
  if (l3 + kIp6Header > have || (h[l3] >> 4) != 6) return Parsed::malformed;
  k.src = load_ip6(h + l3 + ip6::kSrc), k.dst = load_ip6(h + l3 + ip6::kDst);
  uint8_t next = h[l3 + ip6::kNext];
  uint32_t at = l3 + kIp6Header;
  for (;;) {
    constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestOptions = 60;
    if (next != kHopByHop && next != kRouting && next != kFragment && next != kDestOptions) break;
    if (at + 8 > have) {  // the rest is past what was copied: no transport header to judge
      k.proto = next;
      return Parsed::ip;
    }
    if (next == kFragment) {
      const uint32_t offset = load16(h + at + 2) & 0xFFF8u, after = at + 8 - (l3 + kIp6Header);  // of the payload
      const uint32_t payload = load16(h + l3 + ip6::kPayloadLen);
      k.later_fragment = offset != 0;
      k.fragment = true, k.frag_id = load32(h + at + 4), k.frag_offset = offset, k.frag_end = offset + (payload > after ? payload - after : 0);
    }
    const uint32_t len = next == kFragment ? 8 : (h[at + 1] + 1) * 8u;
    next = h[at];
    at += len;
  }
  k.proto = next;
  if (!k.later_fragment) transport(h, have, at, k);
  if (k.proto == kProtoIcmp6 && k.has_icmp && k.sport >= 133 && k.sport <= 137) return Parsed::not_ip;
  return Parsed::ip;
}

// Ethernet, up to two VLAN tags (a tag must not hide a packet from the rules), then IP.
Parsed parse(const uint8_t* h, uint32_t have, uint32_t at, bool ip_mode, AclKey& k) {
  if (ip_mode) {
    if (at >= have) return Parsed::malformed;
    return (h[at] >> 4) == 6 ? parse_ip6(h, have, at, k) : parse_ip4(h, have, at, k);
  }
  if (have < kEthHeaderSize) return Parsed::malformed;
  uint32_t type_at = 12;
  uint16_t type = load16(h + type_at);
  for (int tags = 0; tags < 2 && (type == kEtherTypeVlan || type == kEtherTypeQinQ) && type_at + 6 <= have; ++tags) {
    type_at += 4;
    type = load16(h + type_at);
  }
  if (type == kEtherTypeIp4) return parse_ip4(h, have, type_at + 2, k);
  if (type == kEtherTypeIp6) return parse_ip6(h, have, type_at + 2, k);
  return type == kEtherTypeVlan || type == kEtherTypeQinQ ? Parsed::malformed : Parsed::not_ip;
}

// The flow connection tracking files a packet under: TCP, UDP and SCTP by ports, ICMP
// echo by its identifier, other protocols by addresses alone. False for what has no flow
// of its own: a later fragment, a truncated header, an ICMP error or other ICMP message.
bool flow_of(const AclKey& k, uint32_t zone, FlowPacket* f) {
  if (k.later_fragment) return false;
  if (k.has_ports) {
    *f = flow_packet(zone, k.proto, k.src, k.sport, k.dst, k.dport, k.tcp_flags);
  } else if (k.icmp == IcmpKind::echo_request || k.icmp == IcmpKind::echo_reply) {
    *f = flow_packet(zone, k.proto, k.src, k.echo_id, k.dst, k.echo_id, 0);
  } else if (!has_ports(k.proto) && k.proto != kProtoIcmp && k.proto != kProtoIcmp6) {
    *f = flow_packet(zone, k.proto, k.src, 0, k.dst, 0, 0);
  } else {
    return false;
  }
  return true;
}

// Virtual reassembly (fragments.h), counted once per frame: a later fragment takes its
// datagram's transport (then it is no later fragment to the rules or the tracker); an
// overlapping fragment, or one too many, is refused.
DropReason reassemble(FragmentTable& frags, PacketMeta& p, AclKey& k, uint32_t zone, uint32_t now_s) {
  if (!k.fragment) return DropReason::kCount;
  const FragmentId d{k.src, k.dst, k.frag_id, zone, k.proto};
  FragmentTransport t{k.has_ports, k.has_icmp, k.sport, k.dport, uint8_t(k.icmp), k.echo_id};
  FragmentVerdict v = FragmentVerdict::unknown;
  if (p.ct & kCtFragment) {
    if (k.later_fragment && frags.find(d, now_s, &t)) v = FragmentVerdict::ok;
  } else {
    p.ct |= kCtFragment;
    v = frags.note(d, k.frag_offset, k.frag_end, now_s, &t);
  }
  if (v == FragmentVerdict::overlap) return DropReason::fragment_overlap;
  if (v == FragmentVerdict::too_many) return DropReason::fragment_too_many;
  if (v == FragmentVerdict::ok && k.later_fragment) {
    k.has_ports = t.has_ports, k.has_icmp = t.has_icmp, k.sport = t.sport, k.dport = t.dport;
    k.icmp = IcmpKind(t.icmp), k.echo_id = t.echo_id, k.later_fragment = false;
  }
  return DropReason::kCount;
}

// Whether an ICMP error is about a tracked flow: the header it quotes is that flow's.
bool related(const Conntrack& ct, const uint8_t* h, uint32_t have, const AclKey& k, uint32_t zone, uint32_t now_s) {
  if (k.icmp != IcmpKind::error) return false;
  AclKey quoted;
  FlowPacket f;
  const Parsed q = k.src.is4() ? parse_ip4(h, have, k.inner_at, quoted) : parse_ip6(h, have, k.inner_at, quoted);
  return q == Parsed::ip && flow_of(quoted, zone, &f) && ct.known(f.key, now_s);
}

// The zone a frame's flow lives in: its ingress port's router, or else its segment.
uint32_t zone_of(const Topology& t, uint32_t port) {
  const PortView& v = t.ports[port];
  return v.rif ? kZoneRouter | t.l3.rifs[v.rif].router : v.segment;
}

// The rule that decides frame k, counted; a permit+reflect one marks its flow to open.
DropReason judge(const AclBatch& with, PacketMeta& p, const AclKey& key, Parsed what) {
  AclTable& acl = with.acl;
  // A frame that says IP but is not is no frame to let through a filter.
  const uint32_t rule = what == Parsed::ip ? acl.classify(key) : uint32_t(acl.rules().size());
  acl.count(with.worker, rule);
  if (rule == acl.rules().size() || acl.rules()[rule].action == AclAction::deny) return acl.denial();
  if (acl.rules()[rule].action == AclAction::permit_reflect) p.ct |= kCtOpen;
  return DropReason::kCount;
}

// Parses frame k's private header for the rules, with virtual reassembly.
Parsed read(const AclBatch& with, Burst& b, uint32_t k, uint32_t at, bool ip_mode, AclKey& key, DropReason* refused) {
  PacketMeta& p = b.pkts[k];
  const Parsed what = parse(b.header[k], p.header_len, at, ip_mode, key);
  *refused = what == Parsed::ip ? reassemble(with.fragments, p, key, with.zone, with.now_s) : DropReason::kCount;
  return what;
}

}  // namespace

void acl_judge(const AclBatch& with, Burst& b, const uint16_t* pkts, uint32_t n, uint32_t at, bool ip_mode, DropReason* why) {
  Conntrack* ct = with.ct;
  if (!ct) {
    for (uint32_t i = 0; i < n; ++i) {
      AclKey key;
      const Parsed what = read(with, b, pkts[i], at, ip_mode, key, &why[i]);
      if (what != Parsed::not_ip && why[i] == DropReason::kCount) why[i] = judge(with, b.pkts[pkts[i]], key, what);
    }
    return;
  }
  // Connection tracking: first every frame's flow is found and its buckets fetched, then
  // the entries they point to, then the lookups run (conntrack.h); only frames of no
  // tracked flow are parsed again and judged by the rules.
  enum class Step : uint8_t { pass, look_up, judge };
  struct Lookup {
    FlowPacket f;
    Conntrack::Probe probe;
    Step step;
  };
  Lookup l[kSlots];
  for (uint32_t i = 0; i < n; ++i) {
    PacketMeta& p = b.pkts[pkts[i]];
    Lookup& x = l[i];
    x.step = Step::pass;
    why[i] = DropReason::kCount;
    if (p.ct & kCtEstablished) continue;  // judged once: its flow is tracked
    AclKey key;
    const Parsed what = read(with, b, pkts[i], at, ip_mode, key, &why[i]);
    if (what == Parsed::not_ip || why[i] != DropReason::kCount) continue;
    x.step = Step::judge;
    if (what != Parsed::ip || (p.ct & kCtLooked)) continue;
    p.ct |= kCtLooked;
    if (flow_of(key, with.zone, &x.f)) {
      x.step = Step::look_up;
      ct->prefetch_buckets(x.probe = ct->probe(x.f.key));
    } else if (related(*ct, b.header[pkts[i]], p.header_len, key, with.zone, with.now_s)) {
      p.ct |= kCtEstablished;
      x.step = Step::pass;
    }
  }
  for (uint32_t i = 0; i < n; ++i)
    if (l[i].step == Step::look_up) ct->prefetch_entries(l[i].probe);
  for (uint32_t i = 0; i < n; ++i) {
    Lookup& x = l[i];
    PacketMeta& p = b.pkts[pkts[i]];
    if (x.step == Step::pass) continue;
    if (x.step == Step::look_up && ct->track(x.f, x.probe, with.now_s, with.worker)) {
      p.ct |= kCtEstablished;
      continue;
    }
    AclKey key;
    const Parsed what = read(with, b, pkts[i], at, ip_mode, key, &why[i]);  // counted already: finds its datagram
    why[i] = judge(with, p, key, what);
  }
}

uint32_t acl_in(StageContext& ctx, Burst& b) {
  const Topology& t = ctx.topology;
  AclTable* acl = t.acls[b.in_port].in;  // the stage runs only when some port has an ACL: acls is filled
  if (!acl) return 0;
  const PortView& in = t.ports[b.in_port];
  // An ip-mode frame gets room for the Ethernet header l3_input writes (zero MACs until
  // then, and its ethertype now, so a trace reads it right).
  const uint32_t room = in.ip_mode ? kEthHeaderSize : 0;
  uint16_t judged[kSlots];
  uint32_t n = 0;
  for (uint32_t k = 0; k < b.n; ++k) {
    if (b.pkts[k].drop != DropReason::kCount) continue;
    judged[n++] = uint16_t(k);
    uint8_t* h = b.privatize_header(k, room);
    if (room) {
      std::memset(h, 0, 12);
      store16(h + 12, b.pkts[k].header_len > room && (h[room] >> 4) == 6 ? kEtherTypeIp6 : kEtherTypeIp4);
    }
  }
  DropReason why[kSlots];
  acl_judge({*acl, t.conntrack, ctx.fragments, zone_of(t, b.in_port), ctx.now_s, ctx.worker}, b, judged, n, room, in.ip_mode, why);
  for (uint32_t i = 0; i < n; ++i)
    if (why[i] != DropReason::kCount) ctx.drop(b.pkts[judged[i]], b.in_port, why[i]);
  return b.n;
}

namespace {

// Opens the flow of frame k, which every ACL on its way permitted and one marked to open.
bool open_flow(StageContext& ctx, Conntrack& ct, uint32_t zone, Burst& b, uint32_t k, bool ip_mode) {
  PacketMeta& p = b.pkts[k];
  p.ct = (p.ct & ~kCtOpen) | kCtEstablished;  // once, whatever other interfaces it goes to
  AclKey key;
  FlowPacket f;
  return parse(b.header[k], p.header_len, 0, ip_mode, key) != Parsed::ip || !flow_of(key, zone, &f) || ct.open(f, ctx.now_s, ctx.worker);
}

}  // namespace

// Per egress interface: a frame flooded to several may be denied on some and sent on the
// others. One denied everywhere it was planned is dropped (for capture and trace; each
// denial is counted on its egress interface). A frame whose flow is to open opens it here,
// past every ACL, or is dropped as conntrack_full when the table has no room.
uint32_t acl_out(StageContext& ctx, Burst& b) {
  const Topology& t = ctx.topology;
  const uint32_t zone = zone_of(t, b.in_port);
  uint32_t judged = 0;
  DropReason reason[kSlots];  // by frame
  bool was_dropped[kSlots] = {};
  uint16_t dropped[kSlots];
  uint32_t n_dropped = 0;
  for (uint32_t x = 0; x < ctx.egress.size(); ++x) {
    Batch& batch = ctx.egress.at(x);
    AclTable* acl = t.acls[batch.port].out;
    const PortView& out = t.ports[batch.port];
    DropReason why[kSlots];  // by place in the batch
    std::fill(why, why + batch.n, DropReason::kCount);
    if (acl) {
      for (uint16_t i = 0; i < batch.n; ++i) b.privatize_header(batch.pkt[i]);
      acl_judge({*acl, t.conntrack, ctx.fragments, zone, ctx.now_s, ctx.worker}, b, batch.pkt, batch.n, 0, out.ip_mode, why);
      judged += batch.n;
    }
    uint16_t kept = 0;
    for (uint16_t i = 0; i < batch.n; ++i) {
      const uint16_t k = batch.pkt[i];
      PacketMeta& p = b.pkts[k];
      DropReason r = why[i];
      if (r == DropReason::kCount && (p.ct & kCtOpen) && t.conntrack && !open_flow(ctx, *t.conntrack, zone, b, k, out.ip_mode)) r = DropReason::conntrack_full;
      if (r == DropReason::kCount) {
        batch.pkt[kept++] = k;
        continue;
      }
      ctx.counters[r == DropReason::conntrack_full ? b.in_port : batch.port].count_drop(r);
      if (!was_dropped[k]) was_dropped[k] = true, reason[k] = r, dropped[n_dropped++] = k;
    }
    batch.n = kept;
  }
  for (uint32_t d = 0; d < n_dropped; ++d) {
    bool planned = false;
    for (uint32_t x = 0; x < ctx.egress.size() && !planned; ++x) {
      const Batch& batch = ctx.egress[x];
      planned = std::find(batch.pkt, batch.pkt + batch.n, dropped[d]) != batch.pkt + batch.n;
    }
    if (!planned) b.pkts[dropped[d]].drop = reason[dropped[d]];
  }
  return judged;
}

}  // namespace detail
}  // namespace memswitch
