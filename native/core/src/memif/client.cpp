#include "memswitch/memif_client.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "memswitch/ethernet.h"

namespace memswitch {

using memif::Msg;
using memif::MsgType;

MemifClient::~MemifClient() {
  if (sock_ >= 0) close(sock_);
  for (auto* rings : {&c2s_, &s2c_})
    for (Ring& r : *rings)
      if (r.eventfd >= 0) close(r.eventfd);
}

Result<std::unique_ptr<MemifClient>> MemifClient::connect(const MemifClientConfig& cfg) {
  if (cfg.queues == 0 || cfg.queues > memif::kMaxRingIndex + 1u)
    return make_error(Errc::kInvalidArgument, "queues must be 1-256");
  if (cfg.log2_ring_size < 1 || cfg.log2_ring_size > memif::kMaxLog2RingSize)
    return make_error(Errc::kInvalidArgument, "log2_ring_size must be 1-14");
  if (cfg.buffer_size < 64 || cfg.buffer_size > 65535)
    return make_error(Errc::kInvalidArgument, "buffer_size must be 64-65535");
  if (cfg.secret.size() > memif::kSecretSize) return make_error(Errc::kInvalidArgument, "secret is longer than 24 bytes");
  Result<SocketAddress> addr = SocketAddress::parse(cfg.socket);
  if (!addr) return addr.error();
  std::unique_ptr<MemifClient> c(new MemifClient(cfg));
  Result<int> fd = connect_seqpacket(*addr);
  if (!fd) return fd.error();
  c->sock_ = *fd;
  c->scratch_.resize(kMaxFrameSize + cfg.buffer_size);
  if (Status s = c->handshake(); !s) return s.error();
  return c;
}

Status MemifClient::expect(MsgType t, Msg* out) {
  pollfd p{sock_, POLLIN, 0};
  if (::poll(&p, 1, int(cfg_.timeout_ms)) <= 0) return make_error(Errc::kTimeout, "memif server did not answer");
  Received r = recv_msg(sock_, out);
  if (r.fd >= 0) close(r.fd);
  if (r.status == RecvStatus::kClosed) return make_error(Errc::kProtocol, "memif server closed the connection");
  if (r.status != RecvStatus::kMessage || r.size != memif::kMsgSize)
    return make_error(Errc::kProtocol, "bad message from memif server");
  if (out->type == uint16_t(MsgType::kDisconnect)) {
    disconnect_reason_ = wire_string(out->disconnect.string, sizeof out->disconnect.string);
    return make_error(Errc::kProtocol, "memif server refused: " + disconnect_reason_);
  }
  if (out->type != uint16_t(t)) return make_error(Errc::kProtocol, "unexpected memif message type " + std::to_string(out->type));
  return Status::ok();
}

Status MemifClient::handshake() {
  Msg m;
  if (Status s = expect(MsgType::kHello, &m); !s) return s;
  const memif::MsgHello hello = m.hello;
  server_name_ = wire_string(hello.name, sizeof hello.name);
  if (hello.min_version > memif::kVersion || hello.max_version < memif::kVersion)
    return make_error(Errc::kProtocol, "memif server does not speak version 2.0");
  if (hello.max_c2s_ring + 1u < cfg_.queues || hello.max_s2c_ring + 1u < cfg_.queues ||
      hello.max_log2_ring_size < cfg_.log2_ring_size)
    return make_error(Errc::kInvalidArgument, "memif server limits are below the requested queues or ring size");

  const uint32_t n_rings = cfg_.queues * 2;
  const uint16_t size = uint16_t(1u << cfg_.log2_ring_size);
  const uint64_t rings_bytes = (uint64_t(n_rings) * memif::ring_bytes(cfg_.log2_ring_size) + 4095) / 4096 * 4096;
  const uint64_t total = rings_bytes + uint64_t(n_rings) * size * cfg_.buffer_size;
  Result<SharedMemory> mem = SharedMemory::create("memif-client", total, cfg_.prefer_hugepages, cfg_.seal_memory);
  if (!mem) return mem.error();
  mem_ = std::move(*mem);

  for (uint32_t i = 0; i < n_rings; ++i) {
    const bool is_c2s = i < cfg_.queues;
    auto* hdr = reinterpret_cast<memif::RingHeader*>(mem_.data() + i * memif::ring_bytes(cfg_.log2_ring_size));
    hdr->cookie = memif::kCookie;
    hdr->head = hdr->tail = 0;
    // A polling receiver masks before the peer can transmit (memif-protocol.md §4.6).
    hdr->flags = (!is_c2s && !cfg_.interrupt_mode) ? memif::kRingFlagMaskInt : 0;
    Ring r{hdr, memif::ring_descs(hdr), size, uint16_t(size - 1), 0, 0, rings_bytes + uint64_t(i) * size * cfg_.buffer_size, -1};
    for (uint16_t s = 0; s < size; ++s)
      r.desc[s] = memif::Desc{0, 0, is_c2s ? 0 : cfg_.buffer_size, uint32_t(r.buffers_offset + uint64_t(s) * cfg_.buffer_size), 0};
    r.eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r.eventfd < 0) return errno_error("eventfd");
    (is_c2s ? c2s_ : s2c_).push_back(r);
  }

