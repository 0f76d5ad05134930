// A MultiNetworkPolicy on a memif pod: dpdk-testpmd in icmpecho mode (it answers ARP and
// pings, unmodified) is a CNF on a memif attachment of network `memnet`, inside its pod's
// network namespace; two veth pods on the same network ping it. The policy lets in only
// the pods of the CNF's own namespace; the dataplane enforces it on the memif interface.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpdkAvailable, Testpmd } from '../../bench/testpmd.js';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';

const net = new Netns();
const dir = mkdtempSync(path.join(tmpdir(), 'msw-npmemif-'));
const tag = process.pid % 100000;
const CNF_IP = '10.90.0.10';
const clients = { 'x/a': '10.90.0.2', 'y/a': '10.90.0.3' } as const;
const ns: Record<string, string> = {};
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
let pmd: Testpmd | undefined;

const ping = (from: keyof typeof clients): boolean => spawnSync('ip', ['netns', 'exec', ns[from]!, 'ping', '-c', '1', '-W', '1', CNF_IP]).status === 0;
const attach = (ref: string, kind: 'ATTACHMENT_KIND_MEMIF' | 'ATTACHMENT_KIND_VETH', netnsPath: string, ip: string) => {
  const [podNamespace, podName] = ref.split('/') as [string, string];
  return client!.attach({
    key: { cniNetwork: 'memnet', containerId: `${podNamespace}-${podName}-${tag}`, ifname: 'net1' },
    netns: netnsPath,
    network: 'memnet',
    kind,
    ips: [{ address: `${ip}/24`, gateway: '' }],
    podNamespace,
    podName,
  });
};

beforeAll(async () => {
  const dpdk = dpdkAvailable();
  if (!dpdk.ok) throw new Error(`this test needs dpdk-testpmd: ${dpdk.reason} (scripts/setup.sh installs dpdk-dev)`);
  daemon = await Daemon.start(`networks: [{ name: memnet }]\ncni: { infoDir: ${dir}/info, spoolDir: ${dir}/spool, socketDir: ${dir}/m }\n`);
  client = await connect(daemon.apiSocket);
  const cnf = net.add('npmcnf');
  const { attachment } = await attach('x/cnf', 'ATTACHMENT_KIND_MEMIF', cnf.path, CNF_IP);
  const info = JSON.parse(readFileSync(attachment.infoFile, 'utf8')) as { memif: { secret: string } };
  for (const ref of Object.keys(clients) as (keyof typeof clients)[]) {
    const n = net.add(`npm${ref.replace('/', '')}`);
    ns[ref] = n.name;
    await attach(ref, 'ATTACHMENT_KIND_VETH', n.path, clients[ref]);
  }
  await client.setPodLabels({ namespace: 'x', name: 'cnf', labels: { app: 'cnf' } });
  for (const n of ['x', 'y']) await client.setNamespaceLabels({ namespace: n, labels: { ns: n } });
  // testpmd, unmodified, in the CNF's namespace: the abstract socket is only there.
  const wrapper = path.join(dir, 'testpmd-in-pod');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${cnf.name} ${process.env.TESTPMD ?? '/usr/bin/dpdk-testpmd'} "$@"\n`);
  chmodSync(wrapper, 0o755);
  pmd = await Testpmd.start({
    binary: wrapper,
    vdevs: [{ role: 'client', socket: attachment.socket, id: attachment.memifId, secret: info.memif.secret, mac: attachment.mac }],
    forwardMode: 'icmpecho',
    forwardingCpu: 1,
    memory: 'nohuge',
  });
}, 60_000);

afterAll(async () => {
  await pmd?.stop(); // first: DPDK 22.11 may crash when its memif peer goes away under it
  client?.close();
  await daemon?.stop('SIGTERM');
  net.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('a MultiNetworkPolicy on a memif CNF (dpdk-testpmd)', () => {
  it('lets in only what it allows, on the memif interface', async () => {
    expect(ping('x/a')).toBe(true);
    expect(ping('y/a')).toBe(true);
    await client!.applyNetworkPolicy({
      policy: {
        namespace: 'x',
        name: 'cnf-from-x',
        networks: ['memnet'],
        podSelector: { matchLabels: { app: 'cnf' }, matchExpressions: [] },
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' }, matchExpressions: [] }, podSelector: null, ipBlock: null }], ports: [] }],
        egress: [],
        hasEgress: false,
      },
    });
    const { interfaces } = await client!.getPolicyStatus();
    expect(interfaces.map((i) => [i.pod, i.network])).toEqual([['x/cnf', 'memnet']]);
    expect(ping('x/a')).toBe(true);
    expect(ping('y/a')).toBe(false);
    expect((await client!.getPolicyStatus()).interfaces[0]!.ingress!.denied).toBeGreaterThanOrEqual(1);
    await client!.deleteNetworkPolicy({ namespace: 'x', name: 'cnf-from-x' });
    expect(ping('y/a')).toBe(true);
  });
});
