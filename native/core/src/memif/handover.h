// The handover channel between two memswitch processes on one node: a planned restart
// passes the live memif sessions (control connection, region memfds, ring eventfds and
// our ring indices) and the listening sockets from the old process to the new one, so
// peers that never reconnect (DPDK's net_memif) keep working. Records travel on a
// SOCK_SEQPACKET unix socket: a length-prefixed binary payload plus its fds (SCM_RIGHTS).
// The new process validates everything it adopts like a fresh handshake.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "memswitch/result.h"

namespace memswitch::handover {

enum class RecordType : uint8_t { kRequest = 1, kListener = 2, kSession = 3, kEnd = 4, kAck = 5 };

// Linux passes at most 253 fds in one message (SCM_MAX_FD).
constexpr size_t kMaxFds = 253;

struct RingState {
  uint16_t region;
  uint32_t offset;
  uint8_t log2;
  uint16_t index;  // C2S: the next descriptor we read (our shadow); S2C: the next we fill
};

struct SessionState {
  std::string listener;  // the listener's key: socket spec, "netns|@name" for a netns
  uint32_t id = 0;
  std::string peer_name, peer_if_name;
  std::vector<uint64_t> region_sizes;
  std::vector<RingState> c2s, s2c;
  // fds, in order: the control connection, one per region, one eventfd per C2S then S2C ring
  std::vector<int> fds;
};

struct ListenerState {
  std::string key;
  std::string spec;
  int fd = -1;
};

struct Record {
  RecordType type;
  ListenerState listener;  // kListener
  SessionState session;    // kSession
};

Status send_record(int sock, RecordType type);
Status send_listener(int sock, const ListenerState& l);
Status send_session(int sock, const SessionState& s);
// Blocks up to `timeout`. On any error every fd received is closed.
Result<Record> recv_record(int sock, std::chrono::milliseconds timeout);

void close_fds(std::vector<int>& fds);

}  // namespace memswitch::handover