  std::memset(&m, 0, sizeof m);
  m.type = uint16_t(MsgType::kInit);
  m.init.version = memif::kVersion;
  m.init.id = cfg_.id;
  m.init.mode = cfg_.ip_mode ? memif::kModeIp : memif::kModeEthernet;
  std::memcpy(m.init.secret, cfg_.secret.data(), cfg_.secret.size());  // may fill all 24 bytes
  set_wire_string(m.init.name, sizeof m.init.name, cfg_.name);
  if (Status s = send_msg(sock_, m); !s) return s;
  if (Status s = expect(MsgType::kAck, &m); !s) return s;

  std::memset(&m, 0, sizeof m);
  m.type = uint16_t(MsgType::kAddRegion);
  m.add_region.index = 0;
  m.add_region.size = total;
  if (Status s = send_msg(sock_, m, mem_.fd()); !s) return s;
  if (Status s = expect(MsgType::kAck, &m); !s) return s;

  for (uint32_t i = 0; i < n_rings; ++i) {
    const bool is_c2s = i < cfg_.queues;
    const Ring& r = is_c2s ? c2s_[i] : s2c_[i - cfg_.queues];
    std::memset(&m, 0, sizeof m);
    m.type = uint16_t(MsgType::kAddRing);
    m.add_ring.flags = is_c2s ? memif::kAddRingFlagC2S : 0;
    m.add_ring.index = uint16_t(is_c2s ? i : i - cfg_.queues);
    m.add_ring.region = 0;
    m.add_ring.offset = uint32_t(i * memif::ring_bytes(cfg_.log2_ring_size));
    m.add_ring.log2_ring_size = cfg_.log2_ring_size;
    if (Status s = send_msg(sock_, m, r.eventfd); !s) return s;
    if (Status s = expect(MsgType::kAck, &m); !s) return s;
  }

  std::memset(&m, 0, sizeof m);
  m.type = uint16_t(MsgType::kConnect);
  set_wire_string(m.connect.if_name, sizeof m.connect.if_name, cfg_.if_name);
  if (Status s = send_msg(sock_, m); !s) return s;
  if (Status s = expect(MsgType::kConnected, &m); !s) return s;
  connected_ = true;
  for (Ring& r : s2c_) refill(r);
  return Status::ok();
}

void MemifClient::refill(Ring& r) {
  const uint16_t target = uint16_t(r.shadow + r.size);
  if (r.posted == target) return;
  for (uint16_t h = r.posted; h != target; ++h) {
    const uint16_t slot = h & r.mask;
    r.desc[slot] = memif::Desc{0, 0, cfg_.buffer_size, uint32_t(r.buffers_offset + uint64_t(slot) * cfg_.buffer_size), 0};
  }
  r.posted = target;
  memif::store_release(r.hdr->head, target);
}

void MemifClient::signal(Ring& r) {
  // Pairs with the receiver's fence between clearing MASK_INT and re-checking head.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (memif::load_relaxed(r.hdr->flags) & memif::kRingFlagMaskInt) return;
  const uint64_t one = 1;
  if (write(r.eventfd, &one, sizeof one) == sizeof one) ++signals_;
}

uint32_t MemifClient::tx_burst(uint32_t queue, const TxFrame* frames, uint32_t n) {
  Ring& r = c2s_[queue];
  const uint16_t tail = memif::load_acquire(r.hdr->tail);
  uint16_t used = uint16_t(r.shadow - tail);
  if (used > r.size) used = r.size;  // a broken server: send nothing rather than overwrite
  uint32_t free = r.size - used;
  uint16_t head = r.shadow;
  uint32_t sent = 0;
  for (; sent < n; ++sent) {
    const TxFrame& f = frames[sent];
    const uint32_t slots = f.len == 0 ? 1 : (f.len + cfg_.buffer_size - 1) / cfg_.buffer_size;
    if (slots > free) break;
    uint32_t off = 0;
    for (uint32_t k = 0; k < slots; ++k) {
      const uint16_t slot = head & r.mask;
      const uint32_t len = std::min(cfg_.buffer_size, f.len - off);
      std::memcpy(buffer(r, slot), f.data + off, len);
      off += len;
      r.desc[slot] = memif::Desc{uint16_t(k + 1 < slots ? memif::kDescFlagNext : 0), 0, len,
                                 uint32_t(r.buffers_offset + uint64_t(slot) * cfg_.buffer_size), 0};
      ++head;
    }
    free -= slots;
  }
  if (head != r.shadow) {
    r.shadow = head;
    memif::store_release(r.hdr->head, head);
    signal(r);
  }
  return sent;
}

