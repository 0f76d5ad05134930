#include "traffic.h"

#include "packet/ip.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <ctime>

namespace memswitch {

namespace {
constexpr uint32_t kBurst = 64;
constexpr uint64_t kPublishEveryNs = 5'000'000;

struct Payload {
  uint32_t magic;
  uint32_t stream;
  uint64_t seq;
  uint64_t ts_ns;
};
static_assert(sizeof(Payload) == 24);

constexpr uint16_t kEtherTypeIp4 = 0x0800;
constexpr uint16_t kEtherTypeIp6 = 0x86DD;
constexpr uint32_t kIp4PayloadOffset = kEthHeaderSize + 20 + 4;  // over UDP length and checksum
constexpr uint32_t kIp6PayloadOffset = kEthHeaderSize + 40 + 4;

uint32_t payload_offset(const uint8_t* p, uint32_t len) {
  if (len < kEthHeaderSize) return 0;
  const uint16_t et = uint16_t(p[12] << 8 | p[13]);
  if (et == kEtherTypeVlan) return len >= 18 && uint16_t(p[16] << 8 | p[17]) == kTestEtherType ? 18 : 0;
  if (et == kEtherTypeIp4) return len >= kIp4PayloadOffset + 24 && p[14] == 0x45 && p[23] == 17 ? kIp4PayloadOffset : 0;
  if (et == kEtherTypeIp6) return len >= kIp6PayloadOffset + 24 && (p[14] >> 4) == 6 && p[20] == 17 ? kIp6PayloadOffset : 0;
  return et == kTestEtherType ? 14 : 0;
}

void set_ip4_dst(uint8_t* f, uint32_t dst) {
  uint8_t* ip = f + kEthHeaderSize;
  detail::store32(ip + detail::ip4::kDst, dst);
  detail::store16(ip + detail::ip4::kCsum, 0);
  detail::store16(ip + detail::ip4::kCsum, detail::ip4_header_csum(ip, 20));
}

void write_ip4_udp(uint8_t* f, uint32_t frame_size, uint32_t src, uint16_t sport) {
  uint8_t* ip = f + kEthHeaderSize;
  const uint32_t total = frame_size - kEthHeaderSize;
  ip[0] = 0x45;
  ip[2] = uint8_t(total >> 8), ip[3] = uint8_t(total);
  ip[6] = 0x40;  // DF
  ip[8] = 64;
  ip[9] = 17;
  for (int i = 0; i < 4; ++i) ip[12 + i] = uint8_t(src >> (24 - 8 * i));
  uint8_t* udp = ip + 20;
  udp[0] = uint8_t(sport >> 8), udp[1] = uint8_t(sport), udp[2] = 0x07, udp[3] = 0xD0;  // to port 2000
}

void write_ip6_udp(uint8_t* f, uint32_t frame_size, Ip6 src, Ip6 dst, uint16_t sport) {
  uint8_t* ip = f + kEthHeaderSize;
  detail::write_ip6(ip, uint16_t(frame_size - kEthHeaderSize - 40), 17, 64, src, dst);
  uint8_t* udp = ip + 40;
  udp[0] = uint8_t(sport >> 8), udp[1] = uint8_t(sport), udp[2] = 0x07, udp[3] = 0xD0;  // to port 2000
}

void write_eth(uint8_t* f, Mac dst, Mac src, uint16_t vlan, uint16_t ether_type = kTestEtherType) {
  mac_to_bytes(dst, f);
  mac_to_bytes(src, f + 6);
  uint8_t* et = f + 12;
  if (vlan) {
    et[0] = 0x81, et[1] = 0x00, et[2] = uint8_t(vlan >> 8), et[3] = uint8_t(vlan);
    et += 4;
  }
  et[0] = uint8_t(ether_type >> 8), et[1] = uint8_t(ether_type & 0xFF);
}
}  // namespace

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

size_t TrafficEngine::add_generator(MemifClient* c, const GeneratorSpec& spec) {
  auto t = std::make_unique<Task>();
  t->kind = Task::Kind::kGenerator;
  t->a = c;
  t->gen = spec;
  t->gen.frame_size = std::clamp<uint32_t>(spec.frame_size, kMinTestFrame, kMaxFrameSize);
  if (spec.ip6_dst != Ip6{} && !spec.bare) t->gen.frame_size = std::max(t->gen.frame_size, kIp6PayloadOffset + uint32_t(sizeof(Payload)));
  t->gen.dst_count = std::max<uint32_t>(spec.dst_count, 1);
  t->frames.assign(size_t(kBurst) * t->gen.frame_size, 0);
  for (uint32_t k = 0; k < kBurst; ++k) {
    uint8_t* f = t->frames.data() + size_t(k) * t->gen.frame_size;
    for (uint32_t b = kTestHeaderSize + 4; b < t->gen.frame_size; ++b) f[b] = uint8_t(b);
    if (spec.ip4_dst) {
      write_eth(f, spec.dst, spec.src, 0, kEtherTypeIp4);
      write_ip4_udp(f, t->gen.frame_size, spec.ip4_src, uint16_t(spec.one_source_port ? 1024 : 1024 + k));
    } else if (spec.ip6_dst != Ip6{}) {
      write_eth(f, spec.dst, spec.src, 0, kEtherTypeIp6);
      write_ip6_udp(f, t->gen.frame_size, spec.ip6_src, spec.ip6_dst, uint16_t(spec.one_source_port ? 1024 : 1024 + k));
    } else {
      write_eth(f, spec.dst, spec.src, spec.vlan);
    }
  }
  tasks_.push_back(std::move(t));
  return tasks_.size() - 1;
}

size_t TrafficEngine::add_sink(MemifClient* c, const SinkSpec&) {
  auto t = std::make_unique<Task>();
  t->kind = Task::Kind::kSink;
  t->a = c;
  tasks_.push_back(std::move(t));
  return tasks_.size() - 1;
}

size_t TrafficEngine::add_loop(MemifClient* a, MemifClient* b, const LoopSpec& spec) {
  auto t = std::make_unique<Task>();
  t->kind = Task::Kind::kLoop;
  t->a = a;
  t->b = b;
  t->loop = spec;
  t->loop.frame_size = std::clamp<uint32_t>(spec.frame_size, kMinTestFrame, kMaxFrameSize);
  t->frames.assign(size_t(kBurst) * std::max<uint32_t>(t->loop.frame_size, kMaxFrameSize), 0);
  tasks_.push_back(std::move(t));
  return tasks_.size() - 1;
}

void TrafficEngine::start(int cpu) {
  if (running_.load()) return;
  published_.assign(tasks_.size(), {});
  stop_.store(false);
  generators_done_.store(false);
  running_.store(true);
  thread_ = std::thread([this, cpu] { run(cpu); });
}

void TrafficEngine::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  running_.store(false);
}

