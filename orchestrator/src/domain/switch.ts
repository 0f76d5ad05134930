// The desired state of the switch and the only place that decides about it: what may
// be created or deleted, in which order it is persisted and applied, and how the config
// file and the state database merge on start. The API and the CLI only call in here.
//
// Every mutation is synchronous (SQLite and the addon both are), so two API calls can
// never interleave between "commit" and "apply".
import path from 'node:path';
import { z, type ZodType, type ZodTypeDef } from 'zod';
import { makeDir, SHARED_DIR_MODE } from '../config/paths.js';
import { interfaceSchema, macAddress, name as nameSchema, type Config, type InterfaceConfig } from '../config/schema.js';
import type { Dataplane, InterfaceStatus } from '../dataplane/dataplane.js';
import type { NativeNodeRuntime } from '../dataplane/native.js';
import type { Logger } from '../log.js';
import type { Store, StoredStaticMac } from '../store/store.js';
import { openCapture, type CaptureChunk, type CaptureRequest } from './capture.js';
import { openTrace, type TracedPacket, type TraceRequest } from './trace.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidConfigError, NotFoundError } from './errors.js';
import type { SwitchEventKind } from './events.js';
import { WorkerWatch } from './worker-watch.js';

/** Where an interface is defined: the config file, the API, or a CNI attachment. */
export type Source = 'config' | 'api' | 'cni';

export interface NetworkView {
  name: string;
  source: Source;
  interfaceCount: number;
}

export interface InterfaceView {
  spec: InterfaceConfig;
  source: Source;
  adminUp: boolean;
  status: InterfaceStatus;
}

export type { SwitchEventKind };

export interface SwitchEvent {
  timeUnixMs: number;
  kind: SwitchEventKind;
  interface?: string;
  network?: string;
  socket?: string;
  detail?: string;
}

export interface WorkerView {
  index: number;
  cpu: number;
  polls: number;
  busyPolls: number;
  busyRatio: number;
  sleeps: number; // adaptive polling: times it slept for lack of traffic
  stalled: boolean; // no progress for STALL_AFTER_MS: stuck inside a poll
  runtime: NodeRuntimeView[]; // rx, the pipeline stages in order, tx
  icmpErrors: number; // ICMP and ICMPv6 errors its routers sent
  icmpRateLimited: number; // and those the 100/s limit held back
}

/** A node's counters as the dataplane keeps them, and its cost per frame from the timed bursts. */
export interface NodeRuntimeView extends NativeNodeRuntime {
  cyclesPerPacket: number;
  nsPerPacket: number;
}

export interface StatsView {
  timeUnixMs: number;
  interfaces: InterfaceStatus[];
  workers: WorkerView[];
  tscHz: number;
  sockets: ReturnType<Dataplane['socketErrors']>;
  memory: ReturnType<Dataplane['memory']> & { fallbackInUse: boolean };
}

/** zod in, a domain error naming the field out. */
function validate<T>(schema: ZodType<T, ZodTypeDef, unknown>, input: unknown, prefix?: string): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = [...(prefix ? [prefix] : []), ...issue.path].join('.') || '(request)';
  const message = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
  throw new InvalidConfigError(`${field}: ${message}`, field);
}

const staticMacInput = z.object({ network: nameSchema, mac: macAddress, interface: nameSchema }).strict();
const staticMacKey = z.object({ network: nameSchema, mac: macAddress, vlan: z.number().int().min(0).max(4094) }).strict();
const macKey = (e: { network: string; vlan: number; mac: string }): string => `${e.network}/${e.vlan}/${e.mac}`;
// What two interfaces of a kind may not share; the dataplane also refuses the rest
// (a netdev attached twice, ...) with EEXIST.
// An abstract memif socket is per network namespace; a path is the same in all of them.
const endpoint = (i: InterfaceConfig): string =>
  i.kind === 'memif' ? `memif:${i.socket.startsWith('@') && i.netns ? `${i.netns}|` : ''}${i.socket}#${i.id}` : `${i.kind}:${i.name}`;

interface InterfaceEntry {
  spec: InterfaceConfig;
  source: Source;
  adminUp: boolean;
}

