// Network policies in force: the policies, pod and namespace labels a controller (or an
// operator) set, stored before applied; compiled (policy-rules.ts) against the
// attachments into one ACL per isolated interface and direction, and kept in step as
// policies, labels and attachments change. A change reaches the dataplane in one swap of
// every ACL it touches, so no flow ever meets one interface's old rules and another's new
// ones. The compiled ACLs are not stored: every start derives them again.
import { z } from 'zod';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { NativeAclRule } from '../dataplane/native.js';
import type { Logger } from '../log.js';
import type { PolicyStore } from '../store/policy-store.js';
import { formatRule, toNativeRule } from './acl-rules.js';
import type { Acls } from './acls.js';
import type { Attachments } from './attachments.js';
import { NotFoundError } from './errors.js';
import { compilePolicies, networkPolicySchema, type Direction, type NetworkPolicy, type PolicyPod, type PolicyRule } from './policy-rules.js';
import { validate } from './routing-rules.js';

const k8sName = z.string().min(1).max(253);
const labelsSchema = z.record(z.string().min(1).max(317), z.string().max(63));
const podLabelsSchema = z
  .object({
    namespace: k8sName,
    name: k8sName,
    labels: labelsSchema.default({}),
    ports: z.array(z.object({ name: z.string().min(1).max(15), protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP'), port: z.number().int().min(1).max(65535) }).strict()).default([]),
  })
  .strict();
type PodLabels = z.infer<typeof podLabelsSchema>;
const namespaceLabelsSchema = z.object({ namespace: k8sName, labels: labelsSchema.default({}) }).strict();
const refSchema = z.object({ namespace: k8sName, name: k8sName }).strict();

export interface PolicyView {
  policy: NetworkPolicy;
  interfaces: string[];
  ingressAllowed: number;
  egressAllowed: number;
}

export interface IsolatedInterfaceView {
  interface: string;
  pod: string;
  network: string;
  ingress?: { rules: { rule: string; policy: string; hits: number }[]; denied: number };
  egress?: { rules: { rule: string; policy: string; hits: number }[]; denied: number };
}

// The dataplane's ACL direction for a policy direction: ingress is what the switch sends
// to the pod's interface (out), egress what it receives from it (in).
const ACL_DIRECTION: Record<Direction, 'in' | 'out'> = { ingress: 'out', egress: 'in' };
const aclName = (iface: string, d: Direction): string => `policy:${iface}:${d}`;
// What an isolated direction holds while it is being bound or unbound: the same as none.
const PASS_ALL: NativeAclRule[] = [{ action: 'permit+reflect', proto: 0, icmpType: -1, icmpCode: -1 }];
const refOf = (ns: string, name: string): string => `${ns}/${name}`;
// The open direction of an interface isolated in the other: every flow is let through and
// tracked, so that replies of flows the pod did not start pass its isolated direction
// (a new flow needs only the other side's policies, and its replies always pass).
const TRACK_ALL: PolicyRule[] = [{ policy: '', rule: { action: 'permit+reflect' } }];

interface Applied {
  interface: string;
  direction: Direction;
  isolated: boolean;
  rules: PolicyRule[];
  pod: string;
  network: string;
}

export class Policies {
  private readonly policies = new Map<string, NetworkPolicy>();
  private readonly pods = new Map<string, PodLabels>();
  private readonly namespaces = new Map<string, Record<string, string>>();
  // What the dataplane holds, by ACL name.
  private readonly applied = new Map<string, Applied>();

  constructor(
    private readonly dp: Dataplane,
    private readonly attachments: Attachments,
    private readonly acls: Acls,
    private readonly store: PolicyStore,
    private readonly log: Logger,
  ) {
    attachments.onChange(() => this.sync());
    acls.setPolicyBinding((iface, direction) => [...this.applied.values()].some((a) => a.interface === iface && ACL_DIRECTION[a.direction] === direction));
  }

  /** The stored policies and labels, compiled against the attachments restored before. */
  restore(): void {
    for (const row of this.store.policies()) {
      try {
        const p = validate(networkPolicySchema, JSON.parse(row.spec));
        this.policies.set(refOf(p.namespace, p.name), p);
      } catch (err) {
        this.log.warn({ policy: refOf(row.namespace, row.name), err: (err as Error).message }, 'dropping a stored network policy that no longer validates');
        this.store.deletePolicy(row.namespace, row.name);
      }
    }
    for (const row of this.store.podLabels()) this.pods.set(refOf(row.namespace, row.name), { namespace: row.namespace, name: row.name, labels: JSON.parse(row.labels), ports: JSON.parse(row.ports) });
    for (const row of this.store.namespaceLabels()) this.namespaces.set(row.namespace, JSON.parse(row.labels));
    this.sync();
  }

  apply(input: unknown): { policy: PolicyView; changed: boolean } {
    const p = validate(networkPolicySchema, input);
    const ref = refOf(p.namespace, p.name);
    const before = this.policies.get(ref);
    const changed = JSON.stringify(before) !== JSON.stringify(p);
    if (changed) {
      this.store.putPolicy(p.namespace, p.name, p);
      this.policies.set(ref, p);
      this.sync();
    }
    return { policy: this.view(p), changed };
  }

  delete(input: unknown): void {
    const { namespace, name } = validate(refSchema, input);
    if (!this.policies.delete(refOf(namespace, name))) throw new NotFoundError(`no network policy ${refOf(namespace, name)}`, 'name');
    this.store.deletePolicy(namespace, name);
    this.sync();
  }

  list(namespace = ''): PolicyView[] {
    return [...this.policies.values()].filter((p) => !namespace || p.namespace === namespace).map((p) => this.view(p));
  }

  setPodLabels(input: unknown): string[] {
    const p = validate(podLabelsSchema, input);
    this.store.putPodLabels(p.namespace, p.name, p.labels, p.ports);
    this.pods.set(refOf(p.namespace, p.name), p);
    this.sync();
    return this.podInterfaces().filter((x) => x.namespace === p.namespace && x.name === p.name).map((x) => x.interface);
  }

  deletePodLabels(input: unknown): void {
    const { namespace, name } = validate(refSchema, input);
    this.store.deletePodLabels(namespace, name);
    if (this.pods.delete(refOf(namespace, name))) this.sync();
  }

  setNamespaceLabels(input: unknown): void {
    const n = validate(namespaceLabelsSchema, input);
    this.store.putNamespaceLabels(n.namespace, n.labels);
    this.namespaces.set(n.namespace, n.labels);
    this.sync();
  }

  /** Every isolated interface, its rules with their hits, and its denials. */
  status(): IsolatedInterfaceView[] {
    const byInterface = new Map<string, IsolatedInterfaceView>();
    for (const [name, a] of this.applied) {
      if (!a.isolated) continue;
      const v = byInterface.get(a.interface) ?? { interface: a.interface, pod: a.pod, network: a.network };
      const stats = this.dp.aclStats(name);
      v[a.direction] = { rules: a.rules.map((r, i) => ({ rule: formatRule(r.rule), policy: r.policy, hits: stats.hits[i] ?? 0 })), denied: stats.defaultDenied };
      byInterface.set(a.interface, v);
    }
    return [...byInterface.values()].sort((x, y) => x.interface.localeCompare(y.interface));
  }

  counts(): { networkPolicies: number; isolatedInterfaces: number } {
    return { networkPolicies: this.policies.size, isolatedInterfaces: new Set([...this.applied.values()].filter((a) => a.isolated).map((a) => a.interface)).size };
  }

  private view(p: NetworkPolicy): PolicyView {
    const ref = refOf(p.namespace, p.name);
    const interfaces = new Set<string>();
    const allowed = { ingress: 0, egress: 0 };
    for (const [name, a] of this.applied) {
      if (!a.rules.some((r) => r.policy === ref)) continue;
      interfaces.add(a.interface);
      const hits = this.dp.aclStats(name).hits;
      a.rules.forEach((r, i) => r.policy === ref && (allowed[a.direction] += hits[i] ?? 0));
    }
    return { policy: p, interfaces: [...interfaces].sort(), ingressAllowed: allowed.ingress, egressAllowed: allowed.egress };
  }

  /** Pod interfaces as policies see them: the attachments of Kubernetes pods. */
  private podInterfaces(): PolicyPod[] {
    return this.attachments
      .list()
      .filter((a) => a.params.pod.namespace && a.params.pod.name)
      .map((a) => {
        const set = this.pods.get(refOf(a.params.pod.namespace, a.params.pod.name));
        return {
          interface: a.interface,
          network: a.params.network,
          cniNetwork: a.params.key.cniNetwork,
          primary: a.params.key.ifname === 'eth0',
          namespace: a.params.pod.namespace,
          name: a.params.pod.name,
          labels: set?.labels ?? a.params.pod.labels,
          addresses: a.params.ips.map((ip) => ip.address.split('/')[0]!),
          ports: set?.ports ?? [],
        };
      });
  }

  /** Compiles everything and brings the dataplane's policy ACLs to it in one swap. */
  private sync(): void {
    if (this.policies.size === 0 && this.applied.size === 0) return; // nothing to compile, nothing to undo: a CNI ADD pays nothing
    const pods = this.podInterfaces();
    const podOf = new Map(pods.map((p) => [p.interface, p]));
    const present = new Set(this.dp.listInterfaces().map((i) => i.name));
    const want = new Map<string, Applied>();
    for (const c of compilePolicies([...this.policies.values()], pods, this.namespaces)) {
      const pod = podOf.get(c.interface)!;
      if (!present.has(c.interface)) continue;
      // An operator's ACL on the interface first: policy leaves it alone (and says so).
      const taken = (['ingress', 'egress'] as const).filter((d) => this.acls.isBound(c.interface, ACL_DIRECTION[d]));
      if (taken.length) {
        this.log.warn({ interface: c.interface, directions: taken }, 'network policy not applied: an operator ACL is bound to the interface');
        continue;
      }
      for (const direction of ['ingress', 'egress'] as const) {
        const rules = c[direction];
        want.set(aclName(c.interface, direction), { interface: c.interface, direction, isolated: rules !== undefined, rules: rules ?? TRACK_ALL, pod: refOf(pod.namespace, pod.name), network: pod.network });
      }
    }
    // 1. Newly isolated: an ACL that passes everything, bound (nothing changes yet).
    for (const [name, w] of want) {
      if (this.applied.has(name)) continue;
      this.dp.addAcl(name, PASS_ALL, 'policy');
      this.dp.bindAcl(w.interface, ACL_DIRECTION[w.direction], name);
    }
    // 2. Every rule change at once: new and changed rules in, the isolation that ends passes all.
    const swap: [string, NativeAclRule[]][] = [];
    for (const [name, w] of want)
      if (JSON.stringify(this.applied.get(name)?.rules) !== JSON.stringify(w.rules)) swap.push([name, w.rules.map((r) => toNativeRule(r.rule))]);
    for (const name of this.applied.keys()) if (!want.has(name)) swap.push([name, PASS_ALL]);
    if (swap.length) this.dp.setAclRulesMany(swap);
    // 3. Isolation that ended: unbound (where the interface still is) and gone; an
    // operator's ACL bound to its network meanwhile takes its place.
    const released: Applied[] = [];
    for (const [name, a] of this.applied) {
      if (want.has(name)) continue;
      if (present.has(a.interface)) this.dp.bindAcl(a.interface, ACL_DIRECTION[a.direction], undefined), released.push(a);
      this.dp.removeAcl(name);
    }
    this.applied.clear();
    for (const [name, w] of want) this.applied.set(name, w);
    for (const a of released) this.acls.reapply(a.interface, ACL_DIRECTION[a.direction]);
    if (swap.length) this.log.info({ changed: swap.length, isolated: want.size }, 'network policy ACLs updated');
  }
}
