// A planned restart that DPDK workloads survive: dpdk-testpmd's net_memif client
// connects once and never reconnects, so a second memswitchd started with --takeover
// takes the live sessions from the running one, which exits; testpmd's frames keep
// looping through the switch without testpmd noticing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Testpmd, dpdkAvailable } from '../../bench/testpmd.js';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon, memifPairConfig, repoRoot } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';
import { eventually, testing } from '../helpers/switch.js';

const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0a:02';

const dir = mkdtempSync(path.join(tmpdir(), 'msw-takeover-'));
const sock = path.join(dir, 'memif.sock');
const env = { MEMSWITCH_API_SOCKET: path.join(dir, 'api.sock'), MEMSWITCH_STATE_DB: path.join(dir, 'state.db') };
const config = memifPairConfig(sock);

const daemons: Daemon[] = [];
const net = new Netns();
let testpmd: Testpmd | undefined;
let client: MemswitchClient | undefined;

beforeAll(() => {
  const dpdk = dpdkAvailable();
  if (!dpdk.ok) throw new Error(`the takeover test needs dpdk-testpmd: ${dpdk.reason} (scripts/setup.sh installs dpdk)`);
  return () => rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  client?.close();
  client = undefined;
  await testpmd?.stop();
  testpmd = undefined;
  for (const d of daemons.splice(0)) await d.stop('SIGTERM');
  net.cleanup();
});

/** Frames the switch sent on an interface, from the stats snapshot. */
async function txPackets(name: string): Promise<number> {
  const { snapshot } = await client!.getStats({});
  return snapshot.interfaces.find((i) => i.interface === name)?.txPackets ?? 0;
}

async function start(args: string[] = [], cfg = config): Promise<Daemon> {
  const d = await Daemon.start(cfg, env, args);
  daemons.push(d);
  return d;
}

