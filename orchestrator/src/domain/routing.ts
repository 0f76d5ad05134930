// IPv4 routing's desired state: routers (VRFs), their interfaces on the switch's
// networks, static routes and static neighbours. What may be created or deleted, in
// which order it is persisted and applied, and how the config file and the state
// database merge on start. Like Switch, every mutation is synchronous, so no two API
// calls interleave between "commit" and "apply".
//
// Static routes live in SQLite, not in memory (a million would cost hundreds of MB of JS
// objects): the domain keeps per-router counts and reads pages from the store. Connected
// and local routes are never stored: they follow from interface addresses, derived here
// for listing and by the dataplane for forwarding.
//
// Rules chosen here:
// - The subnets of one router's interfaces may not overlap, and a static route may not
//   take the prefix of a connected or local route: each prefix has one meaning.
// - A router interface cannot be deleted while a static route names it as a next hop's
//   interface. Routes with only `via` stay when the interface whose subnet held the via
//   goes: the dataplane resolves via at forwarding time, so they are unusable until some
//   interface's subnet holds it again (VPP keeps such unresolved paths the same way).
// - A router can be deleted once it has no interfaces; its static routes go with it.
import { z } from 'zod';
import {
  ipv4Host,
  ipv4Prefix,
  macAddress,
  name as nameSchema,
  routerInterfaceSchema,
  type Config,
  type RouteConfig,
  type RouterInterfaceConfig,
} from '../config/schema.js';
import type { Dataplane, NeighborStatus, RouterInterfaceStatus } from '../dataplane/dataplane.js';
import type { Logger } from '../log.js';
import type { RouteWrite, RoutingStore, StoredNeighbor } from '../store/routing-store.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidConfigError, NotFoundError } from './errors.js';
import { formatIPv4, formatPrefix, overlaps, parseCidr } from './ipv4.js';
import {
  byPrefix,
  decodeToken,
  derivedRoutes,
  encodeToken,
  neighborProblem,
  ownRoutes,
  validate,
  validateRoute,
  type OwnRoutes,
  type Problem,
  type RouteView,
} from './routing-rules.js';
import type { Source, Switch } from './switch.js';

export interface RouterView {
  name: string;
  source: Source;
  interfaceCount: number;
  /** Static routes (the file's and the API's); connected and local ones are not counted. */
  routeCount: number;
}

export interface RouterInterfaceView {
  spec: RouterInterfaceConfig;
  source: Source;
  status: RouterInterfaceStatus;
}

/** One route of a request: `route` is checked by checkRoute. */
export interface RouteInput {
  router: unknown;
  route: unknown;
}

export interface RouteTotals {
  added: number;
  replaced: number;
  unchanged: number;
}

const DEFAULT_PAGE_SIZE = 1000;
const MAX_PAGE_SIZE = 10_000;
// Stored routes stream into the dataplane this many at a time on start, so memory stays
// bounded however many there are.
const RESTORE_BATCH = 10_000;

const neighborInput = z.object({ routerInterface: nameSchema, ip: ipv4Host, mac: macAddress }).strict();
const neighborKey = z.object({ routerInterface: nameSchema, ip: ipv4Host }).strict();
const keyOf = (n: { routerInterface: string; ip: string }): string => `${n.routerInterface}\u0000${n.ip}`;

export class Routing {
  private readonly routers = new Map<string, { source: Source; routes: number }>();
  private readonly interfaces = new Map<string, { spec: RouterInterfaceConfig; source: Source }>();
  // The file's routes are few and re-asserted on every start: kept here, not stored.
  private readonly configRoutes = new Map<string, Map<string, RouteConfig>>();
  private readonly neighbors = new Map<string, StoredNeighbor>();
  private readonly log: Logger;

  constructor(
    private readonly sw: Switch,
    private readonly dp: Dataplane,
    private readonly store: RoutingStore,
    log: Logger,
  ) {
    this.log = log.child({ component: 'routing' });
    sw.guardNetwork((network) => {
      const ri = [...this.interfaces.values()].find((i) => i.spec.network === network);
      return ri && `router interface ${ri.spec.name}`;
    });
  }

  // ---- start: the config file and the database, merged ----

