// The testing addon (native/binding/testing.cc): our memif client with its fault
// injection, the traffic engine, and the cache-line ping-pong. Tests and benchmarks
// only; memswitchd never loads it.
import { loadNative, type MemoryCounters } from '../orchestrator/src/dataplane/native.js';

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
  /** ip: frames without an Ethernet header (memif ip mode). */
  mode?: 'ethernet' | 'ip';
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
  /** IPv4/UDP frames for a router: destinations ip4Dst + (k * dstStride) % dstCount. */
  ip4Src?: string;
  ip4Dst?: string;
  /** IPv6/UDP frames alike: destinations move by whole /48s, ip6Dst + ((k * dstStride) % dstCount << 80). 64 B only with bare. */
  ip6Src?: string;
  ip6Dst?: string;
  dstCount?: number;
  dstStride?: number;
  /** No test header: no loss or latency figures, the least work per frame. */
  bare?: boolean;
  /** Every frame from UDP source port 1024: dstCount destinations are dstCount flows. */
  oneSourcePort?: boolean;
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

export interface NativeTestingAddon {
  MemifClient: new (cfg: MemifClientConfig) => NativeMemifClient;
  TrafficEngine: new () => NativeTrafficEngine;
  /** Shared memory this addon's core allocated: the memif clients' regions. */
  memoryCounters(): MemoryCounters;
  /** One-way cache-line transfer latency between two CPUs (blocks for `ms`). */
  cacheLinePingPongNs(cpuA: number, cpuB: number, ms: number): number;
}

export const loadTestingAddon = (): NativeTestingAddon => loadNative<NativeTestingAddon>('memswitch_testing');
