// Builds a real in-process switch (the addon, its worker and control threads) plus our
// native memif clients, and tears everything down even when a test fails.
import { Dataplane } from '../../orchestrator/src/dataplane/dataplane.js';
import { loadAddon } from '../../orchestrator/src/dataplane/native.js';
import { loadTestingAddon, type MemifClientConfig, type NativeMemifClient, type NativeTrafficEngine } from '../../bench/testing-addon.js';

/** The product addon (the switch) and the testing addon (our memif clients, traffic engine). */
export const addon = loadAddon();
export const testing = loadTestingAddon();

let seq = 0;
/** A fresh abstract socket name: nothing on disk to clean up, nothing shared between tests. */
export function abstractSocket(tag: string): string {
  return `@msw-vitest-${process.pid}-${tag}-${seq++}`;
}

export function mac(n: number): string {
  return `02:00:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
}

export class TestSwitch {
  readonly dp: Dataplane;
  private readonly clients: NativeMemifClient[] = [];
  private readonly engines: NativeTrafficEngine[] = [];

  constructor(opts: { workers?: number; networks?: string[]; handshakeTimeoutMs?: number; poll?: 'busy' | 'adaptive' } = {}) {
    this.dp = Dataplane.create({ workers: opts.workers ?? 1, handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 1000, poll: opts.poll });
    for (const n of opts.networks ?? ['blue']) this.dp.addNetwork(n);
    this.dp.start();
  }

  memif(name: string, socket: string, id: number, extra: { network?: string; vlan?: number; secret?: string } = {}): void {
    this.dp.addMemif({ name, kind: 'memif', network: extra.network ?? 'blue', socket, id, vlan: extra.vlan, secret: extra.secret });
  }

  client(cfg: MemifClientConfig): NativeMemifClient {
    const c = new testing.MemifClient({ hugepages: false, ...cfg });
    this.clients.push(c);
    return c;
  }

  engine(): NativeTrafficEngine {
    const e = new testing.TrafficEngine();
    this.engines.push(e);
    return e;
  }

  close(): void {
    for (const e of this.engines) e.stop();
    for (const c of this.clients) c.close();
    this.dp.stop();
  }
}

export async function eventually(pred: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  if (!(await pred())) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Starts the engine, waits until its generators finished and every sink has `expect` frames. */
export async function runUntil(e: NativeTrafficEngine, sinks: number[], expect: number, timeoutMs = 10_000): Promise<void> {
  e.start();
  try {
    await eventually(() => e.generatorsDone() && sinks.every((s) => e.stats(s).rxPackets >= expect), timeoutMs, `${expect} frames at every sink`);
    await new Promise((r) => setTimeout(r, 50)); // anything extra (a leak) would show up now
  } finally {
    e.stop();
  }
}
