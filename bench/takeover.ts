// Planned-restart figures for a real memswitchd: our memif client sends 64-byte frames
// m0 -> switch -> m1 at a fixed rate while successive `memswitchd --takeover` processes
// take the live sessions over, several times in a row. Per takeover: how long frames
// waited in the rings (the sink's largest one-way latency in that window, against a
// window without a takeover), frames lost or reordered (sequence numbers), and the wall
// time from starting the new process to it serving its API.
//
// node dist/bench/takeover.js   (as root; about 20 s; writes bench/results/takeover.json)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTestingAddon } from './testing-addon.js';
import { benchDaemonConfig, fmt, median } from './common.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
const ROUNDS = 5;
const PPS = 100_000;
const WINDOW_MS = 1000;
const WORKER_CPU = 0;
const TRAFFIC_CPU = 1;

interface Daemon {
  proc: ChildProcess;
  lines: { msg: string; time: string; [k: string]: unknown }[];
  exited: Promise<void>;
}

function startDaemon(config: string, args: string[]): Promise<Daemon> {
  const proc = spawn(path.join(repoRoot, 'bin/memswitchd'), ['--config', config, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const d: Daemon = { proc, lines: [], exited: new Promise((r) => proc.once('exit', () => r())) };
  let buf = '';
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, nl)) as Daemon['lines'][number];
        buf = buf.slice(nl + 1);
        d.lines.push(line);
        if (line.msg === 'memswitchd running') resolve(d);
      }
    });
    proc.once('exit', (code) => reject(new Error(`memswitchd exited with ${code} before running`)));
  });
}

async function main(): Promise<void> {
  const testing = loadTestingAddon();
  const dir = mkdtempSync(path.join(tmpdir(), 'msw-bench-takeover-'));
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, benchDaemonConfig(dir, WORKER_CPU, 2));
  let daemon = await startDaemon(config, []);
  // Deep rings: frames sent while no process polls wait there instead of being refused.
  const a = new testing.MemifClient({ socket: `${dir}/memif.sock`, id: 0, hugepages: false, log2RingSize: 14 });
  const b = new testing.MemifClient({ socket: `${dir}/memif.sock`, id: 1, hugepages: false, log2RingSize: 14 });
  const eng = new testing.TrafficEngine();
  eng.addGenerator(a, { src: '02:00:00:00:0a:01', dst: '02:00:00:00:0b:01', pps: PPS });
  const sink = eng.addSink(b);
  const window = async () => {
    eng.resetStats();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    return eng.stats(sink);
  };
  try {
    eng.start(TRAFFIC_CPU);
    await new Promise((r) => setTimeout(r, 500));
    const quiet = await window();
    const rounds = [];
    for (let round = 1; round <= ROUNDS; round++) {
      eng.resetStats();
      const t0 = performance.now();
      const next = await startDaemon(config, ['--takeover']);
      const wallMs = performance.now() - t0;
      await daemon.exited;
      const took = next.lines.find((l) => l.msg === 'took over from the previous memswitchd');
      daemon = next;
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const s = eng.stats(sink);
      rounds.push({ round, sessions: Number(took?.sessions ?? 0), wallMs, waitedMs: s.maxNs / 1e6, lost: s.lost, reordered: s.reordered, rxPackets: s.rxPackets, connected: s.connected });
      console.error(`takeover ${round}: ${took?.sessions} sessions, frames waited up to ${fmt(s.maxNs / 1e6, 1)} ms, lost ${s.lost}, reordered ${s.reordered}`);
    }
    eng.stop();
    const result = {
      date: new Date().toISOString(),
      pps: PPS,
      frameSize: 64,
      quietWindow: { maxLatencyMs: quiet.maxNs / 1e6, p99LatencyUs: quiet.p99Ns / 1000 },
      medianWaitedMs: median(rounds.map((r) => r.waitedMs)),
      maxWaitedMs: Math.max(...rounds.map((r) => r.waitedMs)),
      medianWallMs: median(rounds.map((r) => r.wallMs)),
      totalLost: rounds.reduce((n, r) => n + r.lost, 0),
      totalReordered: rounds.reduce((n, r) => n + r.reordered, 0),
      rounds,
    };
    console.log(`\nplanned restarts (memswitchd --takeover, ${ROUNDS} in a row) under ${PPS / 1000} kpps of 64-byte frames m0 -> m1, our memif client`);
    console.log('');
    console.log('| takeover | sessions kept | frames waited up to | lost | reordered | new daemon serving after |');
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rounds) console.log(`| ${r.round} | ${r.sessions}/2 | ${fmt(r.waitedMs, 1)} ms | ${r.lost} | ${r.reordered} | ${fmt(r.wallMs, 0)} ms |`);
    console.log(`\nwithout a takeover the largest one-way latency in a ${WINDOW_MS} ms window is ${fmt(result.quietWindow.maxLatencyMs, 2)} ms (p99 ${fmt(result.quietWindow.p99LatencyUs, 1)} µs)`);
    mkdirSync(path.join(repoRoot, 'bench/results'), { recursive: true });
    writeFileSync(path.join(repoRoot, 'bench/results/takeover.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    eng.stop();
    a.close();
    b.close();
    daemon.proc.kill('SIGTERM');
    await daemon.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
