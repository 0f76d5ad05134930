#include "memswitch/afxdp.h"

#include <dirent.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include <algorithm>
#include <cstdarg>

#include "xdp/afxdp_rings.h"

namespace memswitch {

namespace {
std::string sys_read(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}
// libbpf and libxdp print to stderr; failures reach users as errors of ours instead.
int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }
int quiet_xdp(enum libxdp_print_level, const char*, va_list) { return 0; }

const char* bind_name(bool zc) { return zc ? "zero-copy" : "copy"; }
const char* attach_name(bool native) { return native ? "native" : "generic"; }
}  // namespace

XskQueue::~XskQueue() {
  if (xsk) xsk_socket__delete(xsk);  // libxdp detaches its program with the last socket
  if (umem) xsk_umem__delete(umem);
}

XdpPort::~XdpPort() = default;

Result<uint32_t> netdev_rx_queues(const std::string& netdev) {
  if (netdev.empty() || netdev.size() >= IFNAMSIZ || netdev.find('/') != std::string::npos)
    return make_error(Errc::kInvalidArgument, "netdev: not a valid interface name: '" + netdev + "'");
  DIR* d = opendir(("/sys/class/net/" + netdev + "/queues").c_str());
  if (!d) return make_error(Errc::kNotFound, "netdev: no network interface named " + netdev);
  uint32_t n = 0;
  while (dirent* e = readdir(d)) n += std::strncmp(e->d_name, "rx-", 3) == 0;
  closedir(d);
  return n;
}

