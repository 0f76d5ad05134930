// Node-API glue only: convert arguments, call the core, convert results back.
// Validation and policy live in orchestrator/src/dataplane; here we check shapes.
#include <napi.h>

#include <unistd.h>

#include <memory>

#include "memswitch/dataplane.h"
#include "memswitch/memif_client.h"
#include "memswitch/shm.h"
#include "memswitch/traffic.h"

namespace {

using namespace memswitch;

Napi::Error core_error(Napi::Env env, const Error& e) {
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, errc_code(e.code)));
  return err;
}

std::string get_string(const Napi::Object& o, const char* key, const std::string& def = "") {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : def;
}
double get_number(const Napi::Object& o, const char* key, double def = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : def;
}
bool get_bool(const Napi::Object& o, const char* key, bool def = false) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : def;
}
Mac get_mac(Napi::Env env, const Napi::Object& o, const char* key) {
  const std::string s = get_string(o, key);
  if (s.empty()) return 0;
  std::optional<Mac> m = parse_mac(s);
  if (!m) throw Napi::TypeError::New(env, std::string(key) + ": not a MAC address");
  return *m;
}
Napi::Object object_arg(const Napi::CallbackInfo& info, size_t i, const char* sig) {
  if (info.Length() <= i || !info[i].IsObject()) throw Napi::TypeError::New(info.Env(), sig);
  return info[i].As<Napi::Object>();
}
uint32_t u32_arg(const Napi::CallbackInfo& info, size_t i, const char* sig) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), sig);
  return info[i].As<Napi::Number>().Uint32Value();
}
Napi::Array names(Napi::Env env, const auto& list) {
  Napi::Array a = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", list[i].name);
    o.Set("help", list[i].help);
    a.Set(uint32_t(i), o);
  }
  return a;
}
Napi::Object reason_counts(Napi::Env env, const uint64_t* counts, const auto& list) {
  Napi::Object o = Napi::Object::New(env);
  for (size_t i = 0; i < list.size(); ++i) o.Set(list[i].name, double(counts[i]));
  return o;
}

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
                        InstanceMethod<&DataplaneWrap::ListenForHandover>("listenForHandover"),
                        InstanceMethod<&DataplaneWrap::TakeOver>("takeOver"),
                        InstanceMethod<&DataplaneWrap::FinishTakeover>("finishTakeover")});
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
            static const char* kinds[] = {"connected", "disconnected", "protocol_error", "worker_stalled", "handed_over"};
            Napi::Object o = Napi::Object::New(env);
            o.Set("kind", kinds[int(ev->kind)]);
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
      a.Set(uint32_t(i), o);
    }
    return a;
  }

  Napi::Value ListenForHandover(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "listenForHandover(path)");
    if (Status s = dp(info.Env()).listen_for_handover(info[0].As<Napi::String>().Utf8Value()); !s) throw core_error(info.Env(), s.error());
    return info.Env().Undefined();
  }
  // Blocks until the previous process has exited (up to timeoutMs): call it at start-up.
  Napi::Value TakeOver(const Napi::CallbackInfo& info) {
    if (info.Length() < 2 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "takeOver(path, timeoutMs)");
    const auto timeout = std::chrono::milliseconds(u32_arg(info, 1, "takeOver(path, timeoutMs)"));
    Result<TakeoverSummary> r = dp(info.Env()).take_over(info[0].As<Napi::String>().Utf8Value(), timeout);
    if (!r) throw core_error(info.Env(), r.error());
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("listeners", r->listeners);
    o.Set("sessions", r->sessions);
    return o;
  }
  Napi::Value FinishTakeover(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), dp(info.Env()).finish_takeover());
  }

  std::unique_ptr<Dataplane> dp_;
  Napi::ThreadSafeFunction tsfn_;
};

