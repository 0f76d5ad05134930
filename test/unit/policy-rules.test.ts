// NetworkPolicy semantics compiled to ACL rules (pure): selectors, ipBlock excepts,
// named ports and endPort, policyTypes defaults, MultiNetworkPolicy's networks.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { compilePolicies, fromManifest, matches, networkPolicySchema, subtract, type NetworkPolicy, type PolicyPod } from '../../orchestrator/src/domain/policy-rules.js';

const pod = (ns: string, name: string, addr: string, labels: Record<string, string> = {}, extra: Partial<PolicyPod> = {}): PolicyPod => ({
  interface: `${ns}-${name}`,
  network: 'pods',
  cniNetwork: 'memswitch',
  primary: true,
  namespace: ns,
  name,
  labels: { pod: name, ...labels },
  addresses: [addr],
  ports: [],
  ...extra,
});
const policy = (p: Partial<NetworkPolicy> & { namespace: string; name: string }): NetworkPolicy => networkPolicySchema.parse(p);
const namespaces = new Map([
  ['x', { ns: 'x' }],
  ['y', { ns: 'y', team: 'blue' }],
  ['z', { ns: 'z' }],
]);
const pods = [pod('x', 'a', '10.0.0.1'), pod('x', 'b', '10.0.0.2'), pod('y', 'a', '10.0.1.1'), pod('z', 'a', '10.0.2.1', {}, { ports: [{ name: 'web', protocol: 'TCP', port: 8080 }] })];
const of = (compiled: ReturnType<typeof compilePolicies>, iface: string) => compiled.find((c) => c.interface === iface);

