// AclService: its messages (as proto-loader gives them: camelCase, enums by name,
// unset strings empty), their conversion to and from the ACL domain, and thin handlers.
import type * as grpc from '@grpc/grpc-js';
import type { AclRuleSpec } from '../domain/acl-rules.js';
import type { AclDirection, Acls, AclView } from '../domain/acls.js';
import type { ConntrackFlow } from '../domain/conntrack.js';

type WireAction = 'ACL_ACTION_UNSPECIFIED' | 'ACL_ACTION_PERMIT' | 'ACL_ACTION_DENY' | 'ACL_ACTION_PERMIT_REFLECT';
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
  network?: string;
  direction: WireDirection;
  acl: string;
}
export interface ConntrackSummary {
  flows: number;
  capacity: number;
  created: number;
  full: number;
  timeouts: { tcpEstablishedSeconds: number; tcpTransitorySeconds: number; udpSeconds: number; icmpSeconds: number };
}
export interface ListConntrackRequest {
  pageSize?: number;
  pageToken?: string;
  address?: string;
  protocol?: string;
}
export interface AclStatus {
  acl: Acl;
  hits: number[];
  defaultDenied: number;
  bindings: AclBinding[];
}

// An unset action is left for the domain to refuse (naming the field).
const ACTIONS: Partial<Record<WireAction, AclRuleSpec['action']>> = { ACL_ACTION_PERMIT: 'permit', ACL_ACTION_DENY: 'deny', ACL_ACTION_PERMIT_REFLECT: 'permit+reflect' };
const WIRE_ACTIONS = Object.fromEntries(Object.entries(ACTIONS).map(([wire, action]) => [action, wire])) as Record<AclRuleSpec['action'], WireAction>;
/** An action as rules files and `show acl` spell it, on the wire and back. */
export const wireAction = (action: string): WireAction => WIRE_ACTIONS[action as AclRuleSpec['action']] ?? (action as WireAction);
export const actionOf = (wire: WireAction): AclRuleSpec['action'] => ACTIONS[wire] ?? 'deny';
const DIRECTIONS: Partial<Record<WireDirection, AclDirection>> = { ACL_DIRECTION_IN: 'in', ACL_DIRECTION_OUT: 'out' };
const toWireDirection = (d: AclDirection): WireDirection => (d === 'in' ? 'ACL_DIRECTION_IN' : 'ACL_DIRECTION_OUT');

const fromRule = (r: Partial<AclRule>): unknown => ({ ...r, action: r.action && ACTIONS[r.action] });
const fromAcl = (a: Partial<Acl> | null | undefined): unknown => ({ name: a?.name ?? '', rules: (a?.rules ?? []).map(fromRule) });
const toRule = (r: AclRuleSpec): AclRule => ({
  action: WIRE_ACTIONS[r.action],
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
  bindings: v.bindings.map((b) => ({ interface: b.interface ?? '', network: b.network ?? '', direction: toWireDirection(b.direction), acl: v.name })),
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
      const where = b.network ? { network: b.network } : { interface: b.interface ?? '' };
      const r = acls.bind({ ...where, direction: b.direction && DIRECTIONS[b.direction], acl: b.acl ?? '' });
      return { binding: { interface: '', network: '', ...r.binding, direction: toWireDirection(r.binding.direction) }, created: r.created };
    }),
    ListConntrack: unary<ListConntrackRequest, { flows: ConntrackFlow[]; nextPageToken: string }>('ListConntrack', (req) => acls.conntrack.list(req)),
    GetConntrackSummary: unary<Record<string, never>, ConntrackSummary>('GetConntrackSummary', () => {
      const s = acls.conntrack.stats();
      const t = s.timeouts;
      return {
        flows: s.flows,
        capacity: s.capacity,
        created: s.created,
        full: s.full,
        timeouts: { tcpEstablishedSeconds: t.tcpEstablishedS, tcpTransitorySeconds: t.tcpTransitoryS, udpSeconds: t.udpS, icmpSeconds: t.icmpS },
      };
    }),
    ClearConntrack: unary<Record<string, never>, { flows: number }>('ClearConntrack', () => ({ flows: acls.conntrack.clear() })),
    UnbindAcl: unary<{ interface: string; network?: string; direction: WireDirection }, Record<string, never>>('UnbindAcl', (req) => {
      acls.unbind({ ...(req.network ? { network: req.network } : { interface: req.interface }), direction: DIRECTIONS[req.direction] });
      return {};
    }),
  };
}
