// Quiescent-state-based reclamation: the control thread swaps a pointer and starts a
// grace period; what the old pointer reached is freed once every online worker has
// passed quiescent() since. Workers pay one relaxed load and one release store per poll.
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
  // Starts a grace period and returns its ticket: it has passed once every thread was
  // offline or passed quiescent() after this call.
  uint64_t start_grace() noexcept { return gp_.fetch_add(1, std::memory_order_seq_cst) + 1; }
  bool passed(uint64_t ticket) const noexcept;
  // Waits up to `timeout` for `ticket` to pass (yielding); true when it did.
  bool wait(uint64_t ticket, std::chrono::milliseconds timeout) const;

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
