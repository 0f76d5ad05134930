// Routed CNI networks ("gateway": true, or "router": NAME in the plugin's config) and a
// router's host interface into the node, with the plugin exec'd as a runtime does it
// (and by cnitool), a real memswitchd, real network namespaces and host-local IPAM.
// Every test ends with nothing left: attachments, leases, namespaces, node links.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { AlreadyExistsError } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { CniEnv, REFERENCE_PLUGINS, type CniRun } from '../helpers/cni.js';
import { Daemon } from '../helpers/daemon.js';
import { Netns, linkExists, sh } from '../helpers/netns.js';

const CNITOOL = '/usr/local/bin/cnitool';
const CACHE = '/var/lib/cni/results'; // libcni's result cache; we remove our entries
const tag = `${process.pid % 10000}`;
// Routers with a host interface make links in the node's own namespace: named per run.
const hostRouter = `h${tag}`;
const apiRouter = `a${tag}`;
// A veth pair in the node holding a route of the node's own (one the router's must not replace).
const nodeOwn = `mswo${tag}`;
const nodeLinks = [`msw-${hostRouter}`, `msw-${apiRouter}`];
const CNITOOL_NET = `msw-routed-${process.pid}`;

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
  net.cleanup();
  // A host link outlives its daemon (as a container's veth does): this test made them.
  for (const l of nodeLinks) if (linkExists(l)) sh('ip', ['link', 'del', l]);
  if (existsSync(CACHE)) for (const f of readdirSync(CACHE)) if (f.startsWith(`${CNITOOL_NET}-`)) rmSync(path.join(CACHE, f), { force: true });
  env.cleanup();
});

async function startDaemon(networks: string[], routers = ''): Promise<MemswitchClient> {
  daemon = await Daemon.start(env.daemonConfig(networks) + routers, env.daemonEnv());
  client?.close();
  client = await connect(daemon.apiSocket);
  return client;
}

const ok = (r: CniRun): CniRun => {
  expect({ code: r.code, stdout: r.stdout }).toMatchObject({ code: 0 });
  return r;
};
const failed = (r: CniRun, code: number, msg: RegExp): void => {
  expect(r.code).toBe(1);
  expect(r.json).toMatchObject({ code });
  expect(`${String(r.json?.msg)} ${String(r.json?.details ?? '')}`).toMatch(msg);
};
const ping = (ns: string | undefined, to: string): string => {
  const args = [...(to.includes(':') ? ['-6'] : []), '-c', '3', '-i', '0.2', '-W', '2', to];
  try {
    return ns ? net.exec(ns, ['ping', ...args]) : sh('ping', args);
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err); // ping exits 1 when replies are missing
  }
};

/** A routed veth network's plugin config; host-local gives addresses from `subnet`. */
function routed(name: string, subnet: string, extra: Record<string, unknown> = {}, range: Record<string, unknown> = {}, ipamRoutes?: object[]): Record<string, unknown> {
  return {
    ...env.conf({ name, vswitchNetwork: name, interface: 'veth', gateway: true, ...extra }, null),
    ipam: { type: 'host-local', ranges: [[{ subnet, ...range }]], ...(ipamRoutes ? { routes: ipamRoutes } : {}), dataDir: env.ipamDir },
  };
}

type Result = { interfaces: { name: string; mac: string; socketPath?: string }[]; ips: { address: string; gateway?: string; interface: number }[]; routes?: { dst: string; gw?: string }[] };
const addr = (r: Result): string => r.ips[0]!.address.split('/')[0]!;