void TrafficEngine::reset_stats() { reset_.store(true); }

TaskStats TrafficEngine::stats(size_t task) {
  std::lock_guard g(mu_);
  if (task >= published_.size()) return {};
  Published& p = published_[task];
  TaskStats s = p.stats;
  s.latency_samples = p.latency.total();
  s.p50_ns = p.latency.quantile(0.50);
  s.p90_ns = p.latency.quantile(0.90);
  s.p99_ns = p.latency.quantile(0.99);
  s.max_ns = p.latency.max();
  return s;
}

void TrafficEngine::publish_stats() {
  std::lock_guard g(mu_);
  for (size_t i = 0; i < tasks_.size(); ++i) {
    Task& t = *tasks_[i];
    t.stats.connected = t.a->connected() && (!t.b || t.b->connected());
    published_[i].stats = t.stats;
    published_[i].latency = t.latency;
  }
}

void TrafficEngine::run(int cpu) {
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  pthread_setname_np(pthread_self(), "msw-traffic");
  const uint64_t t0 = monotonic_ns();
  for (auto& t : tasks_) t->start_ns = t0;
  uint64_t last_publish = 0, iterations = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    const uint64_t now = monotonic_ns();
    if (reset_.exchange(false)) {
      for (auto& t : tasks_) {
        t->stats = {};
        t->latency.reset();
      }
    }
    bool all_done = true;
    for (auto& tp : tasks_) {
      Task& t = *tp;
      switch (t.kind) {
        case Task::Kind::kGenerator: all_done &= step_generator(t, now); break;
        case Task::Kind::kSink: step_sink(t, t.a, now); break;
        case Task::Kind::kLoop: step_loop(t, now); break;
      }
    }
    if (all_done) generators_done_.store(true, std::memory_order_relaxed);
    if (now - last_publish > kPublishEveryNs) {
      last_publish = now;
      publish_stats();
      // The control socket is checked rarely: a syscall per poll would halve the rate.
      if ((++iterations & 15) == 0)
        for (auto& t : tasks_) {
          t->a->poll_control();
          if (t->b) t->b->poll_control();
        }
    }
  }
  publish_stats();
}

