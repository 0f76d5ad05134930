// Conversions shared by the product addon (addon.cc) and the testing addon (testing.cc).
#pragma once
#include <napi.h>

#include <optional>
#include <string>
#include <vector>

#include "memswitch/ethernet.h"
#include "memswitch/result.h"
#include "memswitch/shm.h"

namespace memswitch::binding {

inline Napi::Error core_error(Napi::Env env, const Error& e) {
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, errc_code(e.code)));
  return err;
}

inline std::string get_string(const Napi::Object& o, const char* key, const std::string& def = "") {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : def;
}
inline double get_number(const Napi::Object& o, const char* key, double def = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : def;
}
inline bool get_bool(const Napi::Object& o, const char* key, bool def = false) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : def;
}
// An array of numbers (interface indexes); none when absent.
inline std::vector<uint32_t> get_u32_list(const Napi::Object& o, const char* key) {
  std::vector<uint32_t> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) return out;
  Napi::Array list = v.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) out.push_back(list.Get(i).As<Napi::Number>().Uint32Value());
  return out;
}
inline Mac get_mac(Napi::Env env, const Napi::Object& o, const char* key) {
  const std::string s = get_string(o, key);
  if (s.empty()) return 0;
  std::optional<Mac> m = parse_mac(s);
  if (!m) throw Napi::TypeError::New(env, std::string(key) + ": not a MAC address");
  return *m;
}
inline Napi::Object object_arg(const Napi::CallbackInfo& info, size_t i, const char* sig) {
  if (info.Length() <= i || !info[i].IsObject()) throw Napi::TypeError::New(info.Env(), sig);
  return info[i].As<Napi::Object>();
}
inline uint32_t u32_arg(const Napi::CallbackInfo& info, size_t i, const char* sig) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), sig);
  return info[i].As<Napi::Number>().Uint32Value();
}
inline Napi::Array names(Napi::Env env, const auto& list) {
  Napi::Array a = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", list[i].name);
    o.Set("help", list[i].help);
    a.Set(uint32_t(i), o);
  }
  return a;
}
inline Napi::Object reason_counts(Napi::Env env, const uint64_t* counts, const auto& list) {
  Napi::Object o = Napi::Object::New(env);
  for (size_t i = 0; i < list.size(); ++i) o.Set(list[i].name, double(counts[i]));
  return o;
}


inline Napi::Object memory_counters_js(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  auto& c = memory_counters();
  o.Set("hugepageBytes", double(c.hugepage_bytes.load()));
  o.Set("fallbackBytes", double(c.fallback_bytes.load()));
  o.Set("fallbackRegions", double(c.fallback_regions.load()));
  return o;
}

}  // namespace memswitch::binding