  /**
   * Re-creates routers, their interfaces, static neighbours and static routes, the
   * file's first; the file wins where both define a router interface or a route. After
   * Switch.restore (the networks exist) and before forwarding starts.
   */
  restore(config: Config): void {
    for (const r of config.routers) this.applyRouter(r.name, 'config');
    for (const name of this.store.routers()) if (!this.routers.has(name)) this.applyRouter(name, 'api');

    const fileInterfaces = new Map<string, RouterInterfaceConfig>();
    config.routers.forEach((r, i) =>
      r.interfaces.forEach((ri, j) => {
        const spec = routerInterfaceSchema.parse({ ...ri, router: r.name });
        const p = this.interfaceProblem(spec);
        if (p) throw new Error(`config: routers.${i}.interfaces.${j}: ${p.message}`);
        this.applyInterface(spec, 'config');
        fileInterfaces.set(spec.name, spec);
      }),
    );
    // The file's routes name only the file's interfaces: checked and applied before the
    // stored interfaces, so that a stored one that now clashes with them is the one dropped.
    config.routers.forEach((r, i) => {
      const own = this.own(r.name);
      const routes = new Map<string, RouteConfig>();
      r.routes.forEach((route, k) => {
        const p = this.routeProblem(r.name, route, own, 'config');
        // The file writes a route's one next hop flat.
        if (p) throw new Error(`config: routers.${i}.routes.${k}.${p.field.replace(/^next_hops\[0\]\./, '')}: ${p.message}`);
        routes.set(route.prefix, route);
      });
      this.configRoutes.set(r.name, routes);
      this.dp.addRoutes(r.name, r.routes);
      this.routers.get(r.name)!.routes += routes.size;
    });

    for (const spec of this.store.routerInterfaces()) {
      const file = fileInterfaces.get(spec.name);
      if (file && JSON.stringify(file) === JSON.stringify(spec)) continue;
      const why = file ? 'the config file defines it differently' : (this.interfaceProblem(spec) ?? this.staticRouteOver(spec))?.message;
      if (why) {
        this.log.warn({ routerInterface: spec.name, reason: why }, 'dropping a stored router interface');
        // Same name: its static neighbours now belong to the file's interface.
        if (file) this.store.deleteRouterInterfaceSpec(spec.name);
        else this.store.deleteRouterInterface(spec.name);
        continue;
      }
      this.applyInterface(spec, 'api');
    }

    for (const n of this.store.neighbors()) {
      const ri = this.interfaces.get(n.routerInterface);
      const why = ri ? neighborProblem(ri.spec, n.ip) : `router interface ${n.routerInterface} no longer exists`;
      if (why) {
        this.log.warn({ routerInterface: n.routerInterface, ip: n.ip, reason: why }, 'dropping a stored static neighbour');
        this.store.deleteNeighbor(n.routerInterface, n.ip);
        continue;
      }
      this.dp.addStaticNeighbor(n.routerInterface, n.ip, n.mac);
      this.neighbors.set(keyOf(n), n);
    }
    this.restoreStoredRoutes();
  }

  // ---- routers ----

  createRouter(input: { name: string }): { router: RouterView; created: boolean } {
    const name = validate(nameSchema, input.name, 'name');
    if (this.routers.has(name)) return { router: this.getRouter(name), created: false };
    this.store.putRouter(name);
    try {
      this.applyRouter(name, 'api');
    } catch (err) {
      this.store.deleteRouter(name);
      throw err;
    }
    return { router: this.getRouter(name), created: true };
  }

  getRouter(name: string): RouterView {
    validate(nameSchema, name, 'name');
    const r = this.routers.get(name);
    if (!r) throw new NotFoundError(`no router ${name}`, 'name');
    let interfaceCount = 0;
    for (const i of this.interfaces.values()) if (i.spec.router === name) interfaceCount++;
    return { name, source: r.source, interfaceCount, routeCount: r.routes };
  }

  listRouters(): RouterView[] {
    return [...this.routers.keys()].map((n) => this.getRouter(n));
  }

  /** Returns how many static routes went with it. */
  deleteRouter(name: string): number {
    const r = this.getRouter(name);
    if (r.source === 'config') throw new FailedPreconditionError(`router ${name} is defined in the config file; remove it there`, 'name');
    const ri = [...this.interfaces.values()].find((i) => i.spec.router === name);
    if (ri) throw new FailedPreconditionError(`router ${name} still has router interface ${ri.spec.name}`, 'name');
    const routes = this.store.deleteRouter(name);
    this.dp.removeRouter(name); // its routing table goes with it
    this.routers.delete(name);
    return routes;
  }

