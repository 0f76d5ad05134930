#include "stats/packet_filter.h"

#include <pcap/pcap.h>

namespace memswitch::detail {

struct PacketFilter::Program {
  bpf_program program{};
  ~Program() { pcap_freecode(&program); }
  // libpcap compiles against a "dead" handle of the link type: no device, no syscall.
  static Result<std::unique_ptr<Program>> compile(const std::string& expression, int linktype, uint32_t snaplen) {
    pcap_t* dead = pcap_open_dead(linktype, int(snaplen));
    if (!dead) return make_error(Errc::kResourceExhausted, "pcap_open_dead failed");
    auto p = std::make_unique<Program>();
    const int rc = pcap_compile(dead, &p->program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN);
    std::string message = rc == 0 ? "" : pcap_geterr(dead);
    pcap_close(dead);
    if (rc != 0) return make_error(Errc::kInvalidArgument, "filter \"" + expression + "\": " + message);
    return p;
  }
};

PacketFilter::~PacketFilter() = default;

Result<std::unique_ptr<PacketFilter>> PacketFilter::compile(const std::string& expression, uint32_t snaplen, bool raw_too) {
  std::unique_ptr<PacketFilter> f(new PacketFilter());
  auto ethernet = Program::compile(expression, DLT_EN10MB, snaplen);
  if (!ethernet) return ethernet.error();
  f->ethernet_ = std::move(*ethernet);
  auto raw = Program::compile(expression, DLT_RAW, snaplen);
  if (raw) f->raw_ = std::move(*raw);
  else if (raw_too) return raw.error();
  return f;
}

bool PacketFilter::matches(bool ip_mode, const uint8_t* bytes, uint32_t wire_len, uint32_t have) const {
  const Program* p = ip_mode ? raw_.get() : ethernet_.get();
  return p && bpf_filter(p->program.bf_insns, bytes, wire_len, have) != 0;
}

const uint8_t* PacketFilter::view(const Burst& b, uint32_t k, uint32_t have, uint8_t* scratch) {
  const PacketMeta& p = b.pkts[k];
  if (p.header_len == 0 && p.n_segs == 1) return b.segs[p.first_seg].data;
  FrameReader(b, k).read(scratch, have);
  return scratch;
}

}  // namespace memswitch::detail
