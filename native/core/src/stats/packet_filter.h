// A pcap-filter(7) expression compiled by libpcap into classic BPF, run on a worker with
// bpf_filter (no syscall): what captures and traces select frames with.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "memswitch/result.h"
#include "packet/burst.h"

namespace memswitch::detail {

class PacketFilter {
 public:
  // kInvalidArgument with libpcap's message when the expression does not compile. It is
  // compiled for Ethernet and, where `raw_too`, for frames without a link layer (memif ip
  // mode); an expression that only makes sense with Ethernet fails there only then, and
  // otherwise never matches ip-mode frames. Empty: every frame.
  static Result<std::unique_ptr<PacketFilter>> compile(const std::string& expression, uint32_t snaplen, bool raw_too);
  ~PacketFilter();
  PacketFilter(const PacketFilter&) = delete;
  PacketFilter& operator=(const PacketFilter&) = delete;

  bool can_match(bool ip_mode) const { return ip_mode ? raw_ != nullptr : ethernet_ != nullptr; }
  // `have` of the frame's `wire_len` bytes are at `bytes`.
  bool matches(bool ip_mode, const uint8_t* bytes, uint32_t wire_len, uint32_t have) const;
  // Frame k of b as it is now (the private header if any, then the source), up to `have`
  // bytes, in one contiguous view: in place when it is one untouched segment, else copied
  // into `scratch` (kMaxFrameSize bytes).
  static const uint8_t* view(const Burst& b, uint32_t k, uint32_t have, uint8_t* scratch);

 private:
  PacketFilter() = default;
  // libpcap's programs, out of this header: its bpf.h and the kernel's (libxdp) clash.
  struct Program;
  std::unique_ptr<Program> ethernet_;
  std::unique_ptr<Program> raw_;
};

}  // namespace memswitch::detail