class MemifClientWrap : public Napi::ObjectWrap<MemifClientWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "MemifClient",
                       {InstanceMethod<&MemifClientWrap::Disconnect>("disconnect"),
                        InstanceMethod<&MemifClientWrap::Close>("close"),
                        InstanceMethod<&MemifClientWrap::PollControl>("pollControl"),
                        InstanceMethod<&MemifClientWrap::Info>("info"),
                        InstanceMethod<&MemifClientWrap::SetInterruptMode>("setInterruptMode"),
                        InstanceMethod<&MemifClientWrap::WaitRx>("waitRx"),
                        InstanceMethod<&MemifClientWrap::InjectBadTx>("injectBadTx"),
                        InstanceMethod<&MemifClientWrap::InjectBadHead>("injectBadHead"),
                        InstanceMethod<&MemifClientWrap::InjectTruncate>("injectTruncate")});
  }
  // new MemifClient(config): connects and completes the handshake (blocking, bounded
  // by config.timeoutMs).
  MemifClientWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MemifClientWrap>(info) {
    Napi::Object o = object_arg(info, 0, "new MemifClient(config)");
    MemifClientConfig c;
    c.socket = get_string(o, "socket");
    c.id = uint32_t(get_number(o, "id"));
    c.secret = get_string(o, "secret");
    c.name = get_string(o, "name", c.name);
    c.if_name = get_string(o, "ifName", c.if_name);
    c.queues = uint32_t(get_number(o, "queues", 1));
    c.log2_ring_size = uint8_t(get_number(o, "log2RingSize", 10));
    c.buffer_size = uint32_t(get_number(o, "bufferSize", 2048));
    c.prefer_hugepages = get_bool(o, "hugepages", true);
    c.interrupt_mode = get_bool(o, "interruptMode", false);
    c.timeout_ms = uint32_t(get_number(o, "timeoutMs", 5000));
    Result<std::unique_ptr<MemifClient>> r = MemifClient::connect(c);
    if (!r) throw core_error(info.Env(), r.error());
    client_ = std::move(*r);
  }
  MemifClient* get() { return client_.get(); }
  // A running traffic engine holds raw pointers to its clients: close() must wait.
  int engine_users = 0;

 private:
  MemifClient& client(Napi::Env env) {
    if (!client_) throw Napi::Error::New(env, "memif client is closed");
    return *client_;
  }
  // Disconnects and unmaps the client's memory now instead of at garbage collection.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (engine_users > 0) throw Napi::Error::New(info.Env(), "stop the traffic engine using this client first");
    if (client_) client_->disconnect("client closed");
    client_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Disconnect(const Napi::CallbackInfo& info) {
    client(info.Env()).disconnect(info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "client closed");
    return info.Env().Undefined();
  }
  Napi::Value PollControl(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), client(info.Env()).poll_control());
  }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("connected", client(info.Env()).connected());
    o.Set("disconnectReason", client(info.Env()).disconnect_reason());
    o.Set("serverName", client(info.Env()).server_name());
    o.Set("hugepages", client(info.Env()).hugepages());
    o.Set("rxBadDescriptors", double(client(info.Env()).rx_bad_descriptors()));
    o.Set("eventfdSignals", double(client(info.Env()).eventfd_signals()));
    return o;
  }
  Napi::Value SetInterruptMode(const Napi::CallbackInfo& info) {
    client(info.Env()).set_interrupt_mode(info.Length() > 0 && info[0].ToBoolean());
    return info.Env().Undefined();
  }
  Napi::Value WaitRx(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), client(info.Env()).wait_rx(u32_arg(info, 0, "waitRx(queue, ms)"), int(u32_arg(info, 1, "waitRx(queue, ms)"))));
  }
  Napi::Value InjectBadTx(const Napi::CallbackInfo& info) {
    static const std::pair<const char*, MemifClient::BadDesc> kinds[] = {
        {"region", MemifClient::BadDesc::kRegionIndex},      {"offset", MemifClient::BadDesc::kOffsetPastRegion},
        {"length", MemifClient::BadDesc::kLengthPastRegion}, {"zero_length", MemifClient::BadDesc::kZeroLength},
        {"chain_past_head", MemifClient::BadDesc::kChainPastHead}, {"huge_frame", MemifClient::BadDesc::kHugeFrame}};
    const std::string kind = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    for (auto& [name, k] : kinds)
      if (kind == name) return Napi::Number::New(info.Env(), client(info.Env()).inject_bad_tx(0, k, u32_arg(info, 1, "injectBadTx(kind, n)")));
    throw Napi::TypeError::New(info.Env(), "injectBadTx: unknown kind " + kind);
  }
  // A hostile container shrinking the memory it gave the switch (the file, not our map).
  Napi::Value InjectTruncate(const Napi::CallbackInfo& info) {
    const uint32_t bytes = u32_arg(info, 0, "injectTruncate(bytes)");
    if (ftruncate(client(info.Env()).memory_fd(), off_t(bytes)) != 0) throw core_error(info.Env(), errno_error("ftruncate"));
    return info.Env().Undefined();
  }
  Napi::Value InjectBadHead(const Napi::CallbackInfo& info) {
    client(info.Env()).inject_bad_head(0);
    return info.Env().Undefined();
  }

  std::unique_ptr<MemifClient> client_;
};

