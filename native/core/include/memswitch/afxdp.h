// AF_XDP ports through libxdp: one XSK per netdev queue, each with its own UMEM so the
// queue's worker owns its rx frames outright. UMEM frames are split in two pools: rx
// frames cycle fill -> rx -> fill on the polling worker; tx frames cycle free -> tx ->
// completion -> free under the queue's tx lock.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "memswitch/ethernet.h"
#include "memswitch/result.h"
#include "memswitch/shm.h"

struct xsk_umem;
struct xsk_socket;

namespace memswitch {

enum class XdpBindMode { kAuto, kZeroCopy, kCopy };
enum class XdpAttachMode { kAuto, kNative, kGeneric };

struct InterfaceCommon {
  std::string name;
  uint32_t network = 0;
  uint16_t vlan = 0;  // access VLAN; 0: untagged
  Mac mac = 0;        // reported to users; the switch is transparent
  // memif only: frames are IP packets without an Ethernet header. Such an interface has
  // its network to itself and a router interface there: it is routed, never bridged.
  bool ip_mode = false;
};

struct AfXdpInterfaceConfig : InterfaceCommon {
  std::string netdev;
  std::vector<uint32_t> queues;  // empty: every rx queue of the netdev
  XdpBindMode mode = XdpBindMode::kAuto;
  XdpAttachMode attach = XdpAttachMode::kAuto;
  uint32_t frame_size = 4096;     // UMEM chunk; frames larger than this are chained (multi-buffer)
  uint32_t frames_per_queue = 4096;
  bool prefer_hugepages = true;
};

// The memory-mapped rings of one XSK, laid out by libxdp (struct xsk_ring_prod/cons).
// Kept opaque here so only afxdp.cpp and the worker see libxdp's headers.
struct XskRings;

struct XskQueue {
  uint32_t queue_id = 0;
  int fd = -1;
  SharedMemory umem_mem;
  xsk_umem* umem = nullptr;
  xsk_socket* xsk = nullptr;
  std::unique_ptr<XskRings> rings;
  uint32_t frame_size = 0;
  uint32_t n_frames = 0;
  // tx pool, touched only under tx_lock (or by the one transmitting worker)
  std::vector<uint64_t> tx_free;
  bool tx_shared = false;
  std::atomic_flag tx_lock = ATOMIC_FLAG_INIT;
  ~XskQueue();
};

class XdpPort {
 public:
  static Result<std::unique_ptr<XdpPort>> open(const AfXdpInterfaceConfig& cfg, uint32_t n_workers);
  ~XdpPort();
  std::vector<std::unique_ptr<XskQueue>>& queues() { return queues_; }
  bool zero_copy() const { return zero_copy_; }
  bool native() const { return native_; }
  bool multi_buffer() const { return multi_buffer_; }
  uint32_t ifindex() const { return ifindex_; }
  uint32_t frame_size() const { return frame_size_; }

 private:
  std::vector<std::unique_ptr<XskQueue>> queues_;
  uint32_t ifindex_ = 0;
  uint32_t frame_size_ = 0;
  bool zero_copy_ = false;
  bool native_ = false;
  bool multi_buffer_ = false;
};

// Number of rx queues a netdev has (ethtool channels, else /sys queues), or an error.
Result<uint32_t> netdev_rx_queues(const std::string& netdev);

}  // namespace memswitch
