// npm run bench: memif -> switch -> memif at 64/512/1518 bytes, memswitch against
// dpdk-testpmd io-forwarding in the same place, interleaved, median ratios.
//
// Shape (2 CPUs, exactly two pollers): one dpdk-testpmd with two memif *client* ports in
// mac forwarding with --tx-first loops frames through the system under test in both
// directions; its forwarding lcore owns CPU 1. The system under test polls on CPU 0:
// memswitch's single worker, or a second testpmd with two memif *server* ports in io
// mode. Both testpmd main lcores only sleep between stats prints.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dataplane } from '../orchestrator/src/dataplane/dataplane.js';
import { loadTestingAddon } from './testing-addon.js';
import { runAfxdpBench } from './afxdp.js';
import { runCniBench } from './cni.js';
import { fmt, measureLoop, median } from './common.js';
import { Testpmd, ensureHugepages } from './testpmd.js';

const SUT_CPU = 0;
const TRAFFIC_CPU = 1;
const FRAME_SIZES = (process.env.MEMSWITCH_BENCH_SIZES ?? '64,512,1518').split(',').map(Number);
// Frames in flight per direction: --tx-first sends one burst per port, so the burst size
// sets the load. Too few and both systems wait on round trips instead of working.
const GENERATOR_BURST = Number(process.env.MEMSWITCH_BENCH_BURST ?? 64);
// testpmd io forwards in bursts of this many, the same as memswitch's worker (kBurst).
const SUT_BURST = Number(process.env.MEMSWITCH_BENCH_SUT_BURST ?? 64);
const ROUNDS = Number(process.env.MEMSWITCH_BENCH_ROUNDS ?? 3);
const WARMUP_S = 2;
const MEASURE_S = 5;
const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
const testing = loadTestingAddon();

interface Measurement {
  system: 'memswitch' | 'testpmd-io';
  frameSize: number;
  round: number;
  mpps: number;
  loss: number;
  samples: number[];
  pingPongNs: number;
}

