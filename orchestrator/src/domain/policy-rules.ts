// Kubernetes NetworkPolicy and MultiNetworkPolicy as memswitch takes them, and what they
// compile to: for every pod interface a policy selects, the ACL rules of each isolated
// direction (pipeline.md §4, Policy). The semantics are the API's:
// - a pod is isolated for ingress (egress) once any policy selecting it lists Ingress
//   (Egress) in policyTypes; then only what some selecting policy allows passes;
// - policies are unions: no order, no deny rules; a rule allows its peers (pod and
//   namespace selectors, ipBlock less its excepts; none: everyone) on its ports
//   (protocol, number or named port, endPort; none: every port);
// - a new flow needs the sender's egress and the receiver's ingress to allow it; its
//   replies pass (every compiled rule is permit+reflect).
// A NetworkPolicy covers pods' primary interfaces (eth0); a MultiNetworkPolicy
// (k8s.v1.cni.cncf.io/policy-for) covers their interfaces on the networks it names.
// Selectors become addresses here: the dataplane sees rules over prefixes, protocols and
// ports only. This module is pure: no I/O, no state.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { AclRuleSpec } from './acl-rules.js';

const labelKey = z.string().min(1).max(317);
const labelValue = z.string().max(63);
const labels = z.record(labelKey, labelValue);

export const labelSelectorSchema = z
  .object({
    matchLabels: labels.optional(),
    matchExpressions: z
      .array(
        z
          .object({
            key: labelKey,
            operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
            values: z.array(labelValue).optional(),
          })
          .strict()
          .refine((e) => (e.operator === 'In' || e.operator === 'NotIn' ? (e.values?.length ?? 0) > 0 : !e.values?.length), 'In and NotIn need values; Exists and DoesNotExist take none'),
      )
      .optional(),
  })
  .strict();
export type LabelSelector = z.infer<typeof labelSelectorSchema>;

const prefix = z.string().refine((s) => parsePrefix(s) !== undefined, 'must be a prefix like 10.0.0.0/8 or fd00::/8');
const peerSchema = z
  .object({
    podSelector: labelSelectorSchema.optional(),
    namespaceSelector: labelSelectorSchema.optional(),
    ipBlock: z.object({ cidr: prefix, except: z.array(prefix).optional() }).strict().optional(),
  })
  .strict()
  .refine((p) => (p.ipBlock ? !p.podSelector && !p.namespaceSelector : p.podSelector || p.namespaceSelector), 'a peer is an ipBlock, or a podSelector and/or a namespaceSelector');
const portSchema = z
  .object({
    protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP'),
    port: z.union([z.number().int().min(1).max(65535), z.string().regex(/^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/, 'a port number or an IANA_SVC_NAME')]).optional(),
    endPort: z.number().int().min(1).max(65535).optional(),
  })
  .strict()
  .refine((p) => p.endPort === undefined || (typeof p.port === 'number' && p.endPort >= p.port), 'endPort needs a numeric port no greater than it');

export const networkPolicySchema = z
  .object({
    namespace: z.string().min(1).max(63),
    name: z.string().min(1).max(253),
    // MultiNetworkPolicy's policy-for: the networks it covers (memswitch network names);
    // none: a NetworkPolicy, on primary interfaces.
    networks: z.array(z.string().min(1)).default([]),
    podSelector: labelSelectorSchema.default({}),
    policyTypes: z.array(z.enum(['Ingress', 'Egress'])).optional(),
    ingress: z.array(z.object({ from: z.array(peerSchema).optional(), ports: z.array(portSchema).optional() }).strict()).optional(),
    egress: z.array(z.object({ to: z.array(peerSchema).optional(), ports: z.array(portSchema).optional() }).strict()).optional(),
  })
  .strict();
export type NetworkPolicy = z.infer<typeof networkPolicySchema>;
type Peer = z.infer<typeof peerSchema>;
type Port = z.infer<typeof portSchema>;

/** A pod's interface on a memswitch network, as policies see it. */
export interface PolicyPod {
  interface: string;
  network: string; // the memswitch network
  cniNetwork: string; // the CNI network (a NetworkAttachmentDefinition's) it came through
  primary: boolean; // the pod's eth0: what NetworkPolicies cover
  namespace: string;
  name: string;
  labels: Record<string, string>;
  addresses: string[]; // without prefix lengths
  // Named container ports: name -> protocol and number.
  ports: { name: string; protocol: 'TCP' | 'UDP' | 'SCTP'; port: number }[];
}

export type Direction = 'ingress' | 'egress';

/** One compiled rule and the policy it came from (verdict counters sum by it). */
export interface PolicyRule {
  rule: AclRuleSpec;
  policy: string; // namespace/name
}

