// Shared-memory regions backed by memfd: the fd is what travels in ADD_REGION.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "memswitch/result.h"

namespace memswitch {

// Process-wide tallies of regions this process created, for logs and metrics.
struct MemoryCounters {
  std::atomic<uint64_t> hugepage_bytes{0};
  std::atomic<uint64_t> fallback_bytes{0};   // 4 KiB pages because hugepages were not free
  std::atomic<uint64_t> fallback_regions{0};
};
MemoryCounters& memory_counters();

class SharedMemory {
 public:
  SharedMemory() = default;
  SharedMemory(SharedMemory&& o) noexcept { *this = std::move(o); }
  SharedMemory& operator=(SharedMemory&& o) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory() { reset(); }

  // Creates a memfd of at least `size` bytes, on 2 MiB hugepages when any are free and
  // `prefer_hugepages`, else on 4 KiB pages (counted in memory_counters()).
  static Result<SharedMemory> create(const std::string& name, uint64_t size, bool prefer_hugepages, bool seal = true);

  // Maps a region a memif peer sent. The fd must be a regular file (memfd or hugetlbfs)
  // at least `size` bytes long, so touching the mapping cannot fault with SIGBUS at once.
  // Takes ownership of fd in every case. The mapping is guarded: if the peer shrinks the
  // file later (DPDK sends unsealed regions), a touch of the lost part does not kill the
  // process with SIGBUS; zero pages replace it and faulted() turns true.
  static Result<SharedMemory> map_peer(int fd, uint64_t size);
  bool faulted() const;

  uint8_t* data() const { return base_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }
  bool hugepages() const { return hugepages_; }

 private:
  void reset();
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;     // usable bytes
  uint64_t mapped_ = 0;   // bytes mapped (rounded to the page size)
  bool hugepages_ = false;
  bool counted_ = false;
  int guard_ = -1;  // slot in the SIGBUS guard's table, for peer mappings
};

}  // namespace memswitch
