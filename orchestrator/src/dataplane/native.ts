// The addon's shape, as native/binding/addon.cc exports it. Everything the binding
// returns is plain data; 64-bit counters arrive as numbers (exact below 2^53).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { SwitchEventKind } from '../domain/events.js';

export type DropCounts = Record<string, number>;

export interface NativeWorkerCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  drops: DropCounts;
}

export interface NativeInterfaceInfo {
  index: number;
  kind: 'memif' | 'afxdp';
  name: string;
  network: number;
  socket: string;
  id: number;
  vlan: number;
  mac: string;
  mode: 'ethernet' | 'ip';
  connected: boolean;
  adminUp: boolean;
  peerName: string;
  peerInterface: string;
  rxQueues: number;
  txQueues: number;
  peerMemoryBytes: number;
  connects: number;
  protocolErrors: DropCounts;
  perWorker: NativeWorkerCounters[];
  // AF_XDP only: what the kernel granted
  netdev?: string;
  xdpMode?: 'zero-copy' | 'copy';
  xdpAttach?: 'native' | 'generic';
  multiBuffer?: boolean;
}

export interface NativeEvent {
  /** One of MEMSWITCH_EVENT_KINDS, named as in the domain's list. */
  kind: SwitchEventKind;
  interface: string;
  socket: string;
  detail: string;
}

export interface NativeMacEntry {
  network: number;
  vlan: number;
  mac: string;
  interface: number;
  static: boolean;
  ageSeconds: number;
}

/** One node of a worker's runtime: "rx", a pipeline stage, or "tx" (NodeRuntime in dataplane.h). */
export interface NativeNodeRuntime {
  node: string;
  calls: number;
  vectors: number;
  sampledVectors: number;
  sampledCycles: number;
}

export interface NativeDataplaneOptions {
  workers: number;
  cpus?: number[];
  fibCapacity?: number;
  macAgeSeconds?: number;
  handshakeTimeoutMs?: number;
  appName?: string;
  /** adaptive (default): idle workers sleep on their queues' fds; busy: always poll. */
  poll?: 'adaptive' | 'busy';
  idleBeforeSleepUs?: number;
  /** Dynamic neighbour entries (ARP, IPv6 neighbour discovery) not refreshed for this long are removed (default 300). */
  neighborAgeS?: number;
  conntrack?: { maxFlows: number; timeouts: ConntrackTimeouts };
}

/** Idle timeouts of tracked flows, by state. */
export interface ConntrackTimeouts {
  tcpEstablishedS: number;
  /** TCP opening (SYN sent) or closing (FIN seen). */
  tcpTransitoryS: number;
  /** UDP, SCTP and other protocols. */
  udpS: number;
  /** ICMP echo. */
  icmpS: number;
}

/** One tracked flow, as its first packet had it. */
export interface NativeConntrackFlow {
  /** Router id (a flow on a routed network), or 0 and the network id and VLAN. */
  router: number;
  network: number;
  vlan: number;
  proto: number;
  src: string;
  dst: string;
  /** ICMP echo: the identifier, both. */
  sport: number;
  dport: number;
  state: 'syn-sent' | 'established' | 'closing' | 'udp' | 'icmp' | 'other';
  replied: boolean;
  ageS: number;
  idleS: number;
  expiresInS: number;
}

export interface ConntrackStats {
  flows: number;
  capacity: number;
  created: number;
  /** New flows refused for want of room (dropped as conntrack_full). */
  full: number;
  timeouts: ConntrackTimeouts;
}

export interface NativeMemifConfig {
  name: string;
  network: number;
  socket: string;
  id: number;
  secret?: string;
  /** Bind the listener inside this network namespace (an abstract socket is per netns). */
  netns?: string;
  vlan?: number;
  mac?: string;
  mode?: 'ethernet' | 'ip';
}

export interface NativeAfxdpConfig {
  name: string;
  network: number;
  netdev: string;
  queues?: number[];
  mode?: string;
  xdp?: string;
  vlan?: number;
  mac?: string;
  frameSize?: number;
  hugepages?: boolean;
}

export interface NativeRouterInterfaceConfig {
  name: string;
  router: number;
  network: number;
  vlan?: number;
  /** Omitted: generated from the name. */
  mac?: string;
  /** IP MTU, 68-9000 (default 1500). */
  mtu?: number;
  /** "10.1.0.1/24" or "fd00:1::1/64", mixed: the router's addresses on the network (its pods' gateway). */
  addresses: string[];
}

export interface NativeRouterInterfaceInfo {
  index: number;
  name: string;
  router: number;
  network: number;
  vlan: number;
  mac: string;
  mtu: number;
  addresses: string[];
}

