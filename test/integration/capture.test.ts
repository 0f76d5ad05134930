// Capture on the real addon: frames from memif clients through the workers' rings into
// pcapng that tshark and tcpdump read.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readCaptureFile } from '../helpers/pcap.js';
import { TestSwitch, abstractSocket, eventually, mac, runUntil } from '../helpers/switch.js';

let sw: TestSwitch | undefined;
let dir = '';
beforeAll(() => {
  for (const tool of ['tshark', 'tcpdump'])
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is missing: scripts/setup.sh installs it (Debian package ${tool})`);
    }
});
afterEach(() => {
  sw?.close();
  sw = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function twoPorts(tag: string) {
  sw = new TestSwitch();
  dir = mkdtempSync(join(tmpdir(), 'msw-capture-'));
  const sock = abstractSocket(tag);
  sw.memif('a', sock, 0);
  sw.memif('b', sock, 1);
  return { a: sw.client({ socket: sock, id: 0 }), b: sw.client({ socket: sock, id: 1 }) };
}

// Everything the capture holds, as one pcapng file.
function drainTo(id: number, file: string): { kept: number; lost: number } {
  const parts: Buffer[] = [];
  let last = { kept: 0, lost: 0 };
  for (;;) {
    const chunk = sw!.dp.readCapture(id, 1 << 20);
    parts.push(chunk.data);
    last = chunk;
    if (chunk.frames === 0) break;
  }
  writeFileSync(file, Buffer.concat(parts));
  return last;
}

describe('packet capture', () => {
  it('records received and sent frames byte for byte, and tshark reads the file', async () => {
    const { a, b } = twoPorts('cap-bytes');
    const rx = sw!.dp.startCapture({ interfaces: ['a'], rx: true, tx: false });
    const tx = sw!.dp.startCapture({ interfaces: ['b'], rx: false, tx: true });
    const eng = sw!.engine();
    eng.addGenerator(a, { src: mac(1), dst: 'ff:ff:ff:ff:ff:ff', frameSize: 200, count: 300, pps: 100_000 });
    const sink = eng.addSink(b);
    await runUntil(eng, [sink], 300);
    const rxFile = join(dir, 'rx.pcapng');
    const txFile = join(dir, 'tx.pcapng');
    expect(drainTo(rx, rxFile)).toMatchObject({ kept: 300, lost: 0 });
    expect(drainTo(tx, txFile)).toMatchObject({ kept: 300, lost: 0 });

    const sent = readCaptureFile(rxFile);
    expect(sent).toHaveLength(300);
    sent.forEach((f, seq) => {
      // The generator's frame: broadcast from mac(1), its ethertype, magic and sequence.
      expect(f.data.length).toBe(200);
      expect(f.data.subarray(0, 12).toString('hex')).toBe('ffffffffffff' + mac(1).replaceAll(':', ''));
      expect(f.data.readUInt16BE(12)).toBe(0x88b5);
      expect(f.data.readUInt32LE(14)).toBe(0x4d535754); // the magic, "MSWT"
      expect(Number(f.data.readBigUInt64LE(22))).toBe(seq);
      expect(f.direction).toBe(1);
    });
    const received = readCaptureFile(txFile);
    expect(received.map((f) => f.data.toString('hex'))).toEqual(sent.map((f) => f.data.toString('hex')));
    expect(received.every((f) => f.direction === 2)).toBe(true);

    const fields = execFileSync('tshark', ['-r', txFile, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'eth.src', '-e', 'frame.len'], { encoding: 'utf8' });
    const lines = fields.trim().split('\n');
    expect(lines).toHaveLength(300);
    expect(new Set(lines)).toEqual(new Set([`b\t${mac(1)}\t200`]));
    // The stream form: tshark reading pcapng on stdin.
    const count = execFileSync('sh', ['-c', `cat ${rxFile} | tshark -r - -T fields -e frame.number | wc -l`], { encoding: 'utf8' });
    expect(count.trim()).toBe('300');
  });

  it('selects what tcpdump selects from an unfiltered capture, several captures at once', async () => {
    const { a, b } = twoPorts('cap-filter');
    const filter = 'udp and (dst host 10.0.0.3 or dst port 1000)';
    const all = sw!.dp.startCapture({});
    const some = sw!.dp.startCapture({ filter });
    const eng = sw!.engine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), ip4Src: '10.0.1.1', ip4Dst: '10.0.0.1', dstCount: 8, count: 800, pps: 100_000 });
    const sink = eng.addSink(b);
    await runUntil(eng, [sink], 800);
    const allFile = join(dir, 'all.pcapng');
    const someFile = join(dir, 'some.pcapng');
    const tcpdumpFile = join(dir, 'tcpdump.pcap');
    drainTo(all, allFile);
    drainTo(some, someFile);
    execFileSync('tcpdump', ['-r', allFile, '-w', tcpdumpFile, filter], { stdio: 'ignore' });
    const ours = readCaptureFile(someFile).map((f) => f.data.toString('hex'));
    const theirs = readCaptureFile(tcpdumpFile).map((f) => f.data.toString('hex'));
    expect(readCaptureFile(allFile)).toHaveLength(1600); // each frame twice: rx on a, tx on b
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.length).toBeLessThan(1600);
    expect(ours.sort()).toEqual(theirs.sort());
  });

  it('records dropped frames with their reason', async () => {
    sw = new TestSwitch();
    dir = mkdtempSync(join(tmpdir(), 'msw-capture-'));
    const sock = abstractSocket('cap-drop');
    sw.memif('alone', sock, 0);
    const c = sw.client({ socket: sock, id: 0 });
    const id = sw.dp.startCapture({ interfaces: ['alone'], rx: false, tx: false, drops: true });
    const eng = sw.engine();
    eng.addGenerator(c, { src: mac(1), dst: 'ff:ff:ff:ff:ff:ff', count: 50, pps: 50_000 });
    await runUntil(eng, [], 0);
    await eventually(() => sw!.dp.interface('alone').drops.no_destination === 50, 5000, '50 flooded frames dropped');
    const file = join(dir, 'drops.pcapng');
    drainTo(id, file);
    const frames = readCaptureFile(file);
    expect(frames).toHaveLength(50);
    expect(new Set(frames.map((f) => f.comment))).toEqual(new Set(['drop: no_destination']));
    const comments = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.comment'], { encoding: 'utf8' }).trim().split('\n');
    expect(new Set(comments)).toEqual(new Set(['drop: no_destination']));
  });

  it('records frames dropped at transmit (the destination ring was full) with the reason', async () => {
    const { a } = twoPorts('cap-full-peer');
    const id = sw!.dp.startCapture({ interfaces: ['b'], rx: false, tx: false, drops: true });
    const eng = sw!.engine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), count: 3000, pps: 200_000 }); // b never reads its ring
    await runUntil(eng, [], 0);
    const dropped = sw!.dp.interface('b').drops.no_buffer;
    expect(dropped).toBeGreaterThan(0);
    const file = join(dir, 'tx-drops.pcapng');
    drainTo(id, file);
    const frames = readCaptureFile(file);
    expect(frames).toHaveLength(dropped);
    expect(new Set(frames.map((f) => f.comment))).toEqual(new Set(['drop: no_buffer']));
    expect(frames.every((f) => f.direction === 2 && f.data.readUInt16BE(12) === 0x88b5)).toBe(true);
  });

  it('a full ring loses frames and counts them; forwarding and the capture go on', async () => {
    const { a, b } = twoPorts('cap-full');
    const id = sw!.dp.startCapture({ interfaces: ['a'], tx: false, ringBytes: 65536 });
    const eng = sw!.engine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), count: 500_000, bare: true });
    eng.addSink(b);
    await runUntil(eng, [], 0, 30_000); // the generator's frames are all sent (some may be dropped at b)
    const first = sw!.dp.readCapture(id, 64 << 20);
    const received = sw!.dp.interface('a').rxPackets;
    expect(first.lost).toBeGreaterThan(0);
    expect(first.kept + first.lost).toBe(received);
    expect(first.frames).toBe(first.kept);
    // Still capturing: the next frames are kept again.
    const more = sw!.engine();
    more.addGenerator(a, { src: mac(1), dst: mac(2), count: 100, pps: 50_000 });
    const s2 = more.addSink(b);
    await runUntil(more, [s2], 100);
    const second = sw!.dp.readCapture(id, 64 << 20);
    expect(second.frames).toBe(100);
    expect(second.lost).toBe(first.lost);
  });

  it('rejects a bad filter with libpcap\'s message and an unknown interface by name', () => {
    twoPorts('cap-bad');
    expect(() => sw!.dp.startCapture({ filter: 'udp port' })).toThrow(/syntax error/);
    expect(() => sw!.dp.startCapture({ interfaces: ['nope'] })).toThrow(/no interface nope/);
    expect(() => sw!.dp.startCapture({ ringBytes: 10 })).toThrow(/ring size/);
    const id = sw!.dp.startCapture({});
    sw!.dp.stopCapture(id);
    expect(() => sw!.dp.readCapture(id, 1000)).toThrow(/no capture/);
  });
});
