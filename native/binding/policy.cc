// ACLs and connection tracking (memswitch/acl.h, memswitch/conntrack.h).
#include "dataplane_wrap.h"

namespace memswitch::binding {

std::vector<AclRule> DataplaneWrap::to_acl_rules(Napi::Env env, Napi::Value v) {
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
    const std::string action = get_string(o, "action");
    r.action = action == "permit" ? AclAction::permit : action == "permit+reflect" ? AclAction::permit_reflect : AclAction::deny;
  }
  return rules;
}

Napi::Value DataplaneWrap::AddAcl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString()) throw Napi::TypeError::New(env, "addAcl(name, rules, kind?)");
  const AclKind kind = info.Length() > 2 && info[2].IsString() && info[2].As<Napi::String>().Utf8Value() == "policy" ? AclKind::policy : AclKind::acl;
  Result<uint32_t> r = dp(env).add_acl(info[0].As<Napi::String>().Utf8Value(), to_acl_rules(env, info[1]), kind);
  if (!r) throw core_error(env, r.error());
  return Napi::Number::New(env, *r);
}

// setAclRulesMany([[id, rules], ...]): swapped in one snapshot.
Napi::Value DataplaneWrap::SetAclRulesMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "setAclRulesMany([[id, rules], ...])");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<std::pair<uint32_t, std::vector<AclRule>>> changes;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    if (!list.Get(i).IsArray()) throw Napi::TypeError::New(env, "setAclRulesMany: [id, rules] pairs");
    Napi::Array pair = list.Get(i).As<Napi::Array>();
    changes.emplace_back(pair.Get(0u).As<Napi::Number>().Uint32Value(), to_acl_rules(env, pair.Get(1u)));
  }
  if (Status s = dp(env).set_acl_rules_many(std::move(changes)); !s) throw core_error(env, s.error());
  return env.Undefined();
}

Napi::Value DataplaneWrap::SetAclRules(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Status s = dp(env).set_acl_rules(u32_arg(info, 0, "setAclRules(id, rules)"), to_acl_rules(env, info[1])); !s) throw core_error(env, s.error());
  return env.Undefined();
}

Napi::Value DataplaneWrap::RemoveAcl(const Napi::CallbackInfo& info) {
  if (Status s = dp(info.Env()).remove_acl(u32_arg(info, 0, "removeAcl(id)")); !s) throw core_error(info.Env(), s.error());
  return info.Env().Undefined();
}

Napi::Value DataplaneWrap::BindAcl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sig = "bindAcl(interface, direction, acl)";
  if (info.Length() < 3 || !info[1].IsString()) throw Napi::TypeError::New(env, sig);
  const AclDirection d = info[1].As<Napi::String>().Utf8Value() == "out" ? AclDirection::out : AclDirection::in;
  if (Status s = dp(env).bind_acl(u32_arg(info, 0, sig), d, u32_arg(info, 2, sig)); !s) throw core_error(env, s.error());
  return env.Undefined();
}

Napi::Value DataplaneWrap::AclStats(const Napi::CallbackInfo& info) {
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

// conntrackFlows(cursor, limit): { flows: [{ router, network, vlan, proto, src, dst,
// sport, dport, state, replied, ageS, idleS, expiresInS }], next } (next 0: the last page).
Napi::Value DataplaneWrap::ConntrackFlows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sig = "conntrackFlows(cursor, limit)";
  if (info.Length() < 2 || !info[0].IsNumber()) throw Napi::TypeError::New(env, sig);
  const ConntrackPage page = dp(env).conntrack_flows(uint64_t(info[0].As<Napi::Number>().Int64Value()), u32_arg(info, 1, sig));
  Napi::Array flows = Napi::Array::New(env, page.flows.size());
  for (size_t i = 0; i < page.flows.size(); ++i) {
    const ConntrackFlow& f = page.flows[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("router", f.router);
    o.Set("network", f.network);
    o.Set("vlan", f.vlan);
    o.Set("proto", f.proto);
    o.Set("src", format_ip(f.src));
    o.Set("dst", format_ip(f.dst));
    o.Set("sport", f.sport);
    o.Set("dport", f.dport);
    o.Set("state", flow_state_name(f.state));
    o.Set("replied", f.replied);
    o.Set("ageS", f.age_s);
    o.Set("idleS", f.idle_s);
    o.Set("expiresInS", f.expires_in_s);
    flows.Set(uint32_t(i), o);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("flows", flows);
  out.Set("next", double(page.next));
  return out;
}

// { flows, capacity, created, full, timeouts: { tcpEstablishedS, tcpTransitoryS, udpS, icmpS } }
Napi::Value DataplaneWrap::ConntrackStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const memswitch::ConntrackStats s = dp(env).conntrack_stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("flows", double(s.flows));
  o.Set("capacity", double(s.capacity));
  o.Set("created", double(s.created));
  o.Set("full", double(s.full));
  o.Set("timeouts", timeouts_js(env, s.timeouts));
  return o;
}

Napi::Value DataplaneWrap::ClearConntrack(const Napi::CallbackInfo& info) {
  dp(info.Env()).clear_conntrack();
  return info.Env().Undefined();
}

Napi::Object DataplaneWrap::timeouts_js(Napi::Env env, const ConntrackTimeouts& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("tcpEstablishedS", t.tcp_established_s);
  o.Set("tcpTransitoryS", t.tcp_transitory_s);
  o.Set("udpS", t.udp_s);
  o.Set("icmpS", t.icmp_s);
  return o;
}

ConntrackOptions DataplaneWrap::conntrack_options(const Napi::Object& o) {
  ConntrackOptions c;
  c.max_flows = uint32_t(get_number(o, "maxFlows", c.max_flows));
  Napi::Value t = o.Get("timeouts");
  if (t.IsObject()) {
    Napi::Object x = t.As<Napi::Object>();
    c.timeouts.tcp_established_s = uint32_t(get_number(x, "tcpEstablishedS", c.timeouts.tcp_established_s));
    c.timeouts.tcp_transitory_s = uint32_t(get_number(x, "tcpTransitoryS", c.timeouts.tcp_transitory_s));
    c.timeouts.udp_s = uint32_t(get_number(x, "udpS", c.timeouts.udp_s));
    c.timeouts.icmp_s = uint32_t(get_number(x, "icmpS", c.timeouts.icmp_s));
  }
  return c;
}

}  // namespace memswitch::binding
