// Kubernetes network policy semantics with real traffic, in the shape of the upstream
// netpol e2e suite: namespaces x, y, z with pods a, b, c each (veth pods on one network,
// and a second network for MultiNetworkPolicy), TCP and UDP servers on ports 80 and 81.
// For every case the full truth table (9 x 8 pod pairs x 2 protocols x 2 ports) is probed
// with real connections and compared with the table this file computes from the policy
// semantics itself (a model written apart from the daemon's compiler, over labels, not
// addresses). Policies go in as Kubernetes manifests through `memswitch apply policy`.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { scrape, value } from '../helpers/metrics.js';
import { Netns } from '../helpers/netns.js';
import { EchoServers } from '../helpers/probe.js';

const run = promisify(execFile);
const cliBin = path.join(repoRoot, 'bin/memswitch');
const probeScript = path.join(repoRoot, 'test/helpers/probe.py');
const net = new Netns();
const servers = new EchoServers();
const dir = mkdtempSync(path.join(tmpdir(), 'msw-netpol-'));
const NAMESPACES = ['x', 'y', 'z'] as const;
const PODS = ['a', 'b', 'c'] as const;
const PORTS = [80, 81] as const;
const PROTOCOLS = ['tcp', 'udp'] as const;
// x/a declares a named port, as its container spec would.
const NAMED_PORTS: Record<string, { name: string; protocol: 'TCP' | 'UDP'; port: number }[]> = { 'x/a': [{ name: 'serve-81', protocol: 'TCP', port: 81 }] };

interface Pod {
  ns: string;
  name: string;
  netns: string;
  ip: string; // on network pods (eth0)
  ip1: string; // on network net1
  labels: Record<string, string>;
}
const pods: Pod[] = NAMESPACES.flatMap((ns, i) => PODS.map((name, j) => ({ ns, name, netns: '', ip: `10.86.${i}.${j + 2}`, ip1: `10.87.${i}.${j + 2}`, labels: { pod: name } })));
const nsLabels = (ns: string): Record<string, string> => ({ ns });
// The state database and socket outlive one daemon: the restart case starts another on them.
const daemonEnv = { MEMSWITCH_METRICS_LISTEN: '127.0.0.1:0', MEMSWITCH_STATE_DB: path.join(dir, 'state.db'), MEMSWITCH_API_SOCKET: path.join(dir, 'api.sock') };
let daemonConfig = '';
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;

beforeAll(async () => {
  const config = (daemonConfig = `networks: [{ name: pods }, { name: net1 }]\ncni: { infoDir: ${dir}/info, spoolDir: ${dir}/spool, socketDir: ${dir}/m }\n`);
  daemon = await Daemon.start(config, daemonEnv);
  client = await connect(daemon.apiSocket);
  for (const p of pods) {
    const ns = net.add(`np${p.ns}${p.name}`);
    p.netns = ns.name;
    for (const [network, ifname, ip] of [
      ['pods', 'eth0', p.ip],
      ['net1', 'net1', p.ip1],
    ] as const)
      await client.attach({
        key: { cniNetwork: network, containerId: `${p.ns}-${p.name}-${process.pid}`, ifname },
        netns: ns.path,
        network,
        kind: 'ATTACHMENT_KIND_VETH',
        ips: [{ address: `${ip}/16`, gateway: '' }],
        podNamespace: p.ns,
        podName: p.name,
      });
    await client.setPodLabels({ namespace: p.ns, name: p.name, labels: p.labels, ports: NAMED_PORTS[`${p.ns}/${p.name}`] ?? [] });
    await servers.start(p.netns, 'tcp', [...PORTS]);
    await servers.start(p.netns, 'udp', [...PORTS]);
  }
  for (const ns of NAMESPACES) await client.setNamespaceLabels({ namespace: ns, labels: nsLabels(ns) });
}, 120_000);

