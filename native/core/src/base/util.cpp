#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "memswitch/ethernet.h"
#include "memswitch/histogram.h"
#include "memswitch/qsbr.h"
#include "memswitch/result.h"

namespace memswitch {

const char* errc_code(Errc e) {
  switch (e) {
    case Errc::kInvalidArgument: return "EINVAL";
    case Errc::kNotFound: return "ENOENT";
    case Errc::kAlreadyExists: return "EEXIST";
    case Errc::kResourceExhausted: return "ENOSPC";
    case Errc::kIo: return "EIO";
    case Errc::kProtocol: return "EPROTO";
    case Errc::kTimeout: return "ETIMEDOUT";
    case Errc::kBusy: return "EBUSY";
    case Errc::kUnavailable: return "EAGAIN";
  }
  return "EIO";
}

Error errno_error(const std::string& what) { return make_error(Errc::kIo, what + ": " + std::strerror(errno)); }

std::optional<Mac> parse_mac(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  Mac m = 0;
  for (int i = 0; i < 6; ++i) {
    if (i > 0 && s[i * 3 - 1] != ':') return std::nullopt;
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      const char c = s[i * 3 + k];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + d;
    }
    m = (m << 8) | uint64_t(v);
  }
  return m;
}

std::string format_mac(Mac m) {
  char buf[18];
  uint8_t b[6];
  mac_to_bytes(m, b);
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return buf;
}

Qsbr::Qsbr(size_t n_threads) : n_(n_threads), slots_(std::make_unique<Slot[]>(n_threads)) {}

bool Qsbr::passed(uint64_t ticket) const noexcept {
  for (size_t t = 0; t < n_; ++t) {
    const uint64_t seen = slots_[t].seen.load(std::memory_order_acquire);
    if (seen != kOffline && seen < ticket) return false;
  }
  return true;
}

bool Qsbr::wait(uint64_t ticket, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!passed(ticket)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

uint64_t LatencyHistogram::quantile(double q) const {
  if (total_ == 0) return 0;
  uint64_t rank = uint64_t(q * double(total_));
  if (rank >= total_) rank = total_ - 1;
  uint64_t acc = 0;
  for (int i = 0; i < kBuckets; ++i) {
    acc += counts_[i];
    if (acc > rank) return std::min(upper_bound(i), max_);
  }
  return max_;
}

void LatencyHistogram::merge(const LatencyHistogram& o) {
  for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
  total_ += o.total_;
  max_ = std::max(max_, o.max_);
}

}  // namespace memswitch
