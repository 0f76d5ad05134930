// The pure routing rules for both families: the connected and local routes interface
// addresses give, a router's own addresses, which interface subnets clash, what may be a
// static neighbour; and the listing of routes, one family or both, a page at a time.
import { describe, expect, it } from 'vitest';
import { routerInterfaceSchema, type RouteConfig, type RouterInterfaceConfig } from '../../orchestrator/src/config/schema.js';
import { AlreadyExistsError, InvalidConfigError } from '../../orchestrator/src/domain/errors.js';
import type { Family } from '../../orchestrator/src/domain/ip.js';
import { listRoutes } from '../../orchestrator/src/domain/route-listing.js';
import { addressOverlap, derivedRoutes, neighborProblem, ownRoutes, type RouteView } from '../../orchestrator/src/domain/routing-rules.js';
import type { RoutingStore } from '../../orchestrator/src/store/routing-store.js';

const itf = (name: string, addresses: string[], router = 'r1'): RouterInterfaceConfig => routerInterfaceSchema.parse({ name, router, network: name, addresses });

describe('derived routes', () => {
  it('gives each address its connected subnet (unless /32 or /128) and a local /32 or /128; a link-local one none', () => {
    const blue = itf('blue', ['10.1.0.1/24', 'fd00:1::1/64', 'fe80::1/64', 'fd00:9::9/128', '10.9.0.9/32']);
    const interfaces = [{ spec: blue, source: 'api' as const }, { spec: itf('x', ['10.2.0.1/24'], 'r2'), source: 'api' as const }];
    const routes = derivedRoutes('r1', interfaces);
    expect(routes.map((r) => [r.prefix, r.origin, r.kind])).toEqual([
      ['10.1.0.0/24', 'connected', 'forward'],
      ['10.1.0.1/32', 'local', 'receive'],
      ['fd00:1::/64', 'connected', 'forward'],
      ['fd00:1::1/128', 'local', 'receive'],
      ['fd00:9::9/128', 'local', 'receive'],
      ['10.9.0.9/32', 'local', 'receive'],
    ]);
    expect(routes.every((r) => r.router === 'r1' && r.nextHops[0]?.interface === 'blue')).toBe(true);
    const own = ownRoutes('r1', interfaces);
    // Still the router's own: never a next hop.
    expect([...own.addresses]).toEqual(['10.1.0.1', 'fd00:1::1', 'fe80::1', 'fd00:9::9', '10.9.0.9']);
    expect([...own.prefixes.keys()]).toEqual(routes.map((r) => r.prefix));
    expect(own.prefixes.get('fd00:1::/64')?.origin).toBe('connected');
  });
});

describe('interface address clashes', () => {
  it('finds overlapping subnets of one router within a family only', () => {
    const others = [itf('blue', ['10.1.0.1/24', 'fd00:1::1/64']), itf('elsewhere', ['fd00:2::1/64'], 'r2')];
    expect(addressOverlap(itf('red', ['10.2.0.1/24', 'fd00:2::1/64']), others)).toBeUndefined();
    const p = addressOverlap(itf('red', ['10.2.0.1/24', 'fd00:1::8000:0:0:1/65']), others);
    expect(p).toMatchObject({ error: AlreadyExistsError, field: 'addresses[1]' });
    expect(p?.message).toBe('addresses[1]: fd00:1::8000:0:0:1/65 overlaps fd00:1::1/64 of router interface blue on router r1');
    // ::10.1.0.1/1 (glibc's spelling of ::a01:1) holds 10.1.0.1 as a number, not as an address.
    expect(addressOverlap(itf('red', ['::10.1.0.1/1']), others)).toBeUndefined();
    expect(addressOverlap(itf('red', ['fd00:3::1/64', 'fd00:3::2/64']), [])?.message).toBe('addresses[1]: fd00:3::2/64 overlaps fd00:3::1/64 of this interface on router r1');
  });

  it('never counts link-local subnets: they are per link', () => {
    const others = [itf('blue', ['10.1.0.1/24', 'fd00:1::1/64', 'fe80::1/64'])];
    expect(addressOverlap(itf('red', ['10.2.0.1/24', 'fe80::1/64']), others)).toBeUndefined();
    expect(addressOverlap(itf('red', ['fe80::2/10', 'fe80::1/64']), others)).toBeUndefined();
    // Nor does a wider subnet around them (the dataplane's rule: either side link-local).
    expect(addressOverlap(itf('red', ['fe00::1/8']), others)).toBeUndefined();
    expect(addressOverlap(itf('red', ['fe80::1/64', 'fd00:1::2/64']), others)?.message).toBe('addresses[1]: fd00:1::2/64 overlaps fd00:1::1/64 of router interface blue on router r1');
  });
});

