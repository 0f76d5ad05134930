// Quiescent-state-based reclamation: the control thread swaps a pointer, then waits
// until every online worker has passed quiescent() before freeing what the old
// pointer reached. Workers pay one relaxed load and one release store per poll loop.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace memswitch {

class Qsbr {
 public:
  explicit Qsbr(size_t n_threads);

  void quiescent(size_t t) noexcept {
    slots_[t].seen.store(gp_.load(std::memory_order_acquire), std::memory_order_release);
  }
  // An offline thread holds no protected pointers (stopped, or asleep on an fd).
  void offline(size_t t) noexcept { slots_[t].seen.store(kOffline, std::memory_order_release); }
  void online(size_t t) noexcept {
    slots_[t].seen.store(gp_.load(std::memory_order_acquire), std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // publish before loading any pointer
  }
  // True when every online thread passed quiescent() after this call started.
  bool synchronize(std::chrono::milliseconds timeout);

 private:
  static constexpr uint64_t kOffline = UINT64_MAX;
  struct alignas(64) Slot {
    std::atomic<uint64_t> seen{kOffline};
  };
  std::atomic<uint64_t> gp_{1};
  size_t n_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace memswitch
