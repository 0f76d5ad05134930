// Wall-clock time for what capture and trace record: as pcapng readers and people show it.
#pragma once
#include <cstdint>
#include <ctime>

namespace memswitch::detail {

inline uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

}  // namespace memswitch::detail
