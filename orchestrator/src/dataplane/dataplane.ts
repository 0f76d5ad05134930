// Typed facade over the addon: names in, names out. Policy and validation live in the
// config schema and the domain; this layer only translates and maps errors.
import { fromNativeError, NotFoundError } from '../domain/errors.js';
import type { AfxdpInterface, InterfaceConfig, MemifInterface, RouteConfig, RouterInterfaceConfig, VethInterface } from '../config/schema.js';
import { createVeth, deleteVeth } from '../domain/veth.js';
import {
  loadAddon,
  type ConntrackStats,
  type DropCounts,
  type MemoryCounters,
  type NativeAddon,
  type NativeAclRule,
  type NativeCaptureChunk,
  type NativeCaptureConfig,
  type NativeDataplane,
  type NativeDataplaneOptions,
  type NativeEvent,
  type NativeInterfaceInfo,
  type NativeRoute,
  type NativeRouterInterfaceInfo,
  type NativeTraceChunk,
  type NativeTraceStep,
  type TakeoverSummary,
} from './native.js';

export interface InterfaceStatus extends Omit<NativeInterfaceInfo, 'index' | 'network' | 'kind'> {
  network: string;
  kind: 'memif' | 'afxdp' | 'veth';
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  drops: DropCounts;
}

export interface RouterInterfaceStatus extends Omit<NativeRouterInterfaceInfo, 'index' | 'router' | 'network'> {
  router: string;
  network: string;
}

export interface NeighborStatus {
  router: string;
  routerInterface: string;
  ip: string;
  mac: string;
  static: boolean;
  state: 'reachable' | 'incomplete';
  ageSeconds: number;
}

/** A trace step with names where the addon has indexes. */
export interface TraceStepNamed extends Omit<NativeTraceStep, 'interface' | 'egress' | 'routerInterface'> {
  interface: string;
  egress: string[];
  routerInterface?: string;
}
export interface TraceChunk extends Omit<NativeTraceChunk, 'steps'> {
  steps: TraceStepNamed[];
}

// Routes cross into the addon this many per call, so that no single call converts (and
// holds the JS thread for) an array of a million routes.
const ROUTE_CHUNK = 10_000;

// Every error the addon raises becomes a domain error naming `field`.
function mapped<T>(field: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw fromNativeError(err, field);
  }
}

function sumCounts(into: DropCounts, from: DropCounts): DropCounts {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  return into;
}

export class Dataplane {
  private readonly networks = new Map<string, number>();
  private readonly interfaces = new Map<string, { index: number; network: string; kind: InterfaceStatus['kind'] }>();
  private readonly routers = new Map<string, number>();
  private readonly routerInterfaces = new Map<string, { id: number; router: string; network: string }>();
  private readonly acls = new Map<string, number>();

  private constructor(private readonly native: NativeDataplane) {}

  /** `addon`: another build of the product addon (a benchmark's before/after). */
  static create(opts: NativeDataplaneOptions, addon: NativeAddon = loadAddon()): Dataplane {
    return mapped('dataplane', () => new Dataplane(new addon.Dataplane(opts)));
  }

  onEvent(fn: (e: NativeEvent) => void): void {
    this.native.setEventHandler(fn);
  }

  start(): void {
    mapped('dataplane', () => this.native.start());
  }

  /** Sends DISCONNECT to every peer, removes socket files and joins all threads (after a
   * handover: neither; the successor owns them). */
  stop(): void {
    this.native.stop();
  }

  /** Serves a successor's takeover request on `socket` (a planned restart). */
  listenForHandover(socket: string): void {
    mapped('handover.socket', () => this.native.listenForHandover(socket));
  }

  /** Takes the memif sessions and listeners of the memswitchd serving `socket`, waiting
   * for it to exit; undefined when none serves it. Before start() and any interface. */
  async takeOver(socket: string, timeoutMs: number): Promise<TakeoverSummary | undefined> {
    try {
      return await this.native.takeOver(socket, timeoutMs);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined;
      throw fromNativeError(err, 'handover.socket');
    }
  }

