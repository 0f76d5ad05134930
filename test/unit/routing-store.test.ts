// The routing tables of the state database on their own: round trips, what a batch did
// (added, replaced, unchanged), paging in key order, cascades, a stored route that no
// longer validates, and how long a large batch takes to commit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { RouteConfig } from '../../orchestrator/src/config/schema.js';
import { Store } from '../../orchestrator/src/store/store.js';

const dirs: string[] = [];
function dbPath(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'msw-routing-store-'));
  dirs.push(dir);
  return path.join(dir, 'state.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const route = (prefix: string, via = '10.1.0.2'): RouteConfig => ({ prefix, kind: 'forward', nextHops: [{ via }] });
// i-th /32 host route: distinct, and more of them than one multi-row INSERT takes.
const host = (i: number, first = 20): string => `${first}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;
const ri = { name: 'r1-blue', router: 'r1', network: 'blue', addresses: ['10.1.0.1/24'], mtu: 1500 };

describe('RoutingStore', () => {
  it('round-trips routers, router interfaces, routes and static neighbours across reopen', () => {
    const file = dbPath();
    let s = Store.open(file);
    s.routing.putRouter('r1');
    s.routing.putRouter('r2');
    s.routing.putRouterInterface(ri);
    s.routing.putNeighbor({ routerInterface: 'r1-blue', ip: '10.1.0.7', mac: '02:00:00:00:07:07' });
    s.routing.putRoutes('r2', [route('0.0.0.0/0')]);
    s.routing.putRoutes('r1', [route('10.9.0.0/16'), { prefix: '192.0.2.0/24', kind: 'blackhole', nextHops: [] }, route('0.0.0.0/0', '10.1.0.254')]);
    s.close();
    s = Store.open(file);
    expect(s.routing.routers()).toEqual(['r1', 'r2']);
    expect(s.routing.routerInterfaces()).toEqual([ri]);
    expect(s.routing.neighbors()).toEqual([{ routerInterface: 'r1-blue', ip: '10.1.0.7', mac: '02:00:00:00:07:07' }]);
    expect([...s.routing.routes()].map((r) => [r.router, r.route.prefix])).toEqual([
      ['r1', '0.0.0.0/0'],
      ['r1', '10.9.0.0/16'],
      ['r1', '192.0.2.0/24'],
      ['r2', '0.0.0.0/0'],
    ]);
    expect([...s.routing.routes()][2]!.route).toEqual({ prefix: '192.0.2.0/24', kind: 'blackhole', nextHops: [] });
    s.close();
  });

  it('tells added, replaced and unchanged routes apart, also among a group of new ones', () => {
    const s = Store.open(dbPath());
    const first = Array.from({ length: 100 }, (_, i) => route(host(i)));
    expect(s.routing.putRoutes('r1', first)).toMatchObject({ added: first, replaced: [], unchanged: 0 });
    // 100 again (two of them changed) and 30 new, interleaved so that groups mix them.
    const again = first.map((r, i) => (i === 5 || i === 70 ? route(r.prefix, '10.1.0.3') : r));
    const next = again.flatMap((r, i) => (i < 30 ? [r, route(host(1000 + i))] : [r]));
    const w = s.routing.putRoutes('r1', next);
    expect(w.added.map((r) => r.prefix)).toEqual(Array.from({ length: 30 }, (_, i) => host(1000 + i)));
    expect(w.replaced.map((r) => [r.route.prefix, JSON.parse(r.previous)])).toEqual([
      [host(5), route(host(5))],
      [host(70), route(host(70))],
    ]);
    expect(w.unchanged).toBe(98);
    // restoreRoutes is putRoutes undone: the previous specs come back.
    s.routing.restoreRoutes('r1', w.replaced.map((r) => r.previous));
    expect([...s.routing.routes()].find((r) => r.route.prefix === host(5))?.route).toEqual(route(host(5)));
    s.close();
  });

  it('pages routes in key order, and deletes them by prefix, with their router, and neighbours with their interface', () => {
    const s = Store.open(dbPath());
    s.routing.putRouter('r1');
    s.routing.putRoutes('r1', ['10.3.0.0/16', '10.1.0.0/16', '10.2.0.0/16', '10.4.0.0/16'].map((p) => route(p)));
    s.routing.putRoutes('r2', [route('10.1.0.0/16')]);
    expect(s.routing.routesPage('r1', '', 2).map((r) => r.prefix)).toEqual(['10.1.0.0/16', '10.2.0.0/16']);
    expect(s.routing.routesPage('r1', '10.2.0.0/16', 10).map((r) => r.prefix)).toEqual(['10.3.0.0/16', '10.4.0.0/16']);
    // One family: the other's rows are skipped, not counted against the limit.
    s.routing.putRoutes('r1', [route('fd00:1::/64', 'fd00::2'), route('::/0', 'fd00::2'), route('2001:db8::/32', 'fd00::2')]);
    expect(s.routing.routesPage('r1', '', 10).map((r) => r.prefix)).toEqual(['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16', '10.4.0.0/16', '2001:db8::/32', '::/0', 'fd00:1::/64']);
    expect(s.routing.routesPage('r1', '', 2, 6).map((r) => r.prefix)).toEqual(['2001:db8::/32', '::/0']);
    expect(s.routing.routesPage('r1', '::/0', 2, 6).map((r) => r.prefix)).toEqual(['fd00:1::/64']);
    expect(s.routing.routesPage('r1', '10.3.0.0/16', 10, 4).map((r) => r.prefix)).toEqual(['10.4.0.0/16']);
    s.routing.deleteRoutes('r1', ['fd00:1::/64', '::/0', '2001:db8::/32']);
    expect(s.routing.hasRoute('r1', '10.4.0.0/16')).toBe(true);
    expect(s.routing.deleteRoutes('r1', ['10.1.0.0/16', '10.9.0.0/16'])).toEqual(['10.1.0.0/16']);
    expect(s.routing.deleteRouter('r1')).toBe(3);
    expect(s.routing.routers()).toEqual([]);
    expect([...s.routing.routes()].map((r) => r.router)).toEqual(['r2']); // another router's routes stay

    s.routing.putRouterInterface(ri);
    s.routing.putNeighbor({ routerInterface: 'r1-blue', ip: '10.1.0.7', mac: '02:00:00:00:07:07' });
    s.routing.deleteRouterInterfaceSpec('r1-blue'); // the spec only: the neighbour stays
    expect(s.routing.neighbors()).toHaveLength(1);
    s.routing.putRouterInterface(ri);
    s.routing.deleteRouterInterface('r1-blue');
    expect(s.routing.routerInterfaces()).toEqual([]);
    expect(s.routing.neighbors()).toEqual([]);
    s.close();
  });

  it('finds a route that names a router interface as a next hop', () => {
    const s = Store.open(dbPath());
    s.routing.putRoutes('r1', [route('10.9.0.0/16'), { prefix: '10.8.0.0/16', kind: 'forward', nextHops: [{ via: '10.1.0.2', interface: 'r1-blue' }] }]);
    expect(s.routing.routeThrough('r1', 'r1-blue')).toBe('10.8.0.0/16');
    expect(s.routing.routeThrough('r1', 'r1-blu')).toBeUndefined(); // whole names only
    expect(s.routing.routeThrough('r2', 'r1-blue')).toBeUndefined();
    s.close();
  });

  it('refuses a stored route that no longer validates, naming it', () => {
    const file = dbPath();
    Store.open(file).close();
    const db = new Database(file);
    db.prepare('INSERT INTO routes (router, prefix, spec) VALUES (?, ?, ?)').run('r1', '10.0.0.0/8', JSON.stringify({ prefix: '10.0.0.1/8', kind: 'forward', nextHops: [] }));
    db.close();
    const s = Store.open(file);
    expect(() => [...s.routing.routes()]).toThrow(/stored route r1 10\.0\.0\.0\/8 is invalid: prefix: has host bits set/);
    s.close();
  });

  it('commits 100,000 new routes in one batch, every one of them there after reopening', () => {
    // How fast is the benchmark's business (bench/control-plane.ts: routes/s over the API).
    const file = dbPath();
    const s = Store.open(file);
    const routes = Array.from({ length: 100_000 }, (_, i) => route(host(i)));
    expect(s.routing.putRoutes('r1', routes).added).toHaveLength(100_000);
    s.close();
    const again = Store.open(file);
    const stored = new Set([...again.routing.routes()].map((r) => r.route.prefix));
    expect(stored.size).toBe(100_000);
    for (const r of routes) expect(stored.has(r.prefix)).toBe(true);
    again.close();
  });
});