export class Switch {
  private readonly networks = new Map<string, Source>();
  private readonly interfaces = new Map<string, InterfaceEntry>();
  private readonly staticMacs = new Map<string, StoredStaticMac>();
  private readonly listeners = new Set<(e: SwitchEvent) => void>();
  private readonly captures = new Set<() => void>(); // running: what stops each
  private readonly traces = new Set<() => void>();
  private readonly networkGuards: ((network: string) => string | undefined)[] = [];
  private readonly log: Logger;
  private readonly watch: WorkerWatch;

  constructor(
    private readonly dp: Dataplane,
    private readonly store: Store,
    log: Logger,
  ) {
    this.log = log.child({ component: 'domain' });
    dp.onEvent((e) =>
      this.emit({ kind: e.kind, interface: e.interface || undefined, socket: e.socket || undefined, detail: e.detail || undefined }),
    );
    this.watch = new WorkerWatch(
      () => dp.workers(),
      (worker, stalled, forMs) => {
        if (stalled) this.emit({ kind: 'worker_stalled', detail: `worker ${worker} made no progress for ${forMs} ms` });
        else this.log.info({ worker, stalledMs: forMs }, 'worker making progress again');
      },
    );
  }

  /** Samples worker liveness every `intervalMs` until the returned function is called. */
  watchWorkers(intervalMs = 500): () => void {
    const timer = setInterval(() => this.watch.check(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * For a domain that attaches its own objects to networks (routing): deleteNetwork
   * refuses while `users` names what still uses the network.
   */
  guardNetwork(users: (network: string) => string | undefined): void {
    this.networkGuards.push(users);
  }

  /** Receives every event until the returned function is called. */
  subscribe(fn: (e: SwitchEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // ---- start: the config file and the database, merged ----

  /**
   * Re-creates everything: the config file's objects, then what the API stored. The file
   * wins where both name the same interface (or the same socket and id): the stored one is
   * dropped with a warning, since the file is what the operator edits last.
   * `restoreAttached` re-applies the CNI attachments before admin states and static MACs.
   */
  restore(config: Config, restoreAttached?: () => void): void {
    const fileInterfaces = new Map(config.interfaces.map((i) => [i.name, i]));
    const fileEndpoints = new Set(config.interfaces.map(endpoint));
    for (const n of config.networks) this.applyNetwork(n.name, 'config');
    for (const n of this.store.networks()) if (!this.networks.has(n)) this.applyNetwork(n, 'api');

    for (const i of config.interfaces) this.applyInterface(i, 'config', true);
    for (const i of this.store.interfaces()) {
      const file = fileInterfaces.get(i.name);
      if (file && JSON.stringify(file) === JSON.stringify(i)) continue;
      if (file || fileEndpoints.has(endpoint(i)) || !this.networks.has(i.network)) {
        const why = file || fileEndpoints.has(endpoint(i)) ? 'the config file defines it differently' : `network ${i.network} no longer exists`;
        this.log.warn({ interface: i.name, reason: why }, 'dropping a stored interface');
        // Same name: its admin state and static MACs now belong to the file's interface.
        if (file) this.store.deleteInterfaceSpec(i.name);
        else this.store.deleteInterface(i.name);
        continue;
      }
      this.applyInterface(i, 'api', true);
    }
    // CNI attachments' interfaces, so their admin state and static MACs are restored too.
    restoreAttached?.();
    for (const name of this.store.adminDown()) {
      const itf = this.interfaces.get(name);
      if (!itf) continue;
      itf.adminUp = false;
      this.dp.setAdminUp(name, false);
    }
    for (const e of this.store.staticMacs()) {
      const itf = this.interfaces.get(e.interface);
      if (!itf || itf.spec.network !== e.network || (itf.spec.vlan ?? 0) !== e.vlan) {
        this.log.warn({ mac: e.mac, interface: e.interface, network: e.network }, 'dropping a stored static MAC whose interface changed');
        this.store.deleteStaticMac(e.network, e.vlan, e.mac);
        continue;
      }
      this.staticMacs.set(macKey(e), e);
      if (itf.adminUp) this.dp.addStaticMac(e.network, e.vlan, e.mac, e.interface);
    }
  }

  // ---- networks ----

  createNetwork(input: { name: string }): { network: NetworkView; created: boolean } {
    const name = validate(nameSchema, input.name, 'name');
    if (this.networks.has(name)) return { network: this.getNetwork(name), created: false };
    this.store.putNetwork(name);
    try {
      this.applyNetwork(name, 'api');
    } catch (err) {
      this.store.deleteNetwork(name);
      throw err;
    }
    this.emit({ kind: 'network_created', network: name });
    return { network: this.getNetwork(name), created: true };
  }

  getNetwork(name: string): NetworkView {
    validate(nameSchema, name, 'name');
    const source = this.networks.get(name);
    if (!source) throw new NotFoundError(`no network ${name}`, 'name');
    let interfaceCount = 0;
    for (const i of this.interfaces.values()) if (i.spec.network === name) interfaceCount++;
    return { name, source, interfaceCount };
  }

  listNetworks(): NetworkView[] {
    return [...this.networks.keys()].map((n) => this.getNetwork(n));
  }

  deleteNetwork(name: string): void {
    const net = this.getNetwork(name);
    if (net.source === 'config') throw new FailedPreconditionError(`network ${name} is defined in the config file; remove it there`, 'name');
    const user = [...this.interfaces.values()].find((i) => i.spec.network === name);
    if (user) throw new FailedPreconditionError(`network ${name} still has interface ${user.spec.name}`, 'name');
    for (const users of this.networkGuards) {
      const other = users(name);
      if (other) throw new FailedPreconditionError(`network ${name} still has ${other}`, 'name');
    }
    this.store.deleteNetwork(name);
    this.dp.removeNetwork(name);
    this.networks.delete(name);
    this.emit({ kind: 'network_deleted', network: name });
  }

  // ---- interfaces ----

  createInterface(input: unknown, adminUp = true): { interface: InterfaceView; created: boolean } {
    const spec = validate(interfaceSchema, input);
    const existing = this.interfaces.get(spec.name);
    if (existing) {
      if (JSON.stringify(existing.spec) === JSON.stringify(spec)) return { interface: this.getInterface(spec.name), created: false };
      throw new AlreadyExistsError(`interface ${spec.name} already exists with a different spec`, 'name');
    }
    if (!this.networks.has(spec.network)) throw new NotFoundError(`no network ${spec.network}`, 'network');
    const taken = [...this.interfaces.values()].find((i) => endpoint(i.spec) === endpoint(spec));
    if (taken) throw new AlreadyExistsError(`${endpoint(spec)} is taken by ${taken.spec.name}`, spec.kind === 'memif' ? 'id' : 'name');

    this.store.transaction(() => {
      this.store.putInterface(spec);
      if (!adminUp) this.store.setAdminUp(spec.name, false);
    });
    try {
      this.applyInterface(spec, 'api', adminUp);
    } catch (err) {
      this.store.deleteInterface(spec.name);
      throw err;
    }
    this.emit({ kind: 'interface_created', interface: spec.name, network: spec.network });
    return { interface: this.getInterface(spec.name), created: true };
  }

  /**
   * An interface owned by a CNI attachment: applied like an API one, but persisted by the
   * attachment (its record is committed before this runs), so not in the interfaces table.
   */
  attachInterface(input: unknown): InterfaceView {
    const spec = validate(interfaceSchema, input);
    if (this.interfaces.has(spec.name)) throw new AlreadyExistsError(`interface ${spec.name} already exists`, 'name');
    if (!this.networks.has(spec.network)) throw new NotFoundError(`no network ${spec.network}`, 'network');
    const taken = [...this.interfaces.values()].find((i) => endpoint(i.spec) === endpoint(spec));
    if (taken) throw new AlreadyExistsError(`${endpoint(spec)} is taken by ${taken.spec.name}`, spec.kind === 'memif' ? 'socket' : 'name');
    this.applyInterface(spec, 'cni', true);
    this.emit({ kind: 'interface_created', interface: spec.name, network: spec.network });
    return this.getInterface(spec.name);
  }

  /** Removes an attachment's interface; one already gone is fine (DEL semantics). */
  detachInterface(name: string): void {
    const itf = this.interfaces.get(name);
    if (!itf) return;
    this.store.deleteInterface(name); // its admin state and static MACs, if any were set
    try {
      this.dp.removeInterface(name);
    } catch (err) {
      // A veth whose namespace vanished took its pair with it; the port is gone all the same.
      this.log.warn({ interface: name, err: (err as Error).message }, 'removing an attachment interface failed');
    }
    for (const [k, e] of this.staticMacs) if (e.interface === name) this.staticMacs.delete(k);
    this.interfaces.delete(name);
    this.emit({ kind: 'interface_deleted', interface: name, network: itf.spec.network });
  }

  /** Interfaces sharing a memif endpoint's (namespace, socket): for memif id allocation. */
  memifIdsOn(socket: string, netns: string | undefined): Set<number> {
    const ids = new Set<number>();
    for (const { spec } of this.interfaces.values())
      if (spec.kind === 'memif' && spec.socket === socket && (!socket.startsWith('@') || spec.netns === netns)) ids.add(spec.id);
    return ids;
  }

  hasInterface(name: string): boolean {
    return this.interfaces.has(name);
  }

  getInterface(name: string): InterfaceView {
    validate(nameSchema, name, 'name');
    const e = this.interfaces.get(name);
    if (!e) throw new NotFoundError(`no interface ${name}`, 'name');
    return { spec: e.spec, source: e.source, adminUp: e.adminUp, status: this.dp.interface(name) };
  }

  listInterfaces(network?: string): InterfaceView[] {
    if (network) this.getNetwork(network);
    return [...this.interfaces.values()].filter((i) => !network || i.spec.network === network).map((i) => this.getInterface(i.spec.name));
  }

  deleteInterface(name: string): void {
    const itf = this.getInterface(name);
    if (itf.source === 'config') throw new FailedPreconditionError(`interface ${name} is defined in the config file; remove it there`, 'name');
    if (itf.source === 'cni') throw new FailedPreconditionError(`interface ${name} belongs to a CNI attachment; detach it (CNI DEL)`, 'name');
    this.store.deleteInterface(name);
    this.dp.removeInterface(name); // the dataplane drops the port's MAC entries, static ones too
    for (const [k, e] of this.staticMacs) if (e.interface === name) this.staticMacs.delete(k);
    this.interfaces.delete(name);
    this.emit({ kind: 'interface_deleted', interface: name, network: itf.spec.network });
  }

  setAdminState(name: string, up: boolean): InterfaceView {
    const itf = this.interfaces.get(this.getInterface(name).spec.name)!;
    if (itf.adminUp === up) return this.getInterface(name);
    this.store.setAdminUp(name, up);
    this.dp.setAdminUp(name, up);
    itf.adminUp = up;
    // Admin down flushes every MAC entry of the port in the dataplane, static ones
    // included; the static ones are desired state, so they come back with the port.
    if (up) for (const e of this.staticMacs.values()) if (e.interface === name) this.dp.addStaticMac(e.network, e.vlan, e.mac, e.interface);
    this.emit({ kind: up ? 'interface_up' : 'interface_down', interface: name, network: itf.spec.network });
    return this.getInterface(name);
  }

  // ---- MAC table ----

  addStaticMac(input: { network: string; mac: string; interface: string }): { entry: StoredStaticMac; created: boolean } {
    const req = validate(staticMacInput, input);
    if (!this.networks.has(req.network)) throw new NotFoundError(`no network ${req.network}`, 'network');
    const itf = this.interfaces.get(req.interface);
    if (!itf) throw new NotFoundError(`no interface ${req.interface}`, 'interface');
    if (itf.spec.network !== req.network) throw new InvalidConfigError(`interface: ${req.interface} is not in network ${req.network}`, 'interface');
    const entry: StoredStaticMac = { network: req.network, vlan: itf.spec.vlan ?? 0, mac: req.mac, interface: req.interface };
    const existing = this.staticMacs.get(macKey(entry));
    if (existing) {
      if (existing.interface === entry.interface) return { entry: existing, created: false };
      throw new AlreadyExistsError(`MAC ${entry.mac} is already static on ${existing.interface}`, 'mac');
    }
    this.store.putStaticMac(entry);
    try {
      if (itf.adminUp) this.dp.addStaticMac(entry.network, entry.vlan, entry.mac, entry.interface);
    } catch (err) {
      this.store.deleteStaticMac(entry.network, entry.vlan, entry.mac);
      throw err;
    }
    this.staticMacs.set(macKey(entry), entry);
    return { entry, created: true };
  }

  removeStaticMac(input: { network: string; vlan: number; mac: string }): void {
    const req = validate(staticMacKey, input);
    const entry = this.staticMacs.get(macKey(req));
    if (!entry) throw new NotFoundError(`no static MAC ${req.mac} in network ${req.network} vlan ${req.vlan}`, 'mac');
    this.store.deleteStaticMac(entry.network, entry.vlan, entry.mac);
    this.staticMacs.delete(macKey(entry));
    // A port that is admin down holds no entries in the dataplane.
    if (this.interfaces.get(entry.interface)?.adminUp) this.dp.removeStaticMac(entry.network, entry.vlan, entry.mac);
  }

  listStaticMacs(network?: string): StoredStaticMac[] {
    if (network) this.getNetwork(network);
    return [...this.staticMacs.values()].filter((e) => !network || e.network === network);
  }

  macTable(network?: string): ReturnType<Dataplane['macTable']> {
    if (network) this.getNetwork(network);
    return this.dp.macTable().filter((e) => !network || e.network === network);
  }

  flushMacTable(network: string): number {
    this.getNetwork(network);
    return this.dp.flushMacTable(network);
  }

  // ---- counters ----

  workers(): WorkerView[] {
    const hz = this.dp.tscHz();
    const perPacket = (n: NativeNodeRuntime) => (n.sampledVectors > 0 ? n.sampledCycles / n.sampledVectors : 0);
    return this.dp.workers().map((w) => ({
      ...w,
      busyRatio: w.polls > 0 ? w.busyPolls / w.polls : 0,
      stalled: this.watch.isStalled(w.index),
      runtime: w.runtime.map((n) => ({ ...n, cyclesPerPacket: perPacket(n), nsPerPacket: hz > 0 ? (perPacket(n) / hz) * 1e9 : 0 })),
    }));
  }

  /** A packet capture streamed to `write` until the returned function is called (or `end`). */
  capture(req: CaptureRequest, write: (c: CaptureChunk) => void, end: (err?: Error) => void): () => void {
    return this.running(this.captures, (done) => openCapture(this.dp, req, write, done), end);
  }

  /** A packet trace: each packet to `write` until all were taken, or the returned function is called. */
  trace(req: TraceRequest, write: (p: TracedPacket, stepsLost: number) => void, end: (err?: Error) => void): () => void {
    return this.running(this.traces, (done) => openTrace(this.dp, req, write, done), end);
  }

  // Keeps a capture or trace in `set` (what counts() reports) while it runs.
  private running(set: Set<() => void>, open: (end: (err?: Error) => void) => () => void, end: (err?: Error) => void): () => void {
    let ended = false; // end() may come before open returns (a failed first read)
    let stop: (() => void) | undefined;
    stop = open((err) => {
      ended = true;
      if (stop) set.delete(stop);
      end(err);
    });
    const running = stop;
    if (!ended) set.add(running);
    return () => {
      set.delete(running);
      running();
    };
  }

  stats(): StatsView {
    const memory = this.dp.memory();
    return {
      timeUnixMs: Date.now(),
      interfaces: this.dp.listInterfaces(),
      workers: this.workers(),
      tscHz: this.dp.tscHz(),
      sockets: this.dp.socketErrors(),
      memory: { ...memory, fallbackInUse: memory.fallbackRegions > 0 },
    };
  }

  counts(): { networks: number; interfaces: number; captures: number; traces: number } {
    return { networks: this.networks.size, interfaces: this.interfaces.size, captures: this.captures.size, traces: this.traces.size };
  }

  // ---- internals ----

  private applyNetwork(name: string, source: Source): void {
    this.dp.addNetwork(name);
    this.networks.set(name, source);
  }

  private applyInterface(spec: InterfaceConfig, source: Source, adminUp: boolean): void {
    if (spec.kind === 'memif' && !spec.socket.startsWith('@')) makeDir(path.dirname(spec.socket), SHARED_DIR_MODE); // peers (pods) reach it
    const s = this.dp.addInterface(spec);
    const where = s.kind === 'memif' ? { socket: s.socket, id: s.id } : { netdev: s.netdev, xdpMode: s.xdpMode, xdpAttach: s.xdpAttach };
    this.log.info({ interface: s.name, kind: s.kind, network: spec.network, ...where, mac: s.mac, vlan: s.vlan || undefined, source }, 'interface ready');
    if (!adminUp) this.dp.setAdminUp(spec.name, false);
    this.interfaces.set(spec.name, { spec, source, adminUp });
  }

  private emit(e: Omit<SwitchEvent, 'timeUnixMs'>): void {
    const event: SwitchEvent = { timeUnixMs: Date.now(), ...e };
    for (const fn of this.listeners) {
      try {
        fn(event);
      } catch (err) {
        this.log.error({ err }, 'event listener failed');
      }
    }
  }
}