Napi::FunctionReference* g_client_ctor = nullptr;

class TrafficEngineWrap : public Napi::ObjectWrap<TrafficEngineWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "TrafficEngine",
                       {InstanceMethod<&TrafficEngineWrap::AddGenerator>("addGenerator"),
                        InstanceMethod<&TrafficEngineWrap::AddSink>("addSink"),
                        InstanceMethod<&TrafficEngineWrap::AddLoop>("addLoop"),
                        InstanceMethod<&TrafficEngineWrap::Start>("start"),
                        InstanceMethod<&TrafficEngineWrap::Stop>("stop"),
                        InstanceMethod<&TrafficEngineWrap::Stats>("stats"),
                        InstanceMethod<&TrafficEngineWrap::ResetStats>("resetStats"),
                        InstanceMethod<&TrafficEngineWrap::GeneratorsDone>("generatorsDone")});
  }
  TrafficEngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrafficEngineWrap>(info) {}
  ~TrafficEngineWrap() override { engine_.stop(); }

 private:
  MemifClient* client_arg(const Napi::CallbackInfo& info, size_t i) {
    if (info.Length() <= i || !info[i].IsObject() || !info[i].As<Napi::Object>().InstanceOf(g_client_ctor->Value()))
      throw Napi::TypeError::New(info.Env(), "expected a MemifClient");
    if (engine_.running()) throw Napi::Error::New(info.Env(), "add tasks before start()");
    if (stopped_) throw Napi::Error::New(info.Env(), "this traffic engine was stopped; create a new one");
    MemifClientWrap* w = MemifClientWrap::Unwrap(info[i].As<Napi::Object>());
    if (!w->get()) throw Napi::Error::New(info.Env(), "memif client is closed");
    // Keep the client alive and open as long as this engine may touch it.
    refs_.push_back(Napi::Persistent(info[i].As<Napi::Object>()));
    w->engine_users++;
    return w->get();
  }
  Napi::Value AddGenerator(const Napi::CallbackInfo& info) {
    MemifClient* c = client_arg(info, 0);
    Napi::Object o = object_arg(info, 1, "addGenerator(client, spec)");
    GeneratorSpec s;
    s.queue = uint32_t(get_number(o, "queue"));
    if (s.queue >= c->queues()) throw Napi::RangeError::New(info.Env(), "queue out of range");
    s.frame_size = uint32_t(get_number(o, "frameSize", 64));
    s.pps = uint64_t(get_number(o, "pps"));
    s.count = uint64_t(get_number(o, "count"));
    s.src = get_mac(info.Env(), o, "src");
    s.dst = get_mac(info.Env(), o, "dst");
    s.vlan = uint16_t(get_number(o, "vlan"));
    s.stream = uint32_t(get_number(o, "stream"));
    return Napi::Number::New(info.Env(), double(engine_.add_generator(c, s)));
  }
  Napi::Value AddSink(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(engine_.add_sink(client_arg(info, 0), SinkSpec{})));
  }
  Napi::Value AddLoop(const Napi::CallbackInfo& info) {
    MemifClient* a = client_arg(info, 0);
    MemifClient* b = client_arg(info, 1);
    Napi::Object o = object_arg(info, 2, "addLoop(a, b, spec)");
    LoopSpec s;
    s.frame_size = uint32_t(get_number(o, "frameSize", 64));
    s.initial_burst = uint32_t(get_number(o, "initialBurst", 256));
    s.a_mac = get_mac(info.Env(), o, "aMac");
    s.b_mac = get_mac(info.Env(), o, "bMac");
    return Napi::Number::New(info.Env(), double(engine_.add_loop(a, b, s)));
  }
  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (stopped_) throw Napi::Error::New(info.Env(), "this traffic engine was stopped; create a new one");
    engine_.start(info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1);
    return info.Env().Undefined();
  }
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    engine_.stop();
    release_clients();
    return info.Env().Undefined();
  }
  void release_clients() {
    if (stopped_) return;
    stopped_ = true;
    for (auto& r : refs_) MemifClientWrap::Unwrap(r.Value())->engine_users--;
    refs_.clear();
  }
  Napi::Value ResetStats(const Napi::CallbackInfo& info) {
    engine_.reset_stats();
    return info.Env().Undefined();
  }
  Napi::Value GeneratorsDone(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), engine_.generators_done());
  }
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    const TaskStats s = engine_.stats(u32_arg(info, 0, "stats(task)"));
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("txPackets", double(s.tx_packets));
    o.Set("txBytes", double(s.tx_bytes));
    o.Set("txRingFull", double(s.tx_ring_full));
    o.Set("rxPackets", double(s.rx_packets));
    o.Set("rxBytes", double(s.rx_bytes));
    o.Set("rxForeign", double(s.rx_foreign));
    o.Set("lost", double(s.lost));
    o.Set("reordered", double(s.reordered));
    o.Set("latencySamples", double(s.latency_samples));
    o.Set("p50Ns", double(s.p50_ns));
    o.Set("p90Ns", double(s.p90_ns));
    o.Set("p99Ns", double(s.p99_ns));
    o.Set("maxNs", double(s.max_ns));
    o.Set("connected", s.connected);
    return o;
  }

  TrafficEngine engine_;
  std::vector<Napi::ObjectReference> refs_;
  bool stopped_ = false;
};

