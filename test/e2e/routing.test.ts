// memswitchd as a router: containers (network namespaces with veth interfaces, and
// dpdk-testpmd on memif interfaces) on several networks, each with the router's IPv4 and
// IPv6 addresses as its gateways. Ping, TCP and UDP cross two and three networks in both
// families, the kernel's ARP and neighbour discovery resolve the router and the router
// resolves them, TTL and hop-limit expiry come back as ICMP and ICMPv6, and what the
// router dropped shows in /metrics by reason.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Testpmd, dpdkAvailable, ensureHugepages } from '../../bench/testpmd.js';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';
import { eventually, testing } from '../helpers/switch.js';

const net = new Netns();
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
let testpmd: Testpmd | undefined;
let restoreHugepages: (() => void) | undefined;
const dir = mkdtempSync(path.join(tmpdir(), 'msw-routed-'));
const tag = `${process.pid % 10000}`;
const pods = { a: '10.81.1.2', b: '10.81.2.2', c: '10.81.3.2' } as const;
const pods6 = { a: 'fd81:1::2', b: 'fd81:2::2', c: 'fd81:3::2' } as const;
const testpmdIp = '10.81.4.9';
const testpmd6 = { ip: 'fd81:6::9', mac: '02:00:00:81:06:09' };
const ns: Record<string, string> = {};
// Fixed places, so a second daemon can take over from the first.
const env = { MEMSWITCH_API_SOCKET: path.join(dir, 'api.sock'), MEMSWITCH_STATE_DB: path.join(dir, 'state.db') };
let config = '';

beforeAll(async () => {
  const dpdk = dpdkAvailable();
  if (!dpdk.ok) throw new Error(`the routing test needs dpdk-testpmd: ${dpdk.reason} (scripts/setup.sh installs dpdk)`);
  const veths = Object.entries(pods).map(([p, ip], i) => {
    ns[p] = net.add(`r${p}`).name;
    const v6 = pods6[p as keyof typeof pods6];
    return `  - { name: r${p}${tag}, kind: veth, network: n${i + 1}, netns: ${`/var/run/netns/${ns[p]}`}, ifname: eth0, addresses: [${ip}/24, ${v6}/64], routes: [{ dst: 0.0.0.0/0, via: 10.81.${i + 1}.1 }, { dst: '::/0', via: 'fd81:${i + 1}::1' }] }`;
  });
  config = `networks: [{ name: n1 }, { name: n2 }, { name: n3 }, { name: n4 }, { name: n5 }, { name: n6 }]
interfaces:
${veths.join('\n')}
  - { name: tp${tag}, kind: memif, network: n4, socket: ${dir}/memif.sock, id: 0 }
  - { name: ip${tag}, kind: memif, network: n5, socket: ${dir}/memif.sock, id: 1, mode: ip }
  - { name: t6${tag}, kind: memif, network: n6, socket: ${dir}/memif.sock, id: 2 }
routers:
  - name: r
    interfaces:
      - { name: r-n1, network: n1, addresses: [10.81.1.1/24, 'fd81:1::1/64'] }
      - { name: r-n2, network: n2, addresses: [10.81.2.1/24, 'fd81:2::1/64'] }
      - { name: r-n3, network: n3, addresses: [10.81.3.1/24, 'fd81:3::1/64'] }
      - { name: r-n4, network: n4, addresses: [10.81.4.1/24] }
      - { name: r-n5, network: n5, addresses: [10.81.5.1/24] }
      - { name: r-n6, network: n6, addresses: ['fd81:6::1/64'] }
`;
  daemon = await Daemon.start(config, env);
  client = await connect(daemon.apiSocket);
  restoreHugepages = await ensureHugepages(32);
  testpmd = await Testpmd.start({
    vdevs: [{ role: 'client', socket: `${dir}/memif.sock`, id: 0, mac: '02:00:00:81:04:09' }],
    forwardMode: 'icmpecho',
    forwardingCpu: 1,
    memory: 'hugepages',
  });
}, 60_000);

