// PolicyService: its messages (as proto-loader gives them: camelCase, unset messages
// null, oneofs named), their conversion to and from Kubernetes' shape (policy-rules.ts),
// and thin handlers.
import type * as grpc from '@grpc/grpc-js';
import type { Policies, PolicyView } from '../domain/policies.js';
import type { LabelSelector, NetworkPolicy as PolicySpec } from '../domain/policy-rules.js';

export interface WireSelector {
  matchLabels: Record<string, string>;
  matchExpressions: { key: string; operator: string; values: string[] }[];
}
export interface WirePeer {
  podSelector: WireSelector | null;
  namespaceSelector: WireSelector | null;
  ipBlock: { cidr: string; except: string[] } | null;
}
export interface WirePort {
  protocol: string;
  number?: number;
  name?: string;
  port?: 'number' | 'name';
  endPort: number;
}
export interface NetworkPolicy {
  namespace: string;
  name: string;
  networks: string[];
  podSelector: WireSelector | null;
  policyTypes: string[];
  ingress: { from: WirePeer[]; ports: WirePort[] }[];
  egress: { to: WirePeer[]; ports: WirePort[] }[];
  hasEgress: boolean;
}
export interface NetworkPolicyStatus {
  policy: NetworkPolicy;
  interfaces: string[];
  ingressAllowed: number;
  egressAllowed: number;
}

const some = <T>(list: T[] | undefined): T[] | undefined => (list && list.length ? list : undefined);
const selector = (s: Partial<WireSelector> | null | undefined): LabelSelector | undefined =>
  s ? { matchLabels: s.matchLabels && Object.keys(s.matchLabels).length ? s.matchLabels : undefined, matchExpressions: some(s.matchExpressions)?.map((e) => ({ ...e, values: some(e.values) })) as LabelSelector['matchExpressions'] } : undefined;
const peer = (p: Partial<WirePeer>): unknown => ({
  podSelector: selector(p.podSelector),
  namespaceSelector: selector(p.namespaceSelector),
  ipBlock: p.ipBlock ? { cidr: p.ipBlock.cidr, except: some(p.ipBlock.except) } : undefined,
});
const port = (p: Partial<WirePort>): unknown => ({
  protocol: p.protocol || undefined,
  port: p.port === 'number' ? p.number : p.port === 'name' ? p.name : undefined,
  endPort: p.endPort || undefined,
});

/** The wire's policy in Kubernetes' shape, for the domain to validate. */
export function fromWire(w: Partial<NetworkPolicy> | null | undefined): unknown {
  if (!w) return {};
  return {
    namespace: w.namespace,
    name: w.name,
    networks: w.networks ?? [],
    podSelector: selector(w.podSelector) ?? {},
    policyTypes: some(w.policyTypes),
    ingress: (w.ingress ?? []).map((r) => ({ from: some(r.from)?.map(peer), ports: some(r.ports)?.map(port) })),
    egress: w.hasEgress || w.egress?.length ? (w.egress ?? []).map((r) => ({ to: some(r.to)?.map(peer), ports: some(r.ports)?.map(port) })) : undefined,
  };
}

const toSelector = (s: LabelSelector | undefined): WireSelector | null =>
  s ? { matchLabels: s.matchLabels ?? {}, matchExpressions: (s.matchExpressions ?? []).map((e) => ({ key: e.key, operator: e.operator, values: e.values ?? [] })) } : null;
type Peers = NonNullable<NonNullable<PolicySpec['ingress']>[number]['from']>;
type Ports = NonNullable<NonNullable<PolicySpec['ingress']>[number]['ports']>;
const toPeers = (peers: Peers | undefined): WirePeer[] =>
  (peers ?? []).map((p) => ({ podSelector: toSelector(p.podSelector), namespaceSelector: toSelector(p.namespaceSelector), ipBlock: p.ipBlock ? { cidr: p.ipBlock.cidr, except: p.ipBlock.except ?? [] } : null }));
const toPorts = (ports: Ports | undefined): WirePort[] =>
  (ports ?? []).map((p) => ({ protocol: p.protocol, ...(typeof p.port === 'number' ? { number: p.port } : typeof p.port === 'string' ? { name: p.port } : {}), endPort: p.endPort ?? 0 }));

export function toWire(p: PolicySpec): NetworkPolicy {
  return {
    namespace: p.namespace,
    name: p.name,
    networks: p.networks,
    podSelector: toSelector(p.podSelector),
    policyTypes: p.policyTypes ?? [],
    ingress: (p.ingress ?? []).map((r) => ({ from: toPeers(r.from), ports: toPorts(r.ports) })),
    egress: (p.egress ?? []).map((r) => ({ to: toPeers(r.to), ports: toPorts(r.ports) })),
    hasEgress: p.egress !== undefined,
  };
}

const toStatus = (v: PolicyView): NetworkPolicyStatus => ({ policy: toWire(v.policy), interfaces: v.interfaces, ingressAllowed: v.ingressAllowed, egressAllowed: v.egressAllowed });

type Unary = <Req, Res>(method: string, fn: (req: Req) => Res) => grpc.handleUnaryCall<Req, Res>;

export function policyHandlers(policies: Policies, unary: Unary): grpc.UntypedServiceImplementation {
  return {
    ApplyNetworkPolicy: unary<{ policy: Partial<NetworkPolicy> | null }, { policy: NetworkPolicyStatus; changed: boolean }>('ApplyNetworkPolicy', (req) => {
      const r = policies.apply(fromWire(req.policy));
      return { policy: toStatus(r.policy), changed: r.changed };
    }),
    DeleteNetworkPolicy: unary<{ namespace: string; name: string }, Record<string, never>>('DeleteNetworkPolicy', (req) => {
      policies.delete(req);
      return {};
    }),
    ListNetworkPolicies: unary<{ namespace: string }, { policies: NetworkPolicyStatus[] }>('ListNetworkPolicies', (req) => ({ policies: policies.list(req.namespace).map(toStatus) })),
    SetPodLabels: unary<{ namespace: string; name: string; labels: Record<string, string>; ports: { name: string; protocol: string; port: number }[] }, { interfaces: string[] }>(
      'SetPodLabels',
      (req) => ({ interfaces: policies.setPodLabels({ ...req, ports: req.ports.map((p) => ({ ...p, protocol: p.protocol || undefined })) }) }),
    ),
    DeletePodLabels: unary<{ namespace: string; name: string }, Record<string, never>>('DeletePodLabels', (req) => {
      policies.deletePodLabels(req);
      return {};
    }),
    SetNamespaceLabels: unary<{ namespace: string; labels: Record<string, string> }, Record<string, never>>('SetNamespaceLabels', (req) => {
      policies.setNamespaceLabels(req);
      return {};
    }),
    GetPolicyStatus: unary<Record<string, never>, { interfaces: unknown[] }>('GetPolicyStatus', () => ({
      interfaces: policies.status().map((i) => ({ ...i, ingress: i.ingress ?? null, egress: i.egress ?? null })),
    })),
  };
}