describe('memswitchd --takeover', () => {
  // The flags the DaemonSet passes to every pod, old and new (deploy/memswitch-daemonset.yaml).
  const K8S = ['--takeover', '--idle-after-handover'];

  it('takes the live memif sessions of the running daemon: testpmd keeps forwarding through the switch', async () => {
    const old = await start(K8S);
    // One testpmd, two client ports looping frames through the switch (mac forwarding,
    // each port's peer MAC the other's).
    testpmd = await Testpmd.start({
      vdevs: [
        { role: 'client', socket: sock, id: 0, mac: MAC_A },
        { role: 'client', socket: sock, id: 1, mac: MAC_B },
      ],
      forwardMode: 'mac',
      txFirst: true,
      ethPeers: [MAC_B, MAC_A],
      forwardingCpu: 1,
      memory: 'nohuge',
    });
    client = await connect(env.MEMSWITCH_API_SOCKET);
    await eventually(async () => (await txPackets('m1')) > 100_000, 15_000, 'frames looping through the switch');
    client.close();
    client = undefined;

    const next = await start(K8S);
    const took = await next.waitFor((l) => l.msg === 'took over from the previous memswitchd');
    expect(took).toMatchObject({ sessions: 2, listeners: 1 });
    const handed = await old.waitFor((l) => l.msg === 'handed over to a new memswitchd');
    const running = await next.waitFor((l) => l.msg === 'memswitchd running');
    console.log(`takeover: sessions unpolled for at most ${Date.parse(running.time as string) - Date.parse(handed.time as string)} ms (handover to "running")`);
    // Idle, as a Kubernetes pod must be until it is deleted; SIGTERM ends it.
    await old.waitFor((l) => l.msg === 'handed over; idle until SIGTERM');
    expect(old.proc.exitCode).toBe(null);
    expect(old.lines.some((l) => l.msg === 'peer disconnected')).toBe(false);
    expect((await old.stop('SIGTERM')).code).toBe(0);

    client = await connect(next.apiSocket);
    expect((await client.getInterface({ name: 'm0' })).interface.state).toMatchObject({ connected: true, connects: 1, peerInterface: expect.stringMatching(/net_memif/) });
    // Forwarding resumed in the new process: counters start at zero there and climb.
    await eventually(async () => (await txPackets('m0')) > 100_000 && (await txPackets('m1')) > 100_000, 15_000, 'frames looping through the new daemon');
    const before = [testpmd.rxPackets(0), testpmd.rxPackets(1)];
    await testpmd.waitForSamples(testpmd.periods + 2, 10_000);
    expect(testpmd.rxPackets(0)).toBeGreaterThan(before[0]!);
    expect(testpmd.rxPackets(1)).toBeGreaterThan(before[1]!);
    expect(testpmd.running).toBe(true);
    // testpmd never saw its link drop: a DPDK memif client that lost its session would
    // sit disconnected forever, so the forwarding above proves it; the log agrees.
    expect(testpmd.log).not.toMatch(/[Dd]isconnect/);
  });

  it('starts afresh when no daemon runs; without --idle-after-handover the old daemon exits by itself', async () => {
    const old = await start(['--takeover']);
    expect(old.lines.some((l) => l.msg === 'no memswitchd to take over from')).toBe(true);
    const peer = new testing.MemifClient({ socket: sock, id: 0, hugepages: false });
    // A successor whose config cannot start (a netdev that is not there) is refused
    // before it asks for anything: the running daemon and its peers never notice.
    const broken = `${config}  - { name: up9, kind: afxdp, network: blue, netdev: msw-missing0 }\n`;
    await expect(start(['--takeover'], broken)).rejects.toThrow(/interfaces\.2\.netdev: msw-missing0 does not exist \(not taking over/);
    expect(old.proc.exitCode).toBe(null);
    expect(peer.pollControl()).toBe(true);
    // A pod's memif, as the CNI plugin makes it: an abstract socket inside the pod's netns,
    // created over the API (so it comes back from the state database), with a workload
    // in that netns that reports if its session ever ends.
    const pod = net.add('takeover');
    const podSock = `@msw-takeover-${process.pid}`;
    client = await connect(old.apiSocket);
    await client.createInterface({ spec: { name: 'p0', network: 'blue', kind: 'memif', memif: { socket: podSock, id: 0, netns: pod.path } } });
    client.close();
    client = undefined;
    const workload = net.spawn(pod.name, [process.execPath, '-e', `
      const m = require(${JSON.stringify(path.join(repoRoot, 'build/addon/Release/memswitch_testing.node'))});
      const c = new m.MemifClient({ socket: ${JSON.stringify(podSock)}, id: 0, hugepages: false });
      console.log('ready');
      setInterval(() => { if (!c.pollControl()) { console.log('disconnected'); process.exit(1); } }, 20);`]);
    let out = '';
    workload.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => out.includes('ready'), 10_000, 'the pod workload connected');
    try {
      const next = await start(['--takeover']);
      expect(await next.waitFor((l) => l.msg === 'took over from the previous memswitchd')).toMatchObject({ sessions: 2, listeners: 2 });
      await eventually(() => old.proc.exitCode !== null, 5000, 'the old daemon to exit by itself');
      expect(old.proc.exitCode).toBe(0);
      expect(peer.pollControl()).toBe(true); // no DISCONNECT reached the peer
      client = await connect(next.apiSocket);
      expect((await client.getInterface({ name: 'm0' })).interface.state).toMatchObject({ connected: true, peerName: 'memswitch-client' });
      expect((await client.getInterface({ name: 'm1' })).interface.state.connected).toBe(false);
      expect((await client.getInterface({ name: 'p0' })).interface.state).toMatchObject({ connected: true, peerName: 'memswitch-client' });
      await new Promise((r) => setTimeout(r, 200));
      expect(out).not.toMatch(/disconnected/);
    } finally {
      peer.close();
    }
  });
});