  /** Disconnects taken-over sessions no interface claimed; returns how many. */
  finishTakeover(): number {
    return this.native.finishTakeover();
  }

  addNetwork(name: string): void {
    mapped('networks.name', () => this.networks.set(name, this.native.addNetwork(name)));
  }

  removeNetwork(name: string): void {
    const id = this.networkId(name);
    mapped('networks.name', () => this.native.removeNetwork(id));
    this.networks.delete(name);
  }

  addMemif(cfg: MemifInterface): InterfaceStatus {
    const network = this.networkId(cfg.network);
    try {
      const index = this.native.addMemif({
        name: cfg.name,
        network,
        socket: cfg.socket,
        id: cfg.id,
        secret: cfg.secret,
        netns: cfg.netns,
        vlan: cfg.vlan,
        mac: cfg.mac,
        mode: cfg.mode,
      });
      this.interfaces.set(cfg.name, { index, network: cfg.network, kind: 'memif' });
    } catch (err) {
      throw fromNativeError(err, 'interfaces');
    }
    return this.interface(cfg.name);
  }

  /** Any interface kind, by its `kind`. */
  addInterface(cfg: InterfaceConfig): InterfaceStatus {
    switch (cfg.kind) {
      case 'memif':
        return this.addMemif(cfg);
      case 'afxdp':
        return this.addAfxdp(cfg);
      case 'veth':
        return this.addVeth(cfg);
    }
  }

  /** An uplink netdev (NIC or SR-IOV VF) on AF_XDP. */
  addAfxdp(cfg: AfxdpInterface): InterfaceStatus {
    return this.attachXdp(cfg, cfg.netdev, 'afxdp', { queues: cfg.queues, mode: cfg.mode, xdp: cfg.xdp });
  }

  /** A veth pair into the container's netns, its host end on AF_XDP. */
  addVeth(cfg: VethInterface): InterfaceStatus {
    this.networkId(cfg.network); // fail before touching the kernel
    const host = createVeth(cfg);
    try {
      return this.attachXdp(cfg, host, 'veth', {});
    } catch (err) {
      deleteVeth(cfg.name);
      throw err;
    }
  }

  private attachXdp(
    cfg: { name: string; network: string; vlan?: number; mac?: string },
    netdev: string,
    kind: 'afxdp' | 'veth',
    opts: { queues?: number[]; mode?: string; xdp?: string },
  ): InterfaceStatus {
    const network = this.networkId(cfg.network);
    try {
      const index = this.native.addAfxdp({ name: cfg.name, network, netdev, vlan: cfg.vlan, mac: cfg.mac, ...opts });
      this.interfaces.set(cfg.name, { index, network: cfg.network, kind });
    } catch (err) {
      throw fromNativeError(err, kind === 'afxdp' ? 'netdev' : 'interfaces');
    }
    return this.interface(cfg.name);
  }

  /** Detaches the interface; a veth pair is deleted with it. */
  removeInterface(name: string): void {
    const entry = this.interfaces.get(name);
    if (!entry) throw new NotFoundError(`no interface ${name}`, 'interfaces.name');
    mapped('interfaces.name', () => this.native.removeInterface(entry.index));
    this.interfaces.delete(name);
    if (entry.kind === 'veth') deleteVeth(name);
  }

  setAdminUp(name: string, up: boolean): void {
    const entry = this.interfaces.get(name);
    if (!entry) throw new NotFoundError(`no interface ${name}`, 'interfaces.name');
    mapped('adminUp', () => this.native.setAdminUp(entry.index, up));
  }

