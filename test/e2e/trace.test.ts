// memswitch trace against a real memswitchd routing between two veth pods (network
// namespaces, the kernel's ping): every node a packet passes, the route it took, the
// stage that dropped one and the ICMP error it caused, in text and --json; bad requests;
// a client that goes away ends its trace.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TracedPacket } from '../../orchestrator/src/domain/trace.js';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';
import { eventually } from '../helpers/switch.js';

const cli = path.join(repoRoot, 'bin/memswitch');
const net = new Netns();
const dir = mkdtempSync(path.join(tmpdir(), 'msw-trace-'));
const tag = `${process.pid % 10000}`;
const pods = { a: '10.83.1.2', b: '10.83.2.2' } as const;
const ns: Record<string, string> = {};
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;

beforeAll(async () => {
  const veths = Object.entries(pods).map(([p, ip], i) => {
    ns[p] = net.add(`t${p}`).name;
    return `  - { name: t${p}${tag}, kind: veth, network: n${i + 1}, netns: /var/run/netns/${ns[p]}, ifname: eth0, addresses: [${ip}/24], routes: [{ dst: 0.0.0.0/0, via: 10.83.${i + 1}.1 }] }`;
  });
  daemon = await Daemon.start(
    `networks: [{ name: n1 }, { name: n2 }]
interfaces:
${veths.join('\n')}
routers:
  - name: r
    interfaces:
      - { name: r-n1, network: n1, addresses: [10.83.1.1/24] }
      - { name: r-n2, network: n2, addresses: [10.83.2.1/24] }
`,
    { MEMSWITCH_API_SOCKET: path.join(dir, 'api.sock'), MEMSWITCH_STATE_DB: path.join(dir, 'state.db') },
  );
  client = await connect(daemon.apiSocket);
  // ARP both ways first: the traced pings below then take the plain path.
  expect(ping('a', pods.b, 1)).toMatch(/1 received/);
}, 60_000);

