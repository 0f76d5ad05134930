// Pieces every benchmark shares: medians, formatting, and measuring a testpmd loop.
import type { Testpmd } from './testpmd.js';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

/** A memswitchd config for a benchmark: one worker pinned to `cpu`, network blue with memif
 * interfaces m0..m(n-1) on `dir`/memif.sock, and its API socket and state in `dir`. */
export function benchDaemonConfig(dir: string, cpu: number, interfaces: number, logLevel = 'info'): string {
  const memifs = Array.from({ length: interfaces }, (_, i) => `  - { name: m${i}, kind: memif, network: blue, socket: ${dir}/memif.sock, id: ${i} }\n`).join('');
  return `dataplane: { workers: 1, cpus: [${cpu}] }
networks: [{ name: blue }]
interfaces:
${memifs}api: { socket: ${dir}/api.sock }
metrics: { enabled: false }
store: { path: ${dir}/state.db }
log: { level: ${logLevel} }
`;
}

export interface Window {
  samples: number[]; // Mpps, both generator ports together, one per second
  loss: number; // 1 - Δrx/Δtx of the generator over the window
}

// Rx-pps of both generator ports over the measuring window, after a warm-up.
export async function measureWindow(gen: Testpmd, warmupS: number, measureS: number): Promise<Window> {
  await gen.waitForSamples(warmupS + 1, 30_000);
  const first = gen.rxPpsSamples(0).length;
  const tx0 = gen.txPackets(0) + gen.txPackets(1);
  const rx0 = gen.rxPackets(0) + gen.rxPackets(1);
  await gen.waitForSamples(measureS, 30_000);
  const a = gen.rxPpsSamples(0).slice(first, first + measureS);
  const b = gen.rxPpsSamples(1).slice(first, first + measureS);
  const samples = a.map((v, i) => (v + (b[i] ?? 0)) / 1e6);
  const sent = gen.txPackets(0) + gen.txPackets(1) - tx0;
  const received = gen.rxPackets(0) + gen.rxPackets(1) - rx0;
  return { samples, loss: sent > 0 ? Math.max(0, 1 - received / sent) : NaN };
}

// A --tx-first loop sends its bursts once; if they were lost because the system under
// test had not brought up both ports yet, nothing circulates and the generator restarts.
export async function measureLoop(start: () => Promise<Testpmd>, warmupS: number, measureS: number): Promise<{ gen: Testpmd; window: Window }> {
  for (let attempt = 1; ; attempt++) {
    const gen = await start();
    const window = await measureWindow(gen, warmupS, measureS);
    if (median(window.samples) > 0 || attempt === 3) return { gen, window };
    console.error(`  generator loop did not start (attempt ${attempt}); restarting it`);
    await gen.stop();
  }
}
