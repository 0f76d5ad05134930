// Routers, their interfaces, static routes and neighbours: the registries behind the
// L3 stages, and the part of each snapshot they read (build_l3). Each router has an IPv4
// and an IPv6 table, changed in place (each takes one writer beside lock-free readers);
// what a change unlinks waits for a grace period like everything else a publish retires.
// Above the tables the two families are one: routes, targets and next hops carry
// IpAddress, and only Router::get/set/erase pick the table.
#include <algorithm>

#include "control/dataplane_impl.h"

namespace memswitch::detail {

namespace {

Error no_router(uint32_t id) { return make_error(Errc::kNotFound, "no router " + std::to_string(id)); }
Error no_rif(uint32_t id) { return make_error(Errc::kNotFound, "no router interface " + std::to_string(id)); }

// Interface routes win over static routes of the same prefix, as the kernel's
// connected routes do, and are not the API's to remove.
std::vector<std::pair<IpPrefix, RouteAction>> interface_routes(const RouterInterfaceConfig& cfg) {
  std::vector<std::pair<IpPrefix, RouteAction>> out;
  for (const auto& a : cfg.addresses) {
    if (!a.addr.is4() && ip6_link_local(a.addr.bits)) continue;  // the interface's own (ip6_lookup)
    const uint8_t host = a.addr.is4() ? 32 : 128;
    if (a.len < host) out.push_back({a.subnet(), RouteAction::connected});
    out.push_back({{a.addr, host}, RouteAction::local});
  }
  return out;
}

std::string format_address(const InterfaceAddress& a) { return format_ip(a.addr) + "/" + std::to_string(a.len); }

// What makes an interface address unusable, or empty.
std::string address_problem(const InterfaceAddress& a) {
  if (a.addr.is4()) {
    if (a.len == 0 || a.len > 32 || ip4_martian(a.addr.v4())) return format_address(a) + " is not a unicast interface address";
    const Ip4 net = a.subnet().addr.v4();
    if (a.len < 31 && (a.addr.v4() == net || a.addr.v4() == (net | ~ip4_mask(a.len))))
      return format_ip(a.addr) + " is the subnet's network or broadcast address";
    return {};
  }
  if (a.len == 0 || a.len > 128 || ip6_martian(a.addr.bits)) return format_address(a) + " is not a unicast interface address";
  return {};
}

// Two addresses' subnets overlap. Link-local subnets are per link, so never.
bool overlap(const InterfaceAddress& a, const InterfaceAddress& b) {
  if (a.addr.is4() != b.addr.is4() || (!a.addr.is4() && (ip6_link_local(a.addr.bits) || ip6_link_local(b.addr.bits)))) return false;
  return b.subnet().contains(a.addr) || a.subnet().contains(b.addr);
}

}  // namespace

uint32_t DataplaneImpl::intern(const RouteTarget& t) {
  auto it = target_ids_.find(t);
  if (it != target_ids_.end()) {
    ++targets_[it->second].refs;
    return it->second;
  }
  uint32_t id;
  if (!free_targets_.empty()) {
    id = free_targets_.back();
    free_targets_.pop_back();
  } else {
    id = uint32_t(targets_.size());
    targets_.emplace_back();
  }
  targets_[id] = {t, 1};
  target_ids_.emplace(t, id);
  return id;
}

void DataplaneImpl::unref(uint32_t id) {
  TargetSlot& s = targets_[id];
  if (--s.refs > 0) return;
  target_ids_.erase(s.target);
  s.target = {};
  retiring_.freed_targets.push_back(id);  // a worker may still read the id from a trie entry
}

Status DataplaneImpl::put_static(Router& r, IpPrefix p, uint32_t id, uint32_t* previous) {
  *previous = 0;
  if (r.derived.count(p)) {
    auto [it, inserted] = r.shadowed.try_emplace(p, id);
    if (!inserted) *previous = std::exchange(it->second, id);
    return Status::ok();
  }
  if (auto old = r.get(p)) *previous = *old;
  return r.set(p, id);
}

uint32_t DataplaneImpl::take_static(Router& r, IpPrefix p) {
  if (auto s = r.shadowed.find(p); s != r.shadowed.end()) {
    const uint32_t id = s->second;
    r.shadowed.erase(s);
    return id;
  }
  if (r.derived.count(p)) return 0;
  return r.erase(p).value_or(0);
}

size_t DataplaneImpl::erase_static(Router& r, IpPrefix p) {
  const uint32_t id = take_static(r, p);
  if (id) unref(id);
  return id ? 1 : 0;
}

Status DataplaneImpl::add_interface_routes(Router& r, uint16_t rif, const RouterInterfaceConfig& cfg) {
  for (auto& [p, action] : interface_routes(cfg)) {
    const uint32_t id = intern({cfg.router, action, rif, {}});
    if (auto old = r.get(p)) r.shadowed.emplace(p, *old);  // a static route of that prefix waits
    if (Status s = r.set(p, id); !s) {
      unref(id);
      return s;
    }
    r.derived.emplace(p, id);
  }
  return Status::ok();
}

void DataplaneImpl::remove_interface_routes(Router& r, const RouterInterfaceConfig& cfg) {
  for (auto& [p, action] : interface_routes(cfg)) {
    auto d = r.derived.find(p);
    if (d == r.derived.end()) continue;
    unref(d->second);
    r.derived.erase(d);
    if (auto s = r.shadowed.find(p); s != r.shadowed.end()) {
      // Back in the table: it shrinks nothing, so set() needs no new ply and cannot fail.
      (void)r.set(p, s->second);
      r.shadowed.erase(s);
    } else {
      r.erase(p);
    }
  }
}

void DataplaneImpl::retire_plies(Router& r) {
  auto plies = r.fib->take_retired();
  if (!plies.empty()) retiring_.plies.push_back({r.fib.get(), std::move(plies)});
  for (auto& t : r.fib6->take_retired()) retiring_.ip6_tables.push_back(std::move(t));
}

Result<uint32_t> DataplaneImpl::add_router(const std::string& name) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s.error();
  if (name.empty()) return make_error(Errc::kInvalidArgument, "name: must not be empty");
  for (auto& [id, r] : routers_)
    if (r.name == name) return make_error(Errc::kAlreadyExists, "router " + name + " exists");
  const uint32_t id = next_router_++;
  routers_[id] = Router{name, std::make_unique<Ip4Fib>(), std::make_unique<Ip6Fib>(), {}, {}, 0};
  publish();
  return id;
}

