// A worker that stops making progress, for real: the cgroup v1 freezer freezes just that
// thread of memswitchd. The daemon notices within seconds (daemon info, the stalled
// gauge, an event, CNI STATUS 51 for a network with containers) and notices again when
// the thread thaws. Meanwhile the API answers as quickly as ever.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { CniEnv } from '../helpers/cni.js';
import { Daemon, memifPairConfig } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';
import { eventually, testing } from '../helpers/switch.js';
import type { NativeMemifClient } from '../../bench/testing-addon.js';

const FREEZER = '/sys/fs/cgroup/freezer';
const cgroup = `${FREEZER}/msw-vitest-${process.pid}`;

let env: CniEnv | undefined;
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
let peer: NativeMemifClient | undefined;
const net = new Netns();

beforeAll(() => {
  if (!existsSync(`${FREEZER}/tasks`)) throw new Error(`the worker-stall test needs the cgroup v1 freezer at ${FREEZER} to freeze one thread`);
});
afterEach(async () => {
  thaw();
  client?.close();
  client = undefined;
  await daemon?.stop('SIGTERM');
  daemon = undefined;
  net.cleanup();
  env?.cleanup();
});

function freeze(pid: number, comm: string): void {
  const tid = readdirSync(`/proc/${pid}/task`).find((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === comm);
  if (!tid) throw new Error(`no thread ${comm} in memswitchd`);
  mkdirSync(cgroup, { recursive: true });
  writeFileSync(`${cgroup}/tasks`, tid);
  writeFileSync(`${cgroup}/freezer.state`, 'FROZEN');
}

function thaw(): void {
  if (!existsSync(cgroup)) return;
  writeFileSync(`${cgroup}/freezer.state`, 'THAWED');
  for (const tid of readFileSync(`${cgroup}/tasks`, 'utf8').split('\n').filter(Boolean)) writeFileSync(`${FREEZER}/tasks`, tid);
  rmdirSync(cgroup);
}

async function stalledGauge(port: number): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return /^memswitch_worker_stalled\{worker="0"\} (\d+)$/m.exec(text)?.[1];
}

describe('a stalled worker', () => {
  it('is reported by daemon info, the stalled gauge, an event and CNI STATUS, and cleared when it moves again', async () => {
    env = new CniEnv();
    daemon = await Daemon.start(env.daemonConfig(['msw-net']), env.daemonEnv());
    client = await connect(daemon.apiSocket);
    const status = env.conf({ cniVersion: '1.1.0' }, null);
    const ns = net.add('stall');
    expect(env.run({ command: 'ADD', containerId: 'ctr-stall', netns: ns.path, ifname: 'net1' }, status).code).toBe(0);
    expect(env.run({ command: 'STATUS' }, status).code).toBe(0);
    expect((await client.getDaemonInfo()).workers[0]).toMatchObject({ stalled: false });
    expect(await stalledGauge(daemon.metricsPort!)).toBe('0');

    freeze(daemon.proc.pid!, 'msw-worker-0');
    await eventually(async () => (await client!.getDaemonInfo()).workers[0]!.stalled, 6000, 'the worker reported stalled');
    expect(await stalledGauge(daemon.metricsPort!)).toBe('1');
    expect(daemon.lines.some((l) => l.msg === 'worker stalled' && /worker 0 made no progress/.test(String(l.detail)))).toBe(true);
    const r = env.run({ command: 'STATUS' }, status);
    expect(r.json).toMatchObject({ code: 51, msg: expect.stringMatching(/datapath is stalled: worker 0 makes no progress; 1 attachment/) });
    // A network with no containers yet cannot serve ADD: 50.
    expect(env.run({ command: 'STATUS' }, { ...status, name: 'msw-empty', vswitchNetwork: 'msw-net' }).json).toMatchObject({ code: 50 });

    thaw();
    await eventually(async () => !(await client!.getDaemonInfo()).workers[0]!.stalled, 6000, 'the worker reported moving again');
    expect(daemon.lines.some((l) => l.msg === 'worker making progress again')).toBe(true);
    expect(env.run({ command: 'STATUS' }, status).code).toBe(0);
    expect(env.run({ command: 'DEL', containerId: 'ctr-stall', netns: ns.path, ifname: 'net1' }, status).code).toBe(0);
  });
});

describe('the API while a worker is frozen', () => {
  // Every change publishes a new snapshot; what the old one reached is freed only after
  // every worker passed a quiescent point, which a frozen worker never does. Changes
  // must answer at once all the same (they used to wait 2 s each on the JS thread).
  it('answers reads and changes within 100 ms each, and frees nothing under the frozen worker', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'msw-frozen-'));
    try {
      // Busy polling with a peer: the worker is online (inside its poll loop) when frozen.
      const sock = path.join(dir, 'memif.sock');
      daemon = await Daemon.start(memifPairConfig(sock).replace('workers: 1', 'workers: 1, poll: busy'));
      client = await connect(daemon.apiSocket);
      peer = new testing.MemifClient({ socket: sock, id: 0, hugepages: false });
      await client.createNetwork({ name: 'red' });
      freeze(daemon.proc.pid!, 'msw-worker-0');
      const timed = async (what: string, call: () => Promise<unknown>): Promise<number> => {
        const t0 = performance.now();
        await call();
        const ms = performance.now() - t0;
        expect(ms, `${what} took ${ms.toFixed(1)} ms`).toBeLessThan(100);
        return ms;
      };
      const c = client;
      for (let round = 0; round < 3; round++) {
        await timed('SetInterfaceAdminState down', () => c.setInterfaceAdminState({ name: 'm0', adminState: 'ADMIN_STATE_DOWN' }));
        await timed('GetInterface', () => c.getInterface({ name: 'm0' }));
        await timed('SetInterfaceAdminState up', () => c.setInterfaceAdminState({ name: 'm0', adminState: 'ADMIN_STATE_UP' }));
        await timed('CreateInterface', () => c.createInterface({ spec: { name: `r${round}`, network: 'red', kind: 'memif', memif: { socket: path.join(dir, 'red.sock'), id: round } } }));
        await timed('DeleteInterface', () => c.deleteInterface({ name: `r${round}` }));
        await timed('GetStats', () => c.getStats());
      }
      // It really was stuck inside a poll all along.
      await eventually(async () => (await c.getDaemonInfo()).workers[0]!.stalled, 6000, 'the worker reported stalled');
      // The frozen worker still holds the old snapshots: thawed, it carries on with them,
      // and the daemon answers as before.
      thaw();
      await eventually(async () => !(await c.getDaemonInfo()).workers[0]!.stalled, 6000, 'the worker moving again');
      expect((await c.getInterface({ name: 'm0' })).interface.adminState).toBe('ADMIN_STATE_UP');
      expect(daemon.proc.exitCode).toBeNull();
    } finally {
      peer?.close();
      peer = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
