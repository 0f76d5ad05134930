// npm run bench: memif -> switch -> memif at 64/512/1518 bytes, memswitch against
// dpdk-testpmd io-forwarding and OVS-DPDK (NORMAL action) in the same place, and against
// an older memswitch build when MEMSWITCH_BENCH_BASELINE_ADDON names one (before/after).
//
// Shape (2 CPUs, exactly two pollers): one dpdk-testpmd with two memif *client* ports in
// mac forwarding with --tx-first loops frames through the system under test in both
// directions; its forwarding lcore owns CPU 1. The system under test polls on CPU 0:
// memswitch's single worker, a second testpmd with two memif *server* ports in io mode,
// or OVS-DPDK's one PMD. The testpmd main lcores only sleep between stats prints.
//
// Method: this VM switches between two modes while a run goes on (the cache-line
// ping-pong between the two CPUs jumps between ~45 and ~200 ns, and every system's rate
// with it). So the systems alternate often with short windows, each window records the
// ping-pong measured just before it, and ratios compare windows taken in the same mode.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dataplane } from '../orchestrator/src/dataplane/dataplane.js';
import type { NativeAddon } from '../orchestrator/src/dataplane/native.js';
import { loadTestingAddon } from './testing-addon.js';
import { runAfxdpBench } from './afxdp.js';
import { runCaptureBench } from './capture.js';
import { runCniBench } from './cni.js';
import { fmt, measureLoop, median } from './common.js';
import { beforeAfterAvailable, runBeforeAfter } from './before-after.js';
import { runLpmBench } from './lpm.js';
import { runRoutingBench } from './routing.js';
import { runAclBench } from './acl.js';
import { nftAvailable, runKernelAclBench } from './acl-kernel.js';
import { OvsDpdk, ovsDpdkAvailable } from './ovs.js';
import { Testpmd, ensureHugepages } from './testpmd.js';

const SUT_CPU = 0;
const TRAFFIC_CPU = 1;
const FRAME_SIZES = (process.env.MEMSWITCH_BENCH_SIZES ?? '64,512,1518').split(',').map(Number);
// Frames in flight per direction: --tx-first sends one burst per port, so the burst size
// sets the load. Too few and both systems wait on round trips instead of working.
const GENERATOR_BURST = Number(process.env.MEMSWITCH_BENCH_BURST ?? 64);
// testpmd io forwards in bursts of this many, the same as memswitch's worker (kBurst).
const SUT_BURST = Number(process.env.MEMSWITCH_BENCH_SUT_BURST ?? 64);
const ROUNDS = Number(process.env.MEMSWITCH_BENCH_ROUNDS ?? 4);
const WARMUP_S = 1;
const MEASURE_S = 3;
// One-way ping-pong above this: the host's slow mode (see the method above).
const SLOW_MODE_NS = 100;
const BASELINE_ADDON = process.env.MEMSWITCH_BENCH_BASELINE_ADDON;
// Which peers to measure memswitch against (default: every one available).
const PEERS = process.env.MEMSWITCH_BENCH_PEERS ? new Set(process.env.MEMSWITCH_BENCH_PEERS.split(',')) : undefined;
const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
const testing = loadTestingAddon();

type System = 'memswitch' | 'memswitch-baseline' | 'testpmd-io' | 'ovs-dpdk';
type Mode = 'fast' | 'slow';
const modeOf = (pingPongNs: number): Mode => (pingPongNs > SLOW_MODE_NS ? 'slow' : 'fast');

interface Measurement {
  system: System;
  mode: Mode;
  frameSize: number;
  round: number;
  mpps: number;
  loss: number;
  samples: number[];
  pingPongNs: number;
}

// The generator: two client ports, frames addressed to each other's MAC, so every frame
// crosses the system under test, comes back, and is sent again.
// OVS-DPDK transmits on its PMD's queue 1, so its peers need two queue pairs.
function startGenerator(sock: string, frameSize: number, queues: number): Promise<Testpmd> {
  return Testpmd.start({
    vdevs: [
      { role: 'client', socket: sock, id: 0, mac: MAC_A, zeroCopy: true },
      { role: 'client', socket: sock, id: 1, mac: MAC_B, zeroCopy: true },
    ],
    extraArgs: queues > 1 ? [`--rxq=${queues}`, `--txq=${queues}`] : [],
    forwardMode: 'mac',
    txFirst: true,
    ethPeers: [MAC_B, MAC_A],
    txPkts: frameSize,
    burst: GENERATOR_BURST,
    forwardingCpu: TRAFFIC_CPU,
    mainCpu: SUT_CPU,
    memory: 'hugepages',
  });
}

