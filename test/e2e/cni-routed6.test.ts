// Dual-stack routed CNI networks: host-local gives each pod an IPv4 and an IPv6 address,
// memswitchd fills in both gateways and default routes (0.0.0.0/0, ::/0) and puts both
// gateways on the router's interface. The plugin is exec'd as a runtime does it, against
// a real memswitchd, real network namespaces and host-local IPAM; traffic stays between
// the namespaces made here. Every test ends with nothing left: attachments, leases,
// namespaces, processes.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { CniEnv, type CniRun } from '../helpers/cni.js';
import { Daemon } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';

// Container ids are this run's: the host ends of veth pairs are named from them, and
// another suite's daemon may run beside this one.
const tag = `${process.pid}`;

let env: CniEnv;
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
const net = new Netns();

beforeEach(() => {
  env = new CniEnv();
});
afterEach(async () => {
  client?.close();
  client = undefined;
  await daemon?.stop('SIGTERM');
  daemon = undefined;
  net.cleanup(); // the TCP server too, if a test failed before it exited
  env.cleanup();
});

async function startDaemon(networks: string[]): Promise<MemswitchClient> {
  daemon = await Daemon.start(env.daemonConfig(networks), env.daemonEnv());
  client = await connect(daemon.apiSocket);
  return client;
}

const ok = (r: CniRun): CniRun => {
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toMatchObject({ code: 0 });
  return r;
};
const ping = (ns: string, to: string): string => {
  try {
    return net.exec(ns, ['ping', ...(to.includes(':') ? ['-6'] : []), '-c', '3', '-i', '0.2', '-W', '2', to]);
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err); // ping exits 1 when replies are missing
  }
};

interface Subnets {
  v4: string;
  v6: string;
  gateway?: string;
  gateway6?: string;
}

/** A dual-stack routed network's plugin config: host-local, one range set per family. */
function routed(name: string, s: Subnets, extra: Record<string, unknown> = {}, ipamRoutes?: object[]): Record<string, unknown> {
  return {
    ...env.conf({ name, vswitchNetwork: name, interface: 'veth', gateway: true, ...extra }, null),
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: s.v4, ...(s.gateway ? { gateway: s.gateway } : {}) }], [{ subnet: s.v6, ...(s.gateway6 ? { gateway: s.gateway6 } : {}) }]],
      ...(ipamRoutes ? { routes: ipamRoutes } : {}),
      dataDir: env.ipamDir,
    },
  };
}

type Result = { interfaces: { name: string; mac: string; socketPath?: string }[]; ips: { address: string; gateway?: string; interface: number }[]; routes?: { dst: string; gw?: string }[] };
const host = (r: Result, family: 4 | 6): string => r.ips.find((i) => i.address.includes(':') === (family === 6))!.address.split('/')[0]!;

// A TCP transfer checked byte for byte (iperf3's received count stops when the sender has
// written its bytes, not when they arrived): the server answers what it read, as length
// and SHA-256; the client compares with what it sent. Node stands in for nc, not installed.
const SERVER = `const net = require('node:net'), crypto = require('node:crypto');
const s = net.createServer((c) => {
  const h = crypto.createHash('sha256'); let n = 0;
  c.on('data', (d) => { n += d.length; h.update(d); });
  c.on('end', () => { c.end(n + ' ' + h.digest('hex')); s.close(); });
});
s.listen(Number(process.argv[1]), '::', () => console.log('listening'));`;
const CLIENT = `const net = require('node:net'), crypto = require('node:crypto');
const buf = crypto.randomBytes(Number(process.argv[3]));
const c = net.connect({ host: process.argv[1], port: Number(process.argv[2]) }, () => c.end(buf));
let reply = ''; c.on('data', (d) => (reply += d));
c.on('end', () => console.log(JSON.stringify({ sent: buf.length + ' ' + crypto.createHash('sha256').update(buf).digest('hex'), reply })));
c.setTimeout(10000, () => { console.error('timed out'); process.exit(1); });`;

async function tcpTransfer(from: string, to: { ns: string; address: string }, bytes: number): Promise<{ sent: string; reply: string }> {
  const port = '5286';
  const server = net.spawn(to.ns, ['node', '-e', SERVER, port]);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the TCP server did not listen within 5 s')), 5000);
      server.stdout!.on('data', (d: Buffer) => {
        if (!d.toString().includes('listening')) return;
        clearTimeout(timer);
        resolve();
      });
      server.on('exit', (code) => reject(new Error(`the TCP server exited (${code})`)));
    });
    return JSON.parse(net.exec(from, ['node', '-e', CLIENT, to.address, port, String(bytes)])) as { sent: string; reply: string };
  } finally {
    server.kill('SIGKILL');
  }
}