bool TrafficEngine::step_generator(Task& t, uint64_t now) {
  const GeneratorSpec& g = t.gen;
  if (g.count && t.next_seq >= g.count) return true;
  if (!t.a->connected()) return true;
  uint64_t want = kBurst;
  if (g.pps) {
    const uint64_t due = (now - t.start_ns) * g.pps / 1'000'000'000ull;
    want = due > t.next_seq ? std::min<uint64_t>(due - t.next_seq, kBurst) : 0;
  }
  if (g.count) want = std::min<uint64_t>(want, g.count - t.next_seq);
  if (want == 0) return false;
  TxFrame frames[kBurst];
  const bool ip6 = g.ip6_dst != Ip6{};
  const uint32_t off = g.ip4_dst ? kIp4PayloadOffset : ip6 ? kIp6PayloadOffset : g.vlan ? 18 : 14;
  for (uint32_t k = 0; k < want; ++k) {
    uint8_t* f = t.frames.data() + size_t(k) * g.frame_size;
    if (!g.bare) {
      const Payload p{kTestMagic, g.stream, t.next_seq + k, now};
      std::memcpy(f + off, &p, sizeof p);
    }
    if (g.ip4_dst || ip6) {
      if (g.ip4_dst) set_ip4_dst(f, g.ip4_dst + t.dst_index);
      else detail::store64(f + kEthHeaderSize + detail::ip6::kDst, g.ip6_dst.hi + (uint64_t(t.dst_index) << 16));
      t.dst_index += g.dst_stride % g.dst_count;  // no division per frame
      if (t.dst_index >= g.dst_count) t.dst_index -= g.dst_count;
    }
    frames[k] = {f, g.frame_size};
  }
  const uint32_t sent = t.a->tx_burst(g.queue, frames, uint32_t(want));
  t.next_seq += sent;
  t.stats.tx_packets += sent;
  t.stats.tx_bytes += uint64_t(sent) * g.frame_size;
  if (sent < want) t.stats.tx_ring_full++;
  return g.count && t.next_seq >= g.count;
}

void TrafficEngine::account_rx(Task& t, const uint8_t* p, uint32_t len, uint64_t now) {
  t.stats.rx_packets++;
  t.stats.rx_bytes += len;
  const uint32_t off = payload_offset(p, len);
  Payload pl;
  if (off == 0 || len < off + sizeof pl) {
    t.stats.rx_foreign++;
    return;
  }
  std::memcpy(&pl, p + off, sizeof pl);
  if (pl.magic != kTestMagic || pl.stream >= 4096) {
    t.stats.rx_foreign++;
    return;
  }
  if (now >= pl.ts_ns) t.latency.record(now - pl.ts_ns);
  if (t.streams.size() <= pl.stream) t.streams.resize(pl.stream + 1);
  Stream& s = t.streams[pl.stream];
  if (!s.seen || pl.seq == s.expected) {
    if (!s.seen) t.stats.lost += pl.seq;  // frames before the first one we saw
    s.seen = true;
    s.expected = pl.seq + 1;
  } else if (pl.seq > s.expected) {
    t.stats.lost += pl.seq - s.expected;
    s.expected = pl.seq + 1;
  } else {
    t.stats.reordered++;  // counted as lost when the gap opened; it arrived after all
    if (t.stats.lost) t.stats.lost--;
  }
}

bool TrafficEngine::step_sink(Task& t, MemifClient* c, uint64_t now) {
  bool any = false;
  for (uint32_t q = 0; q < c->queues(); ++q)
    any |= c->rx_burst(q, kBurst, [&](const uint8_t* p, uint32_t len) { account_rx(t, p, len, now); }) > 0;
  return any;
}