  // ---- router interfaces ----

  createRouterInterface(input: unknown): { routerInterface: RouterInterfaceView; created: boolean } {
    const spec = validate(routerInterfaceSchema, input);
    const existing = this.interfaces.get(spec.name);
    if (existing) {
      if (JSON.stringify(existing.spec) === JSON.stringify(spec)) return { routerInterface: this.getRouterInterface(spec.name), created: false };
      throw new AlreadyExistsError(`router interface ${spec.name} already exists with a different spec`, 'name');
    }
    const p = this.interfaceProblem(spec) ?? this.staticRouteOver(spec);
    if (p) throw new p.error(p.message, p.field);
    this.store.putRouterInterface(spec);
    try {
      this.applyInterface(spec, 'api');
    } catch (err) {
      this.store.deleteRouterInterface(spec.name);
      throw err;
    }
    return { routerInterface: this.getRouterInterface(spec.name), created: true };
  }

  getRouterInterface(name: string): RouterInterfaceView {
    validate(nameSchema, name, 'name');
    const e = this.interfaces.get(name);
    if (!e) throw new NotFoundError(`no router interface ${name}`, 'name');
    return { spec: e.spec, source: e.source, status: this.dp.routerInterface(name) };
  }

  listRouterInterfaces(router?: string): RouterInterfaceView[] {
    if (router) this.getRouter(router);
    return [...this.interfaces.values()].filter((i) => !router || i.spec.router === router).map((i) => this.getRouterInterface(i.spec.name));
  }

  /** Its static neighbours go with it; see the header for routes through it. */
  deleteRouterInterface(name: string): void {
    const ri = this.getRouterInterface(name);
    if (ri.source === 'config') throw new FailedPreconditionError(`router interface ${name} is defined in the config file; remove it there`, 'name');
    // The file's routes name only the file's interfaces, so only stored routes can.
    const through = this.store.routeThrough(ri.spec.router, name);
    if (through) throw new FailedPreconditionError(`router interface ${name} is the next-hop interface of route ${through}; delete or change such routes first`, 'name');
    this.store.deleteRouterInterface(name);
    this.dp.removeRouterInterface(name); // the dataplane drops its neighbours, static ones too
    for (const [k, n] of this.neighbors) if (n.routerInterface === name) this.neighbors.delete(k);
    this.interfaces.delete(name);
  }

  // ---- static routes ----

  /**
   * One batch, all or nothing: validated whole, committed in one transaction, then
   * applied; if applying fails, the commit and what was applied are undone. An existing
   * prefix is replaced.
   */
  addRoutes(input: readonly RouteInput[]): RouteTotals {
    const batch = new Map<string, { routes: RouteConfig[]; index: number[]; first: Map<string, number> }>();
    const own = new Map<string, OwnRoutes>();
    // A plain loop, and field names built only for an error: this runs a million times.
    for (let i = 0; i < input.length; i++) {
      const item = input[i]!;
      // A known router's name was validated when it was created.
      const router = typeof item.router === 'string' && this.routers.has(item.router) ? item.router : validate(nameSchema, item.router, `routes[${i}].router`);
      if (!this.routers.has(router)) throw new NotFoundError(`routes[${i}].router: no router ${router}`, `routes[${i}].router`);
      const route = validateRoute(item.route, `routes[${i}]`);
      let b = batch.get(router);
      if (!b) batch.set(router, (b = { routes: [], index: [], first: new Map() }));
      const first = b.first.get(route.prefix);
      if (first !== undefined) throw new InvalidConfigError(`routes[${i}].prefix: ${route.prefix} is already routes[${first}] of this batch`, `routes[${i}].prefix`);
      b.first.set(route.prefix, i);
      let mine = own.get(router);
      if (!mine) own.set(router, (mine = this.own(router)));
      const p = this.routeProblem(router, route, mine, 'api');
      if (p) throw new p.error(`routes[${i}].${p.field}: ${p.message}`, `routes[${i}].${p.field}`);
      b.routes.push(route);
      b.index.push(i);
    }

    const writes = this.store.transaction(() => [...batch].map(([router, b]) => ({ router, b, w: this.store.putRoutes(router, b.routes) })));
    let applied = 0;
    try {
      for (const { router, b, w } of writes) {
        // Identical routes are in the dataplane already: only what changed goes there.
        const changed = [...w.added, ...w.replaced.map((r) => r.route)];
        applied++;
        this.dp.addRoutes(router, changed, (k) => b.index[b.routes.indexOf(changed[k]!)] ?? k);
      }
    } catch (err) {
      this.undoRoutes(writes, applied);
      throw err;
    }
    const totals: RouteTotals = { added: 0, replaced: 0, unchanged: 0 };
    for (const { router, w } of writes) {
      this.routers.get(router)!.routes += w.added.length;
      totals.added += w.added.length;
      totals.replaced += w.replaced.length;
      totals.unchanged += w.unchanged;
    }
    return totals;
  }

