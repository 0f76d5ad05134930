// lpm_bench ROUTES IPS: our IPv4 table (pipeline/ip4_fib.h) over the route and address
// files dpdk-test-fib writes (-w, -u) and reads (-f, -t), timed the way dpdk-test-fib
// times rte_fib: TSC cycles around each burst of 64 lookups, averaged per lookup. Prints
// one JSON line for bench/lpm.ts.
#include <x86intrin.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "pipeline/ip4_fib.h"

using namespace memswitch;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s ROUTES IPS\n", argv[0]);
    return 2;
  }
  detail::Ip4Fib fib;
  std::ifstream routes(argv[1]);
  std::string prefix;
  uint64_t next_hop;
  size_t n_routes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (routes >> prefix >> next_hop) {
    auto p = parse_ip4_prefix(prefix);
    if (!p) {
      std::fprintf(stderr, "bad route %s\n", prefix.c_str());
      return 1;
    }
    if (!fib.set(*p, uint32_t(1 + next_hop % 100000))) {
      std::fprintf(stderr, "table full after %zu routes\n", n_routes);
      return 1;
    }
    ++n_routes;
  }
  const double build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::ifstream ips_in(argv[2]);
  std::vector<Ip4> ips;
  std::string ip;
  while (ips_in >> ip) {
    auto a = parse_ip4(ip);
    if (!a) {
      std::fprintf(stderr, "bad address %s\n", ip.c_str());
      return 1;
    }
    ips.push_back(*a);
  }
  ips.resize(ips.size() / 64 * 64);
  if (ips.empty()) return 1;
  std::vector<uint32_t> out(64);
  uint64_t checksum = 0, cycles = 0;
  const auto t1 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < ips.size(); i += 64) {
    const uint64_t start = __rdtsc();
    fib.lookup_n(&ips[i], out.data(), 64);
    cycles += __rdtsc() - start;
    for (uint32_t r : out) checksum += r;  // keeps the lookups from being optimised away
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t1).count();
  std::printf("{\"routes\":%zu,\"lookups\":%zu,\"cyclesPerLookup\":%.1f,\"nsPerLookup\":%.2f,\"tableBytes\":%zu,\"buildMs\":%.1f,\"checksum\":%llu}\n", n_routes, ips.size(),
              double(cycles) / double(ips.size()), ns / double(ips.size()), fib.memory_bytes(), build_ms, (unsigned long long)checksum);
  return 0;
}