/** A static route; connected and local routes are derived by the dataplane from addresses. */
export interface NativeRoute {
  prefix: string;
  kind: 'forward' | 'blackhole' | 'unreachable';
  /** forward: 1-16 (ECMP); via must lie in a connected subnet at forwarding time, else
   * that path is unusable; interface: a router interface id of the same router. */
  nextHops: { via?: string; interface?: number }[];
}

export interface NativeNeighbor {
  routerInterface: number;
  ip: string;
  mac: string;
  static: boolean;
  state: 'reachable' | 'incomplete';
  ageS: number;
}

export interface NativeDataplane {
  setEventHandler(fn: (e: NativeEvent) => void): void;
  start(): void;
  stop(): void;
  addNetwork(name: string): number;
  removeNetwork(id: number): void;
  addMemif(cfg: NativeMemifConfig): number;
  addAfxdp(cfg: NativeAfxdpConfig): number;
  removeInterface(index: number): void;
  setAdminUp(index: number, up: boolean): void;
  addStaticMac(e: { network: number; vlan: number; mac: string; interface: number }): void;
  removeStaticMac(e: { network: number; vlan: number; mac: string }): void;
  macTable(): NativeMacEntry[];
  flushMacTable(network: number): number;
  interfaceInfo(index: number): NativeInterfaceInfo;
  interfaces(): number[];
  sockets(): { socket: string; protocolErrors: DropCounts }[];
  workers(): { index: number; cpu: number; polls: number; busyPolls: number; sleeps: number; runtime: NativeNodeRuntime[]; icmpErrors: number; icmpRateLimited: number }[];
  /** TSC ticks per second (what runtime cycles count), measured since the dataplane was made. */
  tscHz(): number;
  listenForHandover(path: string): void;
  /** Resolves once the previous memswitchd handed over and exited. */
  takeOver(path: string, timeoutMs: number): Promise<TakeoverSummary>;
  finishTakeover(): number;
  /** Returns the router id (>= 1); EEXIST for a duplicate name. */
  addRouter(name: string): number;
  /** EBUSY while it has router interfaces. */
  removeRouter(id: number): void;
  /** EEXIST when the network (and vlan) already has a router interface; EINVAL names a bad address. */
  addRouterInterface(cfg: NativeRouterInterfaceConfig): number;
  removeRouterInterface(id: number): void;
  routerInterfaceInfo(id: number): NativeRouterInterfaceInfo;
  /** All or nothing; an existing prefix is replaced; EINVAL says "routes[i].field: ...". */
  addRoutes(router: number, routes: NativeRoute[]): void;
  /** Returns how many of the prefixes existed (and were removed). */
  removeRoutes(router: number, prefixes: string[]): number;
  /** Replaces a dynamic entry for the same address. */
  addStaticNeighbor(routerInterface: number, ip: string, mac: string): void;
  removeNeighbor(routerInterface: number, ip: string): boolean;
  neighbors(): NativeNeighbor[];
  /** EINVAL with libpcap's message for a bad filter; ENOENT for an unknown interface. */
  startCapture(cfg: NativeCaptureConfig): number;
  /** Drains the workers' rings: pcapng blocks (the first read starts with the section header), at most maxFrames frames. */
  readCapture(id: number, maxBytes: number, maxFrames?: number): NativeCaptureChunk;
  stopCapture(id: number): void;
  /** EINVAL with libpcap's message for a bad filter, or a packet count outside 1..100000; ENOENT for an unknown interface. */
  startTrace(cfg: NativeTraceConfig): number;
  /** Drains the workers' rings: at most maxSteps steps. */
  readTrace(id: number, maxSteps: number): NativeTraceChunk;
  /** Frees the trace; returns the steps not read yet (no worker writes one after it). */
  stopTrace(id: number): NativeTraceChunk;
  /** EEXIST for a name in use; EINVAL "rules[i]: ..." for a rule that can match nothing as written. */
  addAcl(name: string, rules: NativeAclRule[], kind?: 'acl' | 'policy'): number;
  /** Several ACLs' rules swapped in one snapshot (old rule sets or new, all of them). */
  setAclRulesMany(changes: [number, NativeAclRule[]][]): void;
  /** Swaps the table workers read (old rules or new, never neither); hit counters restart. */
  setAclRules(id: number, rules: NativeAclRule[]): void;
  /** EBUSY while bound to an interface. */
  removeAcl(id: number): void;
  /** acl 0 unbinds. */
  bindAcl(interfaceIndex: number, direction: 'in' | 'out', acl: number): void;
  aclStats(id: number): { hits: number[]; defaultDenied: number };
  /** Tracked flows from `cursor` (0: the start); next 0: that was the last page. */
  conntrackFlows(cursor: number, limit: number): { flows: NativeConntrackFlow[]; next: number };
  conntrackStats(): ConntrackStats;
  /** Forgets every tracked flow: their next packets are judged by the rules again. */
  clearConntrack(): void;
}

