// RouterService of a real memswitchd (real addon, unix socket, our SDK): routers and
// their interfaces, batches of routes (all or nothing, streamed, paged), static
// neighbours, what deleting refuses, and what a restart, a takeover and a kill -9 keep.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  MemswitchError,
  NotFoundError,
  type MemswitchClient,
  type Route,
  type RouteInput,
} from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon } from '../helpers/daemon.js';
import { eventually } from '../helpers/switch.js';

const config = 'networks: [{ name: blue }, { name: red }]\n';
// A router from the file, beside what the API creates.
const withCore = `${config}routers:
  - name: core
    interfaces: [{ name: core-red, network: red, vlan: 7, addresses: [10.5.0.1/24] }]
    routes: [{ prefix: 0.0.0.0/0, via: 10.5.0.254 }]
`;

let dir: string;
let env: Record<string, string>;
const daemons: Daemon[] = [];
let client: MemswitchClient | undefined;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'msw-routing-'));
  env = { MEMSWITCH_STATE_DB: path.join(dir, 'state.db'), MEMSWITCH_API_SOCKET: path.join(dir, 'api.sock') };
});
afterEach(async () => {
  client?.close();
  client = undefined;
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function start(yaml = config, args: string[] = []): Promise<{ d: Daemon; c: MemswitchClient }> {
  const d = await Daemon.start(yaml, env, args);
  daemons.push(d);
  client?.close();
  client = await connect(d.apiSocket);
  return { d, c: client };
}

/** r1 with an interface on blue (10.1.0.1/24) and one on red (10.2.0.1/24). */
async function twoNetworkRouter(c: MemswitchClient): Promise<void> {
  await c.createRouter({ name: 'r1' });
  await c.createRouterInterface({ spec: { name: 'r1-blue', router: 'r1', network: 'blue', addresses: ['10.1.0.1/24'] } });
  await c.createRouterInterface({ spec: { name: 'r1-red', router: 'r1', network: 'red', addresses: ['10.2.0.1/24'] } });
}

async function allRoutes(c: MemswitchClient, router?: string): Promise<Route[]> {
  const out: Route[] = [];
  for await (const r of c.routes({ router, pageSize: 10_000 })) out.push(r);
  return out;
}

type Case = [string, () => Promise<unknown>, new (...a: never[]) => MemswitchError, RegExp];
async function expectErrors(cases: Case[]): Promise<void> {
  for (const [what, call, type, message] of cases) {
    const err = await call().then(() => undefined, (e: unknown) => e);
    expect(err, what).toBeInstanceOf(type);
    expect((err as MemswitchError).details, what).toMatch(message);
    expect((err as MemswitchError).details, what).not.toMatch(/\n\s+at /);
  }
}

// i-th /32 of a block: distinct prefixes, as many as needed.
const host = (first: number, i: number): string => `${first}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;

describe('RouterService', () => {
  it('creates routers and router interfaces idempotently, and refuses conflicts naming the field', async () => {
    const { c } = await start();
    expect(await c.createRouter({ name: 'r1' })).toMatchObject({ created: true, router: { name: 'r1', source: 'SOURCE_API', interfaceCount: 0, routeCount: 0 } });
    expect((await c.createRouter({ name: 'r1' })).created).toBe(false);
    const spec = { name: 'r1-blue', router: 'r1', network: 'blue', addresses: ['10.1.0.1/24'] };
    const made = await c.createRouterInterface({ spec });
    expect(made).toMatchObject({ created: true, routerInterface: { spec: { ...spec, vlan: 0, mtu: 1500, mac: '' }, source: 'SOURCE_API', mtu: 1500 } });
    expect(made.routerInterface.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/); // derived from the name
    expect((await c.createRouterInterface({ spec })).created).toBe(false);
    const red = await c.createRouterInterface({ spec: { name: 'r1-red', router: 'r1', network: 'red', addresses: ['10.2.0.1/24', '10.3.0.1/24'], mtu: 9000, mac: '02:00:00:00:01:02' } });
    expect(red.routerInterface).toMatchObject({ mac: '02:00:00:00:01:02', mtu: 9000 });
    await c.createNetwork({ name: 'green' });

    await expectErrors([
      ['same name, other spec', () => c.createRouterInterface({ spec: { ...spec, addresses: ['10.1.0.2/24'] } }), AlreadyExistsError, /r1-blue already exists with a different spec/],
      ['overlapping subnet', () => c.createRouterInterface({ spec: { name: 'x', router: 'r1', network: 'green', addresses: ['10.1.0.130/25'] } }), AlreadyExistsError, /^addresses\[0\]: 10\.1\.0\.130\/25 overlaps 10\.1\.0\.1\/24 of router interface r1-blue/],
      ['network taken', () => c.createRouterInterface({ spec: { name: 'x', router: 'r1', network: 'blue', addresses: ['10.9.0.1/24'] } }), AlreadyExistsError, /network blue already has router interface r1-blue/],
      ['network address', () => c.createRouterInterface({ spec: { name: 'x', router: 'r1', network: 'green', addresses: ['10.9.0.0/24'] } }), InvalidArgumentError, /^addresses\[0\]: is the network address of 10\.9\.0\.0\/24/],
      ['no address', () => c.createRouterInterface({ spec: { name: 'x', router: 'r1', network: 'green' } }), InvalidArgumentError, /^addresses: /],
      ['IPv6 multicast', () => c.createRouterInterface({ spec: { name: 'x', router: 'r1', network: 'green', addresses: ['ff02::1/64'] } }), InvalidArgumentError, /^addresses\[0\]: must be a unicast IPv4 or IPv6 address/],
      ['IPv6 not canonical', () => c.createRouterInterface({ spec: { name: 'x', router: 'r1', network: 'green', addresses: ['FD00::1/64'] } }), InvalidArgumentError, /^addresses\[0\]: must be written fd00::1\/64/],
      ['MTU', () => c.createRouterInterface({ spec: { name: 'x', router: 'r1', network: 'green', addresses: ['10.9.0.1/24'], mtu: 9001 } }), InvalidArgumentError, /^mtu: /],
      ['no spec', () => c.createRouterInterface({} as never), InvalidArgumentError, /^spec: is required/],
      ['missing router', () => c.createRouterInterface({ spec: { name: 'x', router: 'nope', network: 'green', addresses: ['10.9.0.1/24'] } }), NotFoundError, /no router nope/],
      ['missing network', () => c.createRouterInterface({ spec: { name: 'x', router: 'r1', network: 'nope', addresses: ['10.9.0.1/24'] } }), NotFoundError, /no network nope/],
      ['bad router name', () => c.createRouter({ name: 'bad name' }), InvalidArgumentError, /^name: must be 1-63/],
      ['missing router get', () => c.getRouter({ name: 'nope' }), NotFoundError, /no router nope/],
      ['router with interfaces', () => c.deleteRouter({ name: 'r1' }), FailedPreconditionError, /router r1 still has router interface r1-blue/],
    ]);
    // An API network: refused for its router interface, not for being in the file.
    await c.createRouterInterface({ spec: { name: 'r1-green', router: 'r1', network: 'green', addresses: ['10.4.0.1/24'] } });
    await expectErrors([['network with a router interface', () => c.deleteNetwork({ name: 'green' }), FailedPreconditionError, /network green still has router interface r1-green/]]);
    await c.deleteRouterInterface({ name: 'r1-green' });
    await c.deleteNetwork({ name: 'green' });

    expect((await c.listRouters()).routers).toEqual([{ name: 'r1', source: 'SOURCE_API', interfaceCount: 2, routeCount: 0 }]);
    expect((await c.listRouterInterfaces({ router: 'r1' })).routerInterfaces.map((i) => i.spec.name)).toEqual(['r1-blue', 'r1-red']);
    await expectErrors([['interfaces of a missing router', () => c.listRouterInterfaces({ router: 'nope' }), NotFoundError, /no router nope/]]);
  });

  it('refuses a bad host interface naming the field, before touching the node', async () => {
    const { c } = await start();
    await c.createRouter({ name: 'r1' });
    const hostItf = (over: object, host: object = {}) => () =>
      c.createRouterInterface({ spec: { name: 'r1-host', router: 'r1', addresses: ['169.254.70.1/30'], ...over, host: { nodeAddress: '169.254.70.2/30', ...host } } });
    await expectErrors([
      ['node address outside the link', hostItf({}, { nodeAddress: '169.254.70.6/30' }), InvalidArgumentError, /^host\.node_address: must be in 169\.254\.70\.0\/30, the subnet of the router's address/],
      ['node address not an address', hostItf({}, { nodeAddress: 'node' }), InvalidArgumentError, /^host\.node_address: must be a unicast IPv4 address/],
      ["the router's own address", hostItf({}, { nodeAddress: '169.254.70.1/30' }), InvalidArgumentError, /^host\.node_address: must not be the router's own address/],
      ['a bad node route', hostItf({}, { routes: ['10.1.0.1/16'] }), InvalidArgumentError, /^host\.routes\[0\]: has host bits set: the prefix is 10\.1\.0\.0\/16/],
      ['two IPv4 addresses', hostItf({ addresses: ['169.254.70.1/30', '169.254.71.1/30'] }), InvalidArgumentError, /^addresses\[1\]: a host interface has one IPv4 address/],
      ['an IPv6 address without node_address6', hostItf({ addresses: ['169.254.70.1/30', 'fd00:70::1/64'] }), InvalidArgumentError, /^host\.node_address6: is required with the router's IPv6 address fd00:70::1\/64/],
      ['node_address6 outside the link', hostItf({ addresses: ['169.254.70.1/30', 'fd00:70::1/64'] }, { nodeAddress6: 'fd00:71::2/64' }), InvalidArgumentError, /^host\.node_address6: must be in fd00:70::\/64/],
      ['an IPv6 node route on an IPv4 link', hostItf({}, { routes: ['fd00:8::/48'] }), InvalidArgumentError, /^host\.routes\[0\]: is an IPv6 prefix, but the link to the node has no IPv6 addresses/],
      ['a network too', hostItf({ network: 'blue' }), InvalidArgumentError, /^network: must be empty for a host interface/],
      ['a vlan', hostItf({ vlan: 5 }), InvalidArgumentError, /^vlan: must be empty for a host interface/],
      ['missing router', () => c.createRouterInterface({ spec: { name: 'x', router: 'nope', addresses: ['169.254.70.1/30'], host: { nodeAddress: '169.254.70.2/30' } } }), NotFoundError, /no router nope/],
      ['neither network nor host', () => c.createRouterInterface({ spec: { name: 'x', router: 'r1', addresses: ['10.9.0.1/24'] } }), InvalidArgumentError, /^network: is required \(or host/],
    ]);
    expect((await c.listRouterInterfaces()).routerInterfaces).toEqual([]);
  });

  it('takes routes in batches, all or nothing, and pages through 25,000 of them with the connected and local ones', async () => {
    const { c } = await start();
    await twoNetworkRouter(c);
    const def = { router: 'r1', prefix: '0.0.0.0/0', nextHops: [{ via: '10.1.0.254' }] };
    const drop = { router: 'r1', prefix: '192.0.2.0/24', kind: 'ROUTE_KIND_BLACKHOLE' as const };
    expect((await c.addRoutes({ routes: [def, drop] })).counts).toEqual({ added: 2, replaced: 0, unchanged: 0 });
    expect((await c.addRoutes({ routes: [def, { ...drop, kind: 'ROUTE_KIND_UNREACHABLE' }] })).counts).toEqual({ added: 0, replaced: 1, unchanged: 1 });

    // One bad route refuses its whole batch, naming it.
    const good: RouteInput[] = [
      { router: 'r1', prefix: '10.7.0.0/16', nextHops: [{ via: '10.1.0.2' }] },
      { router: 'r1', prefix: '10.8.0.0/16', nextHops: [{ via: '10.2.0.2' }, { via: '10.2.0.3' }] },
    ];
    const third = (r: RouteInput) => () => c.addRoutes({ routes: [...good, { router: 'r1', ...r }] });
    await expectErrors([
      ['host bits', third({ prefix: '10.9.0.1/16', nextHops: [{ via: '10.1.0.2' }] }), InvalidArgumentError, /^routes\[2\]\.prefix: has host bits set: the prefix is 10\.9\.0\.0\/16/],
      ['not a prefix', third({ prefix: '10.9.0.0', nextHops: [{ via: '10.1.0.2' }] }), InvalidArgumentError, /^routes\[2\]\.prefix: must be an IPv4 or IPv6 prefix/],
      ['via of the other family', third({ prefix: 'fd00:9::/48', nextHops: [{ via: '10.1.0.2' }] }), InvalidArgumentError, /^routes\[2\]\.next_hops\[0\]\.via: is an IPv4 address: a route to an IPv6 prefix/],
      ['forward without next hop', third({ prefix: '10.9.0.0/16' }), InvalidArgumentError, /^routes\[2\]\.next_hops: a forward route needs at least one next hop/],
      ['blackhole with next hop', third({ prefix: '10.9.0.0/16', kind: 'ROUTE_KIND_BLACKHOLE', nextHops: [{ via: '10.1.0.2' }] }), InvalidArgumentError, /^routes\[2\]\.next_hops: kind blackhole takes no next hops/],
      ['receive', third({ prefix: '10.9.0.0/16', kind: 'ROUTE_KIND_RECEIVE' }), InvalidArgumentError, /^routes\[2\]\.kind: /],
      ['bad via', third({ prefix: '10.9.0.0/16', nextHops: [{ via: '10.1.0.300' }] }), InvalidArgumentError, /^routes\[2\]\.next_hops\[0\]\.via: must be a unicast IPv4 address/],
      ['via is the router', third({ prefix: '10.9.0.0/16', nextHops: [{ via: '10.1.0.1' }] }), InvalidArgumentError, /^routes\[2\]\.next_hops\[0\]\.via: 10\.1\.0\.1 is an address of router r1 itself/],
      ['unknown interface', third({ prefix: '10.9.0.0/16', nextHops: [{ interface: 'nope' }] }), NotFoundError, /^routes\[2\]\.next_hops\[0\]\.interface: router r1 has no interface nope/],
      ['connected prefix', third({ prefix: '10.2.0.0/24', nextHops: [{ via: '10.1.0.2' }] }), InvalidArgumentError, /^routes\[2\]\.prefix: 10\.2\.0\.0\/24 is the connected route of router interface r1-red/],
      ['local prefix', third({ prefix: '10.2.0.1/32', nextHops: [{ via: '10.1.0.2' }] }), InvalidArgumentError, /^routes\[2\]\.prefix: 10\.2\.0\.1\/32 is the local route/],
      ['twice in a batch', third({ prefix: '10.7.0.0/16', nextHops: [{ via: '10.1.0.3' }] }), InvalidArgumentError, /^routes\[2\]\.prefix: 10\.7\.0\.0\/16 is already routes\[0\] of this batch/],
      ['missing router', third({ router: 'nope', prefix: '10.9.0.0/16', nextHops: [{ via: '10.1.0.2' }] }), NotFoundError, /^routes\[2\]\.router: no router nope/],
    ]);
    const afterBad = await allRoutes(c);
    expect(afterBad.filter((r) => r.prefix === '10.7.0.0/16' || r.prefix === '10.8.0.0/16')).toEqual([]); // nothing of those batches

    // 25,000 more through StreamRoutes, in five batches.
    const batches = Array.from({ length: 5 }, (_, b) =>
      Array.from({ length: 5000 }, (_, k): RouteInput => ({ router: 'r1', prefix: host(100, b * 5000 + k), nextHops: [{ via: '10.2.0.2' }] })),
    );
    expect(await c.streamRoutes(batches)).toEqual({ batches: 5, counts: { added: 25_000, replaced: 0, unchanged: 0 } });
    expect((await c.getRouter({ name: 'r1' })).router.routeCount).toBe(25_002);

    // Pages of 1000: every route once, static ones and the derived ones, in key order.
    const seen = new Map<string, Route>();
    let pageToken = '';
    let pages = 0;
    do {
      const page = await c.listRoutes({ pageSize: 1000, pageToken });
      expect(page.routes.length).toBeLessThanOrEqual(1000);
      for (const r of page.routes) {
        const key = `${r.router} ${r.prefix}`;
        expect(seen.has(key), key).toBe(false);
        seen.set(key, r);
      }
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    expect(seen.size).toBe(25_002 + 4); // two connected, two local
    expect(pages).toBe(26);
    const keys = [...seen.keys()];
    expect(keys).toEqual([...keys].sort());
    expect(seen.get('r1 10.1.0.0/24')).toEqual({
      router: 'r1', prefix: '10.1.0.0/24', kind: 'ROUTE_KIND_FORWARD', origin: 'ROUTE_ORIGIN_CONNECTED', source: 'SOURCE_API', nextHops: [{ via: '', interface: 'r1-blue' }],
    });
    expect(seen.get('r1 10.2.0.1/32')).toMatchObject({ kind: 'ROUTE_KIND_RECEIVE', origin: 'ROUTE_ORIGIN_LOCAL', nextHops: [{ interface: 'r1-red' }] });
    expect(seen.get('r1 0.0.0.0/0')).toMatchObject({ kind: 'ROUTE_KIND_FORWARD', origin: 'ROUTE_ORIGIN_STATIC', nextHops: [{ via: '10.1.0.254', interface: '' }] });
    expect(seen.get('r1 192.0.2.0/24')).toMatchObject({ kind: 'ROUTE_KIND_UNREACHABLE', nextHops: [] });
    expect((await c.listRoutes({})).routes).toHaveLength(1000); // the default page size
    expect((await c.listRoutes({ pageSize: 50_000 })).routes).toHaveLength(10_000); // the largest
    const r1Page = await c.listRoutes({ router: 'r1', pageSize: 3 });
    expect(r1Page.routes.map((r) => r.prefix)).toEqual(['0.0.0.0/0', '10.1.0.0/24', '10.1.0.1/32']);
    await expectErrors([
      ['garbage token', () => c.listRoutes({ pageToken: 'garbage' }), InvalidArgumentError, /^page_token: /],
      ['token of another filter', () => c.listRoutes({ pageToken: r1Page.nextPageToken }), InvalidArgumentError, /^page_token: belongs to a listing with another router filter/],
      ['routes of a missing router', () => c.listRoutes({ router: 'nope' }), NotFoundError, /no router nope/],
    ]);

    // A bad batch in a stream ends it; the batches before it stay.
    const ok = [{ router: 'r1', prefix: '10.60.0.0/16', nextHops: [{ via: '10.1.0.2' }] }];
    await expectErrors([
      ['bad second batch', () => c.streamRoutes([ok, [{ router: 'r1', prefix: '10.61.0.1/16', nextHops: [{ via: '10.1.0.2' }] }]]), InvalidArgumentError, /^routes\[0\]\.prefix: has host bits set.*\(in batch 1; the 1 before it are committed\)/],
    ]);
    expect((await allRoutes(c, 'r1')).some((r) => r.prefix === '10.60.0.0/16')).toBe(true);

    expect(await c.deleteRoutes({ router: 'r1', prefixes: [host(100, 0), host(100, 1), '10.99.0.0/16'] })).toEqual({ deleted: 2 });
    const left = await allRoutes(c, 'r1');
    expect(left.some((r) => r.prefix === host(100, 0) || r.prefix === host(100, 1))).toBe(false);
    expect(left).toHaveLength(25_002 + 1 - 2 + 4);
    await expectErrors([
      ['delete a connected route', () => c.deleteRoutes({ router: 'r1', prefixes: ['10.1.0.0/24'] }), InvalidArgumentError, /^prefixes\[0\]: 10\.1\.0\.0\/24 is the connected route of router interface r1-blue/],
      ['delete with host bits', () => c.deleteRoutes({ router: 'r1', prefixes: ['10.7.0.0/8'] }), InvalidArgumentError, /^prefixes\[0\]: has host bits set/],
      ['delete of a missing router', () => c.deleteRoutes({ router: 'nope', prefixes: ['10.7.0.0/16'] }), NotFoundError, /no router nope/],
    ]);
  });

  it('keeps static neighbours and lists them, with resolved ones, from the dataplane', async () => {
    const { c } = await start();
    await twoNetworkRouter(c);
    const n = { routerInterface: 'r1-blue', ip: '10.1.0.7', mac: '02:00:00:00:07:07' };
    expect(await c.addNeighbor(n)).toEqual({ neighbor: n, created: true });
    expect((await c.addNeighbor({ ...n, mac: '02:00:00:00:07:07'.toUpperCase() })).created).toBe(false);
    await c.addNeighbor({ routerInterface: 'r1-red', ip: '10.2.0.9', mac: '02:00:00:00:09:09' });
    await expectErrors([
      ['other MAC', () => c.addNeighbor({ ...n, mac: '02:00:00:00:07:08' }), AlreadyExistsError, /10\.1\.0\.7 is already a static neighbour on r1-blue/],
      ['outside the subnet', () => c.addNeighbor({ ...n, ip: '10.2.0.7' }), InvalidArgumentError, /^ip: 10\.2\.0\.7 is not in a subnet of router interface r1-blue/],
      ['the router itself', () => c.addNeighbor({ ...n, ip: '10.1.0.1' }), InvalidArgumentError, /^ip: 10\.1\.0\.1 is an address of router interface r1-blue itself/],
      ['bad MAC', () => c.addNeighbor({ ...n, mac: '01:00:5e:00:00:01' }), InvalidArgumentError, /^mac: must be a unicast MAC/],
      ['missing router interface', () => c.addNeighbor({ ...n, routerInterface: 'nope' }), NotFoundError, /no router interface nope/],
    ]);
    const listed = (await c.listNeighbors()).neighbors;
    expect(listed).toContainEqual(expect.objectContaining({ router: 'r1', routerInterface: 'r1-blue', ip: '10.1.0.7', mac: '02:00:00:00:07:07', static: true }));
    expect((await c.listNeighbors({ routerInterface: 'r1-red' })).neighbors.map((x) => x.ip)).toEqual(['10.2.0.9']);
    await c.deleteNeighbor({ routerInterface: 'r1-blue', ip: '10.1.0.7' });
    expect((await c.listNeighbors({ routerInterface: 'r1-blue' })).neighbors.filter((x) => x.static)).toEqual([]);
    await expectErrors([['delete it again', () => c.deleteNeighbor({ routerInterface: 'r1-blue', ip: '10.1.0.7' }), NotFoundError, /no neighbour 10\.1\.0\.7 on router interface r1-blue/]]);
    // A router interface takes its static neighbours with it.
    await c.deleteRouterInterface({ name: 'r1-red' });
    expect((await c.listNeighbors()).neighbors.filter((x) => x.routerInterface === 'r1-red')).toEqual([]);
  });

  it('refuses to delete a router interface a route leaves by; via-only routes stay; a router takes its routes', async () => {
    const { c } = await start();
    await twoNetworkRouter(c);
    await c.addRoutes({
      routes: [
        { router: 'r1', prefix: '172.16.0.0/12', nextHops: [{ via: '10.2.0.7', interface: 'r1-red' }] },
        { router: 'r1', prefix: '10.30.0.0/16', nextHops: [{ via: '10.2.0.8' }] },
      ],
    });
    await expectErrors([['route through it', () => c.deleteRouterInterface({ name: 'r1-red' }), FailedPreconditionError, /r1-red is the next-hop interface of route 172\.16\.0\.0\/12/]]);
    await c.deleteRoutes({ router: 'r1', prefixes: ['172.16.0.0/12'] });
    await c.deleteRouterInterface({ name: 'r1-red' });
    const routes = await allRoutes(c, 'r1');
    expect(routes.map((r) => r.prefix)).toEqual(['10.1.0.0/24', '10.1.0.1/32', '10.30.0.0/16']);
    await c.deleteRouterInterface({ name: 'r1-blue' });
    expect(await c.deleteRouter({ name: 'r1' })).toEqual({ routesDeleted: 1 });
    expect((await c.listRouters()).routers).toEqual([]);
    // The same name again starts empty.
    await c.createRouter({ name: 'r1' });
    expect(await allRoutes(c, 'r1')).toEqual([]);
  });

  it('restores routers, interfaces, routes and static neighbours on restart and on a --takeover start, the file beside the API', async () => {
    let { d, c } = await start(withCore);
    await twoNetworkRouter(c);
    const batches = [Array.from({ length: 3000 }, (_, i): RouteInput => ({ router: 'r1', prefix: host(30, i), nextHops: [{ via: '10.1.0.9' }] }))];
    await c.streamRoutes(batches);
    await c.addRoutes({ routes: [{ router: 'core', prefix: '10.40.0.0/16', nextHops: [{ via: '10.5.0.9' }] }] }); // an API route on the file's router
    await c.addNeighbor({ routerInterface: 'r1-blue', ip: '10.1.0.9', mac: '02:00:00:00:09:01' });
    await c.addNeighbor({ routerInterface: 'core-red', ip: '10.5.0.254', mac: '02:00:00:00:09:02' });
    const before = await allRoutes(c);
    const interfaces = (await c.listRouterInterfaces()).routerInterfaces;
    expect(interfaces.find((i) => i.spec.name === 'core-red')).toMatchObject({ source: 'SOURCE_CONFIG', spec: { vlan: 7 } });
    await expectErrors([
      ['config router', () => c.deleteRouter({ name: 'core' }), FailedPreconditionError, /router core is defined in the config file/],
      ['config router interface', () => c.deleteRouterInterface({ name: 'core-red' }), FailedPreconditionError, /defined in the config file/],
      ['config route', () => c.deleteRoutes({ router: 'core', prefixes: ['0.0.0.0/0'] }), FailedPreconditionError, /^prefixes\[0\]: 0\.0\.0\.0\/0 of router core is defined in the config file/],
      ['over a config route', () => c.addRoutes({ routes: [{ router: 'core', prefix: '0.0.0.0/0', nextHops: [{ via: '10.5.0.9' }] }] }), FailedPreconditionError, /^routes\[0\]\.prefix: 0\.0\.0\.0\/0 of router core is defined in the config file/],
    ]);

    const check = async (): Promise<void> => {
      expect((await c.listRouters()).routers).toEqual([
        { name: 'core', source: 'SOURCE_CONFIG', interfaceCount: 1, routeCount: 2 },
        { name: 'r1', source: 'SOURCE_API', interfaceCount: 2, routeCount: 3000 },
      ]);
      expect((await c.listRouterInterfaces()).routerInterfaces).toEqual(interfaces); // MAC and MTU from the dataplane
      expect(await allRoutes(c)).toEqual(before);
      // From the dataplane's own table: the neighbours were applied, not just stored.
      const neighbors = (await c.listNeighbors()).neighbors.filter((n) => n.static).map((n) => [n.routerInterface, n.ip, n.mac]);
      expect(neighbors).toEqual(expect.arrayContaining([['r1-blue', '10.1.0.9', '02:00:00:00:09:01'], ['core-red', '10.5.0.254', '02:00:00:00:09:02']]));
    };

    expect((await d.stop('SIGTERM')).code).toBe(0);
    ({ d, c } = await start(withCore));
    await check();

    // A planned restart: the successor restores the same state before it forwards.
    const old = d;
    ({ d, c } = await start(withCore, ['--takeover']));
    expect(await d.waitFor((l) => l.msg === 'took over from the previous memswitchd')).toBeTruthy();
    await eventually(() => old.proc.exitCode !== null, 5000, 'the old daemon to exit');
    await check();
  });

  it('keeps every StreamRoutes batch committed before a kill -9, each whole, and none after', async () => {
    let { d, c } = await start();
    const PER = 500;
    const BATCHES = 200;
    // A stream that was answered: all of it must survive.
    await c.createRouter({ name: 'acked' });
    const acked = Array.from({ length: 10 }, (_, b) => Array.from({ length: PER }, (_, k): RouteInput => ({ router: 'acked', prefix: host(20, b * PER + k), nextHops: [{ via: '10.1.0.2' }] })));
    expect(await c.streamRoutes(acked)).toMatchObject({ batches: 10, counts: { added: 10 * PER } });

    let cutMidStream = 0;
    for (let round = 1; round <= 3; round++) {
      const router = `r${round}`;
      await c.createRouter({ name: router });
      function* batches(): Generator<RouteInput[]> {
        for (let b = 0; b < BATCHES; b++)
          yield Array.from({ length: PER }, (_, k) => ({ router, prefix: host(20 + round, b * PER + k), nextHops: [{ via: '10.1.0.2' }] }));
      }
      const victim = d;
      const killer = setTimeout(() => victim.proc.kill('SIGKILL'), 100 + Math.floor(Math.random() * 400));
      const outcome = await c.streamRoutes(batches()).then(() => 'answered', (e: unknown) => e);
      clearTimeout(killer);
      if (outcome !== 'answered') expect((outcome as MemswitchError).code).toBe('UNAVAILABLE');
      await victim.stop('SIGKILL');

      ({ d, c } = await start());
      const perBatch = new Array<number>(BATCHES).fill(0);
      for (const r of await allRoutes(c, router)) {
        const [, a, b2, c3] = r.prefix.split('/')[0]!.split('.').map(Number) as [number, number, number, number];
        perBatch[Math.floor(((a << 16) | (b2 << 8) | c3) / PER)]!++;
      }
      const committed = perBatch.findIndex((n) => n === 0);
      const k = committed < 0 ? BATCHES : committed;
      expect(perBatch.slice(0, k).every((n) => n === PER), `round ${round}: batches before ${k} whole`).toBe(true);
      expect(perBatch.slice(k).every((n) => n === 0), `round ${round}: nothing after batch ${k}`).toBe(true);
      if (outcome === 'answered') expect(k).toBe(BATCHES);
      else if (k > 0 && k < BATCHES) cutMidStream++;
      expect((await allRoutes(c, 'acked')).length, `round ${round}: the answered stream`).toBe(10 * PER);
    }
    expect(cutMidStream).toBeGreaterThan(0); // a kill landed between batches, not only before or after
  });
});
