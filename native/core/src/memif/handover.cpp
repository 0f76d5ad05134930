#include "memif/handover.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <type_traits>

namespace memswitch::handover {
namespace {

constexpr size_t kMaxPayload = 64 * 1024;
constexpr uint32_t kMaxString = 4096;
constexpr uint32_t kMaxItems = 256;  // regions or rings per direction: memif's own limits

class Writer {
 public:
  template <typename T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put_str(const std::string& s) {
    put(uint32_t(s.size()));
    buf_ += s;
  }
  const std::string& bytes() const { return buf_; }

 private:
  std::string buf_;
};

// Bounds-checked reads: a short or oversized field fails the whole record.
class Reader {
 public:
  Reader(const char* p, size_t n) : p_(p), n_(n) {}
  template <typename T>
  bool get(T* v) {
    if (n_ - pos_ < sizeof(T)) return false;
    std::memcpy(v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool get_str(std::string* s) {
    uint32_t len;
    if (!get(&len) || len > kMaxString || n_ - pos_ < len) return false;
    s->assign(p_ + pos_, len);
    pos_ += len;
    return true;
  }
  bool done() const { return pos_ == n_; }

 private:
  const char* p_;
  size_t n_;
  size_t pos_ = 0;
};

Status send_payload(int sock, const std::string& payload, const std::vector<int>& fds) {
  if (fds.size() > kMaxFds) return make_error(Errc::kResourceExhausted, "more than 253 fds in one handover record");
  iovec iov{const_cast<char*>(payload.data()), payload.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFds));
  if (!fds.empty()) {
    mh.msg_control = control.data();
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  if (sendmsg(sock, &mh, MSG_NOSIGNAL) != ssize_t(payload.size())) return errno_error("handover: send");
  return Status::ok();
}

void put_rings(Writer& w, const std::vector<RingState>& rings) {
  w.put(uint32_t(rings.size()));
  for (const RingState& r : rings) w.put(r.region), w.put(r.offset), w.put(r.log2), w.put(r.index);
}

bool get_rings(Reader& r, std::vector<RingState>* rings) {
  uint32_t n;
  if (!r.get(&n) || n > kMaxItems) return false;
  rings->resize(n);
  for (RingState& s : *rings)
    if (!r.get(&s.region) || !r.get(&s.offset) || !r.get(&s.log2) || !r.get(&s.index)) return false;
  return true;
}

Result<Record> parse(const char* p, size_t n, std::vector<int>& fds) {
  Reader r(p, n);
  uint8_t type;
  if (!r.get(&type)) return make_error(Errc::kProtocol, "handover: empty record");
  Record rec{RecordType(type), {}, {}};
  size_t want_fds = 0;
  switch (rec.type) {
    case RecordType::kRequest:
    case RecordType::kEnd:
    case RecordType::kAck:
      break;
    case RecordType::kListener:
      if (!r.get_str(&rec.listener.key) || !r.get_str(&rec.listener.spec)) return make_error(Errc::kProtocol, "handover: bad listener record");
      want_fds = 1;
      break;
    case RecordType::kSession: {
      SessionState& s = rec.session;
      uint32_t n_regions;
      if (!r.get_str(&s.listener) || !r.get(&s.id) || !r.get_str(&s.peer_name) || !r.get_str(&s.peer_if_name) || !r.get(&n_regions) ||
          n_regions > kMaxItems)
        return make_error(Errc::kProtocol, "handover: bad session record");
      s.region_sizes.resize(n_regions);
      for (uint64_t& size : s.region_sizes)
        if (!r.get(&size)) return make_error(Errc::kProtocol, "handover: bad session record");
      if (!get_rings(r, &s.c2s) || !get_rings(r, &s.s2c)) return make_error(Errc::kProtocol, "handover: bad session record");
      want_fds = 1 + s.region_sizes.size() + s.c2s.size() + s.s2c.size();
      break;
    }
    default:
      return make_error(Errc::kProtocol, "handover: unknown record type " + std::to_string(type));
  }
  if (!r.done()) return make_error(Errc::kProtocol, "handover: trailing bytes in a record");
  if (fds.size() != want_fds) return make_error(Errc::kProtocol, "handover: record carries the wrong number of fds");
  if (rec.type == RecordType::kListener) rec.listener.fd = fds[0];
  if (rec.type == RecordType::kSession) rec.session.fds = std::move(fds);
  fds.clear();
  return rec;
}

}  // namespace

void close_fds(std::vector<int>& fds) {
  for (int fd : fds)
    if (fd >= 0) close(fd);
  fds.clear();
}

Status send_record(int sock, RecordType type) {
  Writer w;
  w.put(uint8_t(type));
  return send_payload(sock, w.bytes(), {});
}

Status send_listener(int sock, const ListenerState& l) {
  Writer w;
  w.put(uint8_t(RecordType::kListener));
  w.put_str(l.key);
  w.put_str(l.spec);
  return send_payload(sock, w.bytes(), {l.fd});
}

Status send_session(int sock, const SessionState& s) {
  Writer w;
  w.put(uint8_t(RecordType::kSession));
  w.put_str(s.listener);
  w.put(s.id);
  w.put_str(s.peer_name);
  w.put_str(s.peer_if_name);
  w.put(uint32_t(s.region_sizes.size()));
  for (uint64_t size : s.region_sizes) w.put(size);
  put_rings(w, s.c2s);
  put_rings(w, s.s2c);
  return send_payload(sock, w.bytes(), s.fds);
}

Result<Record> recv_record(int sock, std::chrono::milliseconds timeout) {
  pollfd p{sock, POLLIN, 0};
  const int ready = poll(&p, 1, int(timeout.count()));
  if (ready == 0) return make_error(Errc::kTimeout, "handover: no answer from the other memswitchd");
  if (ready < 0) return errno_error("handover: poll");
  std::vector<char> payload(kMaxPayload);
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFds));
  iovec iov{payload.data(), payload.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control.data();
  mh.msg_controllen = control.size();
  const ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) return errno_error("handover: receive");
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const size_t at = fds.size();
    fds.resize(at + count);
    std::memcpy(fds.data() + at, CMSG_DATA(c), count * sizeof(int));
  }
  if (n == 0) {
    close_fds(fds);
    return make_error(Errc::kIo, "handover: the other memswitchd closed the connection");
  }
  if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    close_fds(fds);
    return make_error(Errc::kProtocol, "handover: record truncated");
  }
  Result<Record> rec = parse(payload.data(), size_t(n), fds);
  close_fds(fds);  // empty unless parsing failed
  return rec;
}

}  // namespace memswitch::handover
