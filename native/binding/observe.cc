// Capture (pcapng out of the workers) and trace (a packet's way through the stages).
#include "dataplane_wrap.h"

namespace memswitch::binding {

Napi::Value DataplaneWrap::StartCapture(const Napi::CallbackInfo& info) {
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

Napi::Value DataplaneWrap::ReadCapture(const Napi::CallbackInfo& info) {
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

Napi::Value DataplaneWrap::StopCapture(const Napi::CallbackInfo& info) {
  if (Status s = dp(info.Env()).stop_capture(u32_arg(info, 0, "stopCapture(id)")); !s) throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::StartTrace(const Napi::CallbackInfo& info) {
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

Napi::Object DataplaneWrap::trace_chunk_js(Napi::Env env, const TraceChunk& c) {
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

Napi::Value DataplaneWrap::ReadTrace(const Napi::CallbackInfo& info) {
  const char* sig = "readTrace(id, maxSteps)";
  Result<TraceChunk> r = dp(info.Env()).read_trace(u32_arg(info, 0, sig), u32_arg(info, 1, sig));
  if (!r) throw core_error(info.Env(), r.error());
  return trace_chunk_js(info.Env(), *r);
}

Napi::Value DataplaneWrap::StopTrace(const Napi::CallbackInfo& info) {
  Result<TraceChunk> r = dp(info.Env()).stop_trace(u32_arg(info, 0, "stopTrace(id)"));
  if (!r) throw core_error(info.Env(), r.error());
  return trace_chunk_js(info.Env(), *r);
}

}  // namespace memswitch::binding