afterAll(async () => {
  client?.close();
  await daemon?.stop('SIGKILL');
  net.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function ping(from: keyof typeof pods, to: string, count: number): string {
  const r = spawnSync('ip', ['netns', 'exec', ns[from]!, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', to], { encoding: 'utf8' });
  return r.stdout; // exits 1 when replies are missing
}

// The CLI with a trace running in the background; resolves with what it printed.
function trace(args: string[]): { done: Promise<{ status: number | null; stdout: string; stderr: string }> } {
  const p = spawn(cli, ['--api', daemon!.apiSocket, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return { done: new Promise((r) => p.once('exit', (status) => r({ status, stdout, stderr }))) };
}

const traces = async (): Promise<number> => (await client!.getDaemonInfo()).traces;

describe('memswitch trace', () => {
  it('prints each node a routed ping passed, the route, and the frame as it left', async () => {
    const t = trace(['trace', '-i', `ta${tag}`, '-f', 'icmp', '-n', '2']);
    await eventually(async () => (await traces()) === 1, 10_000, 'trace running');
    expect(ping('a', pods.b, 2)).toMatch(/2 received/);
    const { status, stdout, stderr } = await t.done;
    expect(status, stderr).toBe(0);
    expect(stderr).toBe('2 packets traced\n');
    const packets = stdout.split(/\n(?=Packet )/);
    expect(packets).toHaveLength(2);
    for (const [n, text] of packets.entries()) {
      expect(text).toMatch(new RegExp(`^Packet ${n}: worker \\d+, \\d{4}-\\d\\d-\\d\\dT[\\d:]+\\.\\d{9}Z, in on ta${tag}\\n`));
      const nodes = [...text.matchAll(/^ +\+\d+ns +(\S+)/gm)].map((m) => m[1]);
      expect(nodes).toEqual(['rx', 'l2_bridge', 'l3_input', 'ip4_lookup', 'neighbor', 'tx']);
      expect(text).toMatch(/rx +received on ta\d+\n +\S+ > \S+, IPv4 10\.83\.1\.2 > 10\.83\.2\.2, ttl 64, ICMP echo request, length 98/);
      expect(text).toMatch(/ip4_lookup +route out r-n2 via 10\.83\.2\.2; for neighbor/);
      expect(text).toMatch(new RegExp(`neighbor +to tb${tag}\\n`));
      expect(text).toMatch(new RegExp(`tx +sent on tb${tag}\\n +\\S+ > \\S+, IPv4 10\\.83\\.1\\.2 > 10\\.83\\.2\\.2, ttl 63, ICMP echo request`));
    }
    await eventually(async () => (await traces()) === 0, 5000, 'trace over once all packets were taken');
  });

  it('shows the stage that dropped a packet and the ICMP error it caused, in --json', async () => {
    const t = trace(['--json', 'trace', '-f', 'dst host 10.83.9.9', '-n', '1']);
    await eventually(async () => (await traces()) === 1, 10_000, 'trace running');
    expect(ping('a', '10.83.9.9', 1)).toMatch(/Destination Net Unreachable|Destination Host Unreachable/);
    const { status, stdout, stderr } = await t.done;
    expect(status, stderr).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const p = JSON.parse(lines[0]!) as Omit<TracedPacket, 'steps'> & { steps: (Omit<TracedPacket['steps'][number], 'bytes'> & { bytes: string })[] };
    expect(p.number).toBe(0);
    const received = p.steps.filter((s) => s.frame === 0);
    expect(received.map((s) => s.node)).toEqual(['rx', 'l2_bridge', 'l3_input', 'ip4_lookup']);
    expect(received.at(-1)).toMatchObject({ node: 'ip4_lookup', drop: 'no_route', decision: 'dropped: no_route' });
    // The rx bytes are the kernel's echo request: IPv4 to 10.83.9.9 at offset 14 + 16.
    const rx = Buffer.from(received[0]!.bytes, 'hex');
    expect(rx.subarray(30, 34)).toEqual(Buffer.from([10, 83, 9, 9]));
    const error = p.steps.filter((s) => s.frame === 1);
    expect(error.map((s) => s.node)).toEqual(['ip4_lookup', 'neighbor', 'tx']);
    expect(error[0]).toMatchObject({ routerInterface: 'r-n1', nextHop: '10.83.1.2' });
    expect(error[0]!.summary).toMatch(/IPv4 10\.83\.1\.1 > 10\.83\.1\.2, ttl 64, ICMP unreachable, length 70/);
    expect(error.at(-1)).toMatchObject({ node: 'tx', interface: `ta${tag}`, drop: '' });
  });

  it('answers a bad filter with INVALID_ARGUMENT, an unknown interface with NOT_FOUND, a bad count with INVALID_ARGUMENT', async () => {
    const bad = spawnSync(cli, ['--api', daemon!.apiSocket, 'trace', '-f', 'tcp port'], { encoding: 'utf8', timeout: 20_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/INVALID_ARGUMENT.*syntax error/);
    const unknown = spawnSync(cli, ['--api', daemon!.apiSocket, 'trace', '-i', 'nope'], { encoding: 'utf8', timeout: 20_000 });
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/NOT_FOUND.*nope/);
    const zero = client!.trace({ packets: 0 });
    await expect(
      (async () => {
        for await (const _ of zero);
      })(),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/packets: a trace follows 1 to 100000 packets/) });
    expect(await traces()).toBe(0);
  });

  it('a client that goes away ends its trace; forwarding never noticed', async () => {
    const stream = client!.trace({ packets: 1000, filter: 'udp' }); // nothing sends UDP
    const it = stream[Symbol.asyncIterator]();
    const first = it.next();
    await eventually(async () => (await traces()) === 1, 10_000, 'trace running');
    stream.cancel();
    await first.catch(() => undefined);
    await eventually(async () => (await traces()) === 0, 5000, 'trace ended on cancel');
    const killed = spawn(cli, ['--api', daemon!.apiSocket, 'trace', '-n', '1000', '-f', 'udp'], { stdio: 'ignore' });
    await eventually(async () => (await traces()) === 1, 10_000, 'CLI trace running');
    killed.kill('SIGKILL');
    await eventually(async () => (await traces()) === 0, 5000, 'trace ended when its client died');
    expect(ping('a', pods.b, 1)).toMatch(/1 received/);
  });
});
