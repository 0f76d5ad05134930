// The control thread: one epoll loop over the memif listeners and connections, the
// handover socket and a 100 ms tick (MAC ageing, handshake deadlines, peer health).
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>

#include "control/dataplane_impl.h"

namespace memswitch::detail {

uint64_t DataplaneImpl::listener_tag(const std::string& spec) {
  auto [it, inserted] = listener_ids_.try_emplace(spec, next_listener_id_);
  if (inserted) ++next_listener_id_;
  return it->second;
}

void DataplaneImpl::watch(int fd, uint64_t tag) {
  epoll_event ev{EPOLLIN, {}};
  ev.data.u64 = tag;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
}

void DataplaneImpl::emit(EventKind kind, const std::string& iface, const std::string& socket, const std::string& detail) {
  if (events_) events_(Event{kind, iface, socket, detail});
}

void DataplaneImpl::control_loop() {
  pthread_setname_np(pthread_self(), "msw-control");
  epoll_event evs[32];
  const auto t0 = Clock::now();
  int timeout_ms = kTickMs * 2;
  while (!stopping_.load()) {
    const int n = epoll_wait(epoll_, evs, 32, timeout_ms);
    std::unique_lock lock(mu_);
    for (int k = 0; k < n; ++k) {
      const uint64_t tag = evs[k].data.u64;
      switch (tag & kTagMask) {
        case kTagWake:
          if (tag == kTagHandover) on_handover_request(lock);
          break;
        case kTagTimer: {
          uint64_t ticks;
          [[maybe_unused]] ssize_t r = read(timer_, &ticks, sizeof ticks);
          on_tick(uint32_t(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count()));
          break;
        }
        case kTagListener:
          for (auto& [spec, id] : listener_ids_)
            if (id == (tag & ~kTagMask) && listeners_.count(spec)) on_accept(listeners_[spec]);
          break;
        default: on_readable(int64_t(tag)); break;
      }
    }
    reclaim();
    send_pending_connected();
    // What a publish left behind is freed (and a waiting CONNECTED sent: its grace period
    // is one of them) as soon as the workers let go of it; behind a stalled worker
    // (reported by on_tick), every tick is enough.
    if (retired_.empty()) timeout_ms = kTickMs * 2;
    else timeout_ms = Clock::now() - retired_.front().since > kGrace ? kTickMs : 1;
  }
}

void DataplaneImpl::on_tick(uint32_t now_s) {
  now_s_.store(now_s, std::memory_order_relaxed);
  if (now_s != last_age_s_) {
    last_age_s_ = now_s;
    fib_.age(now_s, opts_.mac_age_s);
    // An unanswered request is forgotten after a few seconds, so the next packet asks again.
    neighbors_.age(now_s, opts_.neighbor_age_s, /*incomplete_s=*/3);
  }
  // Every bucket once in 5 s: expired flows stop counting soon after their timeout.
  conntrack_->sweep(now_s, std::max(1u, conntrack_->buckets() / (5000 / kTickMs)));
  const auto now = Clock::now();
  std::vector<std::pair<int64_t, ProtocolError>> doomed;
  for (auto& [id, c] : conns_) {
    if (c->state != Conn::State::kConnected && now > c->deadline) doomed.push_back({id, ProtocolError::handshake_timeout});
    if (c->state == Conn::State::kConnected && c->iface >= 0 && !handed_over_) {
      Interface& i = ifaces_[uint32_t(c->iface)];
      // A truncated region comes first: the zero pages that replaced it also make ring
      // indices look out of range, and the truncation is the cause worth reporting.
      if (i.session && std::any_of(i.session->regions.begin(), i.session->regions.end(), [](const SharedMemory& r) { return r.faulted(); }))
        doomed.push_back({id, ProtocolError::bad_region});
      else if (i.session && i.session->bad_peer.load())
        doomed.push_back({id, ProtocolError::bad_ring_index});
    }
  }
  for (auto& [id, why] : doomed) {
    auto it = conns_.find(id);
    static const std::map<ProtocolError, const char*> kReasons = {{ProtocolError::handshake_timeout, "Handshake timeout"},
                                                                  {ProtocolError::bad_ring_index, "Ring index out of range"},
                                                                  {ProtocolError::bad_region, "Region truncated"}};
    if (it != conns_.end()) fail(id, *it->second, why, kReasons.at(why));
  }
  // A worker stuck inside a poll keeps what it may read alive (never freed under it).
  for (Retired& r : retired_)
    if (!r.reported && now - r.since > kGrace) {
      r.reported = true;
      emit(EventKind::worker_stalled, "", "", "a worker did not pass a quiescent point in 2 s");
    }
}

}  // namespace memswitch::detail