Napi::Value MemoryCountersJs(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  auto& c = memory_counters();
  o.Set("hugepageBytes", double(c.hugepage_bytes.load()));
  o.Set("fallbackBytes", double(c.fallback_bytes.load()));
  o.Set("fallbackRegions", double(c.fallback_regions.load()));
  return o;
}

// Blocks the JS thread for duration_ms: a benchmark-only measurement.
Napi::Value CacheLinePingPongJs(const Napi::CallbackInfo& info) {
  const int a = int(u32_arg(info, 0, "cacheLinePingPongNs(cpuA, cpuB, ms)"));
  const int b = int(u32_arg(info, 1, "cacheLinePingPongNs(cpuA, cpuB, ms)"));
  const uint32_t ms = u32_arg(info, 2, "cacheLinePingPongNs(cpuA, cpuB, ms)");
  return Napi::Number::New(info.Env(), cache_line_ping_pong_ns(a, b, ms));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Dataplane", DataplaneWrap::Init(env));
  Napi::Function client = MemifClientWrap::Init(env);
  g_client_ctor = new Napi::FunctionReference(Napi::Persistent(client));
  exports.Set("MemifClient", client);
  exports.Set("TrafficEngine", TrafficEngineWrap::Init(env));
  exports.Set("dropReasons", names(env, kDropReasons));
  exports.Set("protocolErrors", names(env, kProtocolErrors));
  exports.Set("memoryCounters", Napi::Function::New(env, MemoryCountersJs));
  exports.Set("cacheLinePingPongNs", Napi::Function::New(env, CacheLinePingPongJs));
  return exports;
}

}  // namespace

NODE_API_MODULE(memswitch, Init)
