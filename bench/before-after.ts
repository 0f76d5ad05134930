// Before/after in one run, without the host's mode changes in between. One testpmd
// generator (four zero-copy memif client ports, mac forwarding, --tx-first) loops frames
// through this build (ports 0 and 1) and through an older build of the addon
// (MEMSWITCH_BENCH_BASELINE_ADDON; ports 2 and 3), both in this process with their worker
// on the system-under-test CPU. Only one forwards at a time: the other's worker thread is
// frozen (cgroup v1 freezer), so it holds its frames in the rings, loses none, and burns
// no CPU. The two swap every two stats periods in A B B A order; a sample is testpmd's
// rate over one whole period inside a phase, and the figure is the median ratio of
// neighbouring samples, which the host's slow minutes hit on both sides.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { Dataplane } from '../orchestrator/src/dataplane/dataplane.js';
import type { NativeAddon } from '../orchestrator/src/dataplane/native.js';
import { fmt, median } from './common.js';
import { Testpmd } from './testpmd.js';

const FREEZER = '/sys/fs/cgroup/freezer';
const MACS = ['02:00:00:00:0a:01', '02:00:00:00:0b:01', '02:00:00:00:0a:02', '02:00:00:00:0b:02'];

export interface BeforeAfter {
  frameSize: number;
  pairs: number;
  afterMpps: number;
  beforeMpps: number;
  ratio: number; // median over neighbouring (after, before) samples
  ratios: number[];
}

export function beforeAfterAvailable(): { ok: true } | { ok: false; reason: string } {
  return existsSync(`${FREEZER}/tasks`) ? { ok: true } : { ok: false, reason: `no cgroup v1 freezer at ${FREEZER} to park the idle build's worker` };
}