// --tx-first sends its bursts once. If they are lost because the system under test had
// not brought up both ports yet, nothing circulates; start the generator again.
const startLoop = (sock: string, frameSize: number, queues: number) => measureLoop(() => startGenerator(sock, frameSize, queues), WARMUP_S, MEASURE_S);

// memswitch in-process: one worker on the SUT CPU, two memif interfaces on one network.
function startMemswitch(sock: string, addon?: NativeAddon): Dataplane {
  const dp = Dataplane.create({ workers: 1, cpus: [SUT_CPU] }, addon);
  dp.addNetwork('bench');
  dp.addMemif({ name: 'a', kind: 'memif', network: 'bench', socket: sock, id: 0 });
  dp.addMemif({ name: 'b', kind: 'memif', network: 'bench', socket: sock, id: 1 });
  dp.start();
  return dp;
}

const systems: Record<System, (sock: string) => Promise<{ stop(): unknown }>> = {
  memswitch: async (sock) => startMemswitch(sock),
  'memswitch-baseline': async (sock) => startMemswitch(sock, loadBaseline()),
  'ovs-dpdk': (sock) => OvsDpdk.start({ socket: sock, pmdCpu: SUT_CPU, mainCpu: TRAFFIC_CPU }),
  'testpmd-io': (sock) =>
    Testpmd.start({
      vdevs: [
        { role: 'server', socket: sock, id: 0 },
        { role: 'server', socket: sock, id: 1 },
      ],
      forwardMode: 'io',
      burst: SUT_BURST,
      forwardingCpu: SUT_CPU,
      mainCpu: TRAFFIC_CPU,
      memory: 'hugepages',
    }),
};