/** One rule of an ordered ACL, as the core takes it. */
export interface NativeAclRule {
  /** permit+reflect: permit, and track the flow so that its replies pass every ACL. */
  action: 'permit' | 'deny' | 'permit+reflect';
  /** Prefixes; absent: any address. */
  src?: string;
  dst?: string;
  /** IP protocol; 0: any. */
  proto: number;
  /** Inclusive; absent: any. */
  srcPorts?: [number, number];
  dstPorts?: [number, number];
  /** -1: any. */
  icmpType: number;
  icmpCode: number;
}

export interface NativeTraceConfig {
  /** Interface indexes where frames enter; none: every interface. */
  interfaces?: number[];
  /** pcap-filter(7); empty: every frame. */
  filter?: string;
  /** Frames to take, 1 to 100000. */
  packets?: number;
}

/** One node a traced frame passed (rx, a pipeline stage, tx), and what it decided. */
export interface NativeTraceStep {
  /** The trace's packet number, from 0 in the order frames were taken. */
  packet: number;
  /** 0: the frame received; 1, 2...: frames the router made for it (a reply, an error, a fragment, a question about its next hop). */
  frame: number;
  worker: number;
  node: string;
  /** CLOCK_REALTIME in ns when the packet was taken at rx. */
  startNs: bigint;
  elapsedNs: number;
  /** rx and stages: where the packet came in; tx: where this frame went out. */
  interface: number;
  length: number;
  /** The stage it is for next; empty: none. */
  next: string;
  /** Interfaces it is planned to leave by so far (at most 4 named, of egressCount). */
  egress: number[];
  egressCount: number;
  /** Where a lookup chose a route: the router interface out and the next hop. */
  routerInterface?: number;
  nextHop?: string;
  /** Why it was dropped, here or before; empty: it was not. */
  drop: string;
  /** Its first bytes (up to 96) after this node. */
  bytes: Buffer;
  /** The bytes start with Ethernet; else with IP (memif ip mode). */
  ethernet: boolean;
}

export interface NativeTraceChunk {
  steps: NativeTraceStep[];
  /** Packets the trace has taken so far. */
  taken: number;
  /** Steps a full ring lost. */
  lost: number;
}

export interface NativeCaptureConfig {
  /** Interface indexes; none: every interface, also those added later. */
  interfaces?: number[];
  rx?: boolean;
  tx?: boolean;
  drops?: boolean;
  /** pcap-filter(7); empty: every frame. */
  filter?: string;
  snaplen?: number;
  /** Per worker; 64 KiB to 1 GiB. */
  ringBytes?: number;
}

export interface NativeCaptureChunk {
  data: Buffer;
  /** Frames in this chunk. */
  frames: number;
  /** Since the capture started: frames recorded, and those a full ring lost. */
  kept: number;
  lost: number;
}

/** What a takeover received from the previous memswitchd. */
export interface TakeoverSummary {
  listeners: number;
  sessions: number;
}

export interface MemoryCounters {
  hugepageBytes: number;
  fallbackBytes: number;
  fallbackRegions: number;
}

export interface NativeAddon {
  Dataplane: new (opts: NativeDataplaneOptions) => NativeDataplane;
  dropReasons: { name: string; help: string }[];
  protocolErrors: { name: string; help: string }[];
  eventKinds: string[];
  /** Shared memory this addon's core allocated (the switch's UMEMs). */
  memoryCounters(): MemoryCounters;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// dist/orchestrator/src/dataplane -> repo root is one level further up than the source.
const root = path.basename(repoRoot) === 'dist' ? path.dirname(repoRoot) : repoRoot;

/** build/addon/Release/<name>.node: the product addon, or the testing one. */
export function addonPath(name: 'memswitch' | 'memswitch_testing'): string {
  return path.join(root, `build/addon/Release/${name}.node`);
}

const loaded = new Map<string, unknown>();
export function loadNative<T>(name: 'memswitch' | 'memswitch_testing'): T {
  if (!loaded.has(name)) {
    const require = createRequire(import.meta.url);
    const file = addonPath(name);
    try {
      loaded.set(name, require(file));
    } catch (err) {
      throw new Error(`cannot load the ${name} addon from ${file} (run scripts/setup.sh): ${(err as Error).message}`);
    }
  }
  return loaded.get(name) as T;
}

export const loadAddon = (): NativeAddon => loadNative<NativeAddon>('memswitch');
