// The egress plan of one burst: the pipeline stages name an output port per frame (or
// several, when flooding) and transmit then walks one batch per port.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>

#include "packet/burst.h"

namespace memswitch::detail {

constexpr uint32_t kMaxInterfaces = 1024;

class EgressPlan {
 public:
  EgressPlan() : batch_of_port_(std::make_unique<uint16_t[]>(kMaxInterfaces)), batches_(std::make_unique<Batch[]>(kMaxInterfaces)) {
    for (uint32_t i = 0; i < kMaxInterfaces; ++i) batch_of_port_[i] = kNoBatch;
  }
  void add(uint32_t port, uint16_t pkt) {
    Batch& b = batch(port);
    b.pkt[b.n++] = pkt;
  }
  // Frames going the same way at once: one read and write of the batch's count for all
  // of them, where adding them one by one makes each wait for the previous count.
  void add(uint32_t port, const uint16_t* pkts, uint32_t n) {
    Batch& b = batch(port);
    std::memcpy(b.pkt + b.n, pkts, n * sizeof *pkts);
    b.n = uint16_t(b.n + n);
  }
  uint32_t size() const { return n_batches_; }
  const Batch& operator[](uint32_t b) const { return batches_[b]; }
  Batch& at(uint32_t b) { return batches_[b]; }  // a stage taking frames out of a batch (acl_out)
  void clear() {
    for (uint32_t b = 0; b < n_batches_; ++b) batch_of_port_[batches_[b].port] = kNoBatch;
    n_batches_ = 0;
  }

 private:
  static constexpr uint16_t kNoBatch = UINT16_MAX;
  Batch& batch(uint32_t port) {
    uint16_t b = batch_of_port_[port];
    if (b == kNoBatch) {
      b = uint16_t(n_batches_++);
      batch_of_port_[port] = b;
      batches_[b].port = port;
      batches_[b].n = 0;
    }
    return batches_[b];
  }
  std::unique_ptr<uint16_t[]> batch_of_port_;  // kNoBatch when the port has none
  std::unique_ptr<Batch[]> batches_;
  uint32_t n_batches_ = 0;
};

}  // namespace memswitch::detail
