// libxdp's ring structs, visible only to afxdp.cpp and the worker.
#pragma once
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "memswitch/afxdp.h"

#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)  // multi-buffer (Linux 6.6); Debian 12's uapi headers predate it
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

namespace memswitch {
struct XskRings {
  xsk_ring_prod fill;
  xsk_ring_cons comp;
  xsk_ring_cons rx;
  xsk_ring_prod tx;
};
}  // namespace memswitch
