// bin/memswitch against a running memswitchd: every command, its --json parsed, and
// the table output people read.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeMemifClient } from '../../bench/testing-addon.js';
import { Daemon, memifPairConfig, repoRoot } from '../helpers/daemon.js';
import { mac, runUntil, testing } from '../helpers/switch.js';

const cli = path.join(repoRoot, 'bin/memswitch');
const dir = `/run/msw-cli-test-${process.pid}`;
const sock = `${dir}/memif.sock`;
const config = memifPairConfig(sock);

let daemon: Daemon;
const peers: NativeMemifClient[] = [];

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cli, ['--api', daemon.apiSocket, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function json<T = unknown>(...args: string[]): T {
  const r = run('--json', ...args);
  expect(r.stderr, args.join(' ')).toBe('');
  expect(r.status, args.join(' ')).toBe(0);
  return JSON.parse(r.stdout) as T;
}

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  daemon = await Daemon.start(config);
  // Real frames, so counters, the MAC table and busy polls have something to show.
  const a = new testing.MemifClient({ socket: sock, id: 0, hugepages: false });
  const b = new testing.MemifClient({ socket: sock, id: 1, hugepages: false });
  peers.push(a, b);
  await daemon.waitFor((l) => l.msg === 'peer connected' && l.interface === 'm1');
  const eng = new testing.TrafficEngine();
  eng.addGenerator(a, { src: mac(1), dst: mac(2), count: 1000, pps: 100_000 });
  const sink = eng.addSink(b);
  await runUntil(eng, [sink], 1000);
});
afterAll(async () => {
  for (const p of peers) p.close();
  await daemon?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('memswitch CLI', () => {
  it('creates, shows and deletes networks, interfaces and static MACs', () => {
    expect(json('create', 'network', 'red')).toMatchObject({ created: true, network: { name: 'red' } });
    expect(json('create', 'network', 'red')).toMatchObject({ created: false });
    expect(json('create', 'interface', 'r0', '--network', 'red', '--socket', sock, '--id', '7', '--vlan', '30', '--secret', 'pw')).toMatchObject({
      created: true,
      interface: { spec: { name: 'r0', vlan: 30, memif: { id: 7, secretSet: true } }, adminState: 'ADMIN_STATE_UP' },
    });
    expect(json('create', 'mac', '02:dd:00:00:00:01', '--network', 'red', '--interface', 'r0')).toMatchObject({ created: true, entry: { vlan: 30 } });

    const networks = json<{ name: string; interfaceCount: number }[]>('show', 'networks');
    expect(networks.map((n) => [n.name, n.interfaceCount])).toEqual([['blue', 2], ['red', 1]]);
    const itfs = json<{ spec: { name: string }; state: { connected: boolean } }[]>('show', 'interfaces');
    expect(itfs.map((i) => [i.spec.name, i.state.connected])).toEqual([['m0', true], ['m1', true], ['r0', false]]);
    expect(json<{ spec: { name: string } }[]>('show', 'interfaces', '--network', 'red').map((i) => i.spec.name)).toEqual(['r0']);
    expect(json('show', 'interfaces', 'r0')).toMatchObject({ spec: { name: 'r0' } });

    const fib = json<{ mac: string; interface: string; static: boolean }[]>('show', 'fib');
    expect(fib).toContainEqual(expect.objectContaining({ mac: mac(1), interface: 'm0', static: false }));
    expect(fib).toContainEqual(expect.objectContaining({ mac: '02:dd:00:00:00:01', interface: 'r0', static: true }));
    expect(json('flush', 'fib', 'blue')).toMatchObject({ flushed: 1 });
    expect(json('show', 'fib', '--network', 'blue')).toEqual([]);

    expect(json('set', 'interface', 'r0', 'down')).toMatchObject({ adminState: 'ADMIN_STATE_DOWN' });
    expect(json('set', 'interface', 'r0', 'up')).toMatchObject({ adminState: 'ADMIN_STATE_UP' });

    expect(json('delete', 'mac', '02:dd:00:00:00:01', '--network', 'red', '--vlan', '30')).toEqual({ deleted: '02:dd:00:00:00:01' });
    expect(json('delete', 'interface', 'r0')).toEqual({ deleted: 'r0' });
    expect(json('delete', 'network', 'red')).toEqual({ deleted: 'red' });
    expect(json<unknown[]>('show', 'networks')).toHaveLength(1);
  });

  it('shows stats, errors, workers and the daemon', () => {
    const stats = json<{ interfaces: { interface: string; rxPackets: number; txPackets: number }[] }>('show', 'stats');
    expect(stats.interfaces.find((i) => i.interface === 'm0')?.rxPackets).toBe(1000);
    expect(stats.interfaces.find((i) => i.interface === 'm1')?.txPackets).toBe(1000);
    const errors = json<{ interface: string; drops: Record<string, number> }[]>('show', 'errors');
    expect(errors.find((e) => e.interface === 'm0')?.drops).toHaveProperty('no_destination', 0);
    const workers = json<{ index: number; polls: number; busyPolls: number; busyRatio: number }[]>('show', 'workers');
    expect(workers).toHaveLength(1);
    expect(workers[0]!.busyPolls).toBeGreaterThan(0);
    expect(workers[0]!.busyRatio).toBeGreaterThan(0);
    expect(json('show', 'daemon')).toMatchObject({ apiSocket: daemon.apiSocket, networks: 1, interfaces: 2 });
  });

  it('prints tables without --json', () => {
    const r = run('show', 'interfaces');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+KIND\s+NETWORK\s+VLAN\s+ADMIN\s+LINK/);
    expect(lines[1]).toMatch(/^m0\s+memif\s+blue\s+-\s+up\s+connected/);
    expect(run('show', 'stats').stdout).toMatch(/^m0\s+1000\s/m);
  });

  it('watches stats and events as JSON lines', async () => {
    const stats = run('--json', 'watch', 'stats', '--interval', '100', '--count', '2');
    expect(stats.status).toBe(0);
    const snaps = stats.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { timeUnixMs: number });
    expect(snaps).toHaveLength(2);
    expect(snaps[1]!.timeUnixMs).toBeGreaterThan(snaps[0]!.timeUnixMs);

    const watcher = spawn(cli, ['--api', daemon.apiSocket, '--json', 'watch', 'events', '--count', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    watcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => watcher.on('exit', resolve));
    try {
      // Create until the watcher has seen two events (it may need a moment to subscribe).
      for (let i = 0; i < 100 && watcher.exitCode === null; i++) {
        run('create', 'network', `w${i}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await exited).toBe(0);
    } finally {
      watcher.kill('SIGKILL');
    }
    const events = out.trimEnd().split('\n').map((l) => JSON.parse(l) as { kind: string; network: string });
    expect(events).toHaveLength(2);
    expect(events.every((e) => e.kind === 'EVENT_KIND_NETWORK_CREATED' && /^w\d+$/.test(e.network))).toBe(true);
  });

  it('doctor checks the node against what the kernel says, and fails when memswitchd is down', () => {
    type Check = { name: string; verdict: string; detail: string; fix?: string };
    const doctor = () => Object.fromEntries(json<Check[]>('doctor', '--cni-dir', `${dir}/no-cni`).map((c) => [c.name, c]));
    const by = doctor();
    expect(Object.keys(by)).toEqual(['kernel', 'hugepages', 'bpffs', 'capabilities', 'memlock', 'run directory', 'memswitchd', 'CNI plugin']);
    const nrFile = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';
    const nr = readFileSync(nrFile, 'utf8').trim();
    expect(by.hugepages!.detail).toContain(`${nr} reserved`);
    const bpf = readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => / \/sys\/fs\/bpf bpf /.test(l));
    expect(by.bpffs!.verdict).toBe(bpf ? 'ok' : 'warn');
    expect(by.capabilities!.verdict).toBe('ok'); // tests run as root
    expect(by.memswitchd).toMatchObject({ verdict: 'ok', detail: expect.stringMatching(/^\d+\.\d+\.\d+ on .*: \d+ interfaces, 1 workers/) });
    expect(by['CNI plugin']).toMatchObject({ verdict: 'warn', fix: expect.stringContaining('memswitch install-cni') });

    // No hugepages reserved: a warning that says how to reserve them.
    writeFileSync(nrFile, '0');
    try {
      expect(doctor().hugepages).toMatchObject({ verdict: 'warn', detail: expect.stringContaining('0 reserved'), fix: expect.stringContaining('/proc/sys/vm/nr_hugepages') });
    } finally {
      writeFileSync(nrFile, nr);
    }
    expect(run('doctor').stdout).toMatch(/^CHECK +RESULT +DETAIL\n/);
    const down = spawnSync(cli, ['--api', `${dir}/absent.sock`, 'doctor'], { encoding: 'utf8' });
    expect(down.status).toBe(1);
    expect(down.stdout).toMatch(/memswitchd +fail +not answering on .*absent\.sock/);
  });

  it('reports errors on stderr with the status and a non-zero exit', () => {
    const missing = run('delete', 'network', 'nope');
    expect(missing).toMatchObject({ status: 1, stdout: '' });
    expect(missing.stderr).toBe('memswitch: NOT_FOUND: no network nope\n');
    const bad = run('create', 'interface', 'x', '--network', 'blue', '--mac', 'not-a-mac');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^memswitch: INVALID_ARGUMENT: mac: must be a MAC address/);
    expect(run('create', 'interface', 'x', '--network', 'blue', '--vlan', '5000').stderr).toMatch(/--vlan must be an integer 1-4094/);
    const down = spawnSync(cli, ['--api', `${dir}/absent.sock`, 'show', 'networks'], { encoding: 'utf8' });
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/^memswitch: cannot reach memswitchd at .*absent\.sock/);
  });
});