const workerTids = (): Set<string> =>
  new Set(readdirSync('/proc/self/task').filter((t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim().startsWith('msw-worker')));

// One build under test: its switch, and a freezer cgroup holding just its worker thread.
class Build {
  readonly dp: Dataplane;
  private readonly cgroup: string;
  private tid = '';

  constructor(readonly name: string, sock: string, sutCpu: number, addon?: NativeAddon) {
    this.cgroup = `${FREEZER}/msw-bench-${process.pid}-${name}`;
    const before = workerTids();
    this.dp = Dataplane.create({ workers: 1, cpus: [sutCpu], poll: 'busy' }, addon);
    this.dp.addNetwork('bench');
    this.dp.addMemif({ name: 'a', kind: 'memif', network: 'bench', socket: sock, id: 0 });
    this.dp.addMemif({ name: 'b', kind: 'memif', network: 'bench', socket: sock, id: 1 });
    this.dp.start();
    // The worker names itself once it runs: give it a moment.
    for (let tries = 0; !this.tid && tries < 100; tries++) {
      this.tid = [...workerTids()].find((t) => !before.has(t)) ?? '';
      if (!this.tid) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
    if (!this.tid) throw new Error(`before/after: cannot find the worker thread of ${name}`);
    mkdirSync(this.cgroup, { recursive: true });
    writeFileSync(`${this.cgroup}/tasks`, this.tid);
  }

  run(on: boolean): void {
    writeFileSync(`${this.cgroup}/freezer.state`, on ? 'THAWED' : 'FROZEN');
  }

  stop(): void {
    if (existsSync(this.cgroup)) {
      this.run(true);
      for (const t of readFileSync(`${this.cgroup}/tasks`, 'utf8').split('\n').filter(Boolean)) writeFileSync(`${FREEZER}/tasks`, t);
      rmdirSync(this.cgroup);
    }
    this.dp.stop();
  }
}

// A run killed while one build was parked leaves that worker frozen: its process cannot
// die and keeps its memory (hugepages among it) until the cgroup is thawed.
function thawLeftovers(): void {
  for (const dir of readdirSync(FREEZER).filter((d) => d.startsWith('msw-bench-'))) {
    const pid = Number(dir.split('-')[2]);
    if (pid === process.pid || (existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== '')) continue;
    const cgroup = `${FREEZER}/${dir}`;
    writeFileSync(`${cgroup}/freezer.state`, 'THAWED');
    for (const t of readFileSync(`${cgroup}/tasks`, 'utf8').split('\n').filter(Boolean)) writeFileSync(`${FREEZER}/tasks`, t);
    try {
      rmdirSync(cgroup);
    } catch {
      // its last task is still leaving; the next run removes it
    }
    console.error(`  before/after: thawed ${dir}, left frozen by a run that was killed`);
  }
}

export async function runBeforeAfter(
  baseline: NativeAddon,
  opts: { frameSizes: number[]; pairs: number; sutCpu: number; trafficCpu: number },
): Promise<{ rows: BeforeAfter[]; table: string }> {
  thawLeftovers();
  const rows: BeforeAfter[] = [];
  for (const frameSize of opts.frameSizes) {
    const socks = [`@msw-bench-ba-${process.pid}-${frameSize}-after`, `@msw-bench-ba-${process.pid}-${frameSize}-before`];
    const after = new Build(`after-${frameSize}`, socks[0]!, opts.sutCpu);
    let before: Build | undefined;
    let gen: Testpmd | undefined;
    try {
      before = new Build(`before-${frameSize}`, socks[1]!, opts.sutCpu, baseline);
      // Both run until the handshakes are done and both loops circulate: a frozen worker
      // would hold up the older build's publishes, and the peers' links, for seconds.
      // Now and then DPDK 22.11 fails one socket's memif connects when a testpmd has
      // ports on two sockets ("sendmsg fail: Bad file descriptor"; the switch never sees
      // an INIT), or --tx-first bursts go out before a link is up: nothing circulates on
      // that pair. Start the generator again (as measureLoop does), up to ten times (six
      // were not always enough on this VM at 512 B).
      const circulating = (g: Testpmd): boolean => [0, 1, 2, 3].every((p) => (g.rxPpsSamples(p).at(-1) ?? 0) > 0);
      for (let attempt = 1; ; attempt++) {
        gen = await Testpmd.start({
          vdevs: MACS.map((mac, i) => ({ role: 'client' as const, socket: socks[i >> 1]!, id: i & 1, mac, zeroCopy: true })),
          forwardMode: 'mac',
          txFirst: true,
          ethPeers: [MACS[1]!, MACS[0]!, MACS[3]!, MACS[2]!],
          txPkts: frameSize,
          burst: 64,
          forwardingCpu: opts.trafficCpu,
          mainCpu: opts.sutCpu,
          memory: 'hugepages',
        });
        await gen.waitForSamples(3, 30_000);
        if (circulating(gen) || attempt === 10) break;
        console.error(`  before/after ${frameSize}B: a loop did not start (attempt ${attempt}); restarting the generator`);
        await gen.stop();
      }
      // From here the idle build holds its share of the frames in the rings.
      const g = gen;
      const rate = async (b: Build, ports: number[]): Promise<number> => {
        (b === after ? before! : after).run(false);
        b.run(true);
        await g.waitForSamples(1, 10_000); // the period the swap fell into
        await g.waitForSamples(1, 10_000);
        return ports.reduce((sum, p) => sum + (g.rxPpsSamples(p).at(-1) ?? 0), 0) / 1e6;
      };
      const a: number[] = [];
      const b: number[] = [];
      for (let k = 0; k < opts.pairs; k++) {
        if (k % 2 === 0) a.push(await rate(after, [0, 1])), b.push(await rate(before, [2, 3]));
        else b.push(await rate(before, [2, 3])), a.push(await rate(after, [0, 1]));
      }
      if (median(a) === 0 || median(b) === 0) throw new Error(`before/after ${frameSize}B: a loop did not circulate (after ${fmt(median(a))}, before ${fmt(median(b))} Mpps)`);
      const ratios = a.map((x, k) => x / b[k]!);
      rows.push({ frameSize, pairs: opts.pairs, afterMpps: median(a), beforeMpps: median(b), ratio: median(ratios), ratios });
      console.error(`before/after ${frameSize}B: this build ${fmt(median(a))} Mpps, baseline ${fmt(median(b))} Mpps, median ratio ${fmt(median(ratios), 3)}`);
    } finally {
      await gen?.stop();
      before?.stop();
      after.stop();
    }
  }
  const table = [
    '',
    `this build against the baseline build, swapping every 2 s in one generator run (${opts.pairs} neighbouring pairs per size)`,
    '',
    '| frame | this build Mpps | baseline Mpps | ratio (median of neighbouring pairs) | middle half of the ratios |',
    '| ---: | ---: | ---: | ---: | --- |',
    ...rows.map((r) => {
      const s = [...r.ratios].sort((x, y) => x - y);
      return `| ${r.frameSize} B | ${fmt(r.afterMpps)} | ${fmt(r.beforeMpps)} | **${fmt(r.ratio, 3)}x** | ${fmt(s[Math.floor(s.length / 4)]!, 3)}–${fmt(s[Math.floor((3 * s.length) / 4)]!, 3)} |`;
    }),
  ].join('\n');
  return { rows, table };
}
