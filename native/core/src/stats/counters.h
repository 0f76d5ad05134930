// Per-worker, per-port counters: each has exactly one writer (its worker), any reader.
#pragma once
#include <atomic>
#include <cstdint>

#include "memswitch/drop_reason.h"

namespace memswitch::detail {

struct alignas(64) PortCounters {
  std::atomic<uint64_t> rx_packets{0}, rx_bytes{0}, tx_packets{0}, tx_bytes{0};
  std::atomic<uint64_t> drops[kNumDropReasons]{};

  void count_drop(DropReason r, uint64_t n = 1);
  void reset();
};

// Single-writer counter bump: a plain load/add/store, no locked instruction.
inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

inline void PortCounters::count_drop(DropReason r, uint64_t n) { bump(drops[size_t(r)], n); }

// Only once no worker can write them any more (the port is gone after a grace period).
inline void PortCounters::reset() {
  for (auto* a : {&rx_packets, &rx_bytes, &tx_packets, &tx_bytes}) a->store(0, std::memory_order_relaxed);
  for (auto& d : drops) d.store(0, std::memory_order_relaxed);
}

}  // namespace memswitch::detail
