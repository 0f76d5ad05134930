// A ring of variable-length records, each a fixed header followed by its bytes and
// padded to 8 bytes: how captures and traces carry what a worker saw to the reader. One
// producer (the worker) and one consumer (the reader), no lock. A full ring loses the
// record and counts it; the producer never waits.
#pragma once
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

namespace memswitch::detail {

// Record: a trivially copyable header whose cap_len says how many bytes follow it.
template <class Record>
class RecordRing {
 public:
  explicit RecordRing(size_t bytes) : buf_(std::bit_ceil(std::max<size_t>(bytes, 4096))), mask_(buf_.size() - 1) {}

  // Producer. false: not enough room, the record is lost (and counted).
  bool push(const Record& rec, const uint8_t* bytes) {
    const size_t need = record_size(rec.cap_len);
    uint64_t head = head_.load(std::memory_order_relaxed);
    const uint64_t tail = tail_.load(std::memory_order_acquire);
    const size_t pos = head & mask_;
    const size_t to_end = buf_.size() - pos;
    // A record never wraps: the end of the ring is skipped (marked when a header fits).
    const size_t skip = to_end < need ? to_end : 0;
    if (need > buf_.size() || (head - tail) + skip + need > buf_.size()) {
      lost_.store(lost_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    if (skip) {
      if (skip >= sizeof(Record)) reinterpret_cast<Record*>(&buf_[pos])->cap_len = kPad;
      head += skip;
    }
    uint8_t* at = &buf_[head & mask_];
    std::memcpy(at, &rec, sizeof rec);
    std::memcpy(at + sizeof rec, bytes, rec.cap_len);
    head_.store(head + need, std::memory_order_release);
    kept_.store(kept_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return true;
  }
  // Consumer: f(record, bytes) for records in order until none is left or f returns false
  // (that record stays for next time).
  template <class F>
  void drain(F&& f) {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    const uint64_t head = head_.load(std::memory_order_acquire);
    while (tail != head) {
      const size_t pos = tail & mask_;
      const size_t to_end = buf_.size() - pos;
      if (to_end < sizeof(Record) || reinterpret_cast<const Record*>(&buf_[pos])->cap_len == kPad) {
        tail += to_end;  // the producer wrapped here
        continue;
      }
      Record rec;  // the bytes of a ring position need not be aligned for Record
      std::memcpy(&rec, &buf_[pos], sizeof rec);
      if (!f(rec, &buf_[pos + sizeof(Record)])) break;
      tail += record_size(rec.cap_len);
    }
    tail_.store(tail, std::memory_order_release);
  }
  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }
  uint64_t kept() const { return kept_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kPad = ~0u;
  static_assert(sizeof(Record) % 8 == 0, "records stay 8-byte aligned in the ring");
  static size_t record_size(uint32_t cap_len) { return (sizeof(Record) + cap_len + 7) & ~size_t(7); }
  std::vector<uint8_t> buf_;
  size_t mask_;
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer
  std::atomic<uint64_t> kept_{0}, lost_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer
};

}  // namespace memswitch::detail