afterAll(async () => {
  await servers.stopAll();
  client?.close();
  await daemon?.stop('SIGKILL');
  net.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

// ---- the model: NetworkPolicy semantics over labels, for one network ----

type Selector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
type PeerSpec = { podSelector?: Selector; namespaceSelector?: Selector; ipBlock?: { cidr: string; except?: string[] } };
type PortSpec = { protocol?: string; port?: number | string; endPort?: number };
interface Manifest {
  kind: 'NetworkPolicy' | 'MultiNetworkPolicy';
  metadata: { namespace: string; name: string; annotations?: Record<string, string> };
  spec: { podSelector: Selector; policyTypes?: string[]; ingress?: { from?: PeerSpec[]; ports?: PortSpec[] }[]; egress?: { to?: PeerSpec[]; ports?: PortSpec[] }[] };
}

function selects(sel: Selector, labels: Record<string, string>): boolean {
  const ok = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    ok &&
    (sel.matchExpressions ?? []).every((e) =>
      e.operator === 'In' ? e.values!.includes(labels[e.key] ?? '\0') : e.operator === 'NotIn' ? !e.values!.includes(labels[e.key] ?? '\0') : e.operator === 'Exists' ? e.key in labels : !(e.key in labels),
    )
  );
}
const v4 = (a: string): number => a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
const inCidr = (a: string, cidr: string): boolean => {
  const [base, len] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  return Math.floor(v4(a) / size) === Math.floor(v4(base!) / size);
};
function peerAllows(peer: PeerSpec, policyNs: string, other: Pod, otherIp: string): boolean {
  if (peer.ipBlock) return inCidr(otherIp, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((e) => inCidr(otherIp, e));
  const nsOk = peer.namespaceSelector ? selects(peer.namespaceSelector, nsLabels(other.ns)) : other.ns === policyNs;
  return nsOk && (!peer.podSelector || selects(peer.podSelector, other.labels));
}
// A named port is looked up on the destination (the selected pod for ingress, the peer for egress).
function portAllows(port: PortSpec, proto: string, number: number, dst: Pod): boolean {
  const protocol = (port.protocol ?? 'TCP').toLowerCase();
  if (protocol !== proto) return false;
  if (port.port === undefined) return true;
  if (typeof port.port === 'string') return (NAMED_PORTS[`${dst.ns}/${dst.name}`] ?? []).some((n) => n.name === port.port && n.protocol.toLowerCase() === proto && n.port === number);
  return number >= port.port && number <= (port.endPort ?? port.port);
}
function directionAllows(policies: Manifest[], dir: 'ingress' | 'egress', subject: Pod, other: Pod, secondary: boolean, proto: string, port: number): boolean {
  const applies = policies.filter((p) => {
    const types = p.spec.policyTypes ?? ['Ingress', ...(p.spec.egress ? ['Egress'] : [])];
    const scoped = secondary ? p.kind === 'MultiNetworkPolicy' : p.kind === 'NetworkPolicy';
    return scoped && p.metadata.namespace === subject.ns && selects(p.spec.podSelector, subject.labels) && types.includes(dir === 'ingress' ? 'Ingress' : 'Egress');
  });
  if (applies.length === 0) return true; // not isolated
  const dst = dir === 'ingress' ? subject : other;
  const otherIp = secondary ? other.ip1 : other.ip;
  return applies.some((p) =>
    (dir === 'ingress' ? (p.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })) : (p.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }))).some(
      (r) => (!r.peers?.length || r.peers.some((peer) => peerAllows(peer, p.metadata.namespace, other, otherIp))) && (!r.ports?.length || r.ports.some((pt) => portAllows(pt, proto, port, dst))),
    ),
  );
}

type Table = Map<string, boolean>;
const cell = (src: Pod, dst: Pod, proto: string, port: number): string => `${src.ns}/${src.name} -> ${dst.ns}/${dst.name} ${proto}/${port}`;

function expected(policies: Manifest[], secondary: boolean): Table {
  const t: Table = new Map();
  for (const src of pods)
    for (const dst of pods) {
      if (src === dst) continue;
      for (const proto of PROTOCOLS)
        for (const port of PORTS)
          t.set(cell(src, dst, proto, port), directionAllows(policies, 'egress', src, dst, secondary, proto, port) && directionAllows(policies, 'ingress', dst, src, secondary, proto, port));
    }
  return t;
}

/** Every pair probed at once: one probe.py per source pod, all sources in parallel. */
async function probed(secondary: boolean): Promise<Table> {
  const t: Table = new Map();
  await Promise.all(
    pods.map(async (src) => {
      const targets = pods.filter((d) => d !== src).flatMap((dst) => PROTOCOLS.flatMap((proto) => PORTS.map((port) => ({ dst, proto, port, key: `${proto}:${secondary ? dst.ip1 : dst.ip}:${port}` }))));
      const { stdout } = await run('ip', ['netns', 'exec', src.netns, 'python3', probeScript, 'matrix', '--timeout', '1.5', ...targets.map((x) => x.key)], { timeout: 30_000 });
      const results = JSON.parse(stdout) as Record<string, string>;
      for (const x of targets) t.set(cell(src, x.dst, x.proto, x.port), results[x.key] === 'ok');
    }),
  );
  return t;
}

/** The cells where the probes and the model disagree (empty: they agree). */
function differences(want: Table, got: Table): string[] {
  return [...want].filter(([k, v]) => got.get(k) !== v).map(([k, v]) => `${k}: expected ${v ? 'allowed' : 'denied'}, probed ${got.get(k) ? 'allowed' : 'denied'}`);
}

async function applyOnly(manifests: Manifest[]): Promise<void> {
  for (const p of (await client!.listNetworkPolicies()).policies) await client!.deleteNetworkPolicy({ namespace: p.policy.namespace, name: p.policy.name });
  await client!.clearConntrack(); // a case starts from no flows
  if (manifests.length === 0) return;
  const file = path.join(dir, 'policies.yaml');
  writeFileSync(file, manifests.map((m) => stringify(m)).join('---\n'));
  const r = spawnSync(cliBin, ['--api', daemon!.apiSocket, 'apply', 'policy', '-f', file], { encoding: 'utf8', timeout: 20_000 });
  expect(r.status, r.stderr).toBe(0);
}

