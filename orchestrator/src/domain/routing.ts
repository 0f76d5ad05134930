// IP routing's desired state (IPv4 and IPv6): routers (VRFs), their interfaces on the
// switch's networks, static routes and static neighbours. What may be created or
// deleted, in which order it is persisted and applied, and how the config file and the
// state database merge on start. Like Switch, every mutation is synchronous, so no two
// API calls interleave between "commit" and "apply". Listing is route-listing.ts's.
//
// Static routes live in SQLite, not in memory (a million would cost hundreds of MB of JS
// objects): the domain keeps per-router counts and reads pages from the store. Connected
// and local routes are never stored: they follow from interface addresses, derived here
// for listing and by the dataplane for forwarding.
//
// Rules chosen here:
// - The subnets of one router's interfaces may not overlap (within a family), and a
//   static route may not take the prefix of a connected or local route: each prefix has
//   one meaning.
// - A router interface cannot be deleted while a static route names it as a next hop's
//   interface. Routes with only `via` stay when the interface whose subnet held the via
//   goes: the dataplane resolves via at forwarding time, so they are unusable until some
//   interface's subnet holds it again (VPP keeps such unresolved paths the same way).
// - A router can be deleted once it has no interfaces (its host interface too); its
//   static routes go with it.
// - A router has at most one host interface (router-host.ts), IPv4, IPv6 or both. Its
//   default routes to the node (0.0.0.0/0, ::/0: one per family the link carries) are
//   derived, like connected routes, and each gives way to a static one of its prefix.
import {
  hostInterfaceName,
  ipPrefix,
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
import { familyOf, formatPrefix, hostPrefix, parseCidr, type Family } from './ip.js';
import { StaticNeighbors } from './neighbors.js';
import { byPrefix, listRoutes, type RouteQuery } from './route-listing.js';
import { isHost, nodeIfname, RouterHosts, type HostInterfaceConfig } from './router-host.js';
import {
  addressOverlap,
  derivedRoutes,
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
  /** A host interface's end in the node's namespace. */
  nodeIfname?: string;
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

// Stored routes stream into the dataplane this many at a time on start, so memory stays
// bounded however many there are.
const RESTORE_BATCH = 10_000;

const DEFAULT_ROUTE = { 4: '0.0.0.0/0', 6: '::/0' } as const;

export class Routing {
  private readonly routers = new Map<string, { source: Source; routes: number }>();
  private readonly interfaces = new Map<string, { spec: RouterInterfaceConfig; source: Source }>();
  // The file's routes are few and re-asserted on every start: kept here, not stored.
  private readonly configRoutes = new Map<string, Map<string, RouteConfig>>();
  private readonly neighbors: StaticNeighbors;
  private readonly hosts: RouterHosts;
  private readonly log: Logger;

  constructor(
    private readonly sw: Switch,
    private readonly dp: Dataplane,
    private readonly store: RoutingStore,
    log: Logger,
  ) {
    this.log = log.child({ component: 'routing' });
    this.hosts = new RouterHosts(dp, store, this.log);
    this.neighbors = new StaticNeighbors(dp, store, (name) => this.interfaces.get(name)?.spec, this.log);
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

    // Host links this start will not make again go first, so their node names are free
    // for the ones it makes (a stored host interface gives way to the file's on its router).
    const stored = this.store.routerInterfaces();
    const fileHosts = new Map(config.routers.flatMap((r) => (r.host ? [[r.name, hostInterfaceName(r.name, r.host)] as const] : [])));
    this.hosts.removeStale(new Set([...fileHosts.values(), ...stored.filter((s) => s.host && !fileHosts.has(s.router)).map((s) => s.name)]));

    const fileInterfaces = new Map<string, RouterInterfaceConfig>();
    config.routers.forEach((r, i) => {
      const entries: { at: string; raw: object }[] = r.interfaces.map((ri, j) => ({ at: `interfaces.${j}`, raw: { ...ri, router: r.name } }));
      if (r.host) {
        const { address, address6, nodeAddress, nodeAddress6, routes, mtu, mac } = r.host;
        const addresses = [address, address6].filter((a) => a !== undefined);
        entries.push({ at: 'host', raw: { name: fileHosts.get(r.name), router: r.name, addresses, mtu, mac, host: { nodeAddress, nodeAddress6, routes } } });
      }
      for (const { at, raw } of entries) {
        const spec = routerInterfaceSchema.parse(raw);
        const p = this.interfaceProblem(spec);
        if (p) throw new Error(`config: routers.${i}.${at}: ${p.message}`);
        this.applyInterface(spec, 'config');
        fileInterfaces.set(spec.name, spec);
      }
    });
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

    for (const spec of stored) {
      const file = fileInterfaces.get(spec.name);
      if (file && JSON.stringify(file) === JSON.stringify(spec)) continue;
      const why = file ? 'the config file defines it differently' : (this.interfaceProblem(spec) ?? this.staticRouteOver(spec))?.message;
      if (why) {
        this.log.warn({ routerInterface: spec.name, reason: why }, 'dropping a stored router interface');
        // Same name: its static neighbours now belong to the file's interface.
        if (file) this.store.deleteRouterInterfaceSpec(spec.name);
        else this.store.deleteRouterInterface(spec.name);
        // A file's host interface of that name took the link over.
        if (spec.host && !file?.host) this.hosts.forget(spec.name);
        continue;
      }
      this.applyInterface(spec, 'api');
    }

    this.neighbors.restore();
    this.restoreStoredRoutes();
    // Once per host interface, with every interface and static route back.
    for (const { spec } of this.interfaces.values())
      if (isHost(spec)) {
        this.syncNodeRoutes(spec.router);
        this.applyHostDefault(spec.router);
      }
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
    this.syncNodeRoutes(spec.router);
    if (isHost(spec)) this.applyHostDefault(spec.router);
    return { routerInterface: this.getRouterInterface(spec.name), created: true };
  }

  getRouterInterface(name: string): RouterInterfaceView {
    validate(nameSchema, name, 'name');
    const e = this.interfaces.get(name);
    if (!e) throw new NotFoundError(`no router interface ${name}`, 'name');
    return { spec: e.spec, source: e.source, status: this.dp.routerInterface(name), ...(isHost(e.spec) ? { nodeIfname: nodeIfname(e.spec.router) } : {}) };
  }

  listRouterInterfaces(router?: string): RouterInterfaceView[] {
    if (router) this.getRouter(router);
    return [...this.interfaces.values()].filter((i) => !router || i.spec.router === router).map((i) => this.getRouterInterface(i.spec.name));
  }

  /** The router interface on a network (and vlan), if any: there is at most one. */
  routerInterfaceOn(network: string, vlan?: number): RouterInterfaceConfig | undefined {
    for (const { spec } of this.interfaces.values()) if (spec.network === network && (spec.vlan ?? 0) === (vlan ?? 0)) return spec;
    return undefined;
  }

  /** Its static neighbours go with it (a host interface's link too); see the header for routes through it. */
  deleteRouterInterface(name: string): void {
    const ri = this.getRouterInterface(name);
    if (ri.source === 'config') throw new FailedPreconditionError(`router interface ${name} is defined in the config file; remove it there`, 'name');
    // The file's routes name only the file's interfaces, so only stored routes can.
    const through = this.store.routeThrough(ri.spec.router, name);
    if (through) throw new FailedPreconditionError(`router interface ${name} is the next-hop interface of route ${through}; delete or change such routes first`, 'name');
    const { spec } = ri;
    this.store.deleteRouterInterface(name);
    if (isHost(spec)) {
      const toNode = this.hostDefaults(spec.router).map((d) => d.route.prefix);
      if (toNode.length > 0) this.dp.removeRoutes(spec.router, toNode);
    }
    this.dp.removeRouterInterface(name); // the dataplane drops its neighbours, static ones too
    if (isHost(spec)) this.hosts.detach(spec);
    this.neighbors.forget(name);
    this.interfaces.delete(name);
    this.syncNodeRoutes(spec.router);
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
      const prefix = validate(ipPrefix, raw, `prefixes[${i}]`);
      const mine = own.prefixes.get(prefix);
      if (mine)
        throw new InvalidConfigError(`prefixes[${i}]: ${prefix} is the ${mine.origin} route of router interface ${mine.nextHops[0]?.interface}; it goes with that address`, `prefixes[${i}]`);
      if (this.configRoutes.get(router)?.has(prefix))
        throw new FailedPreconditionError(`prefixes[${i}]: ${prefix} of router ${router} is defined in the config file; remove it there`, `prefixes[${i}]`);
      prefixes.add(prefix);
    });
    const removed = this.store.deleteRoutes(router, [...prefixes]);
    if (removed.length > 0) this.dp.removeRoutes(router, removed);
    if (removed.includes(DEFAULT_ROUTE[4]) || removed.includes(DEFAULT_ROUTE[6])) this.applyHostDefault(router);
    this.routers.get(router)!.routes -= removed.length;
    return removed.length;
  }

  /** Static, connected and local routes in (router, prefix) order, a page at a time (route-listing.ts). */
  listRoutes(q: RouteQuery): { routes: RouteView[]; nextPageToken: string } {
    const only = q.router ? this.getRouter(q.router).name : undefined;
    return listRoutes({ ...q, router: only }, only ? [only] : [...this.routers.keys()].sort(), (r) => this.memoryRoutes(r), this.store);
  }

  // ---- neighbours ----

  addNeighbor(input: { routerInterface: string; ip: string; mac: string }): { neighbor: StoredNeighbor; created: boolean } {
    return this.neighbors.add(input);
  }

  /** A static entry, or a resolved one (flushed, as `ip neigh del` does). */
  deleteNeighbor(input: { routerInterface: string; ip: string }): void {
    this.neighbors.delete(input);
  }

  /** Static and resolved neighbours as the dataplane holds them now. */
  listNeighbors(q: { router?: string; routerInterface?: string; family?: Family }): NeighborStatus[] {
    if (q.router) this.getRouter(q.router);
    if (q.routerInterface) this.getRouterInterface(q.routerInterface);
    return this.dp
      .neighbors()
      .filter((n) => (!q.router || n.router === q.router) && (!q.routerInterface || n.routerInterface === q.routerInterface) && (!q.family || familyOf(n.ip) === q.family));
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
    const network = isHost(spec) ? this.hosts.attach(spec) : spec.network!;
    let s: RouterInterfaceStatus;
    try {
      s = this.dp.addRouterInterface({ ...spec, network });
    } catch (err) {
      if (isHost(spec)) this.hosts.detach(spec);
      throw err;
    }
    const where = isHost(spec) ? { nodeIfname: nodeIfname(spec.router), nodeAddress: spec.host.nodeAddress, nodeAddress6: spec.host.nodeAddress6 } : { network, vlan: spec.vlan };
    this.log.info({ routerInterface: spec.name, router: spec.router, ...where, addresses: spec.addresses, mac: s.mac, mtu: s.mtu, source }, 'router interface ready');
    this.interfaces.set(spec.name, { spec, source });
  }

  private hostOf(router: string): { spec: HostInterfaceConfig; source: Source } | undefined {
    for (const { spec, source } of this.interfaces.values()) if (spec.router === router && isHost(spec)) return { spec, source };
    return undefined;
  }

  /** The node's routes through the router's host interface: its own list, or else every connected subnet of the router but the link's, of the families the link carries. */
  private syncNodeRoutes(router: string): void {
    const h = this.hostOf(router);
    if (!h) return;
    const carried = new Set(h.spec.addresses.map(familyOf));
    const connected = derivedRoutes(router, this.interfaces.values()).filter((r) => r.origin === 'connected' && carried.has(familyOf(r.prefix)) && r.nextHops[0]?.interface !== h.spec.name);
    this.hosts.syncNodeRoutes(h.spec, h.spec.host.routes.length > 0 ? h.spec.host.routes : connected.map((r) => r.prefix));
  }

  /**
   * The default routes a host interface gives its router: to the node's address of each
   * family the link carries, while no static route of that prefix (the file's or the
   * API's) takes its place.
   */
  private hostDefaults(router: string): { route: RouteConfig; source: Source }[] {
    const h = this.hostOf(router);
    if (!h) return [];
    const out: { route: RouteConfig; source: Source }[] = [];
    for (const [family, node] of [[4, h.spec.host.nodeAddress], [6, h.spec.host.nodeAddress6]] as const) {
      const prefix = DEFAULT_ROUTE[family];
      if (node === undefined || this.configRoutes.get(router)?.has(prefix) || this.store.hasRoute(router, prefix)) continue;
      // Via alone: the link's connected subnet resolves it, as it would a static route's.
      out.push({ route: { prefix, kind: 'forward', nextHops: [{ via: node.slice(0, node.indexOf('/')) }] }, source: h.source });
    }
    return out;
  }

  private applyHostDefault(router: string): void {
    const d = this.hostDefaults(router);
    if (d.length > 0) this.dp.addRoutes(router, d.map((x) => x.route));
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
    if (spec.network !== undefined && !this.hasNetwork(spec.network)) return { error: NotFoundError, field: 'network', message: `no network ${spec.network}` };
    const others = [...this.interfaces.values()].map((i) => i.spec).filter((i) => i.name !== spec.name);
    const host = spec.host && others.find((i) => i.router === spec.router && i.host);
    if (host) return { error: AlreadyExistsError, field: 'host', message: `router ${spec.router} already has host interface ${host.name}` };
    const sharing = spec.network !== undefined && others.find((i) => i.network === spec.network && (i.vlan ?? 0) === (spec.vlan ?? 0));
    if (sharing) {
      const where = `network ${spec.network}${spec.vlan ? ` vlan ${spec.vlan}` : ''}`;
      return { error: AlreadyExistsError, field: 'network', message: `${where} already has router interface ${sharing.name} (of router ${sharing.router})` };
    }
    return addressOverlap(spec, others);
  }

  /** A static route with the prefix of one of `spec`'s connected or local routes, as a problem. */
  private staticRouteOver(spec: RouterInterfaceConfig): Problem | undefined {
    for (const [j, a] of spec.addresses.entries()) {
      const c = parseCidr(a)!;
      for (const prefix of [formatPrefix(c), hostPrefix(c)])
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
    return ownRoutes(router, this.interfaces.values());
  }

  /** Derived and config-file routes of `router`, sorted as the store's key sorts. */
  private memoryRoutes(router: string): RouteView[] {
    const file = [...(this.configRoutes.get(router)?.values() ?? [])].map((r): RouteView => ({ router, ...r, origin: 'static', source: 'config' }));
    const toNode = this.hostDefaults(router).map((d): RouteView => ({ router, ...d.route, origin: 'host', source: d.source }));
    return [...derivedRoutes(router, this.interfaces.values()), ...file, ...toNode].sort(byPrefix);
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
        this.applyHostDefault(router); // a default route the batch added and took back again
      } catch (err) {
        this.log.error({ router, err: (err as Error).message }, 'undoing a failed route batch in the dataplane failed');
      }
    }
  }
}