  interface(name: string): InterfaceStatus {
    const entry = this.interfaces.get(name);
    if (!entry) throw new NotFoundError(`no interface ${name}`, 'interfaces.name');
    const i = mapped('interfaces.name', () => this.native.interfaceInfo(entry.index));
    const total = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: {} as DropCounts };
    for (const w of i.perWorker) {
      total.rxPackets += w.rxPackets;
      total.rxBytes += w.rxBytes;
      total.txPackets += w.txPackets;
      total.txBytes += w.txBytes;
      sumCounts(total.drops, w.drops);
    }
    const { index: _index, network: _network, kind: _nativeKind, ...rest } = i;
    return { ...rest, network: entry.network, kind: entry.kind, ...total };
  }

  /**
   * Starts a packet capture on the named interfaces (none: all of them, also those added
   * later). Field-named errors: `filter` carries libpcap's message.
   */
  startCapture(cfg: Omit<NativeCaptureConfig, 'interfaces'> & { interfaces?: string[] }): number {
    const indexes = (cfg.interfaces ?? []).map((name) => this.interfaceIndex(name));
    return mapped('filter', () => this.native.startCapture({ ...cfg, interfaces: indexes }));
  }

  /** pcapng blocks the workers recorded since the last read: about maxBytes at most, and maxFrames. */
  readCapture(id: number, maxBytes: number, maxFrames?: number): NativeCaptureChunk {
    return mapped('capture', () => this.native.readCapture(id, maxBytes, maxFrames));
  }

  stopCapture(id: number): void {
    mapped('capture', () => this.native.stopCapture(id));
  }

  /** Starts a packet trace of frames entering the named interfaces (none: any). Field-named errors. */
  startTrace(cfg: { interfaces?: string[]; filter: string; packets: number }): number {
    const indexes = (cfg.interfaces ?? []).map((name) => this.interfaceIndex(name));
    return mapped('filter', () => this.native.startTrace({ ...cfg, interfaces: indexes }));
  }

  /** Steps the workers recorded since the last read, with interface and router interface names. */
  readTrace(id: number, maxSteps: number): TraceChunk {
    return this.namedSteps(mapped('trace', () => this.native.readTrace(id, maxSteps)));
  }

  /** Frees the trace; returns every step not read yet. */
  stopTrace(id: number): TraceChunk {
    return this.namedSteps(mapped('trace', () => this.native.stopTrace(id)));
  }

  private namedSteps(c: NativeTraceChunk): TraceChunk {
    // An interface removed during the trace keeps a name that says what it was.
    const names = new Map([...this.interfaces].map(([name, e]) => [e.index, name]));
    const nameOf = (index: number): string => names.get(index) ?? `interface-${index}`;
    const rifNames = new Map([...this.routerInterfaces].map(([name, e]) => [e.id, name]));
    return {
      ...c,
      steps: c.steps.map(({ interface: index, egress, routerInterface, ...rest }) => ({
        ...rest,
        interface: nameOf(index),
        egress: egress.map(nameOf),
        ...(routerInterface === undefined ? {} : { routerInterface: rifNames.get(routerInterface) ?? `router-interface-${routerInterface}` }),
      })),
    };
  }

  /** Field-named errors: `rules` says which rule ("rules[3]: ..."), `name` a name in use. */
  addAcl(name: string, rules: NativeAclRule[], kind: 'acl' | 'policy' = 'acl'): void {
    this.acls.set(name, mapped('rules', () => this.native.addAcl(name, rules, kind)));
  }

  /** Several ACLs' rules at once, in one snapshot. */
  setAclRulesMany(changes: [string, NativeAclRule[]][]): void {
    mapped('rules', () => this.native.setAclRulesMany(changes.map(([name, rules]) => [this.aclId(name), rules])));
  }

  setAclRules(name: string, rules: NativeAclRule[]): void {
    mapped('rules', () => this.native.setAclRules(this.aclId(name), rules));
  }

  removeAcl(name: string): void {
    mapped('name', () => this.native.removeAcl(this.aclId(name)));
    this.acls.delete(name);
  }

  /** `acl` undefined: unbinds. */
  bindAcl(interfaceName: string, direction: 'in' | 'out', acl: string | undefined): void {
    const index = this.interfaceIndex(interfaceName);
    mapped('acl', () => this.native.bindAcl(index, direction, acl === undefined ? 0 : this.aclId(acl)));
  }

  aclStats(name: string): { hits: number[]; defaultDenied: number } {
    return mapped('name', () => this.native.aclStats(this.aclId(name)));
  }

  conntrackFlows(cursor: number, limit: number): ReturnType<NativeDataplane['conntrackFlows']> {
    return this.native.conntrackFlows(cursor, limit);
  }

  conntrackStats(): ConntrackStats {
    return this.native.conntrackStats();
  }

  clearConntrack(): void {
    this.native.clearConntrack();
  }

  /** Names tracked flows' zones, by id: their router, or their network (router ''). Made once per listing. */
  zoneNamer(): (router: number, network: number) => { router: string; network: string } {
    const routers = new Map([...this.routers].map(([name, id]) => [id, name]));
    const networks = new Map([...this.networks].map(([name, id]) => [id, name]));
    return (router, network) => (router ? { router: routers.get(router) ?? String(router), network: '' } : { router: '', network: networks.get(network) ?? String(network) });
  }

  private aclId(name: string): number {
    const id = this.acls.get(name);
    if (id === undefined) throw new NotFoundError(`no ACL ${name}`, 'acl');
    return id;
  }

  private interfaceIndex(name: string): number {
    const entry = this.interfaces.get(name);
    if (!entry) throw new NotFoundError(`no interface ${name}`, 'interfaces.name');
    return entry.index;
  }

  listInterfaces(): InterfaceStatus[] {
    return [...this.interfaces.keys()].map((n) => this.interface(n));
  }

  listNetworks(): string[] {
    return [...this.networks.keys()];
  }

  /** Protocol errors of peers that never named an interface id, per socket. */
  socketErrors(): { socket: string; protocolErrors: DropCounts }[] {
    return this.native.sockets();
  }

  workers(): ReturnType<NativeDataplane['workers']> {
    return this.native.workers();
  }

  tscHz(): number {
    return this.native.tscHz();
  }

  addStaticMac(network: string, vlan: number, mac: string, iface: string): void {
    const entry = this.interfaces.get(iface);
    if (!entry) throw new NotFoundError(`no interface ${iface}`, 'interface');
    mapped('mac', () => this.native.addStaticMac({ network: this.networkId(network), vlan, mac, interface: entry.index }));
  }

  macTable(): { network: string; vlan: number; mac: string; interface: string; static: boolean; ageSeconds: number }[] {
    const netNames = new Map([...this.networks].map(([n, id]) => [id, n]));
    const ifNames = new Map([...this.interfaces].map(([n, e]) => [e.index, n]));
    return this.native.macTable().map((e) => ({
      ...e,
      network: netNames.get(e.network) ?? String(e.network),
      interface: ifNames.get(e.interface) ?? String(e.interface),
    }));
  }

  removeStaticMac(network: string, vlan: number, mac: string): void {
    mapped('mac', () => this.native.removeStaticMac({ network: this.networkId(network), vlan, mac }));
  }

  /** Removes the learned entries of a network (static ones stay); returns how many. */
  flushMacTable(network: string): number {
    const id = this.networkId(network);
    return mapped('network', () => this.native.flushMacTable(id));
  }

  // ---- routing ----

  addRouter(name: string): void {
    mapped('name', () => this.routers.set(name, this.native.addRouter(name)));
  }

  removeRouter(name: string): void {
    const id = this.routerId(name);
    mapped('name', () => this.native.removeRouter(id));
    this.routers.delete(name);
  }

  /** `network`: a host interface's is its own hidden network (the routing domain names it). */
  addRouterInterface(cfg: RouterInterfaceConfig & { network: string }): RouterInterfaceStatus {
    const router = this.routerId(cfg.router);
    const network = this.networkId(cfg.network);
    const id = mapped('addresses', () =>
      this.native.addRouterInterface({ name: cfg.name, router, network, vlan: cfg.vlan, mac: cfg.mac, mtu: cfg.mtu, addresses: cfg.addresses }),
    );
    this.routerInterfaces.set(cfg.name, { id, router: cfg.router, network: cfg.network });
    return this.routerInterface(cfg.name);
  }

  removeRouterInterface(name: string): void {
    const id = this.routerInterfaceId(name);
    mapped('name', () => this.native.removeRouterInterface(id));
    this.routerInterfaces.delete(name);
  }

  routerInterface(name: string): RouterInterfaceStatus {
    const entry = this.routerInterfaces.get(name);
    if (!entry) throw new NotFoundError(`no router interface ${name}`, 'name');
    const { index: _index, router: _router, network: _network, ...rest } = mapped('name', () => this.native.routerInterfaceInfo(entry.id));
    return { ...rest, router: entry.router, network: entry.network };
  }

  /**
   * Adds or replaces routes, ROUTE_CHUNK per addon call: each call is all or nothing, the
   * whole is not (the caller undoes what went in before a failure). `batchIndex` turns an
   * index into `routes` into the one the caller's request used, for the addon's
   * "routes[i].field" messages.
   */
  addRoutes(router: string, routes: RouteConfig[], batchIndex: (i: number) => number = (i) => i): void {
    const id = this.routerId(router);
    for (let start = 0; start < routes.length; start += ROUTE_CHUNK) {
      const chunk = routes.slice(start, start + ROUTE_CHUNK).map((r) => this.nativeRoute(r));
      try {
        this.native.addRoutes(id, chunk);
      } catch (err) {
        if (err instanceof Error) err.message = err.message.replace(/^routes\[(\d+)\]/, (_, i: string) => `routes[${batchIndex(start + Number(i))}]`);
        throw fromNativeError(err, 'routes');
      }
    }
  }

  /** Returns how many of the prefixes were routes. */
  removeRoutes(router: string, prefixes: string[]): number {
    const id = this.routerId(router);
    let removed = 0;
    for (let start = 0; start < prefixes.length; start += ROUTE_CHUNK)
      removed += mapped('prefixes', () => this.native.removeRoutes(id, prefixes.slice(start, start + ROUTE_CHUNK)));
    return removed;
  }

  addStaticNeighbor(routerInterface: string, ip: string, mac: string): void {
    const id = this.routerInterfaceId(routerInterface);
    mapped('ip', () => this.native.addStaticNeighbor(id, ip, mac));
  }

  /** False when the dataplane had no entry for the address. */
  removeNeighbor(routerInterface: string, ip: string): boolean {
    const id = this.routerInterfaceId(routerInterface);
    return mapped('ip', () => this.native.removeNeighbor(id, ip));
  }

  /** Static and resolved (ARP, neighbour discovery) neighbours as the dataplane holds them now. */
  neighbors(): NeighborStatus[] {
    const byId = new Map([...this.routerInterfaces].map(([name, e]) => [e.id, { name, router: e.router }]));
    return this.native.neighbors().map((n) => {
      const ri = byId.get(n.routerInterface);
      return { router: ri?.router ?? '', routerInterface: ri?.name ?? String(n.routerInterface), ip: n.ip, mac: n.mac, static: n.static, state: n.state, ageSeconds: n.ageS };
    });
  }

  private nativeRoute(r: RouteConfig): NativeRoute {
    return {
      prefix: r.prefix,
      kind: r.kind,
      nextHops: r.nextHops.map((h) => ({
        ...(h.via !== undefined ? { via: h.via } : {}),
        ...(h.interface !== undefined ? { interface: this.routerInterfaceId(h.interface) } : {}),
      })),
    };
  }

  private routerId(name: string): number {
    const id = this.routers.get(name);
    if (id === undefined) throw new NotFoundError(`no router ${name}`, 'router');
    return id;
  }

  private routerInterfaceId(name: string): number {
    const entry = this.routerInterfaces.get(name);
    if (!entry) throw new NotFoundError(`no router interface ${name}`, 'router_interface');
    return entry.id;
  }

  /** Shared memory the switch itself allocated: hugepages, and the 4 KiB fallback. */
  memory(): MemoryCounters {
    return loadAddon().memoryCounters();
  }

  private networkId(name: string): number {
    const id = this.networks.get(name);
    if (id === undefined) throw new NotFoundError(`no network ${name}`, 'network');
    return id;
  }
}
