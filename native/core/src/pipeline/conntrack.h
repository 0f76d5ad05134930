// The connection tracking table (memswitch/conntrack.h): one for all workers, because a
// flow's replies may arrive on a port another worker polls. Workers read it without
// locks (a sequence number per bucket); opening, changing and ending a flow takes that
// bucket's lock, which only a flow's first packets and its TCP state changes need.
// Each flow may sit in either of two buckets of sixteen (two hashes; the second only when
// the first is full); max_flows caps how many are tracked at once.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "memswitch/conntrack.h"

namespace memswitch::detail {

constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

// A flow's two endpoints in a fixed order (the lower address, then port, first) so that
// both directions find the same entry, its protocol, and the zone it was seen in.
struct FlowKey {
  uint64_t w[5];
  bool operator==(const FlowKey&) const = default;
};

// What a packet tells the table: its flow, which end sent it, its TCP flags.
struct FlowPacket {
  FlowKey key;
  bool from_low = true;  // sent by the endpoint that sorts first
  uint8_t tcp_flags = 0;
};

// zone: the router (kZoneRouter | id) or the segment the flow is seen in. ICMP echo
// passes its identifier as both ports.
constexpr uint32_t kZoneRouter = 1u << 23;
FlowPacket flow_packet(uint32_t zone, uint8_t proto, IpAddress src, uint16_t sport, IpAddress dst, uint16_t dport, uint8_t tcp_flags);

class Conntrack {
 public:
  Conntrack(const ConntrackOptions& o, uint32_t workers);
  ~Conntrack();
  Conntrack(const Conntrack&) = delete;
  Conntrack& operator=(const Conntrack&) = delete;

  // Where a flow's entry may be: its two buckets and its tag.
  struct Probe {
    uint32_t b1, b2;
    uint16_t tag;
  };
  Probe probe(const FlowKey& k) const;
  // A burst's lookups overlap their cache misses: first every frame's buckets are
  // fetched, then the entries their tags point to, then the lookups run.
  void prefetch_buckets(const Probe& at) const;
  void prefetch_entries(const Probe& at) const;

  // Workers. A live flow the packet belongs to takes note of it (a reply, TCP flags) and
  // says true; false when there is none, or the packet is a SYN that reopens a closing
  // flow (rules decide on it as on any new flow).
  bool track(const FlowPacket& p, const Probe& at, uint32_t now_s, uint32_t worker);
  bool track(const FlowPacket& p, uint32_t now_s, uint32_t worker) { return track(p, probe(p.key), now_s, worker); }
  // Whether a live flow has this key (an ICMP error's embedded header), without a note.
  bool known(const FlowKey& k, uint32_t now_s) const;
  // Opens the flow a permitted packet starts (or takes note, if another worker just
  // opened it); false when both its buckets are full.
  bool open(const FlowPacket& p, uint32_t now_s, uint32_t worker);

  // Control thread (under the dataplane's lock: its counters are the control thread's). Frees the expired flows of the next `buckets` buckets.
  void sweep(uint32_t now_s, uint32_t buckets);
  void clear();
  // Flows from slot `cursor` on (0: the start), up to `limit`, as of now_s; zone, not
  // yet router or network (ConntrackFlow::router holds the zone).
  ConntrackPage list(uint64_t cursor, uint32_t limit, uint32_t now_s) const;
  ConntrackStats stats() const;
  uint32_t buckets() const { return mask_ + 1; }

 private:
  static constexpr uint32_t kWays = 16;
  struct Bucket;
  struct Entry;
  struct Counters;
  uint32_t timeout(uint8_t state) const;
  uint64_t flows() const;  // opened less ended, of all workers
  bool live(const Entry& e, uint32_t now_s) const;
  // The slot holding k in bucket b, or -1; the bucket's lock held or its sequence checked.
  int find(uint32_t b, const FlowKey& k, uint16_t tag) const;
  int find_stable(uint32_t b, const FlowKey& k, uint16_t tag, uint32_t now_s, uint8_t* state) const;
  void lock(uint32_t b);
  void unlock(uint32_t b);
  void note(Entry& e, bool from_low, uint8_t tcp_flags, uint32_t now_s);
  void free_slot(uint32_t b, uint32_t slot, uint32_t worker);

  ConntrackTimeouts timeouts_;
  uint32_t max_flows_;
  uint32_t mask_;  // buckets - 1
  uint32_t workers_;
  Bucket* buckets_ = nullptr;
  Entry* entries_ = nullptr;
  size_t mapped_ = 0;
  std::unique_ptr<Counters[]> counters_;  // per worker, and the control thread's last
  uint32_t sweep_at_ = 0;
};

}  // namespace memswitch::detail
