// AclService: its messages (as proto-loader gives them: camelCase, enums by name,
// unset strings empty), their conversion to and from the ACL domain, and thin handlers.
import type * as grpc from '@grpc/grpc-js';
import type { AclRuleSpec } from '../domain/acl-rules.js';
import type { AclDirection, Acls, AclView } from '../domain/acls.js';

type WireAction = 'ACL_ACTION_UNSPECIFIED' | 'ACL_ACTION_PERMIT' | 'ACL_ACTION_DENY';
type WireDirection = 'ACL_DIRECTION_UNSPECIFIED' | 'ACL_DIRECTION_IN' | 'ACL_DIRECTION_OUT';
export interface AclRule {
  action: WireAction;
  src: string;
  dst: string;
  protocol: string;
  srcPorts: string;
  dstPorts: string;
  icmp: string;
}
export interface Acl {
  name: string;
  rules: AclRule[];
}
export interface AclBinding {
  interface: string;
  direction: WireDirection;
  acl: string;
}
export interface AclStatus {
  acl: Acl;
  hits: number[];
  defaultDenied: number;
  bindings: AclBinding[];
}

// An unset action is left for the domain to refuse (naming the field).
const ACTIONS: Partial<Record<WireAction, 'permit' | 'deny'>> = { ACL_ACTION_PERMIT: 'permit', ACL_ACTION_DENY: 'deny' };
const DIRECTIONS: Partial<Record<WireDirection, AclDirection>> = { ACL_DIRECTION_IN: 'in', ACL_DIRECTION_OUT: 'out' };
const toWireDirection = (d: AclDirection): WireDirection => (d === 'in' ? 'ACL_DIRECTION_IN' : 'ACL_DIRECTION_OUT');

const fromRule = (r: Partial<AclRule>): unknown => ({ ...r, action: r.action && ACTIONS[r.action] });
const fromAcl = (a: Partial<Acl> | null | undefined): unknown => ({ name: a?.name ?? '', rules: (a?.rules ?? []).map(fromRule) });
const toRule = (r: AclRuleSpec): AclRule => ({
  action: r.action === 'permit' ? 'ACL_ACTION_PERMIT' : 'ACL_ACTION_DENY',
  src: r.src ?? '',
  dst: r.dst ?? '',
  protocol: r.protocol ?? '',
  srcPorts: r.srcPorts ?? '',
  dstPorts: r.dstPorts ?? '',
  icmp: r.icmp ?? '',
});
const toStatus = (v: AclView): AclStatus => ({
  acl: { name: v.name, rules: v.rules.map(toRule) },
  hits: v.hits,
  defaultDenied: v.defaultDenied,
  bindings: v.bindings.map((b) => ({ interface: b.interface, direction: toWireDirection(b.direction), acl: v.name })),
});

type Unary = <Req, Res>(method: string, fn: (req: Req) => Res) => grpc.handleUnaryCall<Req, Res>;

export function aclHandlers(acls: Acls, unary: Unary): grpc.UntypedServiceImplementation {
  return {
    CreateAcl: unary<{ acl: Partial<Acl> | null }, { acl: AclStatus; created: boolean }>('CreateAcl', (req) => {
      const r = acls.create(fromAcl(req.acl));
      return { acl: toStatus(r.acl), created: r.created };
    }),
    ReplaceAclRules: unary<{ acl: Partial<Acl> | null }, { acl: AclStatus }>('ReplaceAclRules', (req) => ({ acl: toStatus(acls.replaceRules(fromAcl(req.acl))) })),
    GetAcl: unary<{ name: string }, { acl: AclStatus }>('GetAcl', (req) => ({ acl: toStatus(acls.get(req.name)) })),
    ListAcls: unary<Record<string, never>, { acls: AclStatus[] }>('ListAcls', () => ({ acls: acls.list().map(toStatus) })),
    DeleteAcl: unary<{ name: string }, Record<string, never>>('DeleteAcl', (req) => {
      acls.delete(req.name);
      return {};
    }),
    BindAcl: unary<{ binding: Partial<AclBinding> | null }, { binding: AclBinding; created: boolean }>('BindAcl', (req) => {
      const b = req.binding ?? {};
      const r = acls.bind({ interface: b.interface ?? '', direction: b.direction && DIRECTIONS[b.direction], acl: b.acl ?? '' });
      return { binding: { ...r.binding, direction: toWireDirection(r.binding.direction) }, created: r.created };
    }),
    UnbindAcl: unary<{ interface: string; direction: WireDirection }, Record<string, never>>('UnbindAcl', (req) => {
      acls.unbind({ interface: req.interface, direction: DIRECTIONS[req.direction] });
      return {};
    }),
  };
}
