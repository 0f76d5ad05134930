// memswitch capture against a real memswitchd forwarding real memif traffic: pcapng over
// gRPC into a file and into tshark on a pipe, bad filters, and a client that goes away.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NativeMemifClient } from '../../bench/testing-addon.js';
import { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { Daemon, memifPairConfig, repoRoot } from '../helpers/daemon.js';
import { readCaptureFile } from '../helpers/pcap.js';
import { eventually, mac, runUntil, testing } from '../helpers/switch.js';

const cli = path.join(repoRoot, 'bin/memswitch');
const dir = `/run/msw-capture-test-${process.pid}`;
const sock = `${dir}/memif.sock`;

let daemon: Daemon | undefined;
const peers: NativeMemifClient[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await daemon?.stop('SIGKILL');
  daemon = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function forwarding(): Promise<{ a: NativeMemifClient; b: NativeMemifClient }> {
  mkdirSync(dir, { recursive: true });
  daemon = await Daemon.start(memifPairConfig(sock));
  const a = new testing.MemifClient({ socket: sock, id: 0, hugepages: false });
  const b = new testing.MemifClient({ socket: sock, id: 1, hugepages: false });
  peers.push(a, b);
  await daemon.waitFor((l) => l.msg === 'peer connected' && l.interface === 'm1');
  return { a, b };
}

async function send(a: NativeMemifClient, b: NativeMemifClient, count: number): Promise<void> {
  const eng = new testing.TrafficEngine();
  eng.addGenerator(a, { src: mac(1), dst: mac(2), ip4Src: '10.9.0.1', ip4Dst: '10.9.0.2', count, pps: 50_000, frameSize: 128 });
  const sink = eng.addSink(b);
  await runUntil(eng, [sink], count);
}

const captures = async (): Promise<number> => {
  const c = new MemswitchClient(daemon!.apiSocket);
  try {
    return (await c.getDaemonInfo()).captures;
  } finally {
    c.close();
  }
};

describe('memswitch capture', () => {
  it('writes -w file.pcapng and streams -w - into tshark -r -, ending at -c', async () => {
    const { a, b } = await forwarding();
    const file = `${dir}/m1.pcapng`;
    const toFile = spawn(cli, ['--api', daemon!.apiSocket, 'capture', '-i', 'm1', '--tx', '-f', 'udp', '-c', '200', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const piped = spawn('sh', ['-c', `${cli} --api ${daemon!.apiSocket} capture -i m0 -c 150 -w - | tshark -r - -T fields -e ip.dst -e frame.len`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tsharkOut = '';
    piped.stdout.on('data', (d: Buffer) => (tsharkOut += d.toString()));
    let summary = '';
    toFile.stderr.on('data', (d: Buffer) => (summary += d.toString()));
    await eventually(async () => (await captures()) === 2, 10_000, 'both captures running');
    await send(a, b, 300);
    const exited = (p: ReturnType<typeof spawn>): Promise<number | null> => new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', r)));
    expect(await exited(toFile)).toBe(0);
    expect(await exited(piped)).toBe(0);
    expect(summary).toMatch(/^200 frames captured, 0 lost/);
    const frames = readCaptureFile(file);
    expect(frames).toHaveLength(200);
    expect(frames.every((f) => f.data.length === 128 && f.direction === 2)).toBe(true);
    const tshark = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_name'], { encoding: 'utf8' });
    expect(new Set(tshark.stdout.trim().split('\n'))).toEqual(new Set(['m1']));
    const lines = tsharkOut.trim().split('\n');
    expect(lines).toHaveLength(150);
    expect(new Set(lines)).toEqual(new Set(['10.9.0.2\t128']));
    await eventually(async () => (await captures()) === 0, 5000, 'captures gone after -c');
  });

  it('answers a bad filter with INVALID_ARGUMENT and libpcap\'s message, an unknown interface with NOT_FOUND', async () => {
    await forwarding();
    const bad = spawnSync(cli, ['--api', daemon!.apiSocket, 'capture', '-f', 'tcp port', '-w', '/dev/null'], { encoding: 'utf8', timeout: 20_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/INVALID_ARGUMENT.*syntax error/);
    const unknown = spawnSync(cli, ['--api', daemon!.apiSocket, 'capture', '-i', 'nope', '-w', '/dev/null'], { encoding: 'utf8', timeout: 20_000 });
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/NOT_FOUND.*nope/);
    expect(await captures()).toBe(0);
  });

  it('a client that goes away ends its capture and frees its rings', async () => {
    const { a, b } = await forwarding();
    const c = new MemswitchClient(daemon!.apiSocket);
    try {
      const stream = c.capture({ interfaces: ['m0'], rx: true });
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next(); // the section header
      expect(first.value.pcapng.readUInt32LE(0)).toBe(0x0a0d0d0a);
      expect(await captures()).toBe(1);
      stream.cancel();
      await eventually(async () => (await captures()) === 0, 5000, 'capture ended on cancel');
      // Forwarding never noticed.
      await send(a, b, 100);
    } finally {
      c.close();
    }
    // A killed CLI ends its capture as well.
    const cliCapture = spawn(cli, ['--api', daemon!.apiSocket, 'capture', '-w', '/dev/null'], { stdio: 'ignore' });
    await eventually(async () => (await captures()) === 1, 10_000, 'CLI capture running');
    cliCapture.kill('SIGKILL');
    await eventually(async () => (await captures()) === 0, 5000, 'capture ended when its client died');
  });
});