Status DataplaneImpl::remove_router(uint32_t id) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s;
  auto it = routers_.find(id);
  if (it == routers_.end()) return no_router(id);
  Router& r = it->second;
  if (r.interfaces > 0) return make_error(Errc::kBusy, "router " + r.name + " still has " + std::to_string(r.interfaces) + " interface(s)");
  r.fib->for_each([&](Ip4Prefix, uint32_t target) { unref(target); });
  r.fib6->for_each([&](Ip6Prefix, uint32_t target) { unref(target); });
  for (auto& [p, target] : r.shadowed) unref(target);
  retiring_.fibs.push_back(std::move(r.fib));
  retiring_.fibs6.push_back(std::move(r.fib6));
  routers_.erase(it);
  publish();
  return Status::ok();
}

Result<uint32_t> DataplaneImpl::add_router_interface(const RouterInterfaceConfig& in) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s.error();
  auto r = routers_.find(in.router);
  if (r == routers_.end()) return no_router(in.router);
  if (!networks_.count(in.network)) return make_error(Errc::kNotFound, "network: no network " + std::to_string(in.network));
  if (in.name.empty()) return make_error(Errc::kInvalidArgument, "name: must not be empty");
  if (in.vlan > 4094) return make_error(Errc::kInvalidArgument, "vlan: must be 0..4094");
  if (in.mtu < 68 || in.mtu > 9000) return make_error(Errc::kInvalidArgument, "mtu: must be 68..9000");
  for (size_t i = 0; i < in.addresses.size(); ++i)
    if (std::string why = address_problem(in.addresses[i]); !why.empty())
      return make_error(Errc::kInvalidArgument, "addresses[" + std::to_string(i) + "]: " + why);
  for (size_t i = 0; i < in.addresses.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (overlap(in.addresses[i], in.addresses[j]))
        return make_error(Errc::kInvalidArgument, "addresses[" + std::to_string(i) + "]: overlaps addresses[" + std::to_string(j) + "]");
  for (auto& [id, x] : rifs_) {
    if (x.cfg.name == in.name) return make_error(Errc::kAlreadyExists, "router interface " + in.name + " exists");
    if (x.cfg.network == in.network && x.cfg.vlan == in.vlan)
      return make_error(Errc::kAlreadyExists, "network: already has router interface " + x.cfg.name);
    if (x.cfg.router != in.router) continue;
    for (const auto& a : in.addresses)
      for (const auto& b : x.cfg.addresses)
        if (overlap(a, b))
          return make_error(Errc::kAlreadyExists, "addresses: " + format_address(a) + " overlaps " + x.cfg.name + "'s " + format_address(b));
  }
  uint16_t id = 1;
  while (rifs_.count(id) || retired_rifs_.count(id))
    if (++id == 0) return make_error(Errc::kResourceExhausted, "no router interface ids left");
  RouterInterfaceConfig cfg = in;
  if (cfg.mac == 0) cfg.mac = generated_mac("rif:" + cfg.name);
  const uint16_t segment = acquire_segment(cfg.network, cfg.vlan);
  if (Status s = fib_.add_static(fib_key(segment, cfg.mac), kRouterPort | id); !s) {
    release_segment(segment);
    return s.error();
  }
  if (Status s = add_interface_routes(r->second, id, cfg); !s) {
    remove_interface_routes(r->second, cfg);
    fib_.remove(fib_key(segment, cfg.mac));
    release_segment(segment);
    return s.error();
  }
  ++r->second.interfaces;
  rifs_[id] = RouterIf{std::move(cfg), segment};
  publish();
  return uint32_t(id);
}

