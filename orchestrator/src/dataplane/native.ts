// The addon's shape, as native/binding/addon.cc exports it. Everything the binding
// returns is plain data; 64-bit counters arrive as numbers (exact below 2^53).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

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
  kind: 'connected' | 'disconnected' | 'protocol_error' | 'worker_stalled' | 'handed_over';
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
  workers(): { index: number; cpu: number; polls: number; busyPolls: number; sleeps: number }[];
  listenForHandover(path: string): void;
  takeOver(path: string, timeoutMs: number): TakeoverSummary;
  finishTakeover(): number;
}

/** What a takeover received from the previous memswitchd. */
export interface TakeoverSummary {
  listeners: number;
  sessions: number;
}

export interface MemifClientConfig {
  socket: string;
  id?: number;
  secret?: string;
  name?: string;
  ifName?: string;
  queues?: number;
  log2RingSize?: number;
  bufferSize?: number;
  hugepages?: boolean;
  interruptMode?: boolean;
  timeoutMs?: number;
}

export interface NativeMemifClient {
  disconnect(reason?: string): void;
  /** Disconnects and unmaps the client's shared memory now (not at garbage collection). */
  close(): void;
  pollControl(): boolean;
  info(): {
    connected: boolean;
    disconnectReason: string;
    serverName: string;
    hugepages: boolean;
    rxBadDescriptors: number;
    eventfdSignals: number;
  };
  setInterruptMode(on: boolean): void;
  waitRx(queue: number, timeoutMs: number): boolean;
  injectBadTx(
    kind: 'region' | 'offset' | 'length' | 'zero_length' | 'chain_past_head' | 'huge_frame',
    n: number,
  ): number;
  injectBadHead(): void;
  /** Fault injection: shrink the memfd the switch mapped (needs seal-free memory: hugepages). */
  injectTruncate(bytes: number): void;
}

export interface GeneratorSpec {
  queue?: number;
  frameSize?: number;
  pps?: number;
  count?: number;
  src: string;
  dst: string;
  vlan?: number;
  stream?: number;
}

export interface LoopSpec {
  frameSize?: number;
  initialBurst?: number;
  aMac: string;
  bMac: string;
}

export interface TrafficStats {
  txPackets: number;
  txBytes: number;
  txRingFull: number;
  rxPackets: number;
  rxBytes: number;
  rxForeign: number;
  lost: number;
  reordered: number;
  latencySamples: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  maxNs: number;
  connected: boolean;
}

export interface NativeTrafficEngine {
  addGenerator(client: NativeMemifClient, spec: GeneratorSpec): number;
  addSink(client: NativeMemifClient): number;
  addLoop(a: NativeMemifClient, b: NativeMemifClient, spec: LoopSpec): number;
  start(cpu?: number): void;
  /** Stops for good and releases the clients (they may be closed afterwards). */
  stop(): void;
  stats(task: number): TrafficStats;
  resetStats(): void;
  generatorsDone(): boolean;
}

export interface NativeAddon {
  Dataplane: new (opts: NativeDataplaneOptions) => NativeDataplane;
  MemifClient: new (cfg: MemifClientConfig) => NativeMemifClient;
  TrafficEngine: new () => NativeTrafficEngine;
  dropReasons: { name: string; help: string }[];
  protocolErrors: { name: string; help: string }[];
  memoryCounters(): { hugepageBytes: number; fallbackBytes: number; fallbackRegions: number };
  /** One-way cache-line transfer latency between two CPUs (blocks for `ms`). */
  cacheLinePingPongNs(cpuA: number, cpuB: number, ms: number): number;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// dist/orchestrator/src/dataplane -> repo root is one level further up than the source.
const root = path.basename(repoRoot) === 'dist' ? path.dirname(repoRoot) : repoRoot;

let cached: NativeAddon | undefined;
export function loadAddon(): NativeAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    const file = path.join(root, 'build/addon/Release/memswitch.node');
    try {
      cached = require(file) as NativeAddon;
    } catch (err) {
      throw new Error(`cannot load the memswitch addon from ${file} (run scripts/setup.sh): ${(err as Error).message}`);
    }
  }
  return cached;
}