export interface CompiledInterface {
  interface: string;
  ingress?: PolicyRule[]; // isolated for ingress: what may come in (an ACL on what the switch sends to it)
  egress?: PolicyRule[]; // isolated for egress: what may go out (an ACL on what it receives from it)
}

export function matches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
    if (e.operator === 'In' && !(has && e.values!.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && e.values!.includes(labels[e.key]!)) return false;
  }
  return true;
}

// policy-for names networks as NetworkAttachmentDefinitions ("namespace/name" or "name"):
// a memswitch network or the CNI network name an attachment came through.
const onNetwork = (names: string[], pod: PolicyPod): boolean => names.some((n) => n === pod.network || n === pod.cniNetwork || n === `${pod.namespace}/${pod.cniNetwork}`);
const covers = (p: NetworkPolicy, pod: PolicyPod): boolean => pod.namespace === p.namespace && (p.networks.length ? onNetwork(p.networks, pod) : pod.primary) && matches(p.podSelector, pod.labels);

/**
 * A Kubernetes NetworkPolicy (networking.k8s.io/v1) or MultiNetworkPolicy
 * (k8s.cni.cncf.io/v1beta1, networks from its k8s.v1.cni.cncf.io/policy-for annotation)
 * manifest, as this module takes it (validated by the caller).
 */
export function fromManifest(doc: unknown): unknown {
  const m = (doc ?? {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown; annotations?: Record<string, unknown> }; spec?: Record<string, unknown> };
  if (m.kind !== 'NetworkPolicy' && m.kind !== 'MultiNetworkPolicy') throw new Error(`kind: NetworkPolicy or MultiNetworkPolicy, not ${String(m.kind)}`);
  const policyFor = m.metadata?.annotations?.['k8s.v1.cni.cncf.io/policy-for'];
  const networks = m.kind === 'MultiNetworkPolicy' && typeof policyFor === 'string' ? policyFor.split(',').map((s) => s.trim()).filter(Boolean) : [];
  return { namespace: m.metadata?.namespace ?? 'default', name: m.metadata?.name, networks, ...(m.spec ?? {}) };
}
// policyTypes left out: Ingress, and Egress if the policy has egress rules (the API's default).
const types = (p: NetworkPolicy): Direction[] => (p.policyTypes ? p.policyTypes.map((t) => (t === 'Ingress' ? 'ingress' : 'egress')) : ['ingress', ...(p.egress ? (['egress'] as const) : [])]);

// --- prefixes: a CIDR less its excepts, as the fewest prefixes ---