void MemifClient::inject_scribble_tx_buffers(uint32_t queue, uint32_t offset, const uint8_t* bytes, uint32_t len) {
  const Ring& r = c2s_[queue];
  if (offset + len > cfg_.buffer_size) return;
  for (uint32_t slot = 0; slot < r.size; ++slot) {
    volatile uint8_t* p = buffer(r, slot) + offset;  // racing the switch on purpose
    for (uint32_t i = 0; i < len; ++i) p[i] = bytes[i];
  }
}

bool MemifClient::wait_rx(uint32_t queue, int timeout_ms) {
  pollfd p{s2c_[queue].eventfd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  uint64_t v;
  return read(p.fd, &v, sizeof v) == sizeof v;
}

void MemifClient::set_interrupt_mode(bool on) {
  for (Ring& r : s2c_) {
    uint16_t& flags = r.hdr->flags;
    memif::store_relaxed(flags, on ? 0 : memif::kRingFlagMaskInt);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

bool MemifClient::poll_control() {
  if (sock_ < 0) return false;
  for (;;) {
    Msg m;
    Received r = recv_msg(sock_, &m);
    if (r.fd >= 0) close(r.fd);
    if (r.status == RecvStatus::kWouldBlock) return true;
    if (r.status == RecvStatus::kMessage && m.type == uint16_t(MsgType::kDisconnect))
      disconnect_reason_ = wire_string(m.disconnect.string, sizeof m.disconnect.string);
    if (r.status != RecvStatus::kMessage || m.type == uint16_t(MsgType::kDisconnect)) {
      connected_ = false;
      close(sock_);
      sock_ = -1;
      return false;
    }
  }
}

void MemifClient::disconnect(const std::string& reason) {
  if (sock_ < 0) return;
  Msg m;
  std::memset(&m, 0, sizeof m);
  m.type = uint16_t(MsgType::kDisconnect);
  set_wire_string(m.disconnect.string, sizeof m.disconnect.string, reason);
  (void)send_msg(sock_, m);
  close(sock_);
  sock_ = -1;
  connected_ = false;
}

uint32_t MemifClient::inject_bad_tx(uint32_t queue, BadDesc kind, uint32_t n) {
  Ring& r = c2s_[queue];
  const uint16_t tail = memif::load_acquire(r.hdr->tail);
  const uint32_t free = r.size - uint16_t(r.shadow - tail);
  const uint32_t per = kind == BadDesc::kHugeFrame ? (kMaxFrameSize / cfg_.buffer_size + 2) : 1;
  uint16_t head = r.shadow;
  uint32_t done = 0;
  for (; done < n && (done + 1) * per <= free; ++done) {
    for (uint32_t k = 0; k < per; ++k) {
      const uint16_t slot = head & r.mask;
      memif::Desc d{0, 0, 64, uint32_t(r.buffers_offset + uint64_t(slot) * cfg_.buffer_size), 0};
      switch (kind) {
        case BadDesc::kRegionIndex: d.region = 7; break;
        case BadDesc::kOffsetPastRegion: d.offset = uint32_t(mem_.size() + 4096); break;
        case BadDesc::kLengthPastRegion: d.offset = uint32_t(mem_.size() - 16); break;
        case BadDesc::kZeroLength: d.length = 0; break;
        case BadDesc::kChainPastHead: d.flags = memif::kDescFlagNext; break;
        case BadDesc::kHugeFrame:
          d.length = cfg_.buffer_size;
          d.flags = k + 1 < per ? memif::kDescFlagNext : 0;
          break;
      }
      r.desc[slot] = d;
      ++head;
    }
    // A chain past head is only malformed as the last published slot: publish each alone.
    if (kind == BadDesc::kChainPastHead) {
      memif::store_release(r.hdr->head, head);
      r.shadow = head;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      while (memif::load_acquire(r.hdr->tail) != head && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    }
  }
  r.shadow = head;
  memif::store_release(r.hdr->head, head);
  signal(r);
  return done;
}

void MemifClient::inject_bad_head(uint32_t queue) {
  Ring& r = c2s_[queue];
  memif::store_release(r.hdr->head, uint16_t(r.shadow + r.size + 5));
}

}  // namespace memswitch
