// Our memif client (the container side): owns the shared memory and eventfds, drives
// the handshake, and moves frames on its rings. Used by the traffic engine, tests and
// benchmarks. Not thread-safe: one thread drives a client's data path at a time.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "memswitch/result.h"
#include "memswitch/shm.h"
#include "memswitch/unix_socket.h"
#include "memswitch/wire.h"

namespace memswitch {

struct MemifClientConfig {
  std::string socket;   // path or "@name"
  uint32_t id = 0;
  std::string secret;
  std::string name = "memswitch-client";
  std::string if_name = "memif0";
  uint32_t queues = 1;        // queue pairs
  uint8_t log2_ring_size = 10;
  uint32_t buffer_size = 2048;
  bool prefer_hugepages = true;
  bool interrupt_mode = false;  // leave MASK_INT clear on our rx rings and wait on eventfds
  bool seal_memory = true;      // F_SEAL_SHRINK on 4 KiB regions; tests of hostile peers turn it off
  bool ip_mode = false;         // frames are IP packets without an Ethernet header
  uint32_t timeout_ms = 5000;
};

// A frame to send: contiguous bytes, chained over several buffers when longer than one.
struct TxFrame {
  const uint8_t* data;
  uint32_t len;
};

class MemifClient {
 public:
  static Result<std::unique_ptr<MemifClient>> connect(const MemifClientConfig& cfg);
  ~MemifClient();

  // Frames actually queued (stops at the first that does not fit).
  uint32_t tx_burst(uint32_t queue, const TxFrame* frames, uint32_t n);

  // Calls fn(data, len) for up to `max` received frames; a chained frame is gathered
  // into scratch memory first. Returns frames delivered.
  template <class Fn>
  uint32_t rx_burst(uint32_t queue, uint32_t max, Fn&& fn);

  // Blocks up to timeout_ms for the S2C eventfd of `queue` (interrupt mode); returns
  // true when it fired.
  bool wait_rx(uint32_t queue, int timeout_ms);
  // Sets/clears MASK_INT on our rx rings, following the lost-wakeup rule of §4.6.
  void set_interrupt_mode(bool on);

  // Reads pending control messages; false once the server disconnected or closed.
  bool poll_control();
  bool connected() const { return connected_; }
  const std::string& disconnect_reason() const { return disconnect_reason_; }
  void disconnect(const std::string& reason);  // sends DISCONNECT, closes

  uint32_t queues() const { return cfg_.queues; }
  uint64_t rx_bad_descriptors() const { return rx_bad_descriptors_; }
  uint64_t eventfd_signals() const { return signals_; }
  bool hugepages() const { return mem_.hugepages(); }
  int memory_fd() const { return mem_.fd(); }  // tests: a hostile peer truncates it
  const MemifClientConfig& config() const { return cfg_; }
  const std::string& server_name() const { return server_name_; }

  // Fault injection for tests of the server's validation (a hostile container): publish
  // `n` C2S descriptors shaped by `kind` instead of good frames.
  enum class BadDesc { kRegionIndex, kOffsetPastRegion, kLengthPastRegion, kZeroLength, kChainPastHead, kHugeFrame };
  uint32_t inject_bad_tx(uint32_t queue, BadDesc kind, uint32_t n);
  // Moves the C2S head by more than the ring size.
  void inject_bad_head(uint32_t queue);
  // Overwrites `len` bytes at `offset` of every C2S buffer of `queue`, sent or not: run
  // from another thread while this one sends, it is a peer changing frames after it
  // handed them over (pipeline.md §2). Only the bytes change, never the descriptors.
  void inject_scribble_tx_buffers(uint32_t queue, uint32_t offset, const uint8_t* bytes, uint32_t len);

 private:
  struct Ring {
    memif::RingHeader* hdr;
    memif::Desc* desc;
    uint16_t size, mask;
    uint16_t shadow;         // tx: our head; rx: last tail consumed
    uint16_t posted;         // rx only: our S2C head (buffers handed to the server)
    uint64_t buffers_offset; // first slot's buffer in the region
    int eventfd;
  };
  explicit MemifClient(const MemifClientConfig& cfg) : cfg_(cfg) {}
  Status handshake();
  Status expect(memif::MsgType t, memif::Msg* out);
  void signal(Ring& r);
  uint8_t* buffer(const Ring& r, uint32_t slot) const {
    return mem_.data() + r.buffers_offset + uint64_t(slot) * cfg_.buffer_size;
  }
  void refill(Ring& r);

  MemifClientConfig cfg_;
  int sock_ = -1;
  SharedMemory mem_;
  std::vector<Ring> c2s_, s2c_;
  std::vector<uint8_t> scratch_;
  bool connected_ = false;
  std::string disconnect_reason_;
  std::string server_name_;
  uint64_t rx_bad_descriptors_ = 0;
  uint64_t signals_ = 0;
};

template <class Fn>
uint32_t MemifClient::rx_burst(uint32_t queue, uint32_t max, Fn&& fn) {
  Ring& r = s2c_[queue];
  const uint16_t tail = memif::load_acquire(r.hdr->tail);
  uint16_t avail = uint16_t(tail - r.shadow);
  if (avail > r.size) avail = 0;  // a broken server; never read past what we posted
  uint32_t delivered = 0;
  uint16_t i = 0;
  while (i < avail && delivered < max) {
    // The server must not rewrite region/offset, but it is a peer: check them anyway.
    uint32_t total = 0;
    uint16_t first = i;
    bool chained = false, bad = false;
    for (;;) {
      const memif::Desc d = r.desc[uint16_t(r.shadow + i) & r.mask];
      if (d.region != 0 || d.length > cfg_.buffer_size || d.offset + uint64_t(d.length) > mem_.size()) bad = true;
      total += d.length;
      ++i;
      if (!(d.flags & memif::kDescFlagNext)) break;
      chained = true;
      if (i >= avail) { bad = true; break; }
    }
    if (bad || total > scratch_.size()) { ++rx_bad_descriptors_; continue; }
    if (!chained) {
      const memif::Desc d = r.desc[uint16_t(r.shadow + first) & r.mask];
      fn(mem_.data() + d.offset, d.length);
    } else {
      uint32_t off = 0;
      for (uint16_t k = first; k < i; ++k) {
        const memif::Desc d = r.desc[uint16_t(r.shadow + k) & r.mask];
        std::memcpy(scratch_.data() + off, mem_.data() + d.offset, d.length);
        off += d.length;
      }
      fn(scratch_.data(), total);
    }
    ++delivered;
  }
  r.shadow = uint16_t(r.shadow + i);
  refill(r);
  return delivered;
}

}  // namespace memswitch