interface Prefix {
  v6: boolean;
  addr: bigint;
  len: number;
}
function parsePrefix(s: string): Prefix | undefined {
  const [a, l] = s.split('/');
  const family = isIP(a ?? '');
  if (!family || l === undefined || !/^\d+$/.test(l)) return undefined;
  const bits = family === 4 ? 32 : 128;
  const len = Number(l);
  if (len > bits) return undefined;
  const addr = family === 4 ? a!.split('.').reduce((x, o) => (x << 8n) | BigInt(o), 0n) : ip6ToBig(a!);
  const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
  return { v6: family === 6, addr: addr & mask, len };
}
function ip6ToBig(a: string): bigint {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((x, g) => (x << 16n) | BigInt(parseInt(g, 16)), 0n);
}
function formatPrefix(p: Prefix): string {
  if (!p.v6) return `${[24n, 16n, 8n, 0n].map((s) => (p.addr >> s) & 255n).join('.')}/${p.len}`;
  const groups = Array.from({ length: 8 }, (_, i) => ((p.addr >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  return `${groups.join(':')}/${p.len}`;
}
const within = (inner: Prefix, outer: Prefix): boolean => {
  const bits = outer.v6 ? 128 : 32;
  return inner.v6 === outer.v6 && inner.len >= outer.len && (outer.len === 0 || inner.addr >> BigInt(bits - outer.len) === outer.addr >> BigInt(bits - outer.len));
};

/** `cidr` less every prefix in `except`, as prefixes (at most one per bit per except). */
export function subtract(cidr: string, except: string[]): string[] {
  let parts: Prefix[] = [parsePrefix(cidr)!];
  for (const e of except.map((x) => parsePrefix(x)!)) {
    const next: Prefix[] = [];
    for (const p of parts) {
      if (within(p, e)) continue; // wholly excepted
      if (!within(e, p)) {
        next.push(p); // untouched
        continue;
      }
      // Split p down to e: at each bit, keep the half e is not in.
      const bits = p.v6 ? 128 : 32;
      for (let len = p.len + 1; len <= e.len; len++) {
        const bit = 1n << BigInt(bits - len);
        const eHalf = e.addr & (((1n << BigInt(len)) - 1n) << BigInt(bits - len));
        next.push({ v6: p.v6, addr: eHalf ^ bit, len });
      }
    }
    parts = next;
  }
  return parts.map(formatPrefix);
}

// --- compiling ---

const hostPrefix = (addr: string): string => `${addr}/${isIP(addr) === 4 ? 32 : 128}`;

/** The addresses (as prefixes) a rule's peers stand for, on `network`; undefined: anyone. */
function peerPrefixes(peers: Peer[] | undefined, policy: NetworkPolicy, network: PolicyPod, pods: PolicyPod[], namespaces: Map<string, Record<string, string>>): { prefixes: string[]; pods: PolicyPod[] } | undefined {
  if (!peers || peers.length === 0) return undefined;
  const prefixes: string[] = [];
  const selected = new Set<PolicyPod>();
  for (const peer of peers) {
    if (peer.ipBlock) {
      prefixes.push(...subtract(peer.ipBlock.cidr, peer.ipBlock.except ?? []));
      continue;
    }
    for (const pod of pods) {
      // The peer's address on the network the policy is about (primary: its primary).
      if (network.primary ? !pod.primary : pod.network !== network.network) continue;
      const inNamespace = peer.namespaceSelector ? matches(peer.namespaceSelector, namespaces.get(pod.namespace) ?? {}) : pod.namespace === policy.namespace;
      if (inNamespace && (!peer.podSelector || matches(peer.podSelector, pod.labels))) selected.add(pod);
    }
  }
  for (const pod of selected) prefixes.push(...pod.addresses.map(hostPrefix));
  return { prefixes, pods: [...selected] };
}

/** A port as rules spell it, resolved against `pod`'s named ports (undefined: it has no such name). */
function portRanges(port: Port, pod: PolicyPod | undefined): { protocol: string; dstPorts?: string } | undefined {
  const protocol = port.protocol.toLowerCase();
  if (port.port === undefined) return { protocol };
  if (typeof port.port === 'number') return { protocol, dstPorts: port.endPort ? `${port.port}-${port.endPort}` : String(port.port) };
  const named = pod?.ports.find((p) => p.name === port.port && p.protocol === port.protocol);
  return named ? { protocol, dstPorts: String(named.port) } : undefined;
}

/**
 * Every isolated direction of every pod interface some policy covers, with the rules that
 * let traffic through (permit+reflect; the ACL's implicit deny does the rest). Rules of
 * both address families; a peer's prefixes times the rule's ports.
 */
export function compilePolicies(policies: NetworkPolicy[], pods: PolicyPod[], namespaces: Map<string, Record<string, string>>): CompiledInterface[] {
  const out: CompiledInterface[] = [];
  for (const pod of pods) {
    const mine = policies.filter((p) => covers(p, pod));
    if (mine.length === 0) continue;
    const compiled: CompiledInterface = { interface: pod.interface };
    for (const direction of ['ingress', 'egress'] as const) {
      const isolating = mine.filter((p) => types(p).includes(direction));
      if (isolating.length === 0) continue;
      const rules: PolicyRule[] = [];
      for (const policy of isolating) {
        const ref = `${policy.namespace}/${policy.name}`;
        for (const r of direction === 'ingress' ? (policy.ingress ?? []) : (policy.egress ?? [])) {
          const peers = peerPrefixes(direction === 'ingress' ? (r as { from?: Peer[] }).from : (r as { to?: Peer[] }).to, policy, pod, pods, namespaces);
          const addressed = (prefix: string | undefined): Partial<AclRuleSpec> => (prefix === undefined ? {} : direction === 'ingress' ? { src: prefix } : { dst: prefix });
          const emit = (prefix: string | undefined, ports: { protocol: string; dstPorts?: string } | undefined) => {
            rules.push({ policy: ref, rule: { action: 'permit+reflect', ...addressed(prefix), ...(ports ?? {}) } as AclRuleSpec });
          };
          const targets = peers === undefined ? [undefined] : peers.prefixes;
          if (!r.ports || r.ports.length === 0) {
            for (const prefix of targets) emit(prefix, undefined);
            continue;
          }
          for (const port of r.ports) {
            if (direction === 'ingress' || typeof port.port !== 'string') {
              // Ingress: a named port is the selected pod's own.
              const resolved = portRanges(port, pod);
              if (resolved) for (const prefix of targets) emit(prefix, resolved);
              continue;
            }
            // Egress to a named port: each peer pod's own number for it (ipBlock peers and
            // "anyone" have no names to resolve: nothing is allowed by it for them).
            for (const peer of peers?.pods ?? []) {
              const resolved = portRanges(port, peer);
              if (resolved) for (const addr of peer.addresses) emit(hostPrefix(addr), resolved);
            }
          }
        }
      }
      compiled[direction] = rules;
    }
    out.push(compiled);
  }
  return out;
}
