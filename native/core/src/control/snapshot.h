// The snapshot workers forward with: ports, flood lists, queue assignments, the
// pipeline stages enabled and the routers' tables. Immutable once published; the control thread builds a new
// one for every change (snapshot.cpp) and frees the old one after a grace period.
#pragma once
#include <cstdint>
#include <vector>

#include "memif/session.h"
#include "memswitch/afxdp.h"
#include "pipeline/acl.h"
#include "pipeline/l3.h"
#include "pipeline/stages.h"
#include "stats/capture.h"
#include "stats/trace.h"

namespace memswitch::detail {

// PortView::watch beside the CapturePoint bits: a trace takes frames this port receives.
// One byte for both, so that a burst nobody watches pays one test for all of them.
constexpr uint8_t kWatchTrace = 8;
static_assert((kWatchTrace & (kCaptureRx | kCaptureTx | kCaptureDrops)) == 0);

// One port: a memif session or an AF_XDP port (neither: the port is not connected or
// admin down, and nothing is sent to it).
struct PortView {
  Session* session = nullptr;
  XdpPort* xdp = nullptr;
  uint16_t segment = 0;
  uint16_t vlan = 0;
  uint16_t rif = 0;  // the router interface on this port's segment, if any
  bool ip_mode = false;  // memif ip mode: frames carry no Ethernet header
  uint8_t watch = 0;     // CapturePoint bits some capture watches here, and kWatchTrace
  bool up() const { return session || xdp; }
};

struct RxAssignment {
  uint32_t port;
  RxRing* ring;   // memif C2S ring, or
  XskQueue* xsk;  // an AF_XDP queue
};

struct Topology {
  StageMask stages = kL2Stages;
  std::vector<PortView> ports;                     // by interface index
  std::vector<std::vector<uint32_t>> flood;        // by segment: connected ports
  std::vector<std::vector<RxAssignment>> per_worker;
  L3View l3;
  std::vector<Capture*> captures;
  bool capture_drops = false;  // a capture watches some port's drops
  std::vector<Trace*> traces;
  // By port, beside `ports` so that PortView, which every burst reads, stays small: the
  // ACL on what the port receives (acl_in) and on what is sent to it (acl_out), or null.
  // Workers write their hit counters.
  struct PortAcls {
    AclTable* in = nullptr;
    AclTable* out = nullptr;
  };
  std::vector<PortAcls> acls;  // empty while no interface has an ACL
  Conntrack* conntrack = nullptr;  // while a bound ACL has a permit_reflect rule
};

}  // namespace memswitch::detail