Status DataplaneImpl::remove_router_interface(uint32_t id) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s;
  auto it = rifs_.find(id);
  if (it == rifs_.end()) return no_rif(id);
  RouterIf& x = it->second;
  Router& r = routers_.at(x.cfg.router);
  remove_interface_routes(r, x.cfg);
  retire_plies(r);
  --r.interfaces;
  fib_.remove(fib_key(x.segment, x.cfg.mac));
  release_segment(x.segment);
  neighbors_.flush_interface(uint16_t(id));
  retiring_.removed_rifs.push_back(uint16_t(id));
  retired_rifs_.insert(uint16_t(id));
  rifs_.erase(it);
  publish();
  return Status::ok();
}

Result<RouterInterfaceInfo> DataplaneImpl::router_interface_info(uint32_t id) {
  std::lock_guard g(mu_);
  auto it = rifs_.find(id);
  if (it == rifs_.end()) return no_rif(id);
  const RouterInterfaceConfig& c = it->second.cfg;
  return RouterInterfaceInfo{id, c.name, c.router, c.network, c.vlan, c.mac, c.mtu, c.addresses};
}

Status DataplaneImpl::add_routes(uint32_t router, const std::vector<Route>& routes) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s;
  auto rit = routers_.find(router);
  if (rit == routers_.end()) return no_router(router);
  Router& r = rit->second;
  std::vector<RouteTarget> targets(routes.size());
  for (size_t i = 0; i < routes.size(); ++i) {
    const Route& rt = routes[i];
    const std::string at = "routes[" + std::to_string(i) + "].";
    if (rt.prefix.len > rt.prefix.max_len() || !rt.prefix.host_bits_clear())
      return make_error(Errc::kInvalidArgument, at + "prefix: host bits set in " + format_ip_prefix(rt.prefix));
    RouteTarget& t = targets[i];
    t.router = router;
    switch (rt.kind) {
      case RouteKind::blackhole: t.action = RouteAction::blackhole; break;
      case RouteKind::unreachable: t.action = RouteAction::unreachable; break;
      case RouteKind::forward: t.action = RouteAction::forward; break;
    }
    if (rt.kind != RouteKind::forward) {
      if (!rt.next_hops.empty()) return make_error(Errc::kInvalidArgument, at + "next_hops: a blackhole or unreachable route has none");
      continue;
    }
    if (rt.next_hops.empty() || rt.next_hops.size() > kMaxEcmpPaths)
      return make_error(Errc::kInvalidArgument, at + "next_hops: a route needs 1 to " + std::to_string(kMaxEcmpPaths) + " next hops");
    for (size_t h = 0; h < rt.next_hops.size(); ++h) {
      const NextHop& nh = rt.next_hops[h];
      const std::string hop = at + "next_hops[" + std::to_string(h) + "].";
      if (nh.via.zero() && nh.interface == 0) return make_error(Errc::kInvalidArgument, hop + "via: a next hop needs an address or an interface");
      if (nh.via.is4() != rt.prefix.is4() && !nh.via.zero())
        return make_error(Errc::kInvalidArgument, hop + "via: " + format_ip(nh.via) + " is not of the prefix's address family");
      if (!nh.via.is4() && ip6_link_local(nh.via.bits) && nh.interface == 0)
        return make_error(Errc::kInvalidArgument, hop + "interface: a link-local next hop needs its interface");
      if (nh.interface != 0) {
        auto x = rifs_.find(nh.interface);
        if (x == rifs_.end() || x->second.cfg.router != router)
          return make_error(Errc::kInvalidArgument, hop + "interface: router interface " + std::to_string(nh.interface) + " is not on this router");
      }
    }
    t.hops = rt.next_hops;
    std::sort(t.hops.begin(), t.hops.end());
    t.hops.erase(std::unique(t.hops.begin(), t.hops.end()), t.hops.end());
  }
  // Result ids new to this batch must be in a published snapshot before any trie entry
  // names them, so a worker never reads an id its snapshot does not have.
  const size_t known = target_ids_.size();
  std::vector<uint32_t> ids(routes.size());
  for (size_t i = 0; i < routes.size(); ++i) ids[i] = intern(targets[i]);
  if (target_ids_.size() != known) publish();
  std::vector<uint32_t> previous(routes.size(), 0);
  for (size_t i = 0; i < routes.size(); ++i) {
    if (Status s = put_static(r, routes[i].prefix, ids[i], &previous[i]); !s) {
      for (size_t j = i; j-- > 0;) {  // undo, newest first, so the batch leaves no trace
        uint32_t ignored;
        if (previous[j]) (void)put_static(r, routes[j].prefix, previous[j], &ignored);
        else take_static(r, routes[j].prefix);
      }
      for (size_t j = 0; j < routes.size(); ++j) unref(ids[j]);
      retire_plies(r);
      publish();
      return make_error(s.error().code, "routes[" + std::to_string(i) + "].prefix: " + s.error().message);
    }
  }
  for (uint32_t p : previous)
    if (p) unref(p);
  retire_plies(r);
  publish();
  return Status::ok();
}