  /** Removes static routes by prefix; returns how many there were (missing ones are no error). */
  deleteRoutes(input: { router: string; prefixes: readonly unknown[] }): number {
    const router = this.getRouter(input.router).name;
    const own = this.own(router);
    const prefixes = new Set<string>();
    input.prefixes.forEach((raw, i) => {
      const prefix = validate(ipv4Prefix, raw, `prefixes[${i}]`);
      const mine = own.prefixes.get(prefix);
      if (mine)
        throw new InvalidConfigError(`prefixes[${i}]: ${prefix} is the ${mine.origin} route of router interface ${mine.nextHops[0]?.interface}; it goes with that address`, `prefixes[${i}]`);
      if (this.configRoutes.get(router)?.has(prefix))
        throw new FailedPreconditionError(`prefixes[${i}]: ${prefix} of router ${router} is defined in the config file; remove it there`, `prefixes[${i}]`);
      prefixes.add(prefix);
    });
    const removed = this.store.deleteRoutes(router, [...prefixes]);
    if (removed.length > 0) this.dp.removeRoutes(router, removed);
    this.routers.get(router)!.routes -= removed.length;
    return removed.length;
  }

  /**
   * Static, connected and local routes in (router, prefix) order, a page at a time; the
   * token is the last (router, prefix) shown, so a page never repeats or skips a route
   * that stayed.
   */
  listRoutes(q: { router?: string; pageSize?: number; pageToken?: string }): { routes: RouteView[]; nextPageToken: string } {
    const only = q.router ? this.getRouter(q.router).name : undefined;
    const size = Math.min(q.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const after = q.pageToken ? decodeToken(q.pageToken, only ?? '') : undefined;
    const out: RouteView[] = [];
    // One more than a page, to know whether another page follows.
    for (const router of only ? [only] : [...this.routers.keys()].sort()) {
      const want = size + 1 - out.length;
      if (want <= 0) break;
      if (after && router < after.router) continue;
      const from = after && router === after.router ? after.prefix : '';
      const memory = this.memoryRoutes(router).filter((r) => r.prefix > from);
      const stored = this.store.routesPage(router, from, want);
      let m = 0;
      let s = 0;
      while (out.length < size + 1 && (m < memory.length || s < stored.length)) {
        if (s >= stored.length || (m < memory.length && memory[m]!.prefix < stored[s]!.prefix)) out.push(memory[m++]!);
        else out.push({ router, ...stored[s++]!, origin: 'static', source: 'api' });
      }
    }
    const routes = out.slice(0, size);
    return { routes, nextPageToken: out.length > size ? encodeToken(only ?? '', routes.at(-1)!) : '' };
  }

  // ---- neighbours ----

  addNeighbor(input: { routerInterface: string; ip: string; mac: string }): { neighbor: StoredNeighbor; created: boolean } {
    const req = validate(neighborInput, input);
    const ri = this.interfaces.get(req.routerInterface);
    if (!ri) throw new NotFoundError(`no router interface ${req.routerInterface}`, 'router_interface');
    const why = neighborProblem(ri.spec, req.ip);
    if (why) throw new InvalidConfigError(`ip: ${why}`, 'ip');
    const existing = this.neighbors.get(keyOf(req));
    if (existing) {
      if (existing.mac === req.mac) return { neighbor: existing, created: false };
      throw new AlreadyExistsError(`${req.ip} is already a static neighbour on ${req.routerInterface}, with MAC ${existing.mac}`, 'ip');
    }
    this.store.putNeighbor(req);
    try {
      this.dp.addStaticNeighbor(req.routerInterface, req.ip, req.mac);
    } catch (err) {
      this.store.deleteNeighbor(req.routerInterface, req.ip);
      throw err;
    }
    this.neighbors.set(keyOf(req), req);
    return { neighbor: req, created: true };
  }

  /** A static entry, or a resolved one (flushed, as `ip neigh del` does). */
  deleteNeighbor(input: { routerInterface: string; ip: string }): void {
    const req = validate(neighborKey, input);
    if (!this.interfaces.has(req.routerInterface)) throw new NotFoundError(`no router interface ${req.routerInterface}`, 'router_interface');
    const stored = this.neighbors.get(keyOf(req));
    if (stored) {
      this.store.deleteNeighbor(req.routerInterface, req.ip);
      this.neighbors.delete(keyOf(req));
    }
    const removed = this.dp.removeNeighbor(req.routerInterface, req.ip);
    if (!stored && !removed) throw new NotFoundError(`no neighbour ${req.ip} on router interface ${req.routerInterface}`, 'ip');
  }

  /** Static and resolved neighbours as the dataplane holds them now. */
  listNeighbors(q: { router?: string; routerInterface?: string }): NeighborStatus[] {
    if (q.router) this.getRouter(q.router);
    if (q.routerInterface) this.getRouterInterface(q.routerInterface);
    return this.dp.neighbors().filter((n) => (!q.router || n.router === q.router) && (!q.routerInterface || n.routerInterface === q.routerInterface));
  }

  counts(): { routers: number; routerInterfaces: number; routes: number } {
    let routes = 0;
    for (const r of this.routers.values()) routes += r.routes;
    return { routers: this.routers.size, routerInterfaces: this.interfaces.size, routes };
  }

  // ---- internals ----

  private applyRouter(name: string, source: Source): void {
    this.dp.addRouter(name);
    this.routers.set(name, { source, routes: 0 });
  }

  private applyInterface(spec: RouterInterfaceConfig, source: Source): void {
    const s = this.dp.addRouterInterface(spec);
    this.log.info(
      { routerInterface: spec.name, router: spec.router, network: spec.network, vlan: spec.vlan, addresses: spec.addresses, mac: s.mac, mtu: s.mtu, source },
      'router interface ready',
    );
    this.interfaces.set(spec.name, { spec, source });
  }

  private hasNetwork(name: string): boolean {
    try {
      this.sw.getNetwork(name);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** Why `spec` cannot join the routers as they are now, or undefined. */
  private interfaceProblem(spec: RouterInterfaceConfig): Problem | undefined {
    if (!this.routers.has(spec.router)) return { error: NotFoundError, field: 'router', message: `no router ${spec.router}` };
    if (!this.hasNetwork(spec.network)) return { error: NotFoundError, field: 'network', message: `no network ${spec.network}` };
    const others = [...this.interfaces.values()].map((i) => i.spec).filter((i) => i.name !== spec.name);
    const sharing = others.find((i) => i.network === spec.network && (i.vlan ?? 0) === (spec.vlan ?? 0));
    if (sharing) {
      const where = `network ${spec.network}${spec.vlan ? ` vlan ${spec.vlan}` : ''}`;
      return { error: AlreadyExistsError, field: 'network', message: `${where} already has router interface ${sharing.name} (of router ${sharing.router})` };
    }
    const taken = others.filter((i) => i.router === spec.router).flatMap((i) => i.addresses.map((a) => ({ a, owner: `router interface ${i.name}` })));
    for (const [j, a] of spec.addresses.entries()) {
      const field = `addresses[${j}]`;
      const mine = parseCidr(a)!;
      const clash = taken.find((t) => overlaps(parseCidr(t.a)!, mine));
      if (clash) return { error: AlreadyExistsError, field, message: `${field}: ${a} overlaps ${clash.a} of ${clash.owner} on router ${spec.router}` };
      taken.push({ a, owner: 'this interface' });
    }
    return undefined;
  }

  /** A static route with the prefix of one of `spec`'s connected or local routes, as a problem. */
  private staticRouteOver(spec: RouterInterfaceConfig): Problem | undefined {
    for (const [j, a] of spec.addresses.entries()) {
      const c = parseCidr(a)!;
      for (const prefix of [formatPrefix(c.addr, c.len), `${formatIPv4(c.addr)}/32`])
        if (this.configRoutes.get(spec.router)?.has(prefix) || this.store.hasRoute(spec.router, prefix))
          return { error: FailedPreconditionError, field: `addresses[${j}]`, message: `addresses[${j}]: router ${spec.router} has a static route ${prefix}; delete it first` };
    }
    return undefined;
  }

  /** Why `route` cannot be a static route of `router` now (fields relative to the route), or undefined. */
  private routeProblem(router: string, route: RouteConfig, own: OwnRoutes, source: Source): Problem | undefined {
    const mine = own.prefixes.get(route.prefix);
    if (mine)
      return { error: InvalidConfigError, field: 'prefix', message: `${route.prefix} is the ${mine.origin} route of router interface ${mine.nextHops[0]?.interface}` };
    if (source === 'api' && this.configRoutes.get(router)?.has(route.prefix))
      return { error: FailedPreconditionError, field: 'prefix', message: `${route.prefix} of router ${router} is defined in the config file; change it there` };
    for (const [j, h] of route.nextHops.entries()) {
      if (h.interface !== undefined && this.interfaces.get(h.interface)?.spec.router !== router)
        return { error: NotFoundError, field: `next_hops[${j}].interface`, message: `router ${router} has no interface ${h.interface}` };
      if (h.via !== undefined && own.addresses.has(h.via))
        return { error: InvalidConfigError, field: `next_hops[${j}].via`, message: `${h.via} is an address of router ${router} itself` };
    }
    return undefined;
  }

  private own(router: string): OwnRoutes {
    return ownRoutes(derivedRoutes(router, this.interfaces.values()));
  }

  /** Derived and config-file routes of `router`, sorted as the store's key sorts. */
  private memoryRoutes(router: string): RouteView[] {
    const file = [...(this.configRoutes.get(router)?.values() ?? [])].map((r): RouteView => ({ router, ...r, origin: 'static', source: 'config' }));
    return [...derivedRoutes(router, this.interfaces.values()), ...file].sort(byPrefix);
  }

  /**
   * Streams the stored routes into the dataplane, dropping (with one warning per router
   * and reason) those the file now owns or that name what no longer exists.
   */
  private restoreStoredRoutes(): void {
    const dropped = new Map<string, { router: string; example: string; prefixes: string[] }>();
    let pending: RouteConfig[] = [];
    let current = '';
    let own: OwnRoutes | undefined;
    const flush = (): void => {
      if (pending.length === 0) return;
      this.dp.addRoutes(current, pending);
      this.routers.get(current)!.routes += pending.length;
      pending = [];
    };
    for (const { router, route } of this.store.routes()) {
      if (router !== current) {
        flush();
        current = router;
        own = this.routers.has(router) ? this.own(router) : undefined;
      }
      const p = own ? this.routeProblem(router, route, own, 'api') : { field: 'router', message: `router ${router} no longer exists` };
      if (p) {
        const key = `${router}\u0000${p.field.replace(/\[\d+\]/g, '')}`;
        const d = dropped.get(key) ?? { router, example: `${route.prefix}: ${p.message}`, prefixes: [] };
        d.prefixes.push(route.prefix);
        dropped.set(key, d);
        continue;
      }
      pending.push(route);
      if (pending.length >= RESTORE_BATCH) flush();
    }
    flush();
    if (dropped.size === 0) return;
    // Written once the read is done: SQLite cannot write while the read is open.
    this.store.transaction(() => {
      for (const d of dropped.values()) this.store.deleteRoutes(d.router, d.prefixes);
    });
    for (const d of dropped.values()) this.log.warn({ router: d.router, routes: d.prefixes.length, example: d.example }, 'dropping stored routes');
  }

  /** Puts the store back as it was before `writes`, and the first `applied` routers' tables in the dataplane. */
  private undoRoutes(writes: { router: string; w: RouteWrite }[], applied: number): void {
    this.store.transaction(() => {
      for (const { router, w } of writes) {
        this.store.deleteRoutes(router, w.added.map((r) => r.prefix));
        this.store.restoreRoutes(router, w.replaced.map((r) => r.previous));
      }
    });
    for (const { router, w } of writes.slice(0, applied)) {
      try {
        this.dp.removeRoutes(router, w.added.map((r) => r.prefix));
        // Written by this process from checked routes moments ago: no need to check again.
        this.dp.addRoutes(router, w.replaced.map((r) => JSON.parse(r.previous) as RouteConfig));
      } catch (err) {
        this.log.error({ router, err: (err as Error).message }, 'undoing a failed route batch in the dataplane failed');
      }
    }
  }
}
