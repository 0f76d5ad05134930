// A connected memif peer as the workers see it: its memory and rings. Built by the
// control thread at CONNECT (or adopted at a takeover), read by workers through the
// published snapshot, freed only after a QSBR grace period.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "memswitch/shm.h"
#include "memswitch/wire.h"

namespace memswitch::detail {

struct PeerRegion {
  uint8_t* base;
  uint64_t size;
};

// C2S ring as seen by its one polling worker.
struct RxRing {
  memif::RingHeader* hdr;
  memif::Desc* desc;
  uint16_t size, mask;
  uint16_t last_head;  // our shadow of tail: never trust the shared copy
  int eventfd;         // the peer signals it when we clear MASK_INT (adaptive polling)
};

// S2C ring; several workers transmit on it only when the peer has fewer queues than
// there are workers, and then they take `lock`.
struct alignas(64) TxRing {
  memif::RingHeader* hdr;
  memif::Desc* desc;
  uint16_t size, mask;
  uint16_t tail;
  int eventfd;
  bool shared;
  std::atomic_flag lock = ATOMIC_FLAG_INIT;
};

struct Session {
  std::vector<SharedMemory> regions;
  std::vector<PeerRegion> bounds;
  std::vector<RxRing> rx;
  std::unique_ptr<TxRing[]> tx;
  uint32_t n_tx = 0;
  std::vector<int> eventfds;                // C2S then S2C, owned
  std::atomic<bool> bad_peer{false};        // set by a worker; the control thread tears down
  ~Session();
};

// A descriptor is usable only if [offset, offset+length) lies inside a region the
// peer mapped for us; computed without overflow on hostile values.
inline const uint8_t* checked_buffer(const Session& s, const memif::Desc& d) {
  if (d.region >= s.bounds.size() || d.length == 0) return nullptr;
  const PeerRegion& r = s.bounds[d.region];
  if (d.length > r.size || d.offset > r.size - d.length) return nullptr;
  return r.base + d.offset;
}

}  // namespace memswitch::detail
