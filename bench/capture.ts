// What watching costs the forwarding path (issue 13): one memswitch, one testpmd
// generator looping 64-byte frames through it (mac forwarding, --tx-first), and phases
// of two stats periods each in turn: no capture, a capture whose filter matches nothing,
// a capture of everything received (its ring drained every 20 ms by this process, as
// memswitchd drains it for a client), a trace of 1000 packets (read every 20 ms until it
// has taken them, then stopped), and a trace waiting for a packet its filter never
// matches. A sample is testpmd's rate over the second period of a phase; each watching
// phase is compared with the no-capture phases on either side of it, and the figure is
// the median of those ratios.
import { Dataplane } from '../orchestrator/src/dataplane/dataplane.js';
import { fmt, median } from './common.js';
import { Testpmd } from './testpmd.js';

const MACS = ['02:00:00:00:0a:01', '02:00:00:00:0b:01'];
const PHASES = ['none', 'capture matching nothing', 'capture of everything', 'trace of 1000 packets', 'trace matching nothing'] as const;
type Phase = (typeof PHASES)[number];
const NOTHING = 'ether proto 0x1234';

export interface CaptureCost {
  phase: Phase;
  mpps: number;
  ratio: number; // against the neighbouring no-capture phases, median
  lost: number; // frames the ring could not keep (capture of everything)
}

// Starts what a phase watches with; returns what ends it.
function watch(dp: Dataplane, phase: Phase, onLost: (n: number) => void): () => void {
  switch (phase) {
    case 'none':
      return () => {};
    case 'capture matching nothing': {
      const id = dp.startCapture({ interfaces: ['a'], rx: true, tx: false, filter: NOTHING });
      return () => dp.stopCapture(id);
    }
    case 'capture of everything': {
      const id = dp.startCapture({ interfaces: ['a'], rx: true, tx: false });
      const drain = setInterval(() => onLost(dp.readCapture(id, 16 << 20).lost), 20);
      return () => {
        clearInterval(drain);
        dp.stopCapture(id);
      };
    }
    case 'trace of 1000 packets': {
      const id = dp.startTrace({ interfaces: ['a'], filter: '', packets: 1000 });
      let running = true;
      const drain = setInterval(() => {
        if (dp.readTrace(id, 1 << 16).taken < 1000) return;
        clearInterval(drain);
        dp.stopTrace(id);
        running = false;
      }, 20);
      return () => {
        clearInterval(drain);
        if (running) dp.stopTrace(id);
      };
    }
    case 'trace matching nothing': {
      const id = dp.startTrace({ interfaces: ['a'], filter: NOTHING, packets: 1000 });
      return () => dp.stopTrace(id);
    }
  }
}

export async function runCaptureBench(opts: { frameSize: number; cycles: number; sutCpu: number; trafficCpu: number }): Promise<{ rows: CaptureCost[]; table: string }> {
  const sock = `@msw-bench-capture-${process.pid}`;
  const dp = Dataplane.create({ workers: 1, cpus: [opts.sutCpu], poll: 'busy' });
  dp.addNetwork('bench');
  dp.addMemif({ name: 'a', kind: 'memif', network: 'bench', socket: sock, id: 0 });
  dp.addMemif({ name: 'b', kind: 'memif', network: 'bench', socket: sock, id: 1 });
  dp.start();
  let gen: Testpmd | undefined;
  const sequence: { phase: Phase; mpps: number }[] = [];
  let lost = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      gen = await Testpmd.start({
        vdevs: MACS.map((mac, id) => ({ role: 'client' as const, socket: sock, id, mac, zeroCopy: true })),
        forwardMode: 'mac',
        txFirst: true,
        ethPeers: [MACS[1]!, MACS[0]!],
        txPkts: opts.frameSize,
        burst: 64,
        forwardingCpu: opts.trafficCpu,
        mainCpu: opts.sutCpu,
        memory: 'hugepages',
      });
      await gen.waitForSamples(3, 30_000);
      if ([0, 1].every((p) => (gen!.rxPpsSamples(p).at(-1) ?? 0) > 0) || attempt === 5) break;
      console.error(`  capture cost: the loop did not start (attempt ${attempt}); restarting the generator`);
      await gen.stop();
    }
    const g = gen!;
    const rate = async (phase: Phase): Promise<number> => {
      const stop = watch(dp, phase, (n) => (lost = n));
      await g.waitForSamples(1, 10_000); // the period the change fell into
      await g.waitForSamples(1, 10_000);
      const mpps = [0, 1].reduce((sum, p) => sum + (g.rxPpsSamples(p).at(-1) ?? 0), 0) / 1e6;
      stop();
      return mpps;
    };
    // none, a watching phase, none, the next...: every watching phase has a none on each
    // side; the order turns by one each cycle.
    const watching = PHASES.filter((p) => p !== 'none');
    sequence.push({ phase: 'none', mpps: await rate('none') });
    for (let k = 0; k < opts.cycles; k++)
      for (let i = 0; i < watching.length; i++) {
        const phase = watching[(i + k) % watching.length]!;
        sequence.push({ phase, mpps: await rate(phase) });
        sequence.push({ phase: 'none', mpps: await rate('none') });
      }
  } finally {
    await gen?.stop();
    dp.stop();
  }
  const ratioOf = (phase: Phase): number =>
    median(sequence.flatMap((x, i) => (x.phase === phase ? [x.mpps / median([sequence[i - 1]!.mpps, sequence[i + 1]!.mpps])] : [])));
  const mppsOf = (phase: Phase): number => median(sequence.filter((x) => x.phase === phase).map((x) => x.mpps));
  const rows: CaptureCost[] = PHASES.map((phase) => ({ phase, mpps: mppsOf(phase), ratio: phase === 'none' ? 1 : ratioOf(phase), lost: phase === 'capture of everything' ? lost : 0 }));
  const table = [
    '',
    `capture and trace cost, ${opts.frameSize} B memif L2 (watching rx of one port), ${opts.cycles} cycles of 2 s phases in one generator run`,
    '',
    '| watching | Mpps (median) | against none next to it |',
    '| --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.phase} | ${fmt(r.mpps)} | ${r.phase === 'none' ? '—' : `**${fmt(r.ratio, 3)}x**`} |`),
  ].join('\n');
  return { rows, table };
}
