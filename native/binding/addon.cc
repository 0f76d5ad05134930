// The product addon memswitchd loads: Node-API glue only, convert arguments, call the
// core, convert results back. Validation and policy live in orchestrator/src/dataplane;
// here we check shapes. Test tools live in the testing addon (testing.cc).
#include <napi.h>

#include <memory>
#include <optional>

#include "dataplane_wrap.h"

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

}  // namespace

namespace memswitch::binding {

Napi::Function DataplaneWrap::Init(Napi::Env env) {
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
                      InstanceMethod<&DataplaneWrap::SetAclRulesMany>("setAclRulesMany"),
                      InstanceMethod<&DataplaneWrap::RemoveAcl>("removeAcl"),
                      InstanceMethod<&DataplaneWrap::BindAcl>("bindAcl"),
                      InstanceMethod<&DataplaneWrap::AclStats>("aclStats"),
                      InstanceMethod<&DataplaneWrap::ConntrackFlows>("conntrackFlows"),
                      InstanceMethod<&DataplaneWrap::ConntrackStats>("conntrackStats"),
                      InstanceMethod<&DataplaneWrap::ClearConntrack>("clearConntrack")});
}

DataplaneWrap::DataplaneWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DataplaneWrap>(info) {
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
  if (o.Get("conntrack").IsObject()) opts.conntrack = conntrack_options(o.Get("conntrack").As<Napi::Object>());
  Result<std::unique_ptr<Dataplane>> r = Dataplane::create(opts);
  if (!r) throw core_error(info.Env(), r.error());
  dp_ = std::move(*r);
}

DataplaneWrap::~DataplaneWrap() { shutdown(); }

void DataplaneWrap::shutdown() {
  if (dp_) dp_->stop();
  if (tsfn_) {
    tsfn_.Release();
    tsfn_ = {};
  }
}

Napi::Value DataplaneWrap::SetEventHandler(const Napi::CallbackInfo& info) {
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

Napi::Value DataplaneWrap::Start(const Napi::CallbackInfo& info) {
  if (Status s = dp(info.Env()).start(); !s) throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::Stop(const Napi::CallbackInfo& info) {
  shutdown();
  dp_.reset();
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::AddNetwork(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "addNetwork(name)");
  Result<uint32_t> r = dp(info.Env()).add_network(info[0].As<Napi::String>().Utf8Value());
  if (!r) throw core_error(info.Env(), r.error());
  return Napi::Number::New(info.Env(), *r);
}

Napi::Value DataplaneWrap::RemoveNetwork(const Napi::CallbackInfo& info) {
  if (Status s = dp(info.Env()).remove_network(u32_arg(info, 0, "removeNetwork(id)")); !s)
    throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::AddMemif(const Napi::CallbackInfo& info) {
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

Napi::Value DataplaneWrap::AddAfXdp(const Napi::CallbackInfo& info) {
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

Napi::Value DataplaneWrap::RemoveInterface(const Napi::CallbackInfo& info) {
  if (Status s = dp(info.Env()).remove_interface(u32_arg(info, 0, "removeInterface(index)")); !s)
    throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::SetAdminUp(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[1].IsBoolean()) throw Napi::TypeError::New(info.Env(), "setAdminUp(index, up)");
  if (Status s = dp(info.Env()).set_admin_up(u32_arg(info, 0, "setAdminUp(index, up)"), info[1].As<Napi::Boolean>()); !s)
    throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::AddStaticMac(const Napi::CallbackInfo& info) {
  Napi::Object o = object_arg(info, 0, "addStaticMac({network, vlan, mac, interface})");
  Status s = dp(info.Env()).add_static_mac(uint32_t(get_number(o, "network")), uint16_t(get_number(o, "vlan")),
                                           get_mac(info.Env(), o, "mac"), uint32_t(get_number(o, "interface")));
  if (!s) throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::RemoveStaticMac(const Napi::CallbackInfo& info) {
  Napi::Object o = object_arg(info, 0, "removeStaticMac({network, vlan, mac})");
  Status s = dp(info.Env()).remove_static_mac(uint32_t(get_number(o, "network")), uint16_t(get_number(o, "vlan")),
                                              get_mac(info.Env(), o, "mac"));
  if (!s) throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::MacTable(const Napi::CallbackInfo& info) {
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

Napi::Value DataplaneWrap::FlushMacTable(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(dp(info.Env()).flush_mac_table(u32_arg(info, 0, "flushMacTable(network)"))));
}

Napi::Value DataplaneWrap::InterfaceInfo(const Napi::CallbackInfo& info) {
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

Napi::Value DataplaneWrap::Interfaces(const Napi::CallbackInfo& info) {
  auto list = dp(info.Env()).interfaces();
  Napi::Array a = Napi::Array::New(info.Env(), list.size());
  for (size_t i = 0; i < list.size(); ++i) a.Set(uint32_t(i), list[i]);
  return a;
}

Napi::Value DataplaneWrap::Sockets(const Napi::CallbackInfo& info) {
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

Napi::Value DataplaneWrap::Workers(const Napi::CallbackInfo& info) {
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

Napi::Value DataplaneWrap::TscHz(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dp(info.Env()).tsc_hz()); }

Napi::Value DataplaneWrap::ListenForHandover(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "listenForHandover(path)");
  if (Status s = dp(info.Env()).listen_for_handover(info[0].As<Napi::String>().Utf8Value()); !s) throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::TakeOver(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "takeOver(path, timeoutMs)");
  const auto timeout = std::chrono::milliseconds(u32_arg(info, 1, "takeOver(path, timeoutMs)"));
  auto* work = new TakeoverWork(info.Env(), dp(info.Env()), info[0].As<Napi::String>().Utf8Value(), timeout);
  work->Queue();
  return work->promise();
}

Napi::Value DataplaneWrap::FinishTakeover(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), dp(info.Env()).finish_takeover());
}

}  // namespace memswitch::binding

namespace {

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
