// The testing addon (tests and benchmarks only, never loaded by memswitchd): our memif
// client with its fault injection, the traffic engine, and the cache-line ping-pong.
// It links its own copy of the core, so memoryCounters() here counts the clients'
// memory, and the product addon's counts the switch's.
#include <napi.h>

#include <unistd.h>

#include <memory>

#include "convert.h"
#include "memswitch/memif_client.h"
#include "memswitch/routing.h"
#include "traffic.h"

namespace {

using namespace memswitch;
using namespace memswitch::binding;

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
    c.ip_mode = get_string(o, "mode", "ethernet") == "ip";
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
    for (auto [key, field] : {std::pair{"ip4Src", &s.ip4_src}, {"ip4Dst", &s.ip4_dst}}) {
      const std::string a = get_string(o, key);
      if (a.empty()) continue;
      auto ip = parse_ip4(a);
      if (!ip) throw Napi::TypeError::New(info.Env(), std::string(key) + ": not an IPv4 address");
      *field = *ip;
    }
    for (auto [key, field] : {std::pair{"ip6Src", &s.ip6_src}, {"ip6Dst", &s.ip6_dst}}) {
      const std::string a = get_string(o, key);
      if (a.empty()) continue;
      auto ip = parse_ip(a);
      if (!ip || ip->is4()) throw Napi::TypeError::New(info.Env(), std::string(key) + ": not an IPv6 address");
      *field = ip->bits;
    }
    s.dst_count = uint32_t(get_number(o, "dstCount", 1));
    s.dst_stride = uint32_t(get_number(o, "dstStride", 1));
    s.bare = get_bool(o, "bare");
    s.one_source_port = get_bool(o, "oneSourcePort");
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

// Blocks the JS thread for duration_ms: a benchmark-only measurement.
Napi::Value CacheLinePingPongJs(const Napi::CallbackInfo& info) {
  const int a = int(u32_arg(info, 0, "cacheLinePingPongNs(cpuA, cpuB, ms)"));
  const int b = int(u32_arg(info, 1, "cacheLinePingPongNs(cpuA, cpuB, ms)"));
  const uint32_t ms = u32_arg(info, 2, "cacheLinePingPongNs(cpuA, cpuB, ms)");
  return Napi::Number::New(info.Env(), cache_line_ping_pong_ns(a, b, ms));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function client = MemifClientWrap::Init(env);
  g_client_ctor = new Napi::FunctionReference(Napi::Persistent(client));
  exports.Set("MemifClient", client);
  exports.Set("TrafficEngine", TrafficEngineWrap::Init(env));
  exports.Set("memoryCounters", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return memory_counters_js(info.Env()); }));
  exports.Set("cacheLinePingPongNs", Napi::Function::New(env, CacheLinePingPongJs));
  return exports;
}

}  // namespace

NODE_API_MODULE(memswitch_testing, Init)
