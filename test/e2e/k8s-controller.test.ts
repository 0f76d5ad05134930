// The Kubernetes policy controller (`memswitch k8s-controller`) against a MOCK API server
// (test/helpers/fake-kube-apiserver.ts: no cluster can run here), and everything below it
// real: memswitchd, veth pods, their TCP connections. Objects in the API's wire shapes
// (a Pod with its node and named container ports, Namespaces, a NetworkPolicy, a
// MultiNetworkPolicy); then watch events change them and the pods' traffic follows.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { FakeKubeApiServer } from '../helpers/fake-kube-apiserver.js';
import { Netns } from '../helpers/netns.js';
import { EchoServers, probe } from '../helpers/probe.js';
import { terminate } from '../helpers/processes.js';

const cliBin = path.join(repoRoot, 'bin/memswitch');
const net = new Netns();
const servers = new EchoServers();
const api = new FakeKubeApiServer();
const dir = mkdtempSync(path.join(tmpdir(), 'msw-k8s-'));
const kubeconfig = path.join(dir, 'kubeconfig');
const tag = process.pid % 100000;
const pods = { 'shop/web': '10.88.0.2', 'shop/client': '10.88.0.3', 'other/client': '10.88.0.4' } as const;
type PodRef = keyof typeof pods;
const netns: Partial<Record<PodRef, string>> = {};
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
let controller: ChildProcess | undefined;
let controllerExit: Promise<unknown> | undefined;
let controllerLog = '';

// The API's wire shapes (kubectl get -o json), trimmed to what the controller reads.
const pod = (ref: PodRef, labels: Record<string, string>, node = 'node-1') => {
  const [namespace, name] = ref.split('/') as [string, string];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, uid: `uid-${name}`, labels },
    spec: { nodeName: node, containers: [{ name: 'main', image: 'busybox', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }] },
    status: { phase: 'Running', podIP: pods[ref] },
  };
};
const namespace = (name: string, labels: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } } });
const webPolicy = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: 'shop', name: 'web-from-clients', uid: 'uid-np' },
  // Clients of this namespace, or of any namespace labelled trusted, on the named port.
  spec: {
    podSelector: { matchLabels: { app: 'web' } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }, { namespaceSelector: { matchLabels: { trusted: 'yes' } }, podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }],
  },
};

