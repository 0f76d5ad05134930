// memswitch capture: frames of some interfaces, as the workers see them, written as
// pcapng to a file or to stdout (`-w - | tshark -r -`), like tcpdump -i ... -w.
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { parseIntArg, type Cli } from './common.js';

export function addCaptureCommand(program: Command, { run, api }: Cli): void {
  program
    .command('capture')
    .description('capture frames to pcapng (received and sent by default; --drops adds dropped frames with their reason)')
    .option('-i, --interface <name...>', 'interfaces to capture on (default: every interface)')
    .option('-p, --pod <namespace/name>', "a pod's attachments (with or instead of -i)")
    .option('-f, --filter <expression>', 'pcap-filter(7) expression, as tcpdump takes it', '')
    .option('-w, --write <file>', 'pcapng file to write, - for stdout', '-')
    .option('-c, --count <n>', 'stop after n frames', parseIntArg('--count', 1, 1e12))
    .option('-s, --snaplen <bytes>', 'bytes kept per frame', parseIntArg('--snaplen', 1, 65535))
    .option('--rx', 'frames received on the interfaces')
    .option('--tx', 'frames sent on the interfaces')
    .option('--drops', 'frames dropped there (the reason is the packet comment)')
    .option('--ring <bytes>', 'capture ring per worker (a full ring loses frames, counted)', parseIntArg('--ring', 65536, 1 << 30))
    .action(
      run(async (g, o: { interface?: string[]; pod?: string; filter: string; write: string; count?: number; snaplen?: number; rx?: boolean; tx?: boolean; drops?: boolean; ring?: number }) => {
        const none = !o.rx && !o.tx && !o.drops;
        const stream = api(g).capture({
          interfaces: o.interface ?? [],
          pod: o.pod ?? '',
          rx: none || !!o.rx,
          tx: none || !!o.tx,
          drops: !!o.drops,
          filter: o.filter,
          snaplen: o.snaplen ?? 0,
          ringBytes: o.ring ?? 0,
          maxFrames: o.count ?? 0,
        });
        const file = o.write === '-' ? undefined : createWriteStream(o.write);
        const sink: Writable = file ?? process.stdout;
        const stop = (): void => stream.cancel();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        let last = { frames: 0, kept: 0, lost: 0 };
        try {
          for await (const c of stream) {
            if (c.pcapng.length > 0 && !sink.write(c.pcapng)) await new Promise<void>((r) => sink.once('drain', () => r()));
            last = { frames: last.frames + c.frames, kept: c.kept, lost: c.lost };
          }
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          if (file) await new Promise<void>((r) => file.end(() => r()));
        }
        // Like tcpdump's summary, on stderr so that stdout stays pcapng.
        process.stderr.write(`${last.frames} frames captured, ${last.lost} lost to a full ring\n`);
      }),
    );
}
