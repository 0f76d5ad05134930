// Routers, router interfaces, routes and neighbours (memswitch/routing.h).
#include "dataplane_wrap.h"

namespace memswitch::binding {

IpAddress DataplaneWrap::ip_arg(Napi::Env env, const std::string& s, const std::string& field) {
  auto a = parse_ip(s);
  if (!a) throw core_error(env, make_error(Errc::kInvalidArgument, field + ": not an IPv4 or IPv6 address: " + s));
  return *a;
}

Napi::Value DataplaneWrap::AddRouter(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "addRouter(name)");
  Result<uint32_t> r = dp(info.Env()).add_router(info[0].As<Napi::String>().Utf8Value());
  if (!r) throw core_error(info.Env(), r.error());
  return Napi::Number::New(info.Env(), *r);
}

Napi::Value DataplaneWrap::RemoveRouter(const Napi::CallbackInfo& info) {
  if (Status s = dp(info.Env()).remove_router(u32_arg(info, 0, "removeRouter(id)")); !s) throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::AddRouterInterface(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = object_arg(info, 0, "addRouterInterface(config)");
  RouterInterfaceConfig c;
  c.name = get_string(o, "name");
  c.router = uint32_t(get_number(o, "router"));
  c.network = uint32_t(get_number(o, "network"));
  c.vlan = uint16_t(get_number(o, "vlan"));
  c.mac = get_mac(env, o, "mac");
  c.mtu = uint32_t(get_number(o, "mtu", c.mtu));
  Napi::Value addrs = o.Get("addresses");
  if (addrs.IsArray()) {
    Napi::Array a = addrs.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      const std::string s = a.Get(i).ToString().Utf8Value();
      auto p = parse_ip_prefix(s, /*host_bits_ok=*/true);
      if (!p) throw core_error(env, make_error(Errc::kInvalidArgument, "addresses[" + std::to_string(i) + "]: not an IPv4 or IPv6 address/length: " + s));
      c.addresses.push_back({p->addr, p->len});
    }
  }
  Result<uint32_t> r = dp(env).add_router_interface(c);
  if (!r) throw core_error(env, r.error());
  return Napi::Number::New(env, *r);
}

Napi::Value DataplaneWrap::RemoveRouterInterface(const Napi::CallbackInfo& info) {
  if (Status s = dp(info.Env()).remove_router_interface(u32_arg(info, 0, "removeRouterInterface(id)")); !s)
    throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::RouterInterfaceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto r = dp(env).router_interface_info(u32_arg(info, 0, "routerInterfaceInfo(id)"));
  if (!r) throw core_error(env, r.error());
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", r->index);
  o.Set("name", r->name);
  o.Set("router", r->router);
  o.Set("network", r->network);
  o.Set("vlan", r->vlan);
  o.Set("mac", format_mac(r->mac));
  o.Set("mtu", r->mtu);
  Napi::Array a = Napi::Array::New(env, r->addresses.size());
  for (size_t i = 0; i < r->addresses.size(); ++i) a.Set(uint32_t(i), format_ip_prefix({r->addresses[i].addr, r->addresses[i].len}));
  o.Set("addresses", a);
  return o;
}