describe('routed CNI networks', () => {
  it('veth pods on two routed networks ping through the router, each with its gateway as default route; idempotent across ADDs and restarts', async () => {
    const c = await startDaemon(['ra', 'rb', 'rc']);
    // ra: no IPAM routes, the gateway is the subnet's first host; rb: host-local's own
    // gateway, and an IPAM default route without a next hop.
    const confA = routed('ra', '10.71.1.0/24');
    const confB = routed('rb', '10.71.2.0/24', {}, { gateway: '10.71.2.254' }, [{ dst: '0.0.0.0/0' }]);
    const [a, a2, b] = [net.add('ra'), net.add('ra2'), net.add('rb')];
    const callA = { containerId: 'ctr-ra', netns: a.path, ifname: 'eth0' };
    const ra = ok(env.run({ command: 'ADD', ...callA }, confA)).json as Result;
    const rb = ok(env.run({ command: 'ADD', containerId: 'ctr-rb', netns: b.path, ifname: 'eth0' }, confB)).json as Result;
    expect(ra.ips).toEqual([{ address: '10.71.1.2/24', gateway: '10.71.1.1', interface: 0 }]);
    expect(ra.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.71.1.1' }]);
    expect(rb.ips).toEqual([{ address: expect.stringMatching(/^10\.71\.2\.\d+\/24$/), gateway: '10.71.2.254', interface: 0 }]);
    expect(rb.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.71.2.254' }]);
    expect(net.exec(a.name, ['ip', 'route', 'show', 'default'])).toMatch(/^default via 10\.71\.1\.1 dev eth0/);
    expect(net.exec(b.name, ['ip', 'route', 'show', 'default'])).toMatch(/^default via 10\.71\.2\.254 dev eth0/);

    // memswitchd made router "cni" (the default) with the gateways on the networks.
    const gateways = async () =>
      (await client!.listRouterInterfaces({ router: 'cni' })).routerInterfaces.map((i) => [i.spec.name, i.spec.network, i.spec.addresses]).sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    expect(await gateways()).toEqual([['cni-ra', 'ra', ['10.71.1.1/24']], ['cni-rb', 'rb', ['10.71.2.254/24']]]);
    expect(ping(a.name, addr(rb))).toMatch(/3 received/);
    expect(ping(a.name, addr(rb))).toMatch(/ttl=63/); // routed, not bridged
    expect(ping(b.name, addr(ra))).toMatch(/3 received/);
    const att = (await c.getAttachment({ key: { cniNetwork: 'ra', containerId: 'ctr-ra', ifname: 'eth0' } })).attachment;
    expect(att).toMatchObject({ router: 'cni', gateway: '10.71.1.1', gatewayPresent: true });

    // A second pod on ra: the same gateway, no second interface; an exact retry answers the same.
    const ra2 = ok(env.run({ command: 'ADD', containerId: 'ctr-ra2', netns: a2.path, ifname: 'eth0' }, confA)).json as Result;
    expect(ra2.ips[0]!.gateway).toBe('10.71.1.1');
    expect(ok(env.run({ command: 'ADD', ...callA }, confA)).json).toEqual(ra);
    expect(await gateways()).toHaveLength(2);
    expect(ping(a2.name, addr(rb))).toMatch(/3 received/);

    // CHECK sees the gateway gone (and a retried ADD puts it back), and a lost default route.
    ok(env.run({ command: 'CHECK', ...callA }, { ...confA, prevResult: ra }));
    await c.deleteRouterInterface({ name: 'cni-ra' });
    failed(env.run({ command: 'CHECK', ...callA }, { ...confA, prevResult: ra }), 103, /router cni has no interface on network ra holding the gateway 10\.71\.1\.1/);
    expect(ok(env.run({ command: 'ADD', ...callA }, confA)).json).toEqual(ra);
    ok(env.run({ command: 'CHECK', ...callA }, { ...confA, prevResult: ra }));
    net.exec(a2.name, ['ip', 'route', 'del', 'default']);
    failed(env.run({ command: 'CHECK', containerId: 'ctr-ra2', netns: a2.path, ifname: 'eth0' }, { ...confA, prevResult: ra2 }), 103, /no default route via 10\.71\.1\.1/);

    // After a restart the stored gateways are back and ADD finds them.
    await daemon!.stop('SIGTERM');
    await startDaemon(['ra', 'rb', 'rc']);
    const b2 = net.add('rb2');
    const rb2 = ok(env.run({ command: 'ADD', containerId: 'ctr-rb2', netns: b2.path, ifname: 'eth0' }, confB)).json as Result;
    expect(await gateways()).toEqual([['cni-ra', 'ra', ['10.71.1.1/24']], ['cni-rb', 'rb', ['10.71.2.254/24']]]);
    expect(ping(b2.name, addr(ra))).toMatch(/3 received/);

    // rc already has another router's interface: the operator's set-up is refused, not
    // changed, and the lease goes back.
    await client!.createRouter({ name: 'other' });
    await client!.createRouterInterface({ spec: { name: 'other-rc', router: 'other', network: 'rc', addresses: ['10.71.3.1/24'] } });
    const cns = net.add('rc');
    failed(env.run({ command: 'ADD', containerId: 'ctr-rc', netns: cns.path, ifname: 'eth0' }, routed('rc', '10.71.3.0/24')), 101, /network rc has router interface other-rc of router other/);
    expect(env.leases('rc')).toEqual([]);

    // DEL leaves the gateways (they serve the network) and nothing of the containers.
    for (const [id, n, conf] of [['ctr-ra', a, confA], ['ctr-ra2', a2, confA], ['ctr-rb', b, confB], ['ctr-rb2', b2, confB]] as const) {
      ok(env.run({ command: 'DEL', containerId: id, netns: n.path, ifname: 'eth0' }, conf));
      expect(net.exec(n.name, ['ip', '-o', 'link'])).not.toMatch(/eth0/);
    }
    const left = client!;
    expect((await left.listAttachments()).attachments).toEqual([]);
    expect((await left.listInterfaces()).interfaces).toEqual([]);
    expect(env.leases('ra')).toEqual([]);
    expect(env.leases('rb')).toEqual([]);
    expect((await gateways()).map((g) => g[0])).toEqual(['cni-ra', 'cni-rb']);
  });

  it('refuses a routed config it cannot serve, naming the field', async () => {
    await startDaemon(['ra']);
    const ns = net.add('bad');
    const call = { command: 'ADD', containerId: 'ctr-bad', netns: ns.path, ifname: 'eth0' };
    const conf = routed('ra', '10.71.1.0/24');
    failed(env.run(call, { ...conf, gateway: false, router: 'r' }), 7, /router: names the router of a routed network, but gateway is false/);
    failed(env.run(call, { ...conf, ipam: undefined }), 7, /ipam: a routed network .* needs IPAM/);
    failed(env.run(call, { ...conf, router: 'bad name' }), 7, /router: must be a memswitch name/);
    failed(env.run(call, { ...conf, gateway: 'yes' }), 7, /gateway: Expected boolean/);
    // IPAM's gateway outside the subnet, or no room for one: memswitchd says which field.
    const fixed = (address: string, gateway?: string) => ({ ...conf, ipam: { type: 'static', addresses: [{ address, ...(gateway ? { gateway } : {}) }] } });
    failed(env.run(call, fixed('10.71.1.5/24', '10.71.9.1')), 101, /ips\[0\]\.gateway: 10\.71\.9\.1 must be another host address of 10\.71\.1\.0\/24/);
    failed(env.run(call, fixed('10.71.1.5/31')), 101, /ips\[0\]\.address: 10\.71\.1\.5\/31 leaves no address for a gateway/);
    expect(env.leases('ra')).toEqual([]);
    expect((await client!.listAttachments()).attachments).toEqual([]);
  });

  it('memif on a routed network: the gateway and default route are in its attachment file and the CNI result', async () => {
    const c = await startDaemon(['rm']);
    const conf = { ...routed('rm', '10.71.4.0/24', { cniVersion: '1.1.0', interface: 'memif', router: 'edge' }), gateway: undefined };
    const ns = net.add('rm');
    const call = { containerId: 'ctr-rm', netns: ns.path, ifname: 'net1' };
    const r = ok(env.run({ command: 'ADD', ...call }, conf)).json as Result;
    expect(r.ips).toEqual([{ address: '10.71.4.2/24', gateway: '10.71.4.1', interface: 0 }]);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.71.4.1' }]);
    expect(r.interfaces[0]!.socketPath).toBe('@memswitch/memif-net1');
    const info = JSON.parse(readFileSync(path.join(env.infoDir, 'ctr-rm-net1.json'), 'utf8')) as Record<string, unknown>;
    expect(info).toMatchObject({
      router: 'edge',
      gateway: '10.71.4.1',
      ips: [{ address: '10.71.4.2/24', gateway: '10.71.4.1' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.71.4.1' }],
      memif: { socket: '@memswitch/memif-net1', id: 0 },
    });
    expect((await c.listRouterInterfaces({ router: 'edge' })).routerInterfaces.map((i) => [i.spec.name, i.spec.addresses])).toEqual([['edge-rm', ['10.71.4.1/24']]]);
    ok(env.run({ command: 'CHECK', ...call }, { ...conf, prevResult: r }));
    ok(env.run({ command: 'DEL', ...call }, conf));
    expect(existsSync(path.join(env.infoDir, 'ctr-rm-net1.json'))).toBe(false);
    expect(env.leases('rm')).toEqual([]);
  });
});

describe('a router with a host interface', () => {
  const hostYaml = (host: boolean, routerEnd = '169.254.71.1') => `routers:
  - name: ${hostRouter}
${host ? `    host: { address: ${routerEnd}/29, nodeAddress: 169.254.71.2/29 }\n` : ''}`;
  const nodeRoutes = (dev: string, family: 4 | 6 = 4): string[] =>
    (JSON.parse(sh('ip', ['-j', `-${family}`, 'route', 'show', 'dev', dev])) as { dst: string; gateway?: string }[]).map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`).sort();

  it('pods reach the node and the node reaches pods (cnitool ADD/CHECK/DEL); it follows the router interfaces, survives a restart, goes with its config', async () => {
    if (!existsSync(CNITOOL)) throw new Error(`${CNITOOL} is missing: scripts/install-cnitool.sh (run by scripts/setup.sh) could not build it`);
    const c = await startDaemon(['hc'], hostYaml(true));
    const dev = `msw-${hostRouter}`;
    expect(sh('ip', ['-o', '-4', 'addr', 'show', 'dev', dev])).toMatch(/inet 169\.254\.71\.2\/29/);
    expect(nodeRoutes(dev)).toEqual(['169.254.71.0/29']); // the router has no other subnet yet
    const hostRif = (await c.listRouterInterfaces({ router: hostRouter })).routerInterfaces;
    expect(hostRif).toEqual([expect.objectContaining({ spec: expect.objectContaining({ name: `${hostRouter}-host`, network: '', host: { nodeAddress: '169.254.71.2/29', nodeAddress6: '', routes: [] } }), nodeIfname: dev, source: 'SOURCE_CONFIG' })]);

    // A routed network on that router, added by cnitool from a conflist.
    const confDir = path.join(env.dir, 'net.d');
    mkdirSync(confDir);
    const plugin = { type: 'memswitch', apiSocket: env.apiSocket, spoolDir: env.spoolDir, timeoutMs: 5000, interface: 'veth', vswitchNetwork: 'hc', router: hostRouter };
    writeFileSync(path.join(confDir, '10-routed.conflist'), env.conflist(CNITOOL_NET, [{ ...plugin, ipam: { type: 'host-local', ranges: [[{ subnet: '10.72.1.0/24' }]], dataDir: env.ipamDir } }]));
    const cnitool = (args: string[]) =>
      spawnSync(CNITOOL, args, { env: { PATH: process.env.PATH, NETCONFPATH: confDir, CNI_PATH: `${env.binDir}:${REFERENCE_PLUGINS}` }, encoding: 'utf8', timeout: 30_000 });
    const pod = net.add('hp');
    const add = cnitool(['add', CNITOOL_NET, pod.path]);
    expect({ code: add.status, stderr: add.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(add.stdout)).toMatchObject({ ips: [{ address: '10.72.1.2/24', gateway: '10.72.1.1' }], routes: [{ dst: '0.0.0.0/0', gw: '10.72.1.1' }] });
    expect(cnitool(['check', CNITOOL_NET, pod.path])).toMatchObject({ status: 0, stderr: '' });
    // The node got a route to the new subnet through the router, and the router a default route to the node.
    expect(nodeRoutes(dev)).toEqual(['10.72.1.0/24 via 169.254.71.1', '169.254.71.0/29']);
    const defaults = async () => (await c.listRoutes({ router: hostRouter })).routes.filter((r) => r.prefix === '0.0.0.0/0').map((r) => [r.origin, r.nextHops]);
    expect(await defaults()).toEqual([['ROUTE_ORIGIN_HOST', [{ via: '169.254.71.2', interface: '' }]]]);

    expect(ping(pod.name, '169.254.71.2')).toMatch(/3 received/);
    expect(ping(undefined, '10.72.1.2')).toMatch(/3 received/); // from the node itself
    // The node's other addresses too: they are behind the router's default route.
    const nodeAddress = (JSON.parse(sh('ip', ['-j', '-4', 'addr', 'show', 'scope', 'global'])) as { ifname: string; addr_info: { local: string }[] }[]).find((l) => !l.ifname.startsWith('msw-'))?.addr_info[0]?.local;
    if (nodeAddress) expect(ping(pod.name, nodeAddress)).toMatch(/3 received/);

    // A static default route takes the derived one's place, and gives it back when deleted.
    await c.addRoutes({ routes: [{ router: hostRouter, prefix: '0.0.0.0/0', nextHops: [{ via: '10.72.1.200' }] }] });
    expect(await defaults()).toEqual([['ROUTE_ORIGIN_STATIC', [{ via: '10.72.1.200', interface: '' }]]]);
    await c.deleteRoutes({ router: hostRouter, prefixes: ['0.0.0.0/0'] });
    expect(await defaults()).toEqual([['ROUTE_ORIGIN_HOST', [{ via: '169.254.71.2', interface: '' }]]]);
    expect(ping(pod.name, '169.254.71.2')).toMatch(/3 received/);

    // One host interface per router; an API-made one on another router comes and goes with its link.
    await expect(c.createRouterInterface({ spec: { name: 'second', router: hostRouter, addresses: ['169.254.72.1/30'], host: { nodeAddress: '169.254.72.2/30' } } })).rejects.toBeInstanceOf(AlreadyExistsError);
    await c.createRouter({ name: apiRouter });
    const made = await c.createRouterInterface({ spec: { name: `${apiRouter}-host`, router: apiRouter, addresses: ['169.254.72.1/30'], host: { nodeAddress: '169.254.72.2/30', routes: ['10.72.9.0/24'] } } });
    expect(made.routerInterface.nodeIfname).toBe(`msw-${apiRouter}`);
    expect(nodeRoutes(`msw-${apiRouter}`)).toEqual(['10.72.9.0/24 via 169.254.72.1', '169.254.72.0/30']);
    await c.deleteRouterInterface({ name: `${apiRouter}-host` });
    expect(linkExists(`msw-${apiRouter}`)).toBe(false);
    expect((await c.listRoutes({ router: apiRouter })).routes).toEqual([]);

    // A restart keeps the intact link (the node's end never went away) and its routes.
    const ifindex = (): number => (JSON.parse(sh('ip', ['-j', 'link', 'show', 'dev', dev])) as { ifindex: number }[])[0]!.ifindex;
    const before = ifindex();
    await daemon!.stop('SIGTERM');
    expect(linkExists(dev)).toBe(true);
    await startDaemon(['hc'], hostYaml(true));
    expect(ifindex()).toBe(before);
    expect(nodeRoutes(dev)).toEqual(['10.72.1.0/24 via 169.254.71.1', '169.254.71.0/29']);
    expect(ping(pod.name, '169.254.71.2')).toMatch(/3 received/);

    // The router's end moved within the link's subnet: the node's routes follow it, none
    // is left via the old address (which the kernel would keep: still on-link).
    await daemon!.stop('SIGTERM');
    await startDaemon(['hc'], hostYaml(true, '169.254.71.3'));
    expect(nodeRoutes(dev)).toEqual(['10.72.1.0/24 via 169.254.71.3', '169.254.71.0/29']);
    expect(ping(undefined, '10.72.1.2')).toMatch(/3 received/);

    // The host interface left the config file: its link goes on the next start.
    await daemon!.stop('SIGTERM');
    await startDaemon(['hc'], hostYaml(false));
    expect(linkExists(dev)).toBe(false);
    expect(daemon!.lines.some((l) => l.msg === 'removed the node link of a host interface that is gone')).toBe(true);

    const del = cnitool(['del', CNITOOL_NET, pod.path]);
    expect({ code: del.status, stderr: del.stderr }).toEqual({ code: 0, stderr: '' });
    expect((await client!.listAttachments()).attachments).toEqual([]);
    expect(env.leases(CNITOOL_NET)).toEqual([]);
    expect(net.exec(pod.name, ['ip', '-o', 'link'])).not.toMatch(/eth0/);
  });

  it('dual-stack: pods and the node reach each other over IPv6 too; the node\'s IPv6 routes follow the router interfaces, its own win; IPv6 leaves the link with the config', async () => {
    // Prefixes of this run (tag is at most 4 decimal digits, so a valid group).
    const link6 = `fd71:${tag}::`;
    const pods6 = `fd72:${tag}::`;
    const more6 = `fd73:${tag}::`;
    const own6 = `fd74:${tag}::`;
    const yaml = (v6: boolean) => `routers:
  - name: ${hostRouter}
    host: { address: 169.254.71.1/30, nodeAddress: 169.254.71.2/30${v6 ? `, address6: "${link6}1/64", nodeAddress6: "${link6}2/64"` : ''} }
`;
    const c = await startDaemon(['hd', 'he'], yaml(true));
    const dev = `msw-${hostRouter}`;
    // The node's IPv6 end is usable at once (no DAD: not tentative), beside its IPv4 one.
    const addr6 = sh('ip', ['-o', '-6', 'addr', 'show', 'dev', dev, 'scope', 'global']);
    expect(addr6).toMatch(new RegExp(`inet6 ${link6}2/64`));
    expect(addr6).not.toMatch(/tentative/);
    expect(sh('ip', ['-o', '-4', 'addr', 'show', 'dev', dev])).toMatch(/inet 169\.254\.71\.2\/30/);
    // Only the kernel's own IPv6 routes yet: the link's subnet and fe80::/64, no gateway.
    expect(nodeRoutes(dev, 6)).toEqual([`${link6}/64`, 'fe80::/64']);
    const rif = (await c.listRouterInterfaces({ router: hostRouter })).routerInterfaces[0]!;
    expect(rif.spec).toMatchObject({ addresses: ['169.254.71.1/30', `${link6}1/64`], host: { nodeAddress: '169.254.71.2/30', nodeAddress6: `${link6}2/64`, routes: [] } });
    const defaults = async () =>
      (await c.listRoutes({ router: hostRouter })).routes.filter((r) => r.prefix === '0.0.0.0/0' || r.prefix === '::/0').map((r) => [r.prefix, r.origin, r.nextHops.map((h) => h.via)]);
    expect(await defaults()).toEqual([
      ['0.0.0.0/0', 'ROUTE_ORIGIN_HOST', ['169.254.71.2']],
      ['::/0', 'ROUTE_ORIGIN_HOST', [`${link6}2`]],
    ]);

    // A dual-stack routed network on that router: the node routes both its subnets through the link.
    const conf = {
      ...env.conf({ name: 'hd', vswitchNetwork: 'hd', interface: 'veth', router: hostRouter }, null),
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.72.2.0/24' }], [{ subnet: `${pods6}/64` }]], dataDir: env.ipamDir },
    };
    const pod = net.add('hd');
    const call = { containerId: `ctr-hd-${tag}`, netns: pod.path, ifname: 'eth0' };
    const r = ok(env.run({ command: 'ADD', ...call }, conf)).json as Result;
    expect(r.ips).toEqual([
      { address: '10.72.2.2/24', gateway: '10.72.2.1', interface: 0 },
      { address: `${pods6}2/64`, gateway: `${pods6}1`, interface: 0 },
    ]);
    expect(nodeRoutes(dev, 6)).toEqual([`${link6}/64`, `${pods6}/64 via ${link6}1`, 'fe80::/64']);
    expect(nodeRoutes(dev)).toEqual(['10.72.2.0/24 via 169.254.71.1', '169.254.71.0/30']);

    // The pod pings the node's IPv6 address, the node the pod's; IPv4 still works beside it.
    expect(ping(pod.name, `${link6}2`)).toMatch(/3 received/);
    expect(ping(undefined, `${pods6}2`)).toMatch(/3 received/);
    expect(ping(pod.name, '169.254.71.2')).toMatch(/3 received/);
    expect(ping(undefined, '10.72.2.2')).toMatch(/3 received/);

    // A static ::/0 takes the derived one's place (the IPv4 one stays), and gives it back.
    await c.addRoutes({ routes: [{ router: hostRouter, prefix: '::/0', nextHops: [{ via: `${pods6}c8` }] }] });
    expect(await defaults()).toEqual([
      ['0.0.0.0/0', 'ROUTE_ORIGIN_HOST', ['169.254.71.2']],
      ['::/0', 'ROUTE_ORIGIN_STATIC', [`${pods6}c8`]],
    ]);
    await c.deleteRoutes({ router: hostRouter, prefixes: ['::/0'] });
    expect((await defaults())[1]).toEqual(['::/0', 'ROUTE_ORIGIN_HOST', [`${link6}2`]]);

    // Router interfaces come and go: so do the node's routes to their IPv6 subnets. A
    // prefix the node already routes elsewhere stays the node's, with a warning.
    net.vethPair(nodeOwn, `${nodeOwn}p`);
    sh('ip', ['-6', 'route', 'add', `${own6}/64`, 'dev', nodeOwn]);
    await c.createRouterInterface({ spec: { name: `${hostRouter}-he`, router: hostRouter, network: 'he', addresses: ['10.72.3.1/24', `${more6}1/64`, `${own6}1/64`] } });
    expect(nodeRoutes(dev, 6)).toEqual([`${link6}/64`, `${pods6}/64 via ${link6}1`, `${more6}/64 via ${link6}1`, 'fe80::/64']);
    expect(nodeRoutes(dev)).toEqual(['10.72.2.0/24 via 169.254.71.1', '10.72.3.0/24 via 169.254.71.1', '169.254.71.0/30']);
    expect(nodeRoutes(nodeOwn, 6)).toEqual([`${own6}/64`, 'fe80::/64']);
    await daemon!.waitFor((l) => l.msg === 'the node keeps its own route to a subnet behind a host interface' && l.prefix === `${own6}/64`);
    await c.deleteRouterInterface({ name: `${hostRouter}-he` });
    expect(nodeRoutes(dev, 6)).toEqual([`${link6}/64`, `${pods6}/64 via ${link6}1`, 'fe80::/64']);
    expect(nodeRoutes(nodeOwn, 6)).toEqual([`${own6}/64`, 'fe80::/64']);

    // A restart keeps the link and both families; one without IPv6 in the file takes the
    // node's IPv6 address and routes off the kept link, and keeps IPv4 working.
    await daemon!.stop('SIGTERM');
    await startDaemon(['hd', 'he'], yaml(true));
    expect(nodeRoutes(dev, 6)).toEqual([`${link6}/64`, `${pods6}/64 via ${link6}1`, 'fe80::/64']);
    expect(ping(pod.name, `${link6}2`)).toMatch(/3 received/);
    await daemon!.stop('SIGTERM');
    const c4 = await startDaemon(['hd', 'he'], yaml(false));
    expect(sh('ip', ['-o', '-6', 'addr', 'show', 'dev', dev, 'scope', 'global'])).toBe('');
    expect(nodeRoutes(dev, 6)).toEqual(['fe80::/64']);
    expect(nodeRoutes(dev)).toEqual(['10.72.2.0/24 via 169.254.71.1', '169.254.71.0/30']);
    expect((await c4.listRoutes({ router: hostRouter })).routes.filter((x) => x.origin === 'ROUTE_ORIGIN_HOST').map((x) => x.prefix)).toEqual(['0.0.0.0/0']);
    expect(ping(undefined, '10.72.2.2')).toMatch(/3 received/);

    ok(env.run({ command: 'DEL', ...call }, conf));
    expect((await c4.listAttachments()).attachments).toEqual([]);
    expect(env.leases('hd')).toEqual([]);
  });
});
