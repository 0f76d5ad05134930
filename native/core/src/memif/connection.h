// The control thread's view of memif: listening sockets and accepted control
// connections, from HELLO until they close (memif-protocol.md §3).
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "memswitch/drop_reason.h"
#include "memswitch/result.h"
#include "memswitch/shm.h"
#include "memswitch/unix_socket.h"

namespace memswitch::detail {

struct Listener {
  std::string key;  // listeners_ key: the socket, prefixed by its netns for abstract names
  SocketAddress addr;
  int fd = -1;
  std::vector<uint32_t> interfaces;
  uint64_t errors[kNumProtocolErrors] = {};
};

struct PendingRing {
  uint16_t region;
  uint32_t offset;
  uint8_t log2;
  int eventfd;
};

struct Conn {
  int fd = -1;
  std::string listener;
  enum class State { kAwaitInit, kSetup, kConnected } state = State::kAwaitInit;
  std::chrono::steady_clock::time_point deadline;
  int64_t iface = -1;  // set once INIT named a configured interface
  std::string peer_name;
  uint64_t connected_after = 0;  // QSBR ticket the CONNECTED reply waits for; 0: none pending
  std::vector<SharedMemory> regions;
  std::vector<PendingRing> c2s, s2c;
  ~Conn() {
    for (auto* v : {&c2s, &s2c})
      for (PendingRing& r : *v) close(r.eventfd);
    if (fd >= 0) close(fd);
  }
};

// Binds and listens with the calling thread moved into `netns` (a /var/run/netns or
// /proc/PID/ns/net path), so an abstract socket is reachable from that pod's namespace
// without any mount. The fd keeps working from every namespace afterwards.
Result<int> listen_in_netns(const SocketAddress& addr, const std::string& netns);

// Why a ring or its eventfd cannot be used, or nullptr: the same checks for a handshake
// and for a session taken over from another process.
const char* ring_problem(const PendingRing& p, const std::vector<SharedMemory>& regions);
const char* eventfd_problem(int fd);

void send_disconnect(int fd, const std::string& reason);

}  // namespace memswitch::detail
