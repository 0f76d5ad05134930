// The product addon memswitchd loads: Node-API glue only, convert arguments, call the
// core, convert results back. Validation and policy live in orchestrator/src/dataplane;
// here we check shapes. Test tools live in the testing addon (testing.cc).
#include <napi.h>

#include <memory>
#include <optional>

#include "convert.h"
#include "memswitch/dataplane.h"

namespace {

using namespace memswitch;
using namespace memswitch::binding;

// Dataplane::take_over() on a libuv thread, settling a promise.
class TakeoverWork : public Napi::AsyncWorker {
 public:
  TakeoverWork(Napi::Env env, Dataplane& dp, std::string path, std::chrono::milliseconds timeout)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), dp_(dp), path_(std::move(path)), timeout_(timeout) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 private:
  void Execute() override { result_.emplace(dp_.take_over(path_, timeout_)); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!*result_) return deferred_.Reject(core_error(env, result_->error()).Value());
    Napi::Object o = Napi::Object::New(env);
    o.Set("listeners", (*result_)->listeners);
    o.Set("sessions", (*result_)->sessions);
    deferred_.Resolve(o);
  }

  Napi::Promise::Deferred deferred_;
  Dataplane& dp_;
  std::string path_;
  std::chrono::milliseconds timeout_;
  std::optional<Result<TakeoverSummary>> result_;
};

