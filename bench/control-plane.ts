// Control-plane figures for a real memswitchd over its gRPC unix socket:
//  1. objects created per second (networks, memif interfaces, static MACs), one request
//     at a time and 32 in flight; every one is committed to SQLite (WAL, synchronous=FULL)
//     and applied to the dataplane before it is answered;
//  2. the forwarding rate while 1,000 static MAC entries are added and removed in a loop,
//     as a ratio to the rate without churn, and under a read-only request loop as a control (our own memif client loops 64-byte frames
//     m0 <-> m1 through the switch; the churn targets a third port of the same network);
//  3. a million IPv4 routes over StreamRoutes (batches of 10,000, one transaction each):
//     routes/s, the daemon's memory and the state database per route, and how long a
//     restart takes to have them all back.
//
// node dist/bench/control-plane.js   (as root; about 60 s; writes bench/results/control-plane.json)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTestingAddon } from './testing-addon.js';
import { MemswitchClient } from '../orchestrator/src/sdk/index.js';
import { formatIPv4 } from '../orchestrator/src/domain/ip.js';
import { benchDaemonConfig, median } from './common.js';
import { ensureHugepages } from './testpmd.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
const N_OBJECTS = Number(process.env.MEMSWITCH_BENCH_CP_OBJECTS ?? 500);
const N_MACS = 1000;
const N_ROUTES = 1_000_000;
const WINDOW_MS = 3000;
const ROUNDS = 3;
const WORKER_CPU = 0;
const TRAFFIC_CPU = 1;
const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';
const churnMac = (i: number): string => `02:cc:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

async function startDaemon(dir: string): Promise<{ proc: ChildProcess; api: string }> {
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, benchDaemonConfig(dir, WORKER_CPU, 3, 'warn'));
  const proc = spawn(path.join(repoRoot, 'bin/memswitchd'), ['--config', config], { stdio: ['ignore', 'inherit', 'inherit'] });
  const client = new MemswitchClient(`${dir}/api.sock`);
  for (let i = 0; ; i++) {
    try {
      await client.getDaemonInfo();
      break;
    } catch (err) {
      if (i > 600 || proc.exitCode !== null) throw err; // a minute: a restart restores every stored route first
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  client.close();
  return { proc, api: `${dir}/api.sock` };
}

/** Objects per second for n calls with `concurrency` requests in flight. */
async function rate(n: number, concurrency: number, call: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await call(next++);
    }),
  );
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the control-plane bench needs root (/run, hugepages)');
  const restoreHugepages = await ensureHugepages(32);
  const dir = `/run/msw-bench-cp-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  let daemon = await startDaemon(dir);
  let c = new MemswitchClient(daemon.api);
  const testing = loadTestingAddon();
  try {
    // 1. creation rates
    const created: Record<string, { sequential: number; concurrent32: number }> = {};
    const objects = async (label: string, make: (tag: string) => (i: number) => Promise<unknown>): Promise<void> => {
      created[label] = { sequential: await rate(N_OBJECTS, 1, make('s')), concurrent32: await rate(N_OBJECTS, 32, make('c')) };
    };
    await objects('networks', (tag) => (i) => c.createNetwork({ name: `n${tag}${i}` }));
    let id = 100;
    await objects('interfaces', (tag) => () => {
      const n = id++;
      return c.createInterface({ spec: { name: `i${tag}${n}`, network: 'blue', kind: 'memif', memif: { socket: `${dir}/memif.sock`, id: n } } });
    });
    let mac = 0;
    await objects('staticMacs', () => () => c.addStaticMac({ network: 'blue', mac: churnMac(mac++), interface: 'm2' }));
    for (let i = 0; i < mac; i++) await c.removeStaticMac({ network: 'blue', mac: churnMac(i) });

    // 2. forwarding with and without MAC churn
    const a = new testing.MemifClient({ socket: `${dir}/memif.sock`, id: 0, hugepages: true, queues: 1 });
    const b = new testing.MemifClient({ socket: `${dir}/memif.sock`, id: 1, hugepages: true, queues: 1 });
    const engine = new testing.TrafficEngine();
    const loop = engine.addLoop(a, b, { frameSize: 64, initialBurst: 256, aMac: MAC_A, bMac: MAC_B });
    engine.start(TRAFFIC_CPU);
    await new Promise((r) => setTimeout(r, 1000)); // warm-up: MACs learned, caches warm
    // 'reads' is the control: the same request loop with reads only, so the two processes
    // busy with gRPC compete for CPU the same way but the MAC table never changes.
    const measure = async (load: 'none' | 'reads' | 'churn'): Promise<{ mpps: number; churnOps: number }> => {
      let stop = false;
      let ops = 0;
      const churning = (async () => {
        while (load === 'churn' && !stop) {
          for (let i = 0; i < N_MACS && !stop; i++, ops++) await c.addStaticMac({ network: 'blue', mac: churnMac(i), interface: 'm2' });
          for (let i = 0; i < N_MACS; i++, ops++) await c.removeStaticMac({ network: 'blue', mac: churnMac(i) }).catch(() => undefined);
        }
        while (load === 'reads' && !stop) {
          await c.getInterface({ name: 'm2' });
          ops++;
        }
      })();
      const rx0 = engine.stats(loop).rxPackets;
      const t0 = process.hrtime.bigint();
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const mpps = (engine.stats(loop).rxPackets - rx0) / seconds / 1e6;
      const opsInWindow = ops;
      stop = true;
      await churning;
      return { mpps, churnOps: opsInWindow / seconds };
    };
    const quiet: number[] = [];
    const reads: number[] = [];
    const busy: number[] = [];
    const opsPerS: number[] = [];
    const readOpsPerS: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      quiet.push((await measure('none')).mpps);
      const m = await measure('churn');
      busy.push(m.mpps);
      opsPerS.push(m.churnOps);
      const rd = await measure('reads');
      reads.push(rd.mpps);
      readOpsPerS.push(rd.churnOps);
    }
    engine.stop();
    a.close();
    b.close();

    // 3. a million routes
    await c.createRouter({ name: 'core' });
    await c.createRouterInterface({ spec: { name: 'core-blue', router: 'core', network: 'blue', addresses: ['10.0.0.1/24'] } });
    const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${daemon.proc.pid}/status`, 'utf8'))![1]) * 1024;
    const rss0 = rss();
    const t0 = process.hrtime.bigint();
    await c.streamRoutes(
      (function* () {
        for (let i = 0; i < N_ROUTES; i += 10_000)
          yield Array.from({ length: 10_000 }, (_, k) => ({ router: 'core', prefix: `${formatIPv4((11 << 24) + (i + k) * 256)}/24`, nextHops: [{ via: '10.0.0.2' }] }));
      })(),
    );
    const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const rssPerRoute = (rss() - rss0) / N_ROUTES;
    const dbBytes = ['state.db', 'state.db-wal'].reduce((sum, f) => sum + (statSync(path.join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
    c.close();
    daemon.proc.kill('SIGTERM');
    await new Promise((r) => daemon.proc.once('exit', r));
    const t1 = process.hrtime.bigint();
    daemon = await startDaemon(dir);
    c = new MemswitchClient(daemon.api);
    const restored = (await c.getRouter({ name: 'core' })).router.routeCount;
    const restartSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    const routes = { count: N_ROUTES, loadSeconds, routesPerSecond: N_ROUTES / loadSeconds, daemonBytesPerRoute: rssPerRoute, databaseBytesPerRoute: dbBytes / N_ROUTES, restartSeconds, restored };

    const result = {
      date: new Date().toISOString(),
      routes,
      objectsPerSecond: created,
      forwarding: {
        frameSize: 64,
        withoutChurnMpps: median(quiet),
        withChurnMpps: median(busy),
        ratio: median(busy) / median(quiet),
        churnOpsPerSecond: median(opsPerS),
        withReadLoadMpps: median(reads),
        readLoadRatio: median(reads) / median(quiet),
        readOpsPerSecond: median(readOpsPerS),
        rounds: { quiet, busy, reads },
      },
    };
    console.log('\ncontrol plane (gRPC over the unix socket; each change committed with fsync and applied before the answer)');
    console.log('objects/s        sequential   32 in flight');
    for (const [k, v] of Object.entries(created)) console.log(`${k.padEnd(16)} ${v.sequential.toFixed(0).padStart(10)}   ${v.concurrent32.toFixed(0).padStart(12)}`);
    console.log(
      `forwarding, 64 B loop m0<->m1: ${result.forwarding.withoutChurnMpps.toFixed(2)} Mpps quiet, ${result.forwarding.withChurnMpps.toFixed(2)} Mpps while ` +
        `${N_MACS} static MACs are added/removed in a loop (${result.forwarding.churnOpsPerSecond.toFixed(0)} ops/s): ratio ${result.forwarding.ratio.toFixed(3)}`,
    );
    console.log(
      `control, read-only RPC loop (${result.forwarding.readOpsPerSecond.toFixed(0)} ops/s): ${result.forwarding.withReadLoadMpps.toFixed(2)} Mpps, ratio ${result.forwarding.readLoadRatio.toFixed(3)}`,
    );
    console.log(
      `${N_ROUTES} routes over StreamRoutes: ${loadSeconds.toFixed(1)} s (${routes.routesPerSecond.toFixed(0)} routes/s), daemon memory ${rssPerRoute.toFixed(0)} B/route, ` +
        `state database ${routes.databaseBytesPerRoute.toFixed(0)} B/route; a restart has all ${restored} back and answering in ${restartSeconds.toFixed(1)} s`,
    );
    mkdirSync(path.join(repoRoot, 'bench/results'), { recursive: true });
    writeFileSync(path.join(repoRoot, 'bench/results/control-plane.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    c.close();
    daemon.proc.kill('SIGTERM');
    await new Promise((r) => daemon.proc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
    restoreHugepages();
  }
}

await main();