Result<std::unique_ptr<XdpPort>> XdpPort::open(const AfXdpInterfaceConfig& cfg, uint32_t n_workers) {
  libbpf_set_print(quiet);
  libxdp_set_print(quiet_xdp);
  Result<uint32_t> n_rx = netdev_rx_queues(cfg.netdev);
  if (!n_rx) return n_rx.error();
  const uint32_t ifindex = if_nametoindex(cfg.netdev.c_str());
  if (ifindex == 0) return make_error(Errc::kNotFound, "netdev: no network interface named " + cfg.netdev);
  if (cfg.frame_size != 2048 && cfg.frame_size != 4096)
    return make_error(Errc::kInvalidArgument, "frame size must be 2048 or 4096 (aligned UMEM chunks)");
  if (cfg.frames_per_queue < 64 || (cfg.frames_per_queue & (cfg.frames_per_queue - 1)))
    return make_error(Errc::kInvalidArgument, "frames per queue must be a power of two >= 64");
  std::vector<uint32_t> queues = cfg.queues;
  if (queues.empty())
    for (uint32_t q = 0; q < *n_rx; ++q) queues.push_back(q);
  for (uint32_t q : queues)
    if (q >= *n_rx)
      return make_error(Errc::kInvalidArgument, "queues: queue " + std::to_string(q) + " out of range: " + cfg.netdev +
                                                    " has " + std::to_string(*n_rx) + " rx queue(s)");
  const uint32_t mtu = uint32_t(std::atoi(sys_read("/sys/class/net/" + cfg.netdev + "/mtu").c_str()));
  if (mtu + kEthHeaderSize + 4 > kMaxFrameSize)
    return make_error(Errc::kInvalidArgument, "mtu: " + cfg.netdev + " has MTU " + std::to_string(mtu) +
                                                  ", above the largest frame the switch carries (MTU 9000)");

  auto port = std::make_unique<XdpPort>();
  port->ifindex_ = ifindex;
  port->frame_size_ = cfg.frame_size;
  // Try the fastest combination first unless the config forces one. Multi-buffer (for
  // frames larger than a UMEM chunk) is asked for only when the MTU needs it.
  const bool need_sg = mtu + kEthHeaderSize + 4 > cfg.frame_size - XDP_PACKET_HEADROOM;
  std::vector<bool> attach_opts, zc_opts;
  if (cfg.attach != XdpAttachMode::kGeneric) attach_opts.push_back(true);
  if (cfg.attach != XdpAttachMode::kNative) attach_opts.push_back(false);
  // libxdp's default program is not frags-aware, so native XDP refuses jumbo MTUs;
  // generic XDP linearizes and AF_XDP multi-buffer splits: try it first then.
  if (need_sg) std::reverse(attach_opts.begin(), attach_opts.end());
  // A failed attempt can leave libxdp's program attached in its mode, which makes the
  // next mode fail with EBUSY; detach it, but never a program someone else attached.
  auto attached = [&](bool nat) {
    uint32_t id = 0;
    bpf_xdp_query_id(int(ifindex), nat ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, &id);
    return id;
  };
  const bool had_native_prog = attached(true) != 0, had_generic_prog = attached(false) != 0;
  if (cfg.mode != XdpBindMode::kCopy) zc_opts.push_back(true);
  if (cfg.mode != XdpBindMode::kZeroCopy) zc_opts.push_back(false);

  std::string tried;
  bool chosen = false, native = false, zc = false;
  for (uint32_t qi = 0; qi < queues.size(); ++qi) {
    auto q = std::make_unique<XskQueue>();
    q->queue_id = queues[qi];
    q->frame_size = cfg.frame_size;
    q->n_frames = cfg.frames_per_queue;
    q->rings = std::make_unique<XskRings>();
    Result<SharedMemory> mem =
        SharedMemory::create("afxdp-umem", uint64_t(q->n_frames) * q->frame_size, cfg.prefer_hugepages);
    if (!mem) return mem.error();
    q->umem_mem = std::move(*mem);
    const xsk_umem_config ucfg{q->n_frames / 2, q->n_frames / 2, q->frame_size, 0, 0};
    bool created = false;
    bool busy = true;
    // A queue stays bound for a moment after its previous socket closed (the kernel
    // releases the pool from a work item), so EBUSY on every attempt is retried briefly.
    for (int round = 0; !created && busy && round < 40; ++round) {
    if (round) usleep(25'000);
    busy = true;
    tried.clear();
    for (bool nat : attach_opts) {
      for (bool z : zc_opts) {
        if (chosen && (nat != native || z != zc)) continue;
        // A failed bind leaves the UMEM registered with the kernel: start each attempt fresh.
        if (q->umem) xsk_umem__delete(q->umem);
        q->umem = nullptr;
        if (int err = xsk_umem__create(&q->umem, q->umem_mem.data(), q->umem_mem.size(), &q->rings->fill, &q->rings->comp, &ucfg))
          return make_error(Errc::kIo, "xsk_umem__create: " + std::string(std::strerror(-err)));
        xsk_socket_config scfg{};
        scfg.rx_size = q->n_frames / 2;
        scfg.tx_size = q->n_frames / 2;
        scfg.xdp_flags = nat ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
        scfg.bind_flags = uint16_t(XDP_USE_NEED_WAKEUP | (z ? XDP_ZEROCOPY : XDP_COPY) | (need_sg ? XDP_USE_SG : 0));
        const int err = xsk_socket__create(&q->xsk, cfg.netdev.c_str(), q->queue_id, q->umem, &q->rings->rx, &q->rings->tx, &scfg);
        if (err == 0) {
          created = true;
          native = nat;
          zc = z;
          break;
        }
        q->xsk = nullptr;
        busy &= err == -EBUSY;
        if (!chosen && !(nat ? had_native_prog : had_generic_prog) && attached(nat))
          bpf_xdp_detach(int(ifindex), nat ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, nullptr);
        tried += std::string(tried.empty() ? "" : "; ") + attach_name(nat) + "/" + bind_name(z) + ": " + std::strerror(-err);
      }
      if (created) break;
    }
    }
    if (!created) {
      std::string hint;
      if (need_sg) hint = " (mtu " + std::to_string(mtu) + " needs frames larger than the " + std::to_string(cfg.frame_size) +
                          "-byte UMEM chunk, i.e. AF_XDP multi-buffer)";
      return make_error(Errc::kIo, "cannot open AF_XDP socket on " + cfg.netdev + " queue " + std::to_string(q->queue_id) +
                                       hint + ": " + tried);
    }
    chosen = true;
    q->fd = xsk_socket__fd(q->xsk);
    // Hand every rx frame (the first half of the UMEM) to the kernel; keep the rest for tx.
    uint32_t idx = 0;
    const uint32_t n_rx_frames = q->n_frames / 2;
    if (xsk_ring_prod__reserve(&q->rings->fill, n_rx_frames, &idx) != n_rx_frames)
      return make_error(Errc::kIo, "AF_XDP fill ring smaller than the rx frames");
    for (uint32_t f = 0; f < n_rx_frames; ++f) *xsk_ring_prod__fill_addr(&q->rings->fill, idx + f) = uint64_t(f) * q->frame_size;
    xsk_ring_prod__submit(&q->rings->fill, n_rx_frames);
    q->tx_free.reserve(q->n_frames - n_rx_frames);
    for (uint32_t f = n_rx_frames; f < q->n_frames; ++f) q->tx_free.push_back(uint64_t(f) * q->frame_size);
    q->tx_shared = n_workers > queues.size();
    port->queues_.push_back(std::move(q));
  }
  port->native_ = native;
  xdp_options opts{};
  socklen_t len = sizeof opts;
  port->zero_copy_ = getsockopt(port->queues_[0]->fd, SOL_XDP, XDP_OPTIONS, &opts, &len) == 0 && (opts.flags & XDP_OPTIONS_ZEROCOPY);
  port->multi_buffer_ = need_sg;
  return port;
}

}  // namespace memswitch
