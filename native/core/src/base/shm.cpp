#include "memswitch/shm.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <mutex>

namespace memswitch {

namespace {
constexpr uint64_t kHugePage = 2ull << 20;
constexpr uint64_t kPage = 4096;
uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
}  // namespace

namespace {

// The SIGBUS guard: a fixed, lock-free table of peer mappings the handler can read.
struct Guarded {
  std::atomic<uintptr_t> base{0};
  std::atomic<uint64_t> len{0};
  std::atomic<uint64_t> page{0};
  std::atomic<bool> faulted{false};
};
constexpr int kMaxGuarded = 4096;
Guarded g_guarded[kMaxGuarded];
struct sigaction g_previous_bus;

// Async-signal-safe: reads the table, calls mmap. A fault inside a guarded peer mapping
// means the peer truncated its file: map zero pages over the rest of the mapping (aligned
// to its page size; hugetlb ranges can only be replaced whole pages at a time) and let
// the faulting instruction run again. Anything else is a real crash.
void on_sigbus(int sig, siginfo_t* si, void* ctx) {
  const auto addr = reinterpret_cast<uintptr_t>(si->si_addr);
  for (Guarded& g : g_guarded) {
    const uintptr_t base = g.base.load(std::memory_order_acquire);
    if (base == 0 || addr < base || addr >= base + g.len.load(std::memory_order_relaxed)) continue;
    const uint64_t page = g.page.load(std::memory_order_relaxed);
    const uintptr_t from = addr & ~uintptr_t(page - 1);
    const uint64_t len = base + g.len.load(std::memory_order_relaxed) - from;
    if (mmap(reinterpret_cast<void*>(from), len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) !=
        MAP_FAILED) {
      g.faulted.store(true, std::memory_order_release);
      return;
    }
    break;
  }
  sigaction(SIGBUS, &g_previous_bus, nullptr);
  if (g_previous_bus.sa_flags & SA_SIGINFO) {
    if (g_previous_bus.sa_sigaction) g_previous_bus.sa_sigaction(sig, si, ctx);
  } else if (g_previous_bus.sa_handler != SIG_DFL && g_previous_bus.sa_handler != SIG_IGN) {
    g_previous_bus.sa_handler(sig);
  }
  // Returning re-executes the faulting access under the previous (default) disposition.
}

int guard(uint8_t* base, uint64_t len, uint64_t page) {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &g_previous_bus);
  });
  for (int i = 0; i < kMaxGuarded; ++i) {
    uintptr_t expected = 0;
    if (g_guarded[i].base.load(std::memory_order_relaxed) != 0) continue;
    g_guarded[i].len.store(len, std::memory_order_relaxed);
    g_guarded[i].page.store(page, std::memory_order_relaxed);
    g_guarded[i].faulted.store(false, std::memory_order_relaxed);
    if (g_guarded[i].base.compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(base), std::memory_order_release))
      return i;
  }
  return -1;  // table full: the mapping still works, unguarded
}

}  // namespace

MemoryCounters& memory_counters() {
  static MemoryCounters c;
  return c;
}

SharedMemory& SharedMemory::operator=(SharedMemory&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.fd_;
    base_ = o.base_;
    size_ = o.size_;
    mapped_ = o.mapped_;
    hugepages_ = o.hugepages_;
    counted_ = o.counted_;
    guard_ = o.guard_;
    o.guard_ = -1;
    o.fd_ = -1;
    o.base_ = nullptr;
    o.size_ = o.mapped_ = 0;
    o.counted_ = false;
  }
  return *this;
}

bool SharedMemory::faulted() const {
  return guard_ >= 0 && g_guarded[guard_].faulted.load(std::memory_order_acquire);
}

void SharedMemory::reset() {
  if (guard_ >= 0) g_guarded[guard_].base.store(0, std::memory_order_release);
  guard_ = -1;
  if (base_) munmap(base_, mapped_);
  if (fd_ >= 0) close(fd_);
  if (counted_) {
    auto& c = memory_counters();
    if (hugepages_) {
      c.hugepage_bytes -= mapped_;
    } else {
      c.fallback_bytes -= mapped_;
    }
  }
  base_ = nullptr;
  fd_ = -1;
  counted_ = false;
}

Result<SharedMemory> SharedMemory::create(const std::string& name, uint64_t size, bool prefer_hugepages, bool seal) {
  if (size == 0) return make_error(Errc::kInvalidArgument, "shared memory size must be > 0");
  SharedMemory m;
  // MFD_HUGETLB reserves at mmap time, so a shortage shows up here as ENOMEM rather
  // than as SIGBUS later on first touch.
  if (prefer_hugepages) {
    const int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_HUGETLB | MFD_HUGE_2MB);
    if (fd >= 0) {
      const uint64_t len = round_up(size, kHugePage);
      void* p = MAP_FAILED;
      if (ftruncate(fd, off_t(len)) == 0) p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
      if (p != MAP_FAILED) {
        m.fd_ = fd;
        m.base_ = static_cast<uint8_t*>(p);
        m.size_ = size;
        m.mapped_ = len;
        m.hugepages_ = true;
      } else {
        close(fd);
      }
    }
  }
  if (!m.base_) {
    const int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return errno_error("memfd_create");
    const uint64_t len = round_up(size, kPage);
    if (ftruncate(fd, off_t(len)) != 0) {
      close(fd);
      return errno_error("ftruncate");
    }
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
      close(fd);
      return errno_error("mmap");
    }
    // Our own region never shrinks; the seal lets a careful server rely on that.
    if (seal) fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
    m.fd_ = fd;
    m.base_ = static_cast<uint8_t*>(p);
    m.size_ = size;
    m.mapped_ = len;
    m.hugepages_ = false;
    if (prefer_hugepages) memory_counters().fallback_regions++;
  }
  m.counted_ = true;
  if (m.hugepages_) {
    memory_counters().hugepage_bytes += m.mapped_;
  } else {
    memory_counters().fallback_bytes += m.mapped_;
  }
  return m;
}

Result<SharedMemory> SharedMemory::map_peer(int fd, uint64_t size) {
  SharedMemory m;
  m.fd_ = fd;  // owned from here, closed on every error path by ~SharedMemory
  struct stat st;
  if (fstat(fd, &st) != 0) return errno_error("fstat region fd");
  if (!S_ISREG(st.st_mode)) return make_error(Errc::kProtocol, "region fd is not a memfd or file");
  if (size == 0 || size > uint64_t(st.st_size))
    return make_error(Errc::kProtocol, "region size " + std::to_string(size) + " exceeds the fd's " +
                                           std::to_string(st.st_size) + " bytes");
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return errno_error("mmap peer region");
  m.base_ = static_cast<uint8_t*>(p);
  m.size_ = size;
  // munmap of a hugetlb mapping fails (EINVAL) unless the length is a multiple of the
  // huge page size, which st_blksize reports; an unaligned length leaked the region.
  const uint64_t page = std::max<uint64_t>(uint64_t(st.st_blksize), kPage);
  m.mapped_ = round_up(size, page);
  m.guard_ = guard(m.base_, m.mapped_, page);
  return m;
}

}  // namespace memswitch