Result<size_t> DataplaneImpl::remove_routes(uint32_t router, const std::vector<IpPrefix>& prefixes) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s.error();
  auto rit = routers_.find(router);
  if (rit == routers_.end()) return no_router(router);
  size_t removed = 0;
  for (const IpPrefix& p : prefixes) removed += erase_static(rit->second, p);
  retire_plies(rit->second);
  publish();
  return removed;
}

Result<Dataplane::RouterStats> DataplaneImpl::router_stats(uint32_t router) {
  std::lock_guard g(mu_);
  auto rit = routers_.find(router);
  if (rit == routers_.end()) return no_router(router);
  const Router& r = rit->second;
  return RouterStats{r.fib->size() + r.fib6->size(), r.fib->memory_bytes() + r.fib6->memory_bytes()};
}

Status DataplaneImpl::add_static_neighbor(uint32_t rif, IpAddress ip, Mac mac) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s;
  if (!rifs_.count(rif)) return no_rif(rif);
  if (mac == 0 || mac_is_multicast(mac)) return make_error(Errc::kInvalidArgument, "mac: must be a unicast MAC");
  return neighbors_.add_static(NeighborTable::key(uint16_t(rif), ip), mac);
}

Result<bool> DataplaneImpl::remove_neighbor(uint32_t rif, IpAddress ip) {
  std::lock_guard g(mu_);
  if (Status s = mutable_now(); !s) return s.error();
  if (!rifs_.count(rif)) return no_rif(rif);
  return neighbors_.remove(NeighborTable::key(uint16_t(rif), ip));
}