function startController(): void {
  controllerLog = '';
  controller = spawn(cliBin, ['--api', daemon!.apiSocket, 'k8s-controller', '--kubeconfig', kubeconfig, '--node', 'node-1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  controller.stdout!.on('data', (d: Buffer) => (controllerLog += d.toString()));
  controller.stderr!.on('data', (d: Buffer) => (controllerLog += d.toString()));
  controllerExit = new Promise((resolve) => controller!.on('exit', resolve));
}
async function stopController(): Promise<void> {
  await terminate(controller, controllerExit, 3000);
}
const reaches = (from: PodRef, port: number): boolean => probe(netns[from]!, 'connect', 'tcp', pods['shop/web'], port) === 'ok';
async function policies(): Promise<string[]> {
  return (await client!.listNetworkPolicies()).policies.map((p) => `${p.policy.namespace}/${p.policy.name}`).sort();
}

beforeAll(async () => {
  daemon = await Daemon.start(`networks: [{ name: pods }]\ncni: { infoDir: ${dir}/info, spoolDir: ${dir}/spool, socketDir: ${dir}/m }\n`);
  client = await connect(daemon.apiSocket);
  for (const [ref, ip] of Object.entries(pods) as [PodRef, string][]) {
    const [ns, name] = ref.split('/') as [string, string];
    const n = net.add(`k8${ns.slice(0, 2)}${name.slice(0, 3)}`);
    netns[ref] = n.name;
    await client.attach({
      key: { cniNetwork: 'pods', containerId: `${ns}-${name}-${tag}`, ifname: 'eth0' },
      netns: n.path,
      network: 'pods',
      kind: 'ATTACHMENT_KIND_VETH',
      ips: [{ address: `${ip}/24`, gateway: '' }],
      podNamespace: ns,
      podName: name,
    });
  }
  await servers.start(netns['shop/web']!, 'tcp', [80, 81]);
  await api.start();
  api.writeKubeconfig(kubeconfig);
  api.put('namespaces', namespace('shop', {}));
  api.put('namespaces', namespace('other', {}));
  api.put('pods', pod('shop/web', { app: 'web' }));
  api.put('pods', pod('shop/client', { app: 'client' }));
  api.put('pods', pod('other/client', { app: 'client' }));
  api.put('networkpolicies', webPolicy);
}, 60_000);

afterAll(async () => {
  await stopController();
  await api.stop();
  await servers.stopAll();
  client?.close();
  await daemon?.stop('SIGKILL');
  net.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('k8s-controller (mock API server, real dataplane)', () => {
  beforeEach(({ onTestFailed }) => onTestFailed(() => console.error(`k8s-controller log:\n${controllerLog}`)));
  it('lists and watches only what it needs, and programs labels, named ports and policies', async () => {
    startController();
    await expect.poll(policies, { timeout: 15_000 }).toEqual(['shop/web-from-clients']);
    expect(api.requests.some((r) => r.startsWith('GET /api/v1/pods?') && r.includes('fieldSelector=spec.nodeName%3Dnode-1'))).toBe(true);
    expect(api.requests.some((r) => r.includes('/apis/networking.k8s.io/v1/networkpolicies?') && r.includes('watch=true'))).toBe(true);
    const { interfaces } = await client!.getPolicyStatus();
    expect(interfaces.map((i) => i.pod)).toEqual(['shop/web']);
    expect(reaches('shop/client', 80)).toBe(true); // the named port http is 80
    expect(reaches('shop/client', 81)).toBe(false);
    expect(reaches('other/client', 80)).toBe(false); // another namespace, not trusted
  });

  it('follows watch events: namespace and pod labels, a MultiNetworkPolicy, a deletion', async () => {
    api.put('namespaces', namespace('other', { trusted: 'yes' }));
    await expect.poll(() => reaches('other/client', 80), { timeout: 10_000 }).toBe(true);
    api.put('pods', pod('shop/client', { app: 'no-longer-a-client' }));
    await expect.poll(() => reaches('shop/client', 80), { timeout: 10_000 }).toBe(false);
    api.put('multinetworkpolicies', {
      apiVersion: 'k8s.cni.cncf.io/v1beta1',
      kind: 'MultiNetworkPolicy',
      metadata: { namespace: 'shop', name: 'secondary', annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'net1' } },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    });
    await expect.poll(policies, { timeout: 10_000 }).toEqual(['shop/secondary', 'shop/web-from-clients']);
    expect((await client!.listNetworkPolicies({ namespace: 'shop' })).policies.find((p) => p.policy.name === 'secondary')?.policy.networks).toEqual(['net1']);
    api.remove('networkpolicies', 'shop', 'web-from-clients');
    await expect.poll(() => reaches('shop/client', 81), { timeout: 10_000 }).toBe(true); // nothing isolates web now
    expect(await policies()).toEqual(['shop/secondary']);
  });

  it('lists again after the API server drops its watches, and on a restart prunes what the cluster deleted meanwhile', async () => {
    api.dropWatches();
    api.put('networkpolicies', webPolicy);
    await expect.poll(policies, { timeout: 20_000 }).toEqual(['shop/secondary', 'shop/web-from-clients']);
    await stopController();
    api.remove('multinetworkpolicies', 'shop', 'secondary'); // while no controller watched
    startController();
    await expect.poll(policies, { timeout: 15_000 }).toEqual(['shop/web-from-clients']);
    expect(controllerLog).toContain('deleting a network policy the cluster no longer has');
  });
});
