#include "memswitch/unix_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace memswitch {

Result<SocketAddress> SocketAddress::parse(const std::string& spec) {
  SocketAddress a;
  if (!spec.empty() && spec[0] == '@') {
    a.abstract = true;
    a.name = spec.substr(1);
  } else {
    a.name = spec;
  }
  // sun_path holds 108 bytes: a path needs its NUL, an abstract name its leading NUL.
  if (a.name.empty() || a.name.size() > sizeof(sockaddr_un::sun_path) - 1)
    return make_error(Errc::kInvalidArgument, "socket must be a path or @name of 1-107 characters");
  if (a.name.find('\0') != std::string::npos) return make_error(Errc::kInvalidArgument, "socket contains NUL");
  return a;
}

namespace {
socklen_t fill(const SocketAddress& a, sockaddr_un* sun) {
  std::memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  if (a.abstract) {
    std::memcpy(sun->sun_path + 1, a.name.data(), a.name.size());
    // Abstract names match on exact length: no trailing NUL (memif-protocol.md §2.1).
    return socklen_t(offsetof(sockaddr_un, sun_path) + 1 + a.name.size());
  }
  std::memcpy(sun->sun_path, a.name.data(), a.name.size());
  return sizeof(sockaddr_un);
}
}  // namespace

Result<int> listen_seqpacket(const SocketAddress& addr) {
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error("socket");
  sockaddr_un sun;
  const socklen_t len = fill(addr, &sun);
  if (!addr.abstract) {
    // A leftover file from a crashed server is stale and goes; one that still accepts
    // connections belongs to a live server we must not hijack.
    const int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    const bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&sun), len) == 0;
    if (probe >= 0) close(probe);
    if (live) {
      close(fd);
      return make_error(Errc::kBusy, "socket " + addr.spec() + " is in use by another process");
    }
    unlink(addr.name.c_str());
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&sun), len) != 0 || listen(fd, 128) != 0) {
    Error e = errno_error("bind/listen " + addr.spec());
    close(fd);
    return e;
  }
  return fd;
}

Result<int> connect_seqpacket(const SocketAddress& addr) {
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error("socket");
  sockaddr_un sun;
  const socklen_t len = fill(addr, &sun);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sun), len) != 0) {
    Error e = errno_error("connect " + addr.spec());
    close(fd);
    return e;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

Status send_msg(int sock, const memif::Msg& msg, int pass_fd) {
  iovec iov{const_cast<memif::Msg*>(&msg), sizeof msg};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  if (pass_fd >= 0) {
    std::memset(ctl, 0, sizeof ctl);
    mh.msg_control = ctl;
    mh.msg_controllen = sizeof ctl;
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  const ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
  if (n != ssize_t(sizeof msg)) return errno_error("sendmsg");
  return Status::ok();
}

Received recv_msg(int sock, memif::Msg* msg) {
  std::memset(msg, 0, sizeof *msg);
  // Room for several fds so a peer that sends more is detected and every fd closed,
  // instead of silently leaking the ones that did not fit.
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 8)];
  // One byte more than a message, so an oversized datagram shows as size > 128.
  uint8_t buf[memif::kMsgSize + 1];
  iovec iov{buf, sizeof buf};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof ctl;
  const ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  Received r{RecvStatus::kMessage};
  if (n < 0) {
    r.status = (errno == EAGAIN || errno == EWOULDBLOCK) ? RecvStatus::kWouldBlock : RecvStatus::kError;
    return r;
  }
  if (n == 0) {
    r.status = RecvStatus::kClosed;
    return r;
  }
  r.size = size_t(n);
  if (mh.msg_flags & MSG_TRUNC) r.size = memif::kMsgSize + 1;
  std::memcpy(msg, buf, std::min(size_t(n), memif::kMsgSize));
  int n_fds = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (n_fds++ == 0) {
        r.fd = fd;
      } else {
        close(fd);
        r.extra_fds = true;
      }
    }
  }
  if (mh.msg_flags & MSG_CTRUNC) r.extra_fds = true;
  if (r.extra_fds && r.fd >= 0) {
    close(r.fd);
    r.fd = -1;
  }
  return r;
}

std::string wire_string(const char* field, size_t size) {
  size_t n = 0;
  while (n < size && field[n] != '\0') ++n;
  return std::string(field, n);
}

void set_wire_string(char* field, size_t size, const std::string& s) {
  std::memset(field, 0, size);
  std::memcpy(field, s.data(), std::min(s.size(), size - 1));
}

}  // namespace memswitch
