// memswitch show runtime: where each worker's time goes, node by node (rx, the pipeline
// stages in order, tx), like VPP's `show runtime`. Totals since the daemon started, or
// with --interval what happened between two snapshots that many seconds apart: on a
// live node the totals are dominated by whatever ran before.
import type { Command } from 'commander';
import type { StatsSnapshot } from '../sdk/index.js';
import { parseIntArg, table, type Cli } from './common.js';

/** One row of `show runtime --json`. */
export interface RuntimeRow {
  worker: number;
  node: string;
  calls: number;
  vectors: number;
  vectorsPerCall: number;
  cyclesPerPacket: number;
  nsPerPacket: number;
}

const round1 = (v: number): number => Math.round(v * 10) / 10;

/** Rows of `now`, less what `before` had already counted. */
function runtimeRows(now: StatsSnapshot, before?: StatsSnapshot): RuntimeRow[] {
  return now.workers.flatMap((w) => {
    const earlier = before?.workers.find((b) => b.index === w.index)?.runtime;
    return w.runtime.map((n) => {
      const e = earlier?.find((x) => x.node === n.node);
      const calls = n.calls - (e?.calls ?? 0);
      const vectors = n.vectors - (e?.vectors ?? 0);
      const sampledVectors = n.sampledVectors - (e?.sampledVectors ?? 0);
      const cycles = sampledVectors > 0 ? (n.sampledCycles - (e?.sampledCycles ?? 0)) / sampledVectors : 0;
      return {
        worker: w.index,
        node: n.node,
        calls,
        vectors,
        vectorsPerCall: round1(calls > 0 ? vectors / calls : 0),
        cyclesPerPacket: round1(cycles),
        nsPerPacket: round1(now.tscHz > 0 ? (cycles / now.tscHz) * 1e9 : 0),
      };
    });
  });
}

export function addRuntimeCommand(show: Command, { run, emit, api }: Cli): void {
  show
    .command('runtime')
    .description('per worker and node (rx, each pipeline stage, tx): bursts, frames, vectors per call, cycles and ns per frame')
    .option('--interval <seconds>', 'what happened over this many seconds, instead of totals since start', parseIntArg('--interval', 1, 3600))
    .action(
      run(async (g, o: { interval?: number }) => {
        const first = (await api(g).getStats()).snapshot;
        let rows = runtimeRows(first);
        if (o.interval) {
          await new Promise((r) => setTimeout(r, o.interval! * 1000));
          rows = runtimeRows((await api(g).getStats()).snapshot, first);
        }
        emit(g, rows, () =>
          table(
            ['WORKER', 'NODE', 'CALLS', 'VECTORS', 'VECTORS/CALL', 'CYCLES/PKT', 'NS/PKT'],
            rows.map((r) => [r.worker, r.node, r.calls, r.vectors, r.vectorsPerCall, r.cyclesPerPacket, r.nsPerPacket]),
          ),
        );
      }),
    );
}