afterAll(async () => {
  client?.close();
  await testpmd?.stop();
  await daemon?.stop('SIGKILL');
  restoreHugepages?.();
  net.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const ping = (from: keyof typeof pods, to: string, extra: string[] = []): string => {
  try {
    return net.exec(ns[from]!, ['ping', ...(to.includes(':') ? ['-6'] : []), '-c', '3', '-i', '0.2', '-W', '2', ...extra, to]);
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err); // ping exits 1 when replies are missing
  }
};

it('pings across two and three networks, and the gateway itself', () => {
  expect(ping('a', '10.81.1.1')).toMatch(/3 received/);
  expect(ping('a', pods.b)).toMatch(/3 received/);
  expect(ping('a', pods.c)).toMatch(/3 received/);
  expect(ping('c', pods.b)).toMatch(/3 received/);
  // The replies came back with one hop less: routed, not bridged.
  expect(ping('a', pods.b)).toMatch(/ttl=63/);
  expect(ping('b', '10.81.3.1')).toMatch(/3 received/); // another interface's address of the router
});

it('reaches a DPDK container on a memif network, resolving it by ARP', async () => {
  await eventually(async () => (await client!.listInterfaces({})).interfaces.some((i) => i.spec?.name === `tp${tag}` && i.state?.connected), 10_000, 'testpmd connected');
  expect(ping('a', testpmdIp)).toMatch(/3 received/);
  const { neighbors } = await client!.listNeighbors({});
  expect(neighbors).toContainEqual(expect.objectContaining({ routerInterface: 'r-n4', ip: testpmdIp, mac: '02:00:00:81:04:09', static: false }));
  expect(neighbors).toContainEqual(expect.objectContaining({ routerInterface: 'r-n2', ip: pods.b, static: false }));
});

async function iperf(server: keyof typeof pods, client: keyof typeof pods, udp: boolean, family: 4 | 6 = 4): Promise<{ bitsPerSecond: number; lostPercent?: number }> {
  const srv = spawn('ip', ['netns', 'exec', ns[server]!, 'iperf3', '-s', '-1', '-p', '5281'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const to = family === 4 ? pods[server] : pods6[server];
    const out = net.exec(ns[client]!, ['iperf3', '-c', to, '-p', '5281', '-t', '2', '-J', ...(udp ? ['-u', '-b', '100M'] : [])]);
    const end = (JSON.parse(out) as { end: { sum_received?: { bits_per_second: number }; sum?: { bits_per_second: number; lost_percent: number } } }).end;
    return udp ? { bitsPerSecond: end.sum!.bits_per_second, lostPercent: end.sum!.lost_percent } : { bitsPerSecond: end.sum_received!.bits_per_second };
  } finally {
    srv.kill('SIGKILL');
  }
}

it('carries TCP and UDP between routed networks', async () => {
  const tcp = await iperf('b', 'a', false);
  expect(tcp.bitsPerSecond).toBeGreaterThan(10e6);
  const udp = await iperf('c', 'a', true);
  expect(udp.bitsPerSecond).toBeGreaterThan(10e6);
  expect(udp.lostPercent).toBeLessThan(20);
});

it('pings over IPv6 across two and three networks, and the gateway itself, resolving by neighbour discovery', async () => {
  expect(ping('a', 'fd81:1::1')).toMatch(/3 received/);
  expect(ping('a', pods6.b)).toMatch(/3 received/);
  expect(ping('a', pods6.c)).toMatch(/3 received/);
  expect(ping('c', pods6.b)).toMatch(/3 received/);
  expect(ping('a', pods6.b)).toMatch(/ttl=63/); // the hop limit, one less: routed
  expect(ping('b', 'fd81:3::1')).toMatch(/3 received/);
  const { neighbors } = await client!.listNeighbors({});
  expect(neighbors).toContainEqual(expect.objectContaining({ routerInterface: 'r-n2', ip: pods6.b, static: false }));
  expect(neighbors).toContainEqual(expect.objectContaining({ routerInterface: 'r-n1', ip: pods6.a, static: false }));
});

it('carries TCP and UDP over IPv6 between routed networks', async () => {
  const tcp = await iperf('b', 'a', false, 6);
  expect(tcp.bitsPerSecond).toBeGreaterThan(10e6);
  const udp = await iperf('c', 'a', true, 6);
  expect(udp.bitsPerSecond).toBeGreaterThan(10e6);
  expect(udp.lostPercent).toBeLessThan(20);
});

it('answers hop-limit expiry and missing routes with ICMPv6 from the gateway', () => {
  expect(ping('a', pods6.b, ['-t', '1'])).toMatch(/From fd81:1::1 icmp_seq=\d+ Time exceeded: Hop limit/);
  expect(ping('a', 'fd99::1')).toMatch(/From fd81:1::1 icmp_seq=\d+ Destination unreachable: No route/);
});

it('answers TTL expiry with time exceeded from the gateway, and counts it', async () => {
  expect(ping('a', pods.b, ['-t', '1'])).toMatch(/From 10\.81\.1\.1 icmp_seq=\d+ Time to live exceeded/);
  expect(ping('a', '10.99.0.1')).toMatch(/From 10\.81\.1\.1 icmp_seq=\d+ Destination Net Unreachable/);
  const metrics = await (await fetch(`http://127.0.0.1:${daemon!.metricsPort}/metrics`)).text();
  expect(metrics).toMatch(new RegExp(`memswitch_interface_drops_total\\{interface="ra${tag}",reason="ttl_expired"\\} [1-9]`));
  expect(metrics).toMatch(new RegExp(`memswitch_interface_drops_total\\{interface="ra${tag}",reason="no_route"\\} [1-9]`));
});

it('takes a memif CNF in ip mode (no Ethernet header) and refuses one in ethernet mode there', async () => {
  const state = async () => (await client!.listInterfaces({})).interfaces.find((i) => i.spec?.name === `ip${tag}`)?.state;
  expect(() => new testing.MemifClient({ socket: `${dir}/memif.sock`, id: 1, timeoutMs: 2000 })).toThrow(/ip mode/);
  const cnf = new testing.MemifClient({ socket: `${dir}/memif.sock`, id: 1, mode: 'ip' });
  try {
    await eventually(async () => (await state())?.connected === true, 5000, 'ip-mode client connected');
    expect((await state())?.mode).toBe('ip');
  } finally {
    cnf.close();
  }
});

it('routes at once after a planned restart (--takeover): the DPDK container never saw it', async () => {
  const next = await Daemon.start(config, env, ['--takeover']);
  await daemon!.waitFor((l) => l.msg === 'handed over to a new memswitchd');
  await daemon!.stop('SIGKILL');
  daemon = next;
  client?.close();
  client = await connect(next.apiSocket);
  expect(ping('a', pods.b)).toMatch(/3 received/);
  expect(ping('c', testpmdIp)).toMatch(/3 received/);
  expect(testpmd!.running).toBe(true);
  const { interfaces } = await client.listInterfaces({});
  expect(interfaces.find((i) => i.spec?.name === `tp${tag}`)?.state).toMatchObject({ connected: true, connects: 1 });
});

// Last: it replaces the ICMP-echo testpmd with one that swaps addresses and ports (its
// 5tswap mode handles IPv6), so a UDP datagram from a pod comes back from the DPDK
// container through the router, both ways over memif.
it('carries IPv6 UDP to a DPDK container on a memif network and back', async () => {
  await testpmd?.stop();
  testpmd = undefined;
  testpmd = await Testpmd.start({
    vdevs: [{ role: 'client', socket: `${dir}/memif.sock`, id: 2, mac: testpmd6.mac }],
    forwardMode: '5tswap',
    forwardingCpu: 1,
    memory: 'hugepages',
  });
  await eventually(async () => (await client!.listInterfaces({})).interfaces.some((i) => i.spec?.name === `t6${tag}` && i.state?.connected), 10_000, 'testpmd connected');
  // testpmd answers no neighbour discovery: the router is told its MAC.
  await client!.addNeighbor({ routerInterface: 'r-n6', ip: testpmd6.ip, mac: testpmd6.mac });
  const udp = `import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(2)
s.bind(('${pods6.a}', 7000))
for _ in range(3):
    s.sendto(b'over memif and back', ('${testpmd6.ip}', 9000))
    try:
        data, peer = s.recvfrom(100)
        print(peer[0], peer[1], data.decode())
        break
    except socket.timeout:
        pass
`;
  expect(net.exec(ns.a!, ['python3', '-c', udp]).trim()).toBe(`${testpmd6.ip} 9000 over memif and back`);
});