describe('static neighbours', () => {
  const dual = itf('blue', ['10.1.0.1/24', 'fd00:1::1/64']);
  const v4only = itf('red', ['10.2.0.1/24']);

  it('must lie in a subnet of the interface and not be its own address; IPv6 link-local wherever it speaks IPv6', () => {
    expect(neighborProblem(dual, '10.1.0.7')).toBeUndefined();
    expect(neighborProblem(dual, 'fd00:1::7')).toBeUndefined();
    expect(neighborProblem(dual, 'fe80::7')).toBeUndefined();
    expect(neighborProblem(dual, 'fd00:2::7')).toBe('fd00:2::7 is not in a subnet of router interface blue (10.1.0.1/24, fd00:1::1/64)');
    expect(neighborProblem(dual, 'fd00:1::1')).toBe('fd00:1::1 is an address of router interface blue itself');
    expect(neighborProblem(itf('ll', ['fe80::1/64']), 'fe80::1')).toBe('fe80::1 is an address of router interface ll itself');
    expect(neighborProblem(v4only, 'fe80::7')).toBe('fe80::7 is not in a subnet of router interface red (10.2.0.1/24)');
    // An IPv4 number inside an IPv6 subnet is still no neighbour there.
    expect(neighborProblem(itf('v6', ['::10.2.0.1/120']), '10.2.0.7')).toBe('10.2.0.7 is not in a subnet of router interface v6 (::10.2.0.1/120)');
  });
});

describe('listing routes', () => {
  const r = (router: string, prefix: string): RouteView => ({ router, prefix, kind: 'forward', nextHops: [{ interface: 'x' }], origin: 'connected', source: 'config' });
  const memory: Record<string, RouteView[]> = {
    r1: [r('r1', '10.1.0.0/24'), r('r1', 'fd00:1::/64')],
    r2: [r('r2', '10.2.0.0/24')],
  };
  const stored: Record<string, RouteConfig[]> = {
    r1: ['0.0.0.0/0', '10.9.0.0/16', '::/0', 'fd00:9::/48'].map((prefix) => ({ prefix, kind: 'blackhole', nextHops: [] })),
    r2: [{ prefix: '2001:db8::/32', kind: 'blackhole', nextHops: [] }],
  };
  // The store's contract: prefixes after `after` in byte order, of the family if given.
  const store = {
    routesPage: (router: string, after: string, limit: number, family?: Family) =>
      (stored[router] ?? []).filter((x) => x.prefix > after && (family === undefined || x.prefix.includes(':') === (family === 6))).slice(0, limit),
  } as unknown as RoutingStore;
  const all = (q: { router?: string; family?: Family; pageSize?: number }) => {
    const out: string[] = [];
    let pageToken: string | undefined;
    do {
      const page = listRoutes({ ...q, pageToken }, q.router ? [q.router] : ['r1', 'r2'], (x) => memory[x] ?? [], store);
      out.push(...page.routes.map((x) => `${x.router} ${x.prefix} ${x.origin}`));
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    return out;
  };

  it('merges memory and store in (router, prefix) order, of one family when asked, page after page', () => {
    const both = ['r1 0.0.0.0/0 static', 'r1 10.1.0.0/24 connected', 'r1 10.9.0.0/16 static', 'r1 ::/0 static', 'r1 fd00:1::/64 connected', 'r1 fd00:9::/48 static', 'r2 10.2.0.0/24 connected', 'r2 2001:db8::/32 static'];
    expect(all({})).toEqual(both);
    expect(all({ pageSize: 3 })).toEqual(both);
    expect(all({ family: 4, pageSize: 1 })).toEqual(['r1 0.0.0.0/0 static', 'r1 10.1.0.0/24 connected', 'r1 10.9.0.0/16 static', 'r2 10.2.0.0/24 connected']);
    expect(all({ family: 6, pageSize: 2 })).toEqual(['r1 ::/0 static', 'r1 fd00:1::/64 connected', 'r1 fd00:9::/48 static', 'r2 2001:db8::/32 static']);
    expect(all({ router: 'r2', family: 6 })).toEqual(['r2 2001:db8::/32 static']);
  });

  it("refuses a token of another listing's filters", () => {
    const page = listRoutes({ family: 6, pageSize: 1 }, ['r1', 'r2'], (x) => memory[x] ?? [], store);
    expect(page.nextPageToken).not.toBe('');
    const next = (q: { router?: string; family?: Family }) => () => listRoutes({ ...q, pageToken: page.nextPageToken }, ['r1'], (x) => memory[x] ?? [], store);
    expect(next({ family: 4 })).toThrow(InvalidConfigError);
    expect(next({ family: 4 })).toThrow(/^page_token: belongs to a listing with another family filter$/);
    expect(next({})).toThrow(/another family filter/);
    expect(next({ router: 'r1', family: 6 })).toThrow(/another router filter/);
    expect(next({ family: 6 })).not.toThrow();
    expect(() => listRoutes({ pageToken: 'garbage' }, ['r1'], () => [], store)).toThrow(/^page_token: is not a next_page_token of ListRoutes$/);
  });
});