std::vector<NeighborEntry> DataplaneImpl::neighbors() {
  std::lock_guard g(mu_);  // entries of a removed interface may linger until its grace period
  std::vector<NeighborEntry> out = neighbors_.entries(now_s_.load(std::memory_order_relaxed));
  std::erase_if(out, [&](const NeighborEntry& e) { return !rifs_.count(e.interface); });
  return out;
}

// Resolves every live result id against the interfaces as they are now: a next hop
// whose subnet went away makes its path unusable until it comes back.
void DataplaneImpl::build_l3(Topology& t) {
  if (rifs_.empty()) return;
  t.stages |= kL3Stages;
  L3View& l3 = t.l3;
  l3.neighbor_refresh_s = std::max<uint32_t>(opts_.neighbor_age_s / 2, 1);
  for (auto& [id, r] : routers_) {
    if (l3.fibs.size() <= id) l3.fibs.resize(id + 1, nullptr);
    l3.fibs[id] = r.fib.get();
  }
  l3.fibs6.resize(l3.fibs.size(), nullptr);
  for (auto& [id, r] : routers_) l3.fibs6[id] = r.fib6.get();
  l3.rifs.resize(rifs_.rbegin()->first + 1);
  for (auto& [id, x] : rifs_) l3.rifs[id] = {x.cfg.router, x.segment, x.cfg.mac, x.cfg.mtu, UINT32_MAX, x.cfg.addresses};
  l3.results.resize(targets_.size());
  for (uint32_t id = 1; id < targets_.size(); ++id) {
    const TargetSlot& s = targets_[id];
    if (s.refs == 0) continue;
    RouteResult& out = l3.results[id];
    out.action = s.target.action;
    out.rif = s.target.rif;
    if (out.action != RouteAction::forward) continue;
    out.first_path = uint32_t(l3.paths.size());
    for (const NextHop& h : s.target.hops) {
      uint16_t rif = 0;
      if (h.interface) {
        rif = rifs_.count(h.interface) ? uint16_t(h.interface) : 0;
      } else {
        uint8_t best = 0;  // the most specific connected subnet holding the next hop
        for (auto& [rid, x] : rifs_) {
          if (x.cfg.router != s.target.router) continue;
          for (const auto& a : x.cfg.addresses)
            if (a.subnet().contains(h.via) && a.len >= best && h.via != a.addr) best = a.len, rif = uint16_t(rid);
        }
      }
      if (rif) l3.paths.push_back({rif, h.via});
    }
    out.n_paths = uint8_t(l3.paths.size() - out.first_path);
    if (out.n_paths == 0) out.action = RouteAction::none;
  }
  std::map<uint16_t, uint16_t> rif_of_segment;
  for (auto& [id, x] : rifs_) rif_of_segment[x.segment] = uint16_t(id);
  for (uint32_t port = 0; port < t.ports.size(); ++port) {
    PortView& v = t.ports[port];
    auto it = rif_of_segment.find(v.segment);
    if (it == rif_of_segment.end()) continue;
    v.rif = it->second;
    if (v.ip_mode) l3.rifs[it->second].ip_port = port;
  }
}

}  // namespace memswitch::detail
