// The Dataplane class JavaScript sees: one method per core call, defined by concern in
// addon.cc (lifecycle, networks, interfaces, handover), routing.cc, observe.cc (capture,
// trace) and policy.cc (ACLs, connection tracking).
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "convert.h"
#include "memswitch/dataplane.h"

namespace memswitch::binding {

class DataplaneWrap : public Napi::ObjectWrap<DataplaneWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  DataplaneWrap(const Napi::CallbackInfo& info);
  ~DataplaneWrap() override;

 private:
  Dataplane& dp(Napi::Env env) {
    if (!dp_) throw Napi::Error::New(env, "dataplane stopped");
    return *dp_;
  }
  void shutdown();
  Napi::Value SetEventHandler(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value AddNetwork(const Napi::CallbackInfo& info);
  Napi::Value RemoveNetwork(const Napi::CallbackInfo& info);
  Napi::Value AddMemif(const Napi::CallbackInfo& info);
  Napi::Value AddAfXdp(const Napi::CallbackInfo& info);
  Napi::Value RemoveInterface(const Napi::CallbackInfo& info);
  Napi::Value SetAdminUp(const Napi::CallbackInfo& info);
  Napi::Value AddStaticMac(const Napi::CallbackInfo& info);
  Napi::Value RemoveStaticMac(const Napi::CallbackInfo& info);
  Napi::Value MacTable(const Napi::CallbackInfo& info);
  Napi::Value FlushMacTable(const Napi::CallbackInfo& info);
  Napi::Value InterfaceInfo(const Napi::CallbackInfo& info);
  Napi::Value Interfaces(const Napi::CallbackInfo& info);
  Napi::Value Sockets(const Napi::CallbackInfo& info);
  Napi::Value Workers(const Napi::CallbackInfo& info);
  Napi::Value TscHz(const Napi::CallbackInfo& info);
  Napi::Value ListenForHandover(const Napi::CallbackInfo& info);
  // Resolves once the previous process handed over and exited (up to timeoutMs); the
  // wait runs on a libuv thread, never on the JS thread. Call it at start-up.
  Napi::Value TakeOver(const Napi::CallbackInfo& info);
  Napi::Value FinishTakeover(const Napi::CallbackInfo& info);

  // routing.cc
  // Routing. Addresses of either family cross as strings ("10.1.0.1/24", "fd00:1::1/64");
  // a bad one is EINVAL naming it.
  static IpAddress ip_arg(Napi::Env env, const std::string& s, const std::string& field);
  Napi::Value AddRouter(const Napi::CallbackInfo& info);
  Napi::Value RemoveRouter(const Napi::CallbackInfo& info);
  Napi::Value AddRouterInterface(const Napi::CallbackInfo& info);
  Napi::Value RemoveRouterInterface(const Napi::CallbackInfo& info);
  Napi::Value RouterInterfaceInfo(const Napi::CallbackInfo& info);
  Napi::Value AddRoutes(const Napi::CallbackInfo& info);
  Napi::Value RemoveRoutes(const Napi::CallbackInfo& info);
  Napi::Value RouterStats(const Napi::CallbackInfo& info);
  Napi::Value AddStaticNeighbor(const Napi::CallbackInfo& info);
  Napi::Value RemoveNeighbor(const Napi::CallbackInfo& info);
  Napi::Value Neighbors(const Napi::CallbackInfo& info);

  // observe.cc
  Napi::Value StartCapture(const Napi::CallbackInfo& info);
  // { data: Buffer of pcapng blocks, frames, kept, lost }
  Napi::Value ReadCapture(const Napi::CallbackInfo& info);
  Napi::Value StopCapture(const Napi::CallbackInfo& info);
  Napi::Value StartTrace(const Napi::CallbackInfo& info);
  // { steps: TraceStep[], taken, lost }
  static Napi::Object trace_chunk_js(Napi::Env env, const TraceChunk& c);
  Napi::Value ReadTrace(const Napi::CallbackInfo& info);
  Napi::Value StopTrace(const Napi::CallbackInfo& info);

  // policy.cc
  // [{ action: 'permit'|'deny', src?, dst?: prefix, proto, srcPorts: [min, max],
  // dstPorts: [min, max], icmpType, icmpCode (-1: any) }]; the wrapper validated the
  // shape, check_acl_rules the meaning (EINVAL "rules[i]: ...").
  static std::vector<AclRule> to_acl_rules(Napi::Env env, Napi::Value v);
  Napi::Value AddAcl(const Napi::CallbackInfo& info);
  Napi::Value SetAclRules(const Napi::CallbackInfo& info);
  Napi::Value SetAclRulesMany(const Napi::CallbackInfo& info);
  Napi::Value RemoveAcl(const Napi::CallbackInfo& info);
  // bindAcl(interface, 'in' | 'out', acl): acl 0 unbinds.
  Napi::Value BindAcl(const Napi::CallbackInfo& info);
  // { hits: number[] (per rule), defaultDenied }
  Napi::Value AclStats(const Napi::CallbackInfo& info);
  Napi::Value ConntrackFlows(const Napi::CallbackInfo& info);
  Napi::Value ConntrackStats(const Napi::CallbackInfo& info);
  Napi::Value ClearConntrack(const Napi::CallbackInfo& info);
  static Napi::Object timeouts_js(Napi::Env env, const ConntrackTimeouts& t);
  // The constructor's `conntrack: { maxFlows, timeouts: { tcpEstablishedS, ... } }`.
  static ConntrackOptions conntrack_options(const Napi::Object& o);

  std::unique_ptr<Dataplane> dp_;
  Napi::ThreadSafeFunction tsfn_;
};

}  // namespace memswitch::binding