Napi::Value DataplaneWrap::AddRoutes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t router = u32_arg(info, 0, "addRoutes(router, routes)");
  if (info.Length() < 2 || !info[1].IsArray()) throw Napi::TypeError::New(env, "addRoutes(router, routes)");
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<Route> routes(list.Length());
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const std::string at = "routes[" + std::to_string(i) + "].";
    Napi::Object o = list.Get(i).As<Napi::Object>();
    const std::string prefix = get_string(o, "prefix");
    auto p = parse_ip_prefix(prefix);
    if (!p) throw core_error(env, make_error(Errc::kInvalidArgument, at + "prefix: not an IPv4 or IPv6 prefix with its host bits zero: " + prefix));
    routes[i].prefix = *p;
    const std::string kind = get_string(o, "kind", "forward");
    if (kind == "forward") routes[i].kind = RouteKind::forward;
    else if (kind == "blackhole") routes[i].kind = RouteKind::blackhole;
    else if (kind == "unreachable") routes[i].kind = RouteKind::unreachable;
    else throw core_error(env, make_error(Errc::kInvalidArgument, at + "kind: forward, blackhole or unreachable, not " + kind));
    Napi::Value hops = o.Get("nextHops");
    if (!hops.IsArray()) continue;
    Napi::Array h = hops.As<Napi::Array>();
    for (uint32_t j = 0; j < h.Length(); ++j) {
      Napi::Object x = h.Get(j).As<Napi::Object>();
      const std::string via = get_string(x, "via");
      NextHop nh;
      if (!via.empty()) nh.via = ip_arg(env, via, at + "next_hops[" + std::to_string(j) + "].via");
      nh.interface = uint32_t(get_number(x, "interface"));
      routes[i].next_hops.push_back(nh);
    }
  }
  if (Status s = dp(env).add_routes(router, routes); !s) throw core_error(env, s.error());
  return env.Undefined();
}

Napi::Value DataplaneWrap::RemoveRoutes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t router = u32_arg(info, 0, "removeRoutes(router, prefixes)");
  if (info.Length() < 2 || !info[1].IsArray()) throw Napi::TypeError::New(env, "removeRoutes(router, prefixes)");
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<IpPrefix> prefixes;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const std::string s = list.Get(i).ToString().Utf8Value();
    auto p = parse_ip_prefix(s);
    if (!p) throw core_error(env, make_error(Errc::kInvalidArgument, "prefixes[" + std::to_string(i) + "]: not an IPv4 or IPv6 prefix: " + s));
    prefixes.push_back(*p);
  }
  Result<size_t> r = dp(env).remove_routes(router, prefixes);
  if (!r) throw core_error(env, r.error());
  return Napi::Number::New(env, double(*r));
}

Napi::Value DataplaneWrap::RouterStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto r = dp(env).router_stats(u32_arg(info, 0, "routerStats(router)"));
  if (!r) throw core_error(env, r.error());
  Napi::Object o = Napi::Object::New(env);
  o.Set("routes", double(r->routes));
  o.Set("tableBytes", double(r->table_bytes));
  return o;
}

Napi::Value DataplaneWrap::AddStaticNeighbor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsString() || !info[2].IsString()) throw Napi::TypeError::New(env, "addStaticNeighbor(routerInterface, ip, mac)");
  const std::string mac_s = info[2].As<Napi::String>().Utf8Value();
  auto mac = parse_mac(mac_s);
  if (!mac) throw core_error(env, make_error(Errc::kInvalidArgument, "mac: not a MAC address: " + mac_s));
  Status s = dp(env).add_static_neighbor(u32_arg(info, 0, "addStaticNeighbor(routerInterface, ip, mac)"), ip_arg(env, info[1].As<Napi::String>(), "ip"), *mac);
  if (!s) throw core_error(env, s.error());
  return env.Undefined();
}

Napi::Value DataplaneWrap::RemoveNeighbor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsString()) throw Napi::TypeError::New(env, "removeNeighbor(routerInterface, ip)");
  auto r = dp(env).remove_neighbor(u32_arg(info, 0, "removeNeighbor(routerInterface, ip)"), ip_arg(env, info[1].As<Napi::String>(), "ip"));
  if (!r) throw core_error(env, r.error());
  return Napi::Boolean::New(env, *r);
}

Napi::Value DataplaneWrap::Neighbors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto entries = dp(env).neighbors();
  Napi::Array a = Napi::Array::New(env, entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const NeighborEntry& e = entries[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("routerInterface", e.interface);
    o.Set("ip", format_ip(e.ip));
    o.Set("mac", e.incomplete ? "" : format_mac(e.mac));
    o.Set("static", e.is_static);
    o.Set("state", e.incomplete ? "incomplete" : "reachable");
    o.Set("ageS", e.age_s);
    a.Set(uint32_t(i), o);
  }
  return a;
}

}  // namespace memswitch::binding
