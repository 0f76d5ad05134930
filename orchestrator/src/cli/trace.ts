// memswitch trace: the next N frames a filter selects where they enter, each followed
// through the worker's nodes (rx, the pipeline stages that have it, tx) with what every
// node decided, like VPP's `trace add` + `show trace`, printed as packets complete.
// --json: one JSON object per packet and line (bytes in hex).
import type { Command } from 'commander';
import type { TracedPacket } from '../domain/trace.js';
import { parseIntArg, type Cli } from './common.js';

function startTime(unixNano: string): string {
  const ns = BigInt(unixNano);
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

/** A packet as text: a heading, then a line per step; the frame's summary as it came and left, and wherever a step changed it. */
export function formatPacket(p: TracedPacket): string {
  const lines = [`Packet ${p.number}: worker ${p.worker}, ${startTime(p.startTimeUnixNano)}, in on ${p.interface}`];
  const lastBytes = new Map<number, string>(); // by frame
  const width = Math.max(...p.steps.map((s) => s.node.length + (s.frame ? 4 + String(s.frame).length : 0)));
  for (const s of p.steps) {
    const node = s.frame ? `${s.node} [${s.frame}]` : s.node;
    lines.push(`  ${`+${Math.round(s.elapsedNs)}ns`.padStart(10)}  ${node.padEnd(width)}  ${s.decision}`);
    const hex = s.bytes.toString('hex');
    if (hex !== lastBytes.get(s.frame) || s.node === 'tx') lines.push(`  ${''.padStart(10)}  ${''.padEnd(width)}    ${s.summary}`);
    lastBytes.set(s.frame, hex);
  }
  return `${lines.join('\n')}\n`;
}

export function addTraceCommand(program: Command, { run, api }: Cli): void {
  program
    .command('trace')
    .description('follow the next frames a filter selects through the switch, node by node, with what each node decided')
    .option('-i, --interface <name...>', 'where frames enter (default: every interface)')
    .option('-p, --pod <namespace/name>', "a pod's attachments (with or instead of -i)")
    .option('-f, --filter <expression>', 'pcap-filter(7) expression, as tcpdump takes it', '')
    .option('-n, --packets <n>', 'packets to follow', parseIntArg('--packets', 1, 100_000), 10)
    .action(
      run(async (g, o: { interface?: string[]; pod?: string; filter: string; packets: number }) => {
        const stream = api(g).trace({ interfaces: o.interface ?? [], pod: o.pod ?? '', filter: o.filter, packets: o.packets });
        const stop = (): void => stream.cancel();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        let packets = 0;
        let lost = 0;
        try {
          for await (const r of stream) {
            packets++;
            lost = r.stepsLost;
            const p = r.packet;
            process.stdout.write(g.json ? `${JSON.stringify({ ...p, steps: p.steps.map((s) => ({ ...s, bytes: s.bytes.toString('hex') })) })}\n` : `${formatPacket(p)}\n`);
          }
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
        process.stderr.write(`${packets} packets traced${lost ? `, ${lost} steps lost to a full ring` : ''}\n`);
      }),
    );
}