describe('policy rules', () => {
  it('subtracts excepts from a CIDR as the fewest prefixes', () => {
    expect(subtract('10.0.0.0/8', ['10.1.0.0/16']).sort()).toEqual(
      ['10.0.0.0/16', '10.2.0.0/15', '10.4.0.0/14', '10.8.0.0/13', '10.16.0.0/12', '10.32.0.0/11', '10.64.0.0/10', '10.128.0.0/9'].sort(),
    );
    expect(subtract('10.0.0.0/24', ['10.0.0.0/24'])).toEqual([]);
    expect(subtract('10.0.0.0/24', ['192.168.0.0/16'])).toEqual(['10.0.0.0/24']);
    expect(subtract('fd00::/15', ['fd00::/16'])).toEqual(['fd01:0:0:0:0:0:0:0/16']);
    expect(subtract('0.0.0.0/0', ['128.0.0.0/1', '0.0.0.0/2'])).toEqual(['64.0.0.0/2']);
  });

  it('matches labels and expressions as the Kubernetes API does', () => {
    const l = { app: 'web', tier: 'front' };
    expect(matches({}, l)).toBe(true);
    expect(matches({ matchLabels: { app: 'web' } }, l)).toBe(true);
    expect(matches({ matchLabels: { app: 'db' } }, l)).toBe(false);
    expect(matches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, l)).toBe(true);
    expect(matches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, l)).toBe(false);
    expect(matches({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, l)).toBe(true);
    expect(matches({ matchExpressions: [{ key: 'env', operator: 'Exists' }] }, l)).toBe(false);
    expect(matches({ matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, l)).toBe(true);
    expect(() => networkPolicySchema.parse({ namespace: 'x', name: 'p', podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } })).toThrow(/need values/);
  });

  it('isolates only the directions a selecting policy names, and allows nothing it does not list', () => {
    const compiled = compilePolicies([policy({ namespace: 'x', name: 'deny-in', policyTypes: ['Ingress'] })], pods, namespaces);
    expect(compiled.map((c) => c.interface).sort()).toEqual(['x-a', 'x-b']);
    expect(of(compiled, 'x-a')).toEqual({ interface: 'x-a', ingress: [] });
    // policyTypes left out: Ingress, and Egress once there are egress rules.
    const both = compilePolicies([policy({ namespace: 'x', name: 'p', podSelector: { matchLabels: { pod: 'a' } }, egress: [{}] })], pods, namespaces);
    expect(of(both, 'x-a')).toEqual({ interface: 'x-a', ingress: [], egress: [{ policy: 'x/p', rule: { action: 'permit+reflect' } }] });
  });

  it('allows peers by pod selector in its namespace, by namespace selector, and by both at once', () => {
    const p = policy({
      namespace: 'x',
      name: 'web',
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [
        { from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ protocol: 'TCP', port: 80 }] },
        { from: [{ namespaceSelector: { matchLabels: { team: 'blue' } }, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ protocol: 'UDP', port: 80, endPort: 81 }] },
        { from: [{ namespaceSelector: {} }], ports: [{ port: 'web' }] },
      ],
    });
    const rules = of(compilePolicies([p], pods, namespaces), 'x-a')!.ingress!.map((r) => r.rule);
    expect(rules.slice(0, 2)).toEqual([
      { action: 'permit+reflect', src: '10.0.0.2/32', protocol: 'tcp', dstPorts: '80' }, // x/b
      { action: 'permit+reflect', src: '10.0.1.1/32', protocol: 'udp', dstPorts: '80-81' }, // y/a only
    ]);
    // A named port is the selected pod's own: x/a declares none, so the rule allows nothing.
    expect(rules).toHaveLength(2);
  });

  it('resolves an egress named port on each peer, and turns ipBlock excepts into prefixes', () => {
    const p = policy({
      namespace: 'x',
      name: 'out',
      policyTypes: ['Egress'],
      egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }], ports: [{ port: 'web' }] }, { to: [{ ipBlock: { cidr: '192.168.0.0/23', except: ['192.168.1.0/24'] } }] }],
    });
    const compiled = of(compilePolicies([p], pods, namespaces), 'x-b')!;
    expect(compiled.ingress).toBeUndefined();
    expect(compiled.egress!.map((r) => r.rule)).toEqual([
      { action: 'permit+reflect', dst: '10.0.2.1/32', protocol: 'tcp', dstPorts: '8080' },
      { action: 'permit+reflect', dst: '192.168.0.0/24' },
    ]);
  });

  it('scopes a MultiNetworkPolicy to the networks it names, with peers addressed on them', () => {
    const secondary = [
      ...pods,
      pod('x', 'a', '172.16.0.1', {}, { interface: 'x-a-net1', network: 'net1', primary: false }),
      pod('x', 'b', '172.16.0.2', {}, { interface: 'x-b-net1', network: 'net1', primary: false }),
    ];
    const p = policy({ namespace: 'x', name: 'm', networks: ['net1'], podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: {} }] }] });
    const compiled = compilePolicies([p], secondary, namespaces);
    expect(compiled.map((c) => c.interface)).toEqual(['x-a-net1']);
    expect(compiled[0]!.ingress!.map((r) => r.rule.src)).toEqual(['172.16.0.1/32', '172.16.0.2/32']);
  });

  it('unions the policies that select a pod', () => {
    const a = policy({ namespace: 'x', name: 'a', ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] });
    const b = policy({ namespace: 'x', name: 'b', ingress: [{ from: [{ ipBlock: { cidr: '10.9.0.0/16' } }] }] });
    const rules = of(compilePolicies([a, b], pods, namespaces), 'x-a')!.ingress!;
    expect(rules.map((r) => [r.policy, r.rule.src])).toEqual([
      ['x/a', '10.0.0.2/32'],
      ['x/b', '10.9.0.0/16'],
    ]);
  });

  it('takes the manifests deploy/ shows, as kubectl would', () => {
    const docs = parseAllDocuments(readFileSync(new URL('../../deploy/network-policies.yaml', import.meta.url), 'utf8')).map((d) => d.toJS());
    const parsed = docs.map((d) => networkPolicySchema.parse(fromManifest(d)));
    expect(parsed.map((p) => [p.namespace, p.name, p.networks])).toEqual([
      ['default', 'web-from-blue-clients', []],
      ['default', 'cnf-memif', ['memif-a']],
    ]);
    expect(() => fromManifest({ kind: 'Service' })).toThrow(/NetworkPolicy or MultiNetworkPolicy/);
  });
});