describe('dual-stack routed CNI networks', () => {
  const subnetsA: Subnets = { v4: '10.73.1.0/24', v6: 'fd73:1::/64' };
  // IPAM's own gateways, and IPAM default routes without a next hop.
  const subnetsB: Subnets = { v4: '10.73.2.0/24', v6: 'fd73:2::/64', gateway: '10.73.2.254', gateway6: 'fd73:2::fe' };

  it('veth pods on two dual-stack routed networks: both families, both default routes, ping over both families and TCP over IPv6 through the router; DEL cleans up', async () => {
    const c = await startDaemon(['d6a', 'd6b']);
    const confA = routed('d6a', subnetsA);
    const confB = routed('d6b', subnetsB, {}, [{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
    const [a, b] = [net.add('d6a'), net.add('d6b')];
    const callA = { containerId: `ctr6-a-${tag}`, netns: a.path, ifname: 'eth0' };
    const callB = { containerId: `ctr6-b-${tag}`, netns: b.path, ifname: 'eth0' };
    const ra = ok(env.run({ command: 'ADD', ...callA }, confA)).json as Result;
    const rb = ok(env.run({ command: 'ADD', ...callB }, confB)).json as Result;
    expect(ra.ips).toEqual([
      { address: '10.73.1.2/24', gateway: '10.73.1.1', interface: 0 },
      { address: 'fd73:1::2/64', gateway: 'fd73:1::1', interface: 0 },
    ]);
    expect(ra.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '10.73.1.1' },
      { dst: '::/0', gw: 'fd73:1::1' },
    ]);
    expect(rb.ips).toEqual([
      { address: expect.stringMatching(/^10\.73\.2\.\d+\/24$/), gateway: '10.73.2.254', interface: 0 },
      { address: expect.stringMatching(/^fd73:2::[0-9a-f]+\/64$/), gateway: 'fd73:2::fe', interface: 0 },
    ]);
    expect(rb.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '10.73.2.254' },
      { dst: '::/0', gw: 'fd73:2::fe' },
    ]);

    // In the pods: both addresses, a default route of each family via its gateway.
    expect(net.exec(a.name, ['ip', '-o', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).toMatch(/inet6 fd73:1::2\/64/);
    expect(net.exec(a.name, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).toMatch(/inet 10\.73\.1\.2\/24/);
    expect(net.exec(a.name, ['ip', '-6', 'route', 'show', 'default'])).toMatch(/^default via fd73:1::1 dev eth0/);
    expect(net.exec(a.name, ['ip', 'route', 'show', 'default'])).toMatch(/^default via 10\.73\.1\.1 dev eth0/);
    expect(net.exec(b.name, ['ip', '-6', 'route', 'show', 'default'])).toMatch(/^default via fd73:2::fe dev eth0/);
    expect(net.exec(b.name, ['ip', 'route', 'show', 'default'])).toMatch(/^default via 10\.73\.2\.254 dev eth0/);

    // memswitchd made router "cni" with both gateways on each network.
    const gateways = async () =>
      (await c.listRouterInterfaces({ router: 'cni' })).routerInterfaces.map((i) => [i.spec.name, i.spec.network, i.spec.addresses]).sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    expect(await gateways()).toEqual([
      ['cni-d6a', 'd6a', ['10.73.1.1/24', 'fd73:1::1/64']],
      ['cni-d6b', 'd6b', ['10.73.2.254/24', 'fd73:2::fe/64']],
    ]);
    const att = (await c.getAttachment({ key: { cniNetwork: 'd6b', containerId: callB.containerId, ifname: 'eth0' } })).attachment;
    expect(att).toMatchObject({ router: 'cni', gateway: '10.73.2.254', gateway6: 'fd73:2::fe', gatewayPresent: true });

    // Routed, not bridged: one hop less (the hop limit, the TTL), both ways, both families.
    expect(ping(a.name, 'fd73:1::1')).toMatch(/3 received/); // the gateway itself
    for (const [from, r] of [[a, rb], [b, ra]] as const)
      for (const family of [6, 4] as const) {
        const out = ping(from.name, host(r, family));
        expect(out, `${from.name} to ${host(r, family)}`).toMatch(/3 received/);
        expect(out, `${from.name} to ${host(r, family)}`).toMatch(/ttl=63/);
      }
    const { neighbors } = await c.listNeighbors({});
    expect(neighbors).toContainEqual(expect.objectContaining({ routerInterface: 'cni-d6a', ip: 'fd73:1::2', static: false }));

    // TCP over IPv6, both ways: 4 MiB arrive whole.
    for (const [from, to, r] of [[a, b, rb], [b, a, ra]] as const) {
      const t = await tcpTransfer(from.name, { ns: to.name, address: host(r, 6) }, 4 << 20);
      expect(t.reply).toBe(t.sent);
      expect(t.sent).toMatch(/^4194304 [0-9a-f]{64}$/);
    }

    ok(env.run({ command: 'CHECK', ...callA }, { ...confA, prevResult: ra }));
    ok(env.run({ command: 'CHECK', ...callB }, { ...confB, prevResult: rb }));

    // DEL: nothing of the containers is left, both leases of each go back; the gateways stay.
    for (const [call, n, conf] of [[callA, a, confA], [callB, b, confB]] as const) {
      ok(env.run({ command: 'DEL', ...call }, conf));
      expect(net.exec(n.name, ['ip', '-o', 'link'])).not.toMatch(/eth0/);
    }
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect((await c.listInterfaces()).interfaces).toEqual([]);
    expect(env.leases('d6a')).toEqual([]);
    expect(env.leases('d6b')).toEqual([]);
    expect((await gateways()).map((g) => g[0])).toEqual(['cni-d6a', 'cni-d6b']);
  });

  it("the operator's router interfaces with the gateways and a link-local fe80::1/64 each: ADD takes them, pods reach each other and fe80::1 on their link", async () => {
    const c = await startDaemon(['d6a', 'd6b']);
    await c.createRouter({ name: 'll' });
    // Link-local subnets are per link: two interfaces of one router may both hold fe80::1/64.
    await c.createRouterInterface({ spec: { name: 'll-a', router: 'll', network: 'd6a', addresses: ['10.73.1.1/24', 'fd73:1::1/64', 'fe80::1/64'] } });
    await c.createRouterInterface({ spec: { name: 'll-b', router: 'll', network: 'd6b', addresses: ['10.73.2.254/24', 'fd73:2::fe/64', 'fe80::1/64'] } });
    const [a, b] = [net.add('lla'), net.add('llb')];
    const confA = routed('d6a', subnetsA, { router: 'll' });
    const confB = routed('d6b', subnetsB, { router: 'll' });
    const callA = { containerId: `ctr6-lla-${tag}`, netns: a.path, ifname: 'eth0' };
    const callB = { containerId: `ctr6-llb-${tag}`, netns: b.path, ifname: 'eth0' };
    const ra = ok(env.run({ command: 'ADD', ...callA }, confA)).json as Result;
    const rb = ok(env.run({ command: 'ADD', ...callB }, confB)).json as Result;
    expect((await c.listRouterInterfaces({ router: 'll' })).routerInterfaces.map((i) => i.spec.name).sort()).toEqual(['ll-a', 'll-b']);
    expect(ping(a.name, host(rb, 6))).toMatch(/3 received/);
    expect(ping(b.name, host(ra, 4))).toMatch(/3 received/);
    for (const n of [a, b]) expect(ping(n.name, 'fe80::1%eth0')).toMatch(/3 received/);
    for (const [call, conf] of [[callA, confA], [callB, confB]] as const) ok(env.run({ command: 'DEL', ...call }, conf));
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect(env.leases('d6a')).toEqual([]);
    expect(env.leases('d6b')).toEqual([]);
  });

  it('memif on a dual-stack routed network: both gateways and default routes in its attachment file and the CNI result', async () => {
    const c = await startDaemon(['d6m']);
    const conf = { ...routed('d6m', { v4: '10.73.4.0/24', v6: 'fd73:4::/64' }, { cniVersion: '1.1.0', interface: 'memif', router: 'edge6' }), gateway: undefined };
    const ns = net.add('d6m');
    const call = { containerId: `ctr6-m-${tag}`, netns: ns.path, ifname: 'net1' };
    const r = ok(env.run({ command: 'ADD', ...call }, conf)).json as Result;
    const ips = [
      { address: '10.73.4.2/24', gateway: '10.73.4.1' },
      { address: 'fd73:4::2/64', gateway: 'fd73:4::1' },
    ];
    const routes = [
      { dst: '0.0.0.0/0', gw: '10.73.4.1' },
      { dst: '::/0', gw: 'fd73:4::1' },
    ];
    expect(r.ips).toEqual(ips.map((i) => ({ ...i, interface: 0 })));
    expect(r.routes).toEqual(routes);
    expect(r.interfaces[0]!.socketPath).toBe('@memswitch/memif-net1');
    const file = path.join(env.infoDir, `${call.containerId}-net1.json`);
    const info = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(info).toMatchObject({ router: 'edge6', gateway: '10.73.4.1', gateway6: 'fd73:4::1', ips, routes, memif: { socket: '@memswitch/memif-net1', id: 0 } });
    expect((await c.listRouterInterfaces({ router: 'edge6' })).routerInterfaces.map((i) => [i.spec.name, i.spec.addresses])).toEqual([['edge6-d6m', ['10.73.4.1/24', 'fd73:4::1/64']]]);
    const att = (await c.getAttachment({ key: { cniNetwork: 'd6m', containerId: call.containerId, ifname: 'net1' } })).attachment;
    expect(att).toMatchObject({ router: 'edge6', gateway: '10.73.4.1', gateway6: 'fd73:4::1', gatewayPresent: true });
    ok(env.run({ command: 'CHECK', ...call }, { ...conf, prevResult: r }));
    ok(env.run({ command: 'DEL', ...call }, conf));
    expect(existsSync(file)).toBe(false);
    expect(env.leases('d6m')).toEqual([]);
    expect((await c.listAttachments()).attachments).toEqual([]);
  });
});