// The generator: two client ports, frames addressed to each other's MAC, so every frame
// crosses the system under test, comes back, and is sent again.
function startGenerator(sock: string, frameSize: number): Promise<Testpmd> {
  return Testpmd.start({
    vdevs: [
      { role: 'client', socket: sock, id: 0, mac: MAC_A, zeroCopy: true },
      { role: 'client', socket: sock, id: 1, mac: MAC_B, zeroCopy: true },
    ],
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
const startLoop = (sock: string, frameSize: number) => measureLoop(() => startGenerator(sock, frameSize), WARMUP_S, MEASURE_S);

// memswitch in-process: one worker on the SUT CPU, two memif interfaces on one network.
function startMemswitch(sock: string): Dataplane {
  const dp = Dataplane.create({ workers: 1, cpus: [SUT_CPU] });
  dp.addNetwork('bench');
  dp.addMemif({ name: 'a', kind: 'memif', network: 'bench', socket: sock, id: 0 });
  dp.addMemif({ name: 'b', kind: 'memif', network: 'bench', socket: sock, id: 1 });
  dp.start();
  return dp;
}

type System = Measurement['system'];
const systems: Record<System, (sock: string) => Promise<{ stop(): unknown }>> = {
  memswitch: async (sock) => startMemswitch(sock),
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

async function measure(system: System, frameSize: number, round: number, attempt: number): Promise<Measurement> {
  const sock = `@msw-bench-${process.pid}-${system}-${round}-${frameSize}-${attempt}`;
  // Measured while nothing else polls: it tells how the host treats the two vCPUs now.
  const pingPongNs = testing.cacheLinePingPongNs(SUT_CPU, TRAFFIC_CPU, 200);
  const sut = await systems[system](sock);
  try {
    const { gen, window } = await startLoop(sock, frameSize);
    await gen.stop();
    return { system, frameSize, round, mpps: median(window.samples), loss: window.loss, samples: window.samples, pingPongNs };
  } finally {
    await sut.stop();
  }
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

const PARTS = new Set((process.env.MEMSWITCH_BENCH_PARTS ?? 'memif,afxdp,idle,cni').split(','));

async function main(): Promise<void> {
  const restore = await ensureHugepages(96);
  const measurements: Measurement[] = [];
  const latency: Awaited<ReturnType<typeof runLatency>>[] = [];
  const idle: Awaited<ReturnType<typeof runIdle>>[] = [];
  let afxdp: Awaited<ReturnType<typeof runAfxdpBench>> | undefined;
  let cni: Awaited<ReturnType<typeof runCniBench>> | undefined;
  const started = new Date().toISOString();
  try {
    if (PARTS.has('memif')) {
      for (let round = 1; round <= ROUNDS; round++) {
        for (const size of FRAME_SIZES) {
          // Alternate which system goes first so slow minutes of this noisy VM hit both.
          const order: System[] = round % 2 ? ['memswitch', 'testpmd-io'] : ['testpmd-io', 'memswitch'];
          for (const system of order) {
            const m = await measureWithRetry(system, size, round);
            measurements.push(m);
            console.error(`round ${round} ${m.system} ${size}B: ${fmt(m.mpps)} Mpps, loss ${fmt(m.loss * 100, 3)}%, ping-pong ${fmt(m.pingPongNs, 0)} ns`);
          }
        }
      }
      for (const size of [64, 1518]) for (const inFlight of [1, 256]) latency.push(await runLatency(size, inFlight));
    }
    if (PARTS.has('afxdp')) afxdp = await runAfxdpBench(Math.min(ROUNDS, 2));
    if (PARTS.has('idle')) for (const poll of ['busy', 'adaptive'] as const) idle.push(await runIdle(poll));
    if (PARTS.has('cni')) cni = await runCniBench({});
  } finally {
    restore();
  }

  const rows = FRAME_SIZES.map((size) => {
    const of = (sys: System) => measurements.filter((m) => m.frameSize === size && m.system === sys);
    const ms = of('memswitch');
    const tp = of('testpmd-io');
    const ratios = ms.map((m) => m.mpps / (tp.find((t) => t.round === m.round)?.mpps ?? NaN));
    return {
      frameSize: size,
      memswitchMpps: median(ms.map((m) => m.mpps)),
      testpmdMpps: median(tp.map((m) => m.mpps)),
      ratioMedian: median(ratios),
      ratios,
      memswitchLoss: median(ms.map((m) => m.loss)),
      testpmdLoss: median(tp.map((m) => m.loss)),
    };
  });

  const lines: string[] = [];
  if (measurements.length)
    lines.push(
      '',
      'memif -> switch -> memif, L2, one polling thread each side (medians over interleaved rounds)',
      '',
      '| frame | memswitch Mpps | testpmd io Mpps | ratio (median of per-round) | per-round ratios | loss memswitch | loss testpmd |',
      '| ---: | ---: | ---: | ---: | --- | ---: | ---: |',
      ...rows.map(
        (r) =>
          `| ${r.frameSize} B | ${fmt(r.memswitchMpps)} | ${fmt(r.testpmdMpps)} | **${fmt(r.ratioMedian)}x** | ${r.ratios.map((x) => fmt(x)).join(', ')} | ${fmt(r.memswitchLoss * 100, 3)}% | ${fmt(r.testpmdLoss * 100, 3)}% |`,
      ),
      '',
      'memswitch with our own memif client looping frames (latency = one pass through the switch)',
      '',
      '| frame | frames in flight per direction | Mpps | p50 latency | p99 latency |',
      '| ---: | ---: | ---: | ---: | ---: |',
      ...latency.map((l) => `| ${l.frameSize} B | ${l.inFlight} | ${fmt(l.mpps)} | ${fmt(l.p50Ns / 1000)} µs | ${fmt(l.p99Ns / 1000)} µs |`),
      '',
      `cache-line ping-pong CPU${SUT_CPU}<->CPU${TRAFFIC_CPU}: median ${fmt(median(measurements.map((m) => m.pingPongNs)), 0)} ns one way`,
    );
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
  console.log(lines.join('\n'));

  const out = path.join(repoRoot, 'bench/results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'latest.json'),
    JSON.stringify(
      { started, finished: new Date().toISOString(), rounds: ROUNDS, warmupSeconds: WARMUP_S, measureSeconds: MEASURE_S, rows, latency, measurements, afxdp, idle, cni: cni?.rows },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${path.join(out, 'latest.json')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