const np = (namespace: string, name: string, spec: Manifest['spec']): Manifest => ({ kind: 'NetworkPolicy', metadata: { namespace, name }, spec });
const CASES: { name: string; policies: Manifest[]; secondary?: boolean; denies?: boolean }[] = [
  { name: 'no policy: everyone reaches everyone', policies: [] },
  { name: 'default deny ingress in x', policies: [np('x', 'deny-in', { podSelector: {}, policyTypes: ['Ingress'] })], denies: true },
  { name: 'default deny egress in x', policies: [np('x', 'deny-out', { podSelector: {}, policyTypes: ['Egress'] })], denies: true },
  { name: 'x/a allows ingress from namespace y only', policies: [np('x', 'from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] })], denies: true },
  {
    name: 'x/a allows pods b of every namespace (pod AND namespace selector)',
    policies: [np('x', 'from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }] })],
    denies: true,
  },
  {
    name: 'x/a allows namespace y OR pods c of x (two peers)',
    policies: [np('x', 'or', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'c' } } }] }] })],
    denies: true,
  },
  {
    name: 'x/a allows an ipBlock with an except',
    policies: [np('x', 'block', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.86.0.0/16', except: ['10.86.1.0/24'] } }] }] })],
    denies: true,
  },
  { name: 'x/a allows TCP 80 only', policies: [np('x', 'tcp80', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 80 }] }] })], denies: true },
  { name: 'x/a allows UDP 80-81 (endPort)', policies: [np('x', 'udp-range', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'UDP', port: 80, endPort: 81 }] }] })], denies: true },
  { name: 'x/a allows its named port serve-81', policies: [np('x', 'named', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 'serve-81' }] }] })], denies: true },
  { name: 'x/b may send to TCP 81 only', policies: [np('x', 'egress-81', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'TCP', port: 81 }] }] })], denies: true },
  {
    name: 'y: pods not a take pods a and b only (matchExpressions); z/c sends nothing',
    policies: [
      np('y', 'expr', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] } }] }] }),
      np('z', 'c-silent', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'] }),
    ],
    denies: true,
  },
  {
    name: 'MultiNetworkPolicy on net1: x/a takes namespace z only there; the primary network stays open',
    policies: [
      {
        kind: 'MultiNetworkPolicy',
        metadata: { namespace: 'x', name: 'net1-from-z', annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'net1' } },
        spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }] },
      },
    ],
    secondary: true,
    denies: true,
  },
];

describe('network policy truth tables (9 pods x 2 protocols x 2 ports, real connections)', () => {
  for (const c of CASES)
    it(c.name, async () => {
      await applyOnly(c.policies);
      const want = expected(c.policies, c.secondary ?? false);
      if (c.denies) expect([...want.values()].some((v) => !v)).toBe(true); // the case tests something
      expect(differences(want, await probed(c.secondary ?? false))).toEqual([]);
      // The other network is not this policy's business.
      if (c.secondary) expect(differences(expected(c.policies, false), await probed(false))).toEqual([]);
    }, 60_000);

  it('shows the isolated interfaces, counts verdicts per policy and drops as policy_denied', async () => {
    await applyOnly([np('x', 'tcp80', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 80 }] }] })]);
    await probed(false);
    const shown = spawnSync(cliBin, ['--api', daemon!.apiSocket, 'show', 'policy'], { encoding: 'utf8' });
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^x\/tcp80\s+\(primary\)\s+1\s+8\s+0$/m); // 8 pods reached x/a on TCP 80
    expect(shown.stdout).toMatch(/ingress: isolated, 1 rules, [1-9]\d* new flows denied/);
    expect(shown.stdout).toMatch(/^\s+8\s+x\/tcp80\s+permit\+reflect tcp from any to any port 80$/m);
    const m = await scrape(daemon!.metricsPort!);
    expect(value(m, 'memswitch_policy_allowed_flows_total', { policy: 'x/tcp80', direction: 'ingress' })).toBe(8);
    const iface = (await client!.getPolicyStatus()).interfaces[0]!.interface;
    expect(value(m, 'memswitch_interface_drops_total', { interface: iface, reason: 'policy_denied' })).toBeGreaterThanOrEqual(24);
    // The interface's ACL is the policy's: an operator's cannot take its place.
    const rule = { action: 'ACL_ACTION_PERMIT' as const, src: '', dst: '', protocol: '', srcPorts: '', dstPorts: '', icmp: '' };
    await client!.createAcl({ acl: { name: 'operator', rules: [rule] } });
    await expect(client!.bindAcl({ binding: { acl: 'operator', interface: iface, direction: 'ACL_DIRECTION_OUT' } })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/isolated by network policy/) });
  }, 60_000);

  it('enforces the stored policies after a restart, before anything is asked of the API', async () => {
    const policies = [np('x', 'tcp80', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 80 }] }] })];
    await applyOnly(policies);
    client!.close();
    await daemon!.stop('SIGTERM');
    daemon = await Daemon.start(daemonConfig, daemonEnv);
    expect(differences(expected(policies, false), await probed(false))).toEqual([]);
    client = await connect(daemon.apiSocket);
    expect((await client.listNetworkPolicies()).policies.map((p) => p.policy.name)).toEqual(['tcp80']);
  }, 60_000);
});