class DataplaneWrap : public Napi::ObjectWrap<DataplaneWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Dataplane",
                       {InstanceMethod<&DataplaneWrap::SetEventHandler>("setEventHandler"),
                        InstanceMethod<&DataplaneWrap::Start>("start"),
                        InstanceMethod<&DataplaneWrap::Stop>("stop"),
                        InstanceMethod<&DataplaneWrap::AddNetwork>("addNetwork"),
                        InstanceMethod<&DataplaneWrap::RemoveNetwork>("removeNetwork"),
                        InstanceMethod<&DataplaneWrap::AddMemif>("addMemif"),
                        InstanceMethod<&DataplaneWrap::AddAfXdp>("addAfxdp"),
                        InstanceMethod<&DataplaneWrap::RemoveInterface>("removeInterface"),
                        InstanceMethod<&DataplaneWrap::SetAdminUp>("setAdminUp"),
                        InstanceMethod<&DataplaneWrap::AddStaticMac>("addStaticMac"),
                        InstanceMethod<&DataplaneWrap::RemoveStaticMac>("removeStaticMac"),
                        InstanceMethod<&DataplaneWrap::MacTable>("macTable"),
                        InstanceMethod<&DataplaneWrap::FlushMacTable>("flushMacTable"),
                        InstanceMethod<&DataplaneWrap::InterfaceInfo>("interfaceInfo"),
                        InstanceMethod<&DataplaneWrap::Interfaces>("interfaces"),
                        InstanceMethod<&DataplaneWrap::Sockets>("sockets"),
                        InstanceMethod<&DataplaneWrap::Workers>("workers"),
                        InstanceMethod<&DataplaneWrap::TscHz>("tscHz"),
                        InstanceMethod<&DataplaneWrap::ListenForHandover>("listenForHandover"),
                        InstanceMethod<&DataplaneWrap::TakeOver>("takeOver"),
                        InstanceMethod<&DataplaneWrap::FinishTakeover>("finishTakeover"),
                        InstanceMethod<&DataplaneWrap::AddRouter>("addRouter"),
                        InstanceMethod<&DataplaneWrap::RemoveRouter>("removeRouter"),
                        InstanceMethod<&DataplaneWrap::AddRouterInterface>("addRouterInterface"),
                        InstanceMethod<&DataplaneWrap::RemoveRouterInterface>("removeRouterInterface"),
                        InstanceMethod<&DataplaneWrap::RouterInterfaceInfo>("routerInterfaceInfo"),
                        InstanceMethod<&DataplaneWrap::AddRoutes>("addRoutes"),
                        InstanceMethod<&DataplaneWrap::RemoveRoutes>("removeRoutes"),
                        InstanceMethod<&DataplaneWrap::RouterStats>("routerStats"),
                        InstanceMethod<&DataplaneWrap::AddStaticNeighbor>("addStaticNeighbor"),
                        InstanceMethod<&DataplaneWrap::RemoveNeighbor>("removeNeighbor"),
                        InstanceMethod<&DataplaneWrap::Neighbors>("neighbors"),
                        InstanceMethod<&DataplaneWrap::StartCapture>("startCapture"),
                        InstanceMethod<&DataplaneWrap::ReadCapture>("readCapture"),
                        InstanceMethod<&DataplaneWrap::StopCapture>("stopCapture"),
                        InstanceMethod<&DataplaneWrap::StartTrace>("startTrace"),
                        InstanceMethod<&DataplaneWrap::ReadTrace>("readTrace"),
                        InstanceMethod<&DataplaneWrap::StopTrace>("stopTrace"),
                        InstanceMethod<&DataplaneWrap::AddAcl>("addAcl"),
                        InstanceMethod<&DataplaneWrap::SetAclRules>("setAclRules"),
                        InstanceMethod<&DataplaneWrap::RemoveAcl>("removeAcl"),
                        InstanceMethod<&DataplaneWrap::BindAcl>("bindAcl"),
                        InstanceMethod<&DataplaneWrap::AclStats>("aclStats")});
  }

  DataplaneWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DataplaneWrap>(info) {
    Napi::Object o = object_arg(info, 0, "new Dataplane(options)");
    DataplaneOptions opts;
    opts.workers = uint32_t(get_number(o, "workers", 1));
    Napi::Value cpus = o.Get("cpus");
    if (cpus.IsArray()) {
      Napi::Array a = cpus.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) opts.cpus.push_back(a.Get(i).As<Napi::Number>().Int32Value());
    }
    opts.fib_capacity = uint32_t(get_number(o, "fibCapacity", opts.fib_capacity));
    opts.mac_age_s = uint32_t(get_number(o, "macAgeSeconds", opts.mac_age_s));
    opts.neighbor_age_s = uint32_t(get_number(o, "neighborAgeS", opts.neighbor_age_s));
    opts.handshake_timeout_ms = uint32_t(get_number(o, "handshakeTimeoutMs", opts.handshake_timeout_ms));
    opts.app_name = get_string(o, "appName", opts.app_name);
    opts.adaptive_polling = get_string(o, "poll", "adaptive") != "busy";
    opts.idle_before_sleep_us = uint32_t(get_number(o, "idleBeforeSleepUs", opts.idle_before_sleep_us));
    Result<std::unique_ptr<Dataplane>> r = Dataplane::create(opts);
    if (!r) throw core_error(info.Env(), r.error());
    dp_ = std::move(*r);
  }
  ~DataplaneWrap() override { shutdown(); }

 private:
  void shutdown() {
    if (dp_) dp_->stop();
    if (tsfn_) {
      tsfn_.Release();
      tsfn_ = {};
    }
  }
  Dataplane& dp(Napi::Env env) {
    if (!dp_) throw Napi::Error::New(env, "dataplane stopped");
    return *dp_;
  }

  Napi::Value SetEventHandler(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setEventHandler(fn)");
    tsfn_ = Napi::ThreadSafeFunction::New(info.Env(), info[0].As<Napi::Function>(), "memswitch-events", 0, 1);
    tsfn_.Unref(info.Env());  // events never keep the process alive by themselves
    auto tsfn = tsfn_;
    dp(info.Env()).set_event_handler([tsfn](const Event& e) mutable {
      auto* copy = new Event(e);
      if (tsfn.NonBlockingCall(copy, [](Napi::Env env, Napi::Function fn, Event* ev) {
            Napi::Object o = Napi::Object::New(env);
            o.Set("kind", kEventKinds[size_t(ev->kind)]);
            o.Set("interface", ev->interface);
            o.Set("socket", ev->socket);
            o.Set("detail", ev->detail);
            delete ev;
            fn.Call({o});
          }) != napi_ok)
        delete copy;
    });
    return info.Env().Undefined();
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (Status s = dp(info.Env()).start(); !s) throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    shutdown();
    dp_.reset();
    return info.Env().Undefined();
  }
  Napi::Value AddNetwork(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "addNetwork(name)");
    Result<uint32_t> r = dp(info.Env()).add_network(info[0].As<Napi::String>().Utf8Value());
    if (!r) throw core_error(info.Env(), r.error());
    return Napi::Number::New(info.Env(), *r);
  }
  Napi::Value RemoveNetwork(const Napi::CallbackInfo& info) {
    if (Status s = dp(info.Env()).remove_network(u32_arg(info, 0, "removeNetwork(id)")); !s)
      throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  Napi::Value AddMemif(const Napi::CallbackInfo& info) {
    Napi::Object o = object_arg(info, 0, "addMemif(config)");
    MemifInterfaceConfig c;
    c.name = get_string(o, "name");
    c.network = uint32_t(get_number(o, "network"));
    c.socket = get_string(o, "socket");
    c.id = uint32_t(get_number(o, "id"));
    c.secret = get_string(o, "secret");
    c.netns = get_string(o, "netns");
    c.vlan = uint16_t(get_number(o, "vlan"));
    c.mac = get_mac(info.Env(), o, "mac");
    c.ip_mode = get_string(o, "mode", "ethernet") == "ip";
    Result<uint32_t> r = dp(info.Env()).add_memif(c);
    if (!r) throw core_error(info.Env(), r.error());
    return Napi::Number::New(info.Env(), *r);
  }
  Napi::Value AddAfXdp(const Napi::CallbackInfo& info) {
    Napi::Object o = object_arg(info, 0, "addAfxdp(config)");
    AfXdpInterfaceConfig c;
    c.name = get_string(o, "name");
    c.network = uint32_t(get_number(o, "network"));
    c.vlan = uint16_t(get_number(o, "vlan"));
    c.mac = get_mac(info.Env(), o, "mac");
    c.netdev = get_string(o, "netdev");
    Napi::Value queues = o.Get("queues");
    if (queues.IsArray()) {
      Napi::Array a = queues.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) c.queues.push_back(a.Get(i).As<Napi::Number>().Uint32Value());
    }
    const std::string mode = get_string(o, "mode", "auto"), xdp = get_string(o, "xdp", "auto");
    c.mode = mode == "zerocopy" ? XdpBindMode::kZeroCopy : mode == "copy" ? XdpBindMode::kCopy : XdpBindMode::kAuto;
    c.attach = xdp == "native" ? XdpAttachMode::kNative : xdp == "generic" ? XdpAttachMode::kGeneric : XdpAttachMode::kAuto;
    c.frame_size = uint32_t(get_number(o, "frameSize", c.frame_size));
    c.prefer_hugepages = get_bool(o, "hugepages", true);
    Result<uint32_t> r = dp(info.Env()).add_afxdp(c);
    if (!r) throw core_error(info.Env(), r.error());
    return Napi::Number::New(info.Env(), *r);
  }
  Napi::Value RemoveInterface(const Napi::CallbackInfo& info) {
    if (Status s = dp(info.Env()).remove_interface(u32_arg(info, 0, "removeInterface(index)")); !s)
      throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  Napi::Value SetAdminUp(const Napi::CallbackInfo& info) {
    if (info.Length() < 2 || !info[1].IsBoolean()) throw Napi::TypeError::New(info.Env(), "setAdminUp(index, up)");
    if (Status s = dp(info.Env()).set_admin_up(u32_arg(info, 0, "setAdminUp(index, up)"), info[1].As<Napi::Boolean>()); !s)
      throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  Napi::Value AddStaticMac(const Napi::CallbackInfo& info) {
    Napi::Object o = object_arg(info, 0, "addStaticMac({network, vlan, mac, interface})");
    Status s = dp(info.Env()).add_static_mac(uint32_t(get_number(o, "network")), uint16_t(get_number(o, "vlan")),
                                             get_mac(info.Env(), o, "mac"), uint32_t(get_number(o, "interface")));
    if (!s) throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  Napi::Value RemoveStaticMac(const Napi::CallbackInfo& info) {
    Napi::Object o = object_arg(info, 0, "removeStaticMac({network, vlan, mac})");
    Status s = dp(info.Env()).remove_static_mac(uint32_t(get_number(o, "network")), uint16_t(get_number(o, "vlan")),
                                                get_mac(info.Env(), o, "mac"));
    if (!s) throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  Napi::Value MacTable(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto entries = dp(env).mac_table();
    Napi::Array a = Napi::Array::New(env, entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("network", entries[i].network);
      o.Set("vlan", entries[i].vlan);
      o.Set("mac", format_mac(entries[i].mac));
      o.Set("interface", entries[i].interface);
      o.Set("static", entries[i].is_static);
      o.Set("ageSeconds", entries[i].age_s);
      a.Set(uint32_t(i), o);
    }
    return a;
  }
  Napi::Value FlushMacTable(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(dp(info.Env()).flush_mac_table(u32_arg(info, 0, "flushMacTable(network)"))));
  }
  // Routing. Addresses of either family cross as strings ("10.1.0.1/24", "fd00:1::1/64");
  // a bad one is EINVAL naming it.
  static IpAddress ip_arg(Napi::Env env, const std::string& s, const std::string& field) {
    auto a = parse_ip(s);
    if (!a) throw core_error(env, make_error(Errc::kInvalidArgument, field + ": not an IPv4 or IPv6 address: " + s));
    return *a;
  }
  Napi::Value AddRouter(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "addRouter(name)");
    Result<uint32_t> r = dp(info.Env()).add_router(info[0].As<Napi::String>().Utf8Value());
    if (!r) throw core_error(info.Env(), r.error());
    return Napi::Number::New(info.Env(), *r);
  }
  Napi::Value RemoveRouter(const Napi::CallbackInfo& info) {
    if (Status s = dp(info.Env()).remove_router(u32_arg(info, 0, "removeRouter(id)")); !s) throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  Napi::Value AddRouterInterface(const Napi::CallbackInfo& info) {
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
  Napi::Value RemoveRouterInterface(const Napi::CallbackInfo& info) {
    if (Status s = dp(info.Env()).remove_router_interface(u32_arg(info, 0, "removeRouterInterface(id)")); !s)
      throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  Napi::Value RouterInterfaceInfo(const Napi::CallbackInfo& info) {
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
  Napi::Value AddRoutes(const Napi::CallbackInfo& info) {
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
  Napi::Value RemoveRoutes(const Napi::CallbackInfo& info) {
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
  Napi::Value RouterStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto r = dp(env).router_stats(u32_arg(info, 0, "routerStats(router)"));
    if (!r) throw core_error(env, r.error());
    Napi::Object o = Napi::Object::New(env);
    o.Set("routes", double(r->routes));
    o.Set("tableBytes", double(r->table_bytes));
    return o;
  }
  Napi::Value AddStaticNeighbor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[1].IsString() || !info[2].IsString()) throw Napi::TypeError::New(env, "addStaticNeighbor(routerInterface, ip, mac)");
    const std::string mac_s = info[2].As<Napi::String>().Utf8Value();
    auto mac = parse_mac(mac_s);
    if (!mac) throw core_error(env, make_error(Errc::kInvalidArgument, "mac: not a MAC address: " + mac_s));
    Status s = dp(env).add_static_neighbor(u32_arg(info, 0, "addStaticNeighbor(routerInterface, ip, mac)"), ip_arg(env, info[1].As<Napi::String>(), "ip"), *mac);
    if (!s) throw core_error(env, s.error());
    return env.Undefined();
  }
  Napi::Value RemoveNeighbor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsString()) throw Napi::TypeError::New(env, "removeNeighbor(routerInterface, ip)");
    auto r = dp(env).remove_neighbor(u32_arg(info, 0, "removeNeighbor(routerInterface, ip)"), ip_arg(env, info[1].As<Napi::String>(), "ip"));
    if (!r) throw core_error(env, r.error());
    return Napi::Boolean::New(env, *r);
  }
  Napi::Value Neighbors(const Napi::CallbackInfo& info) {
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

  Napi::Value InterfaceInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Result<memswitch::InterfaceInfo> r = dp(env).interface_info(u32_arg(info, 0, "interfaceInfo(index)"));
    if (!r) throw core_error(env, r.error());
    const memswitch::InterfaceInfo& i = *r;
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", i.index);
    o.Set("kind", i.kind);
    o.Set("name", i.name);
    o.Set("network", i.network);
    o.Set("socket", i.socket);
    o.Set("id", i.id);
    o.Set("vlan", i.vlan);
    o.Set("mac", format_mac(i.mac));
    o.Set("mode", i.ip_mode ? "ip" : "ethernet");
    o.Set("connected", i.connected);
    o.Set("adminUp", i.admin_up);
    o.Set("peerName", i.peer_name);
    o.Set("peerInterface", i.peer_if_name);
    o.Set("rxQueues", i.rx_queues);
    o.Set("txQueues", i.tx_queues);
    o.Set("peerMemoryBytes", double(i.peer_memory_bytes));
    o.Set("connects", double(i.connects));
    if (i.kind == "afxdp") {
      o.Set("netdev", i.netdev);
      o.Set("xdpMode", i.xdp_mode);
      o.Set("xdpAttach", i.xdp_attach);
      o.Set("multiBuffer", i.multi_buffer);
    }
    o.Set("protocolErrors", reason_counts(env, i.protocol_errors, kProtocolErrors));
    Napi::Array workers = Napi::Array::New(env, i.per_worker.size());
    for (size_t w = 0; w < i.per_worker.size(); ++w) {
      const InterfaceCounters& c = i.per_worker[w];
      Napi::Object wc = Napi::Object::New(env);
      wc.Set("rxPackets", double(c.rx_packets));
      wc.Set("rxBytes", double(c.rx_bytes));
      wc.Set("txPackets", double(c.tx_packets));
      wc.Set("txBytes", double(c.tx_bytes));
      wc.Set("drops", reason_counts(env, c.drops, kDropReasons));
      workers.Set(uint32_t(w), wc);
    }
    o.Set("perWorker", workers);
    return o;
  }
  Napi::Value Interfaces(const Napi::CallbackInfo& info) {
    auto list = dp(info.Env()).interfaces();
    Napi::Array a = Napi::Array::New(info.Env(), list.size());
    for (size_t i = 0; i < list.size(); ++i) a.Set(uint32_t(i), list[i]);
    return a;
  }
  Napi::Value Sockets(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = dp(env).sockets();
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("socket", list[i].socket);
      o.Set("protocolErrors", reason_counts(env, list[i].protocol_errors, kProtocolErrors));
      a.Set(uint32_t(i), o);
    }
    return a;
  }
  Napi::Value Workers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = dp(env).workers();
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("index", list[i].index);
      o.Set("cpu", list[i].cpu);
      o.Set("polls", double(list[i].polls));
      o.Set("busyPolls", double(list[i].busy_polls));
      o.Set("sleeps", double(list[i].sleeps));
      Napi::Array runtime = Napi::Array::New(env, list[i].runtime.size());
      for (size_t n = 0; n < list[i].runtime.size(); ++n) {
        const NodeRuntime& r = list[i].runtime[n];
        Napi::Object node = Napi::Object::New(env);
        node.Set("node", r.node);
        node.Set("calls", double(r.calls));
        node.Set("vectors", double(r.vectors));
        node.Set("sampledVectors", double(r.sampled_vectors));
        node.Set("sampledCycles", double(r.sampled_cycles));
        runtime.Set(uint32_t(n), node);
      }
      o.Set("runtime", runtime);
      o.Set("icmpErrors", double(list[i].icmp_errors));
      o.Set("icmpRateLimited", double(list[i].icmp_rate_limited));
      a.Set(uint32_t(i), o);
    }
    return a;
  }

  Napi::Value StartCapture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = object_arg(info, 0, "startCapture(config)");
    CaptureConfig cfg;
    cfg.interfaces = get_u32_list(o, "interfaces");
    cfg.rx = get_bool(o, "rx", cfg.rx);
    cfg.tx = get_bool(o, "tx", cfg.tx);
    cfg.drops = get_bool(o, "drops", cfg.drops);
    cfg.filter = get_string(o, "filter");
    cfg.snaplen = uint32_t(get_number(o, "snaplen", cfg.snaplen));
    cfg.ring_bytes = uint32_t(get_number(o, "ringBytes", cfg.ring_bytes));
    Result<uint32_t> r = dp(env).start_capture(cfg);
    if (!r) throw core_error(env, r.error());
    return Napi::Number::New(env, *r);
  }
  // { data: Buffer of pcapng blocks, frames, kept, lost }
  Napi::Value ReadCapture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* sig = "readCapture(id, maxBytes, maxFrames?)";
    const uint64_t max_frames = info.Length() > 2 && info[2].IsNumber() ? uint64_t(info[2].As<Napi::Number>().Int64Value()) : UINT64_MAX;
    Result<CaptureChunk> r = dp(env).read_capture(u32_arg(info, 0, sig), u32_arg(info, 1, sig), max_frames);
    if (!r) throw core_error(env, r.error());
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", Napi::Buffer<char>::Copy(env, r->pcapng.data(), r->pcapng.size()));
    o.Set("frames", double(r->frames));
    o.Set("kept", double(r->kept));
    o.Set("lost", double(r->lost));
    return o;
  }
  Napi::Value StopCapture(const Napi::CallbackInfo& info) {
    if (Status s = dp(info.Env()).stop_capture(u32_arg(info, 0, "stopCapture(id)")); !s) throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }

  Napi::Value StartTrace(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = object_arg(info, 0, "startTrace(config)");
    TraceConfig cfg;
    cfg.interfaces = get_u32_list(o, "interfaces");
    cfg.filter = get_string(o, "filter");
    cfg.packets = uint32_t(get_number(o, "packets", cfg.packets));
    Result<uint32_t> r = dp(env).start_trace(cfg);
    if (!r) throw core_error(env, r.error());
    return Napi::Number::New(env, *r);
  }
  // { steps: TraceStep[], taken, lost }
  static Napi::Object trace_chunk_js(Napi::Env env, const TraceChunk& c) {
    Napi::Array steps = Napi::Array::New(env, c.steps.size());
    for (size_t i = 0; i < c.steps.size(); ++i) {
      const TraceStep& t = c.steps[i];
      Napi::Object s = Napi::Object::New(env);
      s.Set("packet", t.packet);
      s.Set("frame", t.frame);
      s.Set("worker", t.worker);
      s.Set("node", t.node);
      s.Set("startNs", Napi::BigInt::New(env, t.start_ns));
      s.Set("elapsedNs", double(t.elapsed_ns));
      s.Set("interface", t.interface);
      s.Set("length", t.length);
      s.Set("next", t.next);
      Napi::Array egress = Napi::Array::New(env, t.egress.size());
      for (size_t e = 0; e < t.egress.size(); ++e) egress.Set(uint32_t(e), t.egress[e]);
      s.Set("egress", egress);
      s.Set("egressCount", t.egress_count);
      if (t.routed) {
        s.Set("routerInterface", t.out_rif);
        s.Set("nextHop", t.next_hop);
      }
      s.Set("drop", t.drop);
      s.Set("bytes", Napi::Buffer<char>::Copy(env, t.bytes.data(), t.bytes.size()));
      s.Set("ethernet", t.ethernet);
      steps.Set(uint32_t(i), s);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("steps", steps);
    o.Set("taken", c.taken);
    o.Set("lost", double(c.lost));
    return o;
  }
  Napi::Value ReadTrace(const Napi::CallbackInfo& info) {
    const char* sig = "readTrace(id, maxSteps)";
    Result<TraceChunk> r = dp(info.Env()).read_trace(u32_arg(info, 0, sig), u32_arg(info, 1, sig));
    if (!r) throw core_error(info.Env(), r.error());
    return trace_chunk_js(info.Env(), *r);
  }
  Napi::Value StopTrace(const Napi::CallbackInfo& info) {
    Result<TraceChunk> r = dp(info.Env()).stop_trace(u32_arg(info, 0, "stopTrace(id)"));
    if (!r) throw core_error(info.Env(), r.error());
    return trace_chunk_js(info.Env(), *r);
  }

  // [{ action: 'permit'|'deny', src?, dst?: prefix, proto, srcPorts: [min, max],
  // dstPorts: [min, max], icmpType, icmpCode (-1: any) }]; the wrapper validated the
  // shape, check_acl_rules the meaning (EINVAL "rules[i]: ...").
  static std::vector<AclRule> to_acl_rules(Napi::Env env, Napi::Value v) {
    if (!v.IsArray()) throw Napi::TypeError::New(env, "rules: an array");
    Napi::Array list = v.As<Napi::Array>();
    std::vector<AclRule> rules(list.Length());
    for (uint32_t i = 0; i < list.Length(); ++i) {
      if (!list.Get(i).IsObject()) throw Napi::TypeError::New(env, "rules[" + std::to_string(i) + "]: an object");
      Napi::Object o = list.Get(i).As<Napi::Object>();
      AclRule& r = rules[i];
      for (auto [key, field] : {std::pair{"src", &r.src}, std::pair{"dst", &r.dst}}) {
        const std::string text = get_string(o, key);
        if (text.empty()) continue;
        *field = parse_ip_prefix(text, /*host_bits_ok=*/true);
        if (!*field) throw core_error(env, Error{Errc::kInvalidArgument, "rules[" + std::to_string(i) + "]: " + key + ": not a prefix: " + text});
      }
      r.proto = uint8_t(get_number(o, "proto"));
      const auto range = [&](const char* key, uint16_t* lo, uint16_t* hi) {
        const std::vector<uint32_t> v = get_u32_list(o, key);
        if (v.size() == 2) *lo = uint16_t(v[0]), *hi = uint16_t(v[1]);
      };
      range("srcPorts", &r.src_port_min, &r.src_port_max);
      range("dstPorts", &r.dst_port_min, &r.dst_port_max);
      r.icmp_type = int16_t(get_number(o, "icmpType", -1));
      r.icmp_code = int16_t(get_number(o, "icmpCode", -1));
      r.action = get_string(o, "action") == "permit" ? AclAction::permit : AclAction::deny;
    }
    return rules;
  }
  Napi::Value AddAcl(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString()) throw Napi::TypeError::New(env, "addAcl(name, rules)");
    Result<uint32_t> r = dp(env).add_acl(info[0].As<Napi::String>().Utf8Value(), to_acl_rules(env, info[1]));
    if (!r) throw core_error(env, r.error());
    return Napi::Number::New(env, *r);
  }
  Napi::Value SetAclRules(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (Status s = dp(env).set_acl_rules(u32_arg(info, 0, "setAclRules(id, rules)"), to_acl_rules(env, info[1])); !s) throw core_error(env, s.error());
    return env.Undefined();
  }
  Napi::Value RemoveAcl(const Napi::CallbackInfo& info) {
    if (Status s = dp(info.Env()).remove_acl(u32_arg(info, 0, "removeAcl(id)")); !s) throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  // bindAcl(interface, 'in' | 'out', acl): acl 0 unbinds.
  Napi::Value BindAcl(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* sig = "bindAcl(interface, direction, acl)";
    if (info.Length() < 3 || !info[1].IsString()) throw Napi::TypeError::New(env, sig);
    const AclDirection d = info[1].As<Napi::String>().Utf8Value() == "out" ? AclDirection::out : AclDirection::in;
    if (Status s = dp(env).bind_acl(u32_arg(info, 0, sig), d, u32_arg(info, 2, sig)); !s) throw core_error(env, s.error());
    return env.Undefined();
  }
  // { hits: number[] (per rule), defaultDenied }
  Napi::Value AclStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Result<memswitch::AclStats> r = dp(env).acl_stats(u32_arg(info, 0, "aclStats(id)"));
    if (!r) throw core_error(env, r.error());
    Napi::Array hits = Napi::Array::New(env, r->hits.size());
    for (size_t i = 0; i < r->hits.size(); ++i) hits.Set(uint32_t(i), double(r->hits[i]));
    Napi::Object o = Napi::Object::New(env);
    o.Set("hits", hits);
    o.Set("defaultDenied", double(r->default_denied));
    return o;
  }

  Napi::Value TscHz(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dp(info.Env()).tsc_hz()); }

  Napi::Value ListenForHandover(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "listenForHandover(path)");
    if (Status s = dp(info.Env()).listen_for_handover(info[0].As<Napi::String>().Utf8Value()); !s) throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  // Resolves once the previous process handed over and exited (up to timeoutMs); the
  // wait runs on a libuv thread, never on the JS thread. Call it at start-up.
  Napi::Value TakeOver(const Napi::CallbackInfo& info) {
    if (info.Length() < 2 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "takeOver(path, timeoutMs)");
    const auto timeout = std::chrono::milliseconds(u32_arg(info, 1, "takeOver(path, timeoutMs)"));
    auto* work = new TakeoverWork(info.Env(), dp(info.Env()), info[0].As<Napi::String>().Utf8Value(), timeout);
    work->Queue();
    return work->promise();
  }
  Napi::Value FinishTakeover(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), dp(info.Env()).finish_takeover());
  }

  std::unique_ptr<Dataplane> dp_;
  Napi::ThreadSafeFunction tsfn_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Dataplane", DataplaneWrap::Init(env));
  exports.Set("dropReasons", names(env, kDropReasons));
  exports.Set("protocolErrors", names(env, kProtocolErrors));
  Napi::Array events = Napi::Array::New(env, kEventKinds.size());
  for (size_t i = 0; i < kEventKinds.size(); ++i) events.Set(uint32_t(i), kEventKinds[i]);
  exports.Set("eventKinds", events);
  exports.Set("memoryCounters", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return memory_counters_js(info.Env()); }));
  return exports;
}

}  // namespace

NODE_API_MODULE(memswitch, Init)
