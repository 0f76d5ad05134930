// memswitch show runtime and its metrics against a real memswitchd forwarding real memif
// traffic: every frame counted at rx, the bridge and tx, nothing at stages the frames
// never needed, cycles per frame from the timed bursts, and --interval seeing only
// what happened during it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import parsePrometheus from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import type { NativeMemifClient } from '../../bench/testing-addon.js';
import type { RuntimeRow } from '../../orchestrator/src/cli/runtime.js';
import { Daemon, memifPairConfig, repoRoot } from '../helpers/daemon.js';
import { eventually, mac, runUntil, testing } from '../helpers/switch.js';

const cli = path.join(repoRoot, 'bin/memswitch');
const dir = `/run/msw-runtime-test-${process.pid}`;
const sock = `${dir}/memif.sock`;


let daemon: Daemon | undefined;
const peers: NativeMemifClient[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await daemon?.stop('SIGKILL');
  daemon = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function cliOut(...args: string[]): string {
  const r = spawnSync(cli, ['--api', daemon!.apiSocket, ...args], { encoding: 'utf8', timeout: 20_000 });
  expect(r.stderr, args.join(' ')).toBe('');
  expect(r.status, args.join(' ')).toBe(0);
  return r.stdout;
}
const runtime = (...args: string[]): Map<string, RuntimeRow> => new Map((JSON.parse(cliOut('--json', 'show', 'runtime', ...args)) as RuntimeRow[]).map((r) => [r.node, r]));

describe('show runtime', () => {
  it('counts each frame at the nodes it passed, with cycles per frame, in CLI and metrics', async () => {
    mkdirSync(dir, { recursive: true });
    daemon = await Daemon.start(memifPairConfig(sock));
    const nodes = ['rx', 'acl_in', 'l2_bridge', 'l3_input', 'ip4_lookup', 'ip6_lookup', 'neighbor', 'acl_out', 'tx'];
    let rt = runtime();
    expect([...rt.keys()]).toEqual(nodes); // one worker: one row per node, in pipeline order
    for (const r of rt.values()) expect(r.vectors, r.node).toBe(0);

    const a = new testing.MemifClient({ socket: sock, id: 0, hugepages: false });
    const b = new testing.MemifClient({ socket: sock, id: 1, hugepages: false, log2RingSize: 13 });
    peers.push(a, b);
    await daemon.waitFor((l) => l.msg === 'peer connected' && l.interface === 'm1');
    const frames = 20_000;
    const eng = new testing.TrafficEngine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), count: frames, pps: 200_000, frameSize: 64 });
    const sink = eng.addSink(b);
    await runUntil(eng, [sink], frames);

    // tx is counted just after the copy the sink saw.
    await eventually(() => runtime().get('tx')!.vectors === frames, 3000, 'tx counted');
    rt = runtime();
    for (const node of ['rx', 'l2_bridge', 'tx']) {
      const r = rt.get(node)!;
      expect(r.vectors, node).toBe(frames);
      expect(r.calls, node).toBeGreaterThanOrEqual(64); // enough bursts for timed ones
      expect(r.calls, node).toBeLessThanOrEqual(frames);
      expect(r.vectorsPerCall, node).toBeCloseTo(frames / r.calls, 0);
      expect(r.cyclesPerPacket, node).toBeGreaterThan(0);
      expect(r.nsPerPacket, node).toBeGreaterThan(0);
    }
    for (const node of ['acl_in', 'l3_input', 'ip4_lookup', 'ip6_lookup', 'neighbor', 'acl_out']) expect(rt.get(node)!.calls, node).toBe(0); // bridged frames only, no ACL

    const text = cliOut('show', 'runtime');
    expect(text.split('\n')[0]).toMatch(/^WORKER\s+NODE\s+CALLS\s+VECTORS\s+VECTORS\/CALL\s+CYCLES\/PKT\s+NS\/PKT$/);
    expect(text).toMatch(new RegExp(`^\\s*0\\s+l2_bridge\\s+\\d+\\s+${frames}\\s`, 'm'));

    // Nothing forwarded during the interval: nothing counted in it.
    for (const r of runtime('--interval', '1').values()) expect(r.vectors, r.node).toBe(0);

    const res = await fetch(`http://127.0.0.1:${daemon.metricsPort!}/metrics`);
    const families = new Map(parsePrometheus(await res.text()).map((f) => [f.name, f]));
    const sample = (name: string, node?: string): number => {
      const m = families.get(name)?.metrics.find((x) => !node || (x.labels?.node === node && x.labels?.worker === '0'));
      expect(m, `${name} ${node ?? ''}`).toBeDefined();
      return Number(m!.value);
    };
    expect(sample('memswitch_node_packets_total', 'l2_bridge')).toBe(frames);
    expect(sample('memswitch_node_calls_total', 'rx')).toBe(rt.get('rx')!.calls);
    expect(sample('memswitch_node_packets_total', 'ip4_lookup')).toBe(0);
    expect(sample('memswitch_node_sampled_packets_total', 'tx')).toBeGreaterThan(0);
    expect(sample('memswitch_node_sampled_cycles_total', 'tx')).toBeGreaterThan(0);
    expect(sample('memswitch_tsc_hz')).toBeGreaterThan(1e8);
  });
});