// DPDK 22.11 now and then fails a memif connect on this VM (mmap of the peer's region:
// ENODEV) and then refuses every later one on that socket. Such a measurement is run
// again from fresh processes, at most twice; a third failure stops the benchmark.
async function measureWithRetry(system: System, frameSize: number, round: number): Promise<Measurement> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await measure(system, frameSize, round, attempt);
    } catch (err) {
      if (attempt === 3) throw err;
      console.error(`round ${round} ${system} ${frameSize}B: attempt ${attempt} failed, retrying: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}

let baseline: NativeAddon | undefined;
function loadBaseline(): NativeAddon {
  baseline ??= createRequire(import.meta.url)(path.resolve(BASELINE_ADDON!)) as NativeAddon;
  return baseline;
}

async function measure(system: System, frameSize: number, round: number, attempt: number): Promise<Measurement> {
  // OVS's net_memif needs a socket file; the others take an abstract name.
  const name = `msw-bench-${process.pid}-${system}-${round}-${frameSize}-${attempt}`;
  const sock = system === 'ovs-dpdk' ? path.join(tmpdir(), `${name}.sock`) : `@${name}`;
  // Measured while nothing else polls: it tells how the host treats the two vCPUs now.
  const pingPongNs = testing.cacheLinePingPongNs(SUT_CPU, TRAFFIC_CPU, 200);
  const sut = await systems[system](sock);
  try {
    const { gen, window } = await startLoop(sock, frameSize, system === 'ovs-dpdk' ? 2 : 1);
    await gen.stop();
    return { system, mode: modeOf(pingPongNs), frameSize, round, mpps: median(window.samples), loss: window.loss, samples: window.samples, pingPongNs };
  } finally {
    await sut.stop();
  }
}

// memswitch against each peer, per frame size: the ratio of medians over windows taken
// in the same host mode; the headline is the mode with the most windows of both.
function compare(measurements: Measurement[], size: number, peer: System) {
  const of = (sys: System, mode: Mode) => measurements.filter((m) => m.frameSize === size && m.system === sys && m.mode === mode).map((m) => m.mpps);
  const modes = (['fast', 'slow'] as const)
    .map((mode) => {
      const ms = of('memswitch', mode);
      const other = of(peer, mode);
      return { mode, windows: Math.min(ms.length, other.length), memswitchMpps: median(ms), peerMpps: median(other), ratio: median(ms) / median(other) };
    })
    .filter((m) => m.windows > 0);
  const headline = [...modes].sort((a, b) => b.windows - a.windows)[0];
  return { frameSize: size, peer, modes, headline };
}

// Our own client in loop mode: same shape, one traffic thread, plus latency percentiles.
// inFlight 1 gives the bare one-pass latency; 256 shows latency under full load.
async function runLatency(frameSize: number, inFlight: number): Promise<{ frameSize: number; inFlight: number; mpps: number; p50Ns: number; p99Ns: number }> {
  const sock = `@msw-bench-lat-${process.pid}-${frameSize}-${inFlight}`;
  const dp = startMemswitch(sock);
  const a = new testing.MemifClient({ socket: sock, id: 0, hugepages: true });
  const b = new testing.MemifClient({ socket: sock, id: 1, hugepages: true });
  for (const c of [a, b]) if (!c.info().hugepages) console.error('warning: no free hugepages; the client regions use 4 KiB pages');
  const eng = new testing.TrafficEngine();
  const task = eng.addLoop(a, b, { frameSize, initialBurst: inFlight, aMac: MAC_A, bMac: MAC_B });
  try {
    eng.start(TRAFFIC_CPU);
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    eng.resetStats();
    await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
    const s = eng.stats(task);
    return { frameSize, inFlight, mpps: s.rxPackets / MEASURE_S / 1e6, p50Ns: s.p50Ns, p99Ns: s.p99Ns };
  } finally {
    eng.stop();
    a.close();
    b.close();
    dp.stop();
  }
}

// Adaptive polling: CPU an idle switch burns, and the latency of frames that find the
// worker asleep (100 frames/s: each one arrives after 10 ms of silence), against busy polling.
async function runIdle(poll: 'busy' | 'adaptive'): Promise<{ poll: string; idleCpu: number; sparseP50Ns: number; sparseP99Ns: number; sleeps: number }> {
  const sock = `@msw-bench-idle-${process.pid}-${poll}`;
  const dp = Dataplane.create({ workers: 1, cpus: [SUT_CPU], poll });
  dp.addNetwork('bench');
  dp.addMemif({ name: 'a', kind: 'memif', network: 'bench', socket: sock, id: 0 });
  dp.addMemif({ name: 'b', kind: 'memif', network: 'bench', socket: sock, id: 1 });
  dp.start();
  const a = new testing.MemifClient({ socket: sock, id: 0, hugepages: true });
  const b = new testing.MemifClient({ socket: sock, id: 1, hugepages: true });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 2000));
    const used = process.cpuUsage(before);
    const eng = new testing.TrafficEngine();
    eng.addGenerator(a, { src: MAC_A, dst: MAC_B, pps: 100, count: 300 });
    const s = eng.addSink(b);
    eng.start(TRAFFIC_CPU);
    while (!eng.generatorsDone()) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 50));
    eng.stop();
    const st = eng.stats(s);
    return { poll, idleCpu: (used.user + used.system) / 2e6, sparseP50Ns: st.p50Ns, sparseP99Ns: st.p99Ns, sleeps: dp.workers()[0]!.sleeps };
  } finally {
    a.close();
    b.close();
    dp.stop();
  }
}

const PARTS = new Set((process.env.MEMSWITCH_BENCH_PARTS ?? 'memif,before-after,routing,acl,acl-kernel,capture,lpm,afxdp,idle,cni').split(','));
const BEFORE_AFTER_PAIRS = Number(process.env.MEMSWITCH_BENCH_BEFORE_AFTER_PAIRS ?? 20);

async function main(): Promise<void> {
  const restore = await ensureHugepages(96);
  const measurements: Measurement[] = [];
  const latency: Awaited<ReturnType<typeof runLatency>>[] = [];
  const idle: Awaited<ReturnType<typeof runIdle>>[] = [];
  let afxdp: Awaited<ReturnType<typeof runAfxdpBench>> | undefined;
  let cni: Awaited<ReturnType<typeof runCniBench>> | undefined;
  let beforeAfter: Awaited<ReturnType<typeof runBeforeAfter>> | undefined;
  let routing: Awaited<ReturnType<typeof runRoutingBench>> | undefined;
  let acl: Awaited<ReturnType<typeof runAclBench>> | undefined;
  let aclKernel: Awaited<ReturnType<typeof runKernelAclBench>> | undefined;
  let lpm: Awaited<ReturnType<typeof runLpmBench>> | undefined;
  let capture: Awaited<ReturnType<typeof runCaptureBench>> | undefined;
  const failures: string[] = [];
  const started = new Date().toISOString();
  const ovs = ovsDpdkAvailable();
  if (!ovs.ok) console.error(`OVS-DPDK left out of the memif comparison: ${ovs.reason}`);
  // The baseline build only when named: the before/after part below compares it better.
  const available: System[] = ['memswitch', 'testpmd-io', ...(ovs.ok ? (['ovs-dpdk'] as const) : []), ...(BASELINE_ADDON && PEERS?.has('memswitch-baseline') ? (['memswitch-baseline'] as const) : [])];
  const memifSystems = available.filter((sys) => sys === 'memswitch' || !PEERS || PEERS.has(sys));
  try {
    if (PARTS.has('memif')) {
      for (let round = 1; round <= ROUNDS; round++) {
        for (const size of FRAME_SIZES) {
          // Alternate which system goes first so slow minutes of this noisy VM hit both.
          const order = round % 2 ? memifSystems : [...memifSystems].reverse();
          for (const system of order) {
            const m = await measureWithRetry(system, size, round);
            measurements.push(m);
            console.error(`round ${round} ${m.system} ${size}B: ${fmt(m.mpps)} Mpps, loss ${fmt(m.loss * 100, 3)}%, ping-pong ${fmt(m.pingPongNs, 0)} ns (${m.mode})`);
          }
        }
      }
      for (const size of [64, 1518]) for (const inFlight of [1, 256]) latency.push(await runLatency(size, inFlight));
    }
    const frozen = beforeAfterAvailable();
    if (PARTS.has('before-after') && BASELINE_ADDON && !frozen.ok) console.error(`before/after left out: ${frozen.reason}`);
    if (PARTS.has('before-after') && BASELINE_ADDON && frozen.ok) {
      try {
        beforeAfter = await runBeforeAfter(loadBaseline(), { frameSizes: FRAME_SIZES, pairs: BEFORE_AFTER_PAIRS, sutCpu: SUT_CPU, trafficCpu: TRAFFIC_CPU });
      } catch (err) {
        failures.push(`before/after: ${(err as Error).message.split('\n')[0]}`); // the other parts still run
      }
    }
    if (PARTS.has('routing')) {
      try {
        routing = await runRoutingBench({ frameSizes: FRAME_SIZES, rounds: ROUNDS, sutCpu: SUT_CPU, trafficCpu: TRAFFIC_CPU, ovs: ovs.ok });
      } catch (err) {
        failures.push(`routing: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    if (PARTS.has('acl')) {
      try {
        acl = await runAclBench({ rounds: Math.min(ROUNDS, 3), sutCpu: SUT_CPU, trafficCpu: TRAFFIC_CPU });
      } catch (err) {
        failures.push(`acl: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    if (PARTS.has('acl-kernel')) {
      const tools = nftAvailable();
      if (!tools.ok) failures.push(`acl against the kernel: ${tools.reason}`);
      else
        try {
          aclKernel = await runKernelAclBench(Math.min(ROUNDS, 3));
        } catch (err) {
          failures.push(`acl against the kernel: ${(err as Error).message.split('\n')[0]}`);
        }
    }
    if (PARTS.has('capture')) {
      try {
        capture = await runCaptureBench({ frameSize: 64, cycles: 6, sutCpu: SUT_CPU, trafficCpu: TRAFFIC_CPU });
      } catch (err) {
        failures.push(`capture: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    if (PARTS.has('lpm')) lpm = await runLpmBench({ lpmBench: path.join(repoRoot, 'build/addon/lpm_bench'), cpu: TRAFFIC_CPU, sizes: [1, 10_000, 1_000_000], runs: 7 });
    if (PARTS.has('afxdp')) afxdp = await runAfxdpBench(Math.min(ROUNDS, 2));
    if (PARTS.has('idle')) for (const poll of ['busy', 'adaptive'] as const) idle.push(await runIdle(poll));
    if (PARTS.has('cni')) cni = await runCniBench({});
  } finally {
    restore();
  }

  const peers = memifSystems.filter((sys) => sys !== 'memswitch');
  const rows = FRAME_SIZES.flatMap((size) => peers.map((peer) => compare(measurements, size, peer)));
  const perMode = (r: (typeof rows)[number], mode: Mode): string => {
    const m = r.modes.find((x) => x.mode === mode);
    return m ? `${fmt(m.ratio)}x (${fmt(m.memswitchMpps)} / ${fmt(m.peerMpps)}, ${m.windows})` : '—';
  };

  const lines: string[] = [];
  if (measurements.length)
    lines.push(
      '',
      'memif -> switch -> memif, L2, one polling thread each side (medians over interleaved rounds)',
      '',
      '| frame | peer | ratio (headline mode) | fast mode: ratio (memswitch / peer Mpps, windows) | slow mode |',
      '| ---: | --- | ---: | --- | --- |',
      ...rows.map((r) => `| ${r.frameSize} B | ${r.peer} | **${fmt(r.headline?.ratio ?? NaN)}x** ${r.headline?.mode ?? ''} | ${perMode(r, 'fast')} | ${perMode(r, 'slow')} |`),
      '',
      `windows: ${WARMUP_S} s warm-up + ${MEASURE_S} s each, ${ROUNDS} rounds; loss: ${measurements.filter((m) => m.loss > 0).length} of ${measurements.length} windows lost frames (max ${fmt(Math.max(0, ...measurements.map((m) => m.loss)) * 100, 3)}%)`,
      '',
      'memswitch with our own memif client looping frames (latency = one pass through the switch)',
      '',
      '| frame | frames in flight per direction | Mpps | p50 latency | p99 latency |',
      '| ---: | ---: | ---: | ---: | ---: |',
      ...latency.map((l) => `| ${l.frameSize} B | ${l.inFlight} | ${fmt(l.mpps)} | ${fmt(l.p50Ns / 1000)} µs | ${fmt(l.p99Ns / 1000)} µs |`),
      '',
      `cache-line ping-pong CPU${SUT_CPU}<->CPU${TRAFFIC_CPU}: median ${fmt(median(measurements.map((m) => m.pingPongNs)), 0)} ns one way`,
    );
  if (beforeAfter) lines.push(beforeAfter.table);
  if (routing) lines.push(routing.table);
  if (acl) lines.push(acl.table);
  if (aclKernel) lines.push(aclKernel.table);
  if (capture) lines.push(capture.table);
  if (lpm) lines.push(lpm.table);
  if (afxdp) lines.push(afxdp.table);
  if (idle.length)
    lines.push(
      '',
      'adaptive polling: an idle switch (two connected memif clients, no traffic), then 100 frames/s',
      '',
      '| poll | CPU while idle | worker sleeps | latency p50 at 100 frames/s | p99 |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...idle.map((r) => `| ${r.poll} | ${fmt(r.idleCpu * 100, 1)}% of a CPU | ${r.sleeps} | ${fmt(r.sparseP50Ns / 1000)} µs | ${fmt(r.sparseP99Ns / 1000)} µs |`),
    );
  if (cni) lines.push('', cni.table);
  if (failures.length) lines.push('', ...failures.map((f) => `FAILED ${f}`));
  console.log(lines.join('\n'));

  const out = path.join(repoRoot, 'bench/results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'latest.json'),
    JSON.stringify(
      { started, finished: new Date().toISOString(), rounds: ROUNDS, warmupSeconds: WARMUP_S, measureSeconds: MEASURE_S, rows, latency, measurements, beforeAfter: beforeAfter?.rows, routing: routing && { rows: routing.rows, windows: routing.windows }, acl: acl && { rows: acl.rows, windows: acl.windows }, aclKernel: aclKernel && { rows: aclKernel.rows, measurements: aclKernel.measurements }, lpm: lpm?.rows, capture: capture?.rows, afxdp, idle, cni: cni?.rows },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${path.join(out, 'latest.json')}`);
  if (failures.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
