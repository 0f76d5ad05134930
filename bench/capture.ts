// What a capture costs the forwarding path (issue 13): one memswitch, one testpmd
// generator looping 64-byte frames through it (mac forwarding, --tx-first), and phases
// of two stats periods each in turn: no capture, a capture whose filter matches nothing,
// and a capture of everything received (its ring drained every 20 ms by this process,
// as memswitchd drains it for a client). A sample is testpmd's rate over the second
// period of a phase; each capture phase is compared with the no-capture phase next to
// it, and the figure is the median of those ratios.
import { Dataplane } from '../orchestrator/src/dataplane/dataplane.js';
import { fmt, median } from './common.js';
import { Testpmd } from './testpmd.js';

const MACS = ['02:00:00:00:0a:01', '02:00:00:00:0b:01'];
const PHASES = ['none', 'matching nothing', 'matching everything'] as const;
type Phase = (typeof PHASES)[number];

export interface CaptureCost {
  phase: Phase;
  mpps: number;
  ratio: number; // against the neighbouring no-capture phase, median
  lost: number; // frames the ring could not keep (matching everything)
}

export async function runCaptureBench(opts: { frameSize: number; cycles: number; sutCpu: number; trafficCpu: number }): Promise<{ rows: CaptureCost[]; table: string }> {
  const sock = `@msw-bench-capture-${process.pid}`;
  const dp = Dataplane.create({ workers: 1, cpus: [opts.sutCpu], poll: 'busy' });
  dp.addNetwork('bench');
  dp.addMemif({ name: 'a', kind: 'memif', network: 'bench', socket: sock, id: 0 });
  dp.addMemif({ name: 'b', kind: 'memif', network: 'bench', socket: sock, id: 1 });
  dp.start();
  let gen: Testpmd | undefined;
  const samples = new Map<Phase, number[]>(PHASES.map((p) => [p, []]));
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
      let id: number | undefined;
      let drain: NodeJS.Timeout | undefined;
      if (phase === 'matching nothing') id = dp.startCapture({ interfaces: ['a'], rx: true, tx: false, filter: 'ether proto 0x1234' });
      if (phase === 'matching everything') {
        const c = dp.startCapture({ interfaces: ['a'], rx: true, tx: false });
        id = c;
        drain = setInterval(() => (lost = dp.readCapture(c, 16 << 20).lost), 20);
      }
      await g.waitForSamples(1, 10_000); // the period the change fell into
      await g.waitForSamples(1, 10_000);
      const mpps = [0, 1].reduce((sum, p) => sum + (g.rxPpsSamples(p).at(-1) ?? 0), 0) / 1e6;
      if (drain) clearInterval(drain);
      if (id !== undefined) dp.stopCapture(id);
      return mpps;
    };
    for (let k = 0; k < opts.cycles; k++) {
      // none, a capture phase, none, the other: every capture phase has a none on each side.
      const order: Phase[] = k % 2 ? ['none', 'matching everything', 'none', 'matching nothing'] : ['none', 'matching nothing', 'none', 'matching everything'];
      for (const phase of order) samples.get(phase)!.push(await rate(phase));
    }
  } finally {
    await gen?.stop();
    dp.stop();
  }
  const none = samples.get('none')!;
  // Phase i of a cycle sits between none[2k] and none[2k+1] (or none[2k+1] and the next cycle's none[2k+2]).
  const ratioOf = (phase: Phase): number => {
    const ratios: number[] = [];
    for (let k = 0; k < opts.cycles; k++) {
      const first = (k % 2 === 0) === (phase === 'matching nothing');
      const x = samples.get(phase)![k]!;
      const neighbours = first ? [none[2 * k]!, none[2 * k + 1]!] : [none[2 * k + 1]!, none[2 * k + 2] ?? none[2 * k + 1]!];
      ratios.push(x / median(neighbours));
    }
    return median(ratios);
  };
  const rows: CaptureCost[] = PHASES.map((phase) => ({ phase, mpps: median(samples.get(phase)!), ratio: phase === 'none' ? 1 : ratioOf(phase), lost: phase === 'matching everything' ? lost : 0 }));
  const table = [
    '',
    `capture cost, ${opts.frameSize} B memif L2 (rx capture on one port), ${opts.cycles} cycles of 2 s phases in one generator run`,
    '',
    '| capture | Mpps (median) | against no capture next to it |',
    '| --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.phase} | ${fmt(r.mpps)} | ${r.phase === 'none' ? '—' : `**${fmt(r.ratio, 3)}x**`} |`),
  ].join('\n');
  return { rows, table };
}