bool TrafficEngine::step_loop(Task& t, uint64_t now) {
  const LoopSpec& l = t.loop;
  const uint32_t fs = l.frame_size;
  if (!t.initial_sent) {
    t.initial_sent = true;
    for (int side = 0; side < 2; ++side) {
      MemifClient* c = side ? t.b : t.a;
      std::vector<uint8_t> f(fs, 0);
      write_eth(f.data(), side ? l.a_mac : l.b_mac, side ? l.b_mac : l.a_mac, 0);
      for (uint32_t k = 0; k < l.initial_burst;) {
        const Payload p{kTestMagic, uint32_t(side), 0, monotonic_ns()};
        std::memcpy(f.data() + 14, &p, sizeof p);
        TxFrame tf{f.data(), fs};
        if (c->tx_burst(0, &tf, 1) == 0) break;
        ++k;
        t.stats.tx_packets++;
        t.stats.tx_bytes += fs;
      }
    }
  }
  // Received on one side, sent out of the other with src = that side's MAC and dst =
  // its peer's, exactly like testpmd's mac forwarding.
  bool any = false;
  for (int side = 0; side < 2; ++side) {
    MemifClient* rx = side ? t.b : t.a;
    MemifClient* tx = side ? t.a : t.b;
    const Mac src = side ? l.a_mac : l.b_mac;
    const Mac dst = side ? l.b_mac : l.a_mac;
    TxFrame frames[kBurst];
    uint32_t n = 0;
    for (uint32_t q = 0; q < rx->queues(); ++q) {
      rx->rx_burst(q, kBurst - n, [&](const uint8_t* p, uint32_t len) {
        t.stats.rx_packets++;
        t.stats.rx_bytes += len;
        Payload pl;
        if (len >= 14 + sizeof pl) {
          std::memcpy(&pl, p + 14, sizeof pl);
          if (pl.magic == kTestMagic && now >= pl.ts_ns) t.latency.record(now - pl.ts_ns);
        }
        uint8_t* f = t.frames.data() + size_t(n) * std::max<uint32_t>(fs, kMaxFrameSize);
        std::memcpy(f, p, len);
        mac_to_bytes(dst, f);
        mac_to_bytes(src, f + 6);
        if (len >= 14 + sizeof pl) {
          pl.ts_ns = now;
          std::memcpy(f + 14 + offsetof(Payload, ts_ns), &pl.ts_ns, sizeof pl.ts_ns);
        }
        frames[n++] = {f, len};
      });
    }
    if (n == 0) continue;
    any = true;
    const uint32_t sent = tx->tx_burst(0, frames, n);
    t.stats.tx_packets += sent;
    for (uint32_t k = 0; k < sent; ++k) t.stats.tx_bytes += frames[k].len;
    if (sent < n) t.stats.tx_ring_full += n - sent;
  }
  return any;
}

}  // namespace memswitch

namespace memswitch {

double cache_line_ping_pong_ns(int cpu_a, int cpu_b, uint32_t duration_ms) {
  alignas(64) std::atomic<uint64_t> line{0};
  std::atomic<bool> stop{false};
  auto pin = [](int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  };
  // The partner answers every odd value with the next even one.
  std::thread partner([&] {
    pin(cpu_b);
    uint64_t seen = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t v = line.load(std::memory_order_acquire);
      if (v != seen && (v & 1)) {
        line.store(v + 1, std::memory_order_release);
        seen = v + 1;
      }
    }
  });
  // The caller (the benchmark's JS thread) gets its own CPU set back afterwards: its
  // child processes inherit it.
  cpu_set_t caller;
  const bool restore = pthread_getaffinity_np(pthread_self(), sizeof caller, &caller) == 0;
  pin(cpu_a);
  const uint64_t start = monotonic_ns();
  const uint64_t end = start + uint64_t(duration_ms) * 1'000'000ull;
  uint64_t trips = 0, v = 0;
  while (monotonic_ns() < end) {
    for (int k = 0; k < 1000; ++k) {
      line.store(v + 1, std::memory_order_release);
      while (line.load(std::memory_order_acquire) != v + 2) {
        if (stop.load(std::memory_order_relaxed)) break;
      }
      v += 2;
    }
    trips += 1000;
  }
  const uint64_t elapsed = monotonic_ns() - start;
  stop.store(true);
  partner.join();
  if (restore) pthread_setaffinity_np(pthread_self(), sizeof caller, &caller);
  return double(elapsed) / double(trips) / 2.0;
}

}  // namespace memswitch
