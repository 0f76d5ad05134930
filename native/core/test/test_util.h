#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "memswitch/dataplane.h"
#include "memswitch/memif_client.h"
#include "traffic.h"

namespace memswitch::test {

// A unique abstract socket per test, so parallel ctest runs never collide.
inline std::string unique_socket(const std::string& tag) {
  static int n = 0;
  return "@msw-test-" + std::to_string(getpid()) + "-" + tag + "-" + std::to_string(n++);
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return p();
}

inline uint64_t total(const InterfaceInfo& i, uint64_t InterfaceCounters::*field) {
  uint64_t s = 0;
  for (auto& w : i.per_worker) s += w.*field;
  return s;
}
inline uint64_t drops(const InterfaceInfo& i, DropReason r) {
  uint64_t s = 0;
  for (auto& w : i.per_worker) s += w.drops[size_t(r)];
  return s;
}

struct Switch {
  std::unique_ptr<Dataplane> dp;
  uint32_t net = 0;
  explicit Switch(DataplaneOptions o = {}) {
    if (o.handshake_timeout_ms == 5000) o.handshake_timeout_ms = 1000;
    auto r = Dataplane::create(o);
    EXPECT_TRUE(r);
    dp = std::move(*r);
    net = *dp->add_network("blue");
    EXPECT_TRUE(dp->start());
  }
  ~Switch() { dp->stop(); }
  uint32_t add(const std::string& name, const std::string& socket, uint32_t id, uint16_t vlan = 0, uint32_t network = 0,
               const std::string& secret = "") {
    MemifInterfaceConfig c;
    c.name = name;
    c.network = network ? network : net;
    c.socket = socket;
    c.id = id;
    c.vlan = vlan;
    c.secret = secret;
    auto r = dp->add_memif(c);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : 0;
  }
  InterfaceInfo info(uint32_t idx) { return *dp->interface_info(idx); }
};

inline std::unique_ptr<MemifClient> connect_client(const std::string& socket, uint32_t id, MemifClientConfig c = {}) {
  c.socket = socket;
  c.id = id;
  c.prefer_hugepages = false;  // unit tests must not depend on reserved hugepages
  auto r = MemifClient::connect(c);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? std::move(*r) : nullptr;
}

// Interfaces a (id 0) and b (id 1) on the switch's network, each with a client connected.
struct ConnectedPair {
  uint32_t ia = 0, ib = 0;
  std::unique_ptr<MemifClient> a, b;
};
inline ConnectedPair connect_pair(Switch& sw, const std::string& tag) {
  const std::string sock = unique_socket(tag);
  ConnectedPair p{sw.add("a", sock, 0), sw.add("b", sock, 1), connect_client(sock, 0), connect_client(sock, 1)};
  EXPECT_TRUE(eventually([&] { return sw.info(p.ia).connected && sw.info(p.ib).connected; }));
  return p;
}

}  // namespace memswitch::test
