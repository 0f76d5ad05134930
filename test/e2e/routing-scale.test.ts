// A million IPv4 routes loaded over the API (StreamRoutes, one SQLite transaction per
// batch) into a real memswitchd, then spot-checked with traffic: pings from a pod on one
// network to addresses under randomly picked routes reach a pod on another network (it
// answers for them all), an address under no route gets net unreachable, and so does
// one whose route was just deleted. The load rate and the daemon's memory are printed.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatIPv4 } from '../../orchestrator/src/domain/ip.js';
import type { MemswitchClient, RouteInput } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';

const ROUTES = 1_000_000;
const BATCH = 10_000;
const FIRST = 11 << 24; // route i is (11.0.0.0 + i * 256)/24: 11.0.0.0 to 26.66.63.0
const net = new Netns();
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
const tag = `${process.pid % 10000}`;
let a = '';
let b = '';

const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const reaches = (to: string): boolean => /1 received/.test(ping(to));
function ping(to: string): string {
  try {
    return net.exec(a, ['ping', '-c', '1', '-W', '2', to]);
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err);
  }
}

beforeAll(async () => {
  a = net.add('sa').name;
  b = net.add('sb').name;
  daemon = await Daemon.start(`networks: [{ name: n1 }, { name: n2 }]
interfaces:
  - { name: sa${tag}, kind: veth, network: n1, netns: /var/run/netns/${a}, ifname: eth0, addresses: [10.82.1.2/24], routes: [{ dst: 0.0.0.0/0, via: 10.82.1.1 }] }
  - { name: sb${tag}, kind: veth, network: n2, netns: /var/run/netns/${b}, ifname: eth0, addresses: [10.82.2.2/24], routes: [{ dst: 0.0.0.0/0, via: 10.82.2.1 }] }
routers:
  - name: r
    interfaces:
      - { name: r-n1, network: n1, addresses: [10.82.1.1/24] }
      - { name: r-n2, network: n2, addresses: [10.82.2.1/24] }
`);
  client = await connect(daemon.apiSocket);
  // b answers for every address the table covers, as if the whole range were behind it.
  for (const p of ['11.0.0.0/8', '12.0.0.0/6', '16.0.0.0/4']) net.exec(b, ['ip', 'route', 'add', 'local', p, 'dev', 'lo']);
}, 60_000);

afterAll(async () => {
  client?.close();
  await daemon?.stop('SIGKILL');
  net.cleanup();
});

it('loads a million routes over the API and forwards by them', async () => {
  const rssBefore = rssMiB(daemon!.proc.pid!);
  const batches = function* (): Generator<RouteInput[]> {
    for (let i = 0; i < ROUTES; i += BATCH)
      yield Array.from({ length: BATCH }, (_, k) => ({ router: 'r', prefix: `${formatIPv4(FIRST + (i + k) * 256)}/24`, nextHops: [{ via: '10.82.2.2' }] }));
  };
  const t0 = performance.now();
  expect(await client!.streamRoutes(batches())).toEqual({ batches: ROUTES / BATCH, counts: { added: ROUTES, replaced: 0, unchanged: 0 } });
  const seconds = (performance.now() - t0) / 1000;
  const rss = rssMiB(daemon!.proc.pid!);
  const stateDb = path.join(path.dirname(daemon!.apiSocket), 'state.db'); // Daemon.start puts both there
  const db = statSync(stateDb).size + (statSync(`${stateDb}-wal`, { throwIfNoEntry: false })?.size ?? 0);
  console.log(
    `${ROUTES} routes over StreamRoutes in ${seconds.toFixed(1)} s (${Math.round(ROUTES / seconds)} routes/s); daemon RSS +${(rss - rssBefore).toFixed(0)} MiB ` +
      `(${(((rss - rssBefore) * 2 ** 20) / ROUTES).toFixed(0)} B/route), state database ${(db / 2 ** 20).toFixed(0)} MiB`,
  );
  expect((await client!.getRouter({ name: 'r' })).router?.routeCount).toBe(ROUTES);

  expect(reaches('10.82.2.2')).toBe(true); // and the pod learnt its gateway
  for (let n = 0; n < 20; n++) {
    const i = Math.floor(Math.random() * ROUTES);
    const to = formatIPv4(FIRST + i * 256 + 1 + Math.floor(Math.random() * 254));
    expect(reaches(to), `route ${i} (${to})`).toBe(true);
  }
  expect(ping(formatIPv4(FIRST + ROUTES * 256 + 1))).toMatch(/Destination Net Unreachable/); // past the last route
  const gone = 123_456;
  expect(await client!.deleteRoutes({ router: 'r', prefixes: [`${formatIPv4(FIRST + gone * 256)}/24`] })).toEqual({ deleted: 1 });
  expect(ping(formatIPv4(FIRST + gone * 256 + 7))).toMatch(/Destination Net Unreachable/);
  expect(reaches(formatIPv4(FIRST + (gone + 1) * 256 + 7))).toBe(true);
}, 300_000);
