// memif control channel transport: SOCK_SEQPACKET unix sockets, filesystem or
// abstract ("@name"), one 128-byte message per datagram, fds via SCM_RIGHTS.
#pragma once
#include <string>

#include "memswitch/result.h"
#include "memswitch/wire.h"

namespace memswitch {

struct SocketAddress {
  std::string name;  // path, or abstract name without the '@'
  bool abstract = false;
  static Result<SocketAddress> parse(const std::string& spec);
  std::string spec() const { return abstract ? "@" + name : name; }
};

// Unlinks a stale filesystem socket, binds, listens; nonblocking, close-on-exec.
Result<int> listen_seqpacket(const SocketAddress& addr);
// Blocking connect; the returned fd is nonblocking.
Result<int> connect_seqpacket(const SocketAddress& addr);

// Sends one message (and optionally one fd); MSG_NOSIGNAL so a vanished peer never
// raises SIGPIPE.
Status send_msg(int sock, const memif::Msg& msg, int pass_fd = -1);

enum class RecvStatus { kMessage, kWouldBlock, kClosed, kError };
struct Received {
  RecvStatus status;
  size_t size = 0;   // bytes received; a well-formed message has exactly 128
  int fd = -1;       // the one fd passed with it, owned by the caller
  bool extra_fds = false;  // more than one fd, or truncated control data (all closed)
};
Received recv_msg(int sock, memif::Msg* msg);

// Bounded copy of a fixed-size, possibly unterminated wire string.
std::string wire_string(const char* field, size_t size);
void set_wire_string(char* field, size_t size, const std::string& s);

}  // namespace memswitch
