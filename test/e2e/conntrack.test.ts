// Stateful ACLs (permit+reflect) against a real memswitchd between two veth pods, with
// the kernel's TCP, UDP and ICMP: pod a may start flows (permit+reflect on what it sends)
// and nothing may come in to it (an empty ACL on what it is sent) but its flows' replies
// and ICMP errors about them. Flows shown, timed out and flushed over the CLI, counted in
// /metrics.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { scrape, value } from '../helpers/metrics.js';
import { Netns } from '../helpers/netns.js';
import { EchoServers, probe } from '../helpers/probe.js';

const cliBin = path.join(repoRoot, 'bin/memswitch');
const net = new Netns();
const servers = new EchoServers();
const dir = mkdtempSync(path.join(tmpdir(), 'msw-ct-'));
const tag = `${process.pid % 10000}`;
const pods = { a: '10.85.0.2', b: '10.85.0.3' } as const;
const ns: Record<string, string> = {};
// Short timeouts, so that a test can watch flows end.
const TRANSITORY_S = 2;
const UDP_S = 2;
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;

beforeAll(async () => {
  const veths = Object.entries(pods).map(([p, ip]) => {
    ns[p] = net.add(`ct${p}`).name;
    return `  - { name: c${p}${tag}, kind: veth, network: n1, netns: /var/run/netns/${ns[p]}, ifname: eth0, addresses: [${ip}/24] }`;
  });
  const config = `dataplane: { conntrack: { timeouts: { tcpTransitoryS: ${TRANSITORY_S}, udpS: ${UDP_S} } } }
networks: [{ name: n1 }]
interfaces:
${veths.join('\n')}
`;
  daemon = await Daemon.start(config, { MEMSWITCH_METRICS_LISTEN: '127.0.0.1:0' });
  client = await connect(daemon.apiSocket);
  for (const pod of ['a', 'b']) {
    await servers.start(ns[pod]!, 'tcp', [8080]);
    await servers.start(ns[pod]!, 'udp', [5353]);
  }
  const file = (name: string, yaml: string): string => {
    const f = path.join(dir, `${name}.yaml`);
    writeFileSync(f, yaml);
    return f;
  };
  const starts = file('a-starts', '- { action: permit+reflect, protocol: tcp }\n- { action: permit+reflect, protocol: udp }\n- { action: permit+reflect, protocol: icmp, icmp: "8" }\n');
  expect(cli('create', 'acl', 'a-egress', '--rules-file', starts)).toMatchObject({ status: 0 });
  expect(cli('create', 'acl', 'a-ingress', '--rules-file', file('nothing', '[]\n'))).toMatchObject({ status: 0 });
  expect(cli('bind', 'acl', 'a-egress', '--interface', `ca${tag}`, '--direction', 'in')).toMatchObject({ status: 0 });
  expect(cli('bind', 'acl', 'a-ingress', '--interface', `ca${tag}`, '--direction', 'out')).toMatchObject({ status: 0 });
}, 60_000);

afterAll(async () => {
  await servers.stopAll();
  client?.close();
  await daemon?.stop('SIGKILL');
  net.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(cliBin, ['--api', daemon!.apiSocket, ...args], { encoding: 'utf8', timeout: 20_000 });
}
const ping = (from: string, to: string): boolean => spawnSync('ip', ['netns', 'exec', ns[from]!, 'ping', '-c', '1', '-W', '1', to]).status === 0;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function deniedAtA(): Promise<number> {
  return value(await scrape(daemon!.metricsPort!), 'memswitch_interface_drops_total', { interface: `ca${tag}`, reason: 'acl_denied' }) ?? 0;
}
async function flowsWith(port: number): Promise<{ state: string; replied: boolean }[]> {
  const { flows } = await client!.listConntrack({ address: pods.a });
  return flows.filter((f) => f.srcPort === port || f.dstPort === port);
}

describe('stateful ACLs (permit+reflect)', () => {
  it('lets the replies of what a starts in, and nothing a did not start', async () => {
    expect(probe(ns.a!, 'connect', 'tcp', pods.b, 8080)).toBe('ok');
    expect(probe(ns.a!, 'connect', 'udp', pods.b, 5353)).toBe('ok');
    expect(ping('a', pods.b)).toBe(true);
    expect(probe(ns.b!, 'connect', 'tcp', pods.a, 8080)).toBe('timeout');
    expect(probe(ns.b!, 'connect', 'udp', pods.a, 5353)).toBe('timeout');
    expect(ping('b', pods.a)).toBe(false);
    expect(await deniedAtA()).toBeGreaterThanOrEqual(3);
  });

  it('passes the ICMP errors of a flow a started: a closed UDP port is refused, not silent', () => {
    expect(probe(ns.a!, 'connect', 'udp', pods.b, 5354)).toBe('refused');
    expect(probe(ns.a!, 'connect', 'tcp', pods.b, 8081)).toBe('refused'); // the RST of a's own flow
  });

  it('passes a fragmented datagram of a flow a started whole, both ways, and none b starts', () => {
    // 4000 bytes over a 1500-byte MTU: three fragments, only the first with ports.
    expect(probe(ns.a!, 'connect', 'udp', pods.b, 5353, '--size', 4000)).toBe('ok');
    expect(probe(ns.b!, 'connect', 'udp', pods.a, 5353, '--size', 4000)).toBe('timeout');
  });

  it('forgets a UDP flow once it idles out: the same reply later is unsolicited', async () => {
    const sport = 41000;
    expect(probe(ns.a!, 'connect', 'udp', pods.b, 5353, '--sport', sport)).toBe('ok');
    expect(await flowsWith(sport)).toEqual([expect.objectContaining({ state: 'udp', replied: true })]);
    const before = await deniedAtA();
    expect(probe(ns.b!, 'send-udp', pods.a, sport, '--sport', 5353)).toBe('sent'); // while the flow lives: passes
    await sleep(500);
    expect(await deniedAtA()).toBe(before);
    await sleep((UDP_S + 1.5) * 1000);
    const denied = await deniedAtA();
    expect(probe(ns.b!, 'send-udp', pods.a, sport, '--sport', 5353)).toBe('sent'); // as the echo came
    await expect.poll(deniedAtA, { timeout: 3000 }).toBeGreaterThan(denied);
  });

  it('ends a TCP flow after its FIN: a late segment from the peer is unsolicited', async () => {
    const sport = 42000;
    expect(probe(ns.a!, 'connect', 'tcp', pods.b, 8080, '--sport', sport)).toBe('ok');
    const [flow] = await flowsWith(sport);
    expect(flow?.state).toBe('closing');
    const shown = cli('show', 'conntrack', '--address', pods.a, '--protocol', 'tcp');
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^n1\\s+tcp\\s+${pods.a.replace(/\./g, '\\.')} ${sport}\\s+${pods.b.replace(/\./g, '\\.')} 8080\\s+closing\\s`, 'm'));
    await sleep((TRANSITORY_S + 1.5) * 1000);
    expect(await flowsWith(sport)).toEqual([]);
    const denied = await deniedAtA();
    expect(probe(ns.b!, 'tcp-ack', pods.b, 8080, pods.a, sport)).toBe('sent');
    await expect.poll(deniedAtA, { timeout: 3000 }).toBeGreaterThan(denied);
  });

  it('shows, counts and flushes the flows', async () => {
    expect(probe(ns.a!, 'connect', 'udp', pods.b, 5353, '--sport', 43000)).toBe('ok');
    const summary = cli('show', 'conntrack', '--summary');
    expect(summary.status, summary.stderr).toBe(0);
    expect(summary.stdout).toMatch(/^\d+ of 262144 flows tracked; \d+ opened since start, 0 refused \(table full\)$/m);
    expect(summary.stdout).toContain(`tcp opening/closing ${TRANSITORY_S} s, udp ${UDP_S} s`);
    const m = await scrape(daemon!.metricsPort!);
    expect(value(m, 'memswitch_conntrack_flows', {})).toBeGreaterThanOrEqual(1);
    expect(value(m, 'memswitch_conntrack_capacity', {})).toBe(262144);
    expect(value(m, 'memswitch_conntrack_flows_created_total', {})).toBeGreaterThanOrEqual(5);
    const flushed = cli('flush', 'conntrack');
    expect(flushed.stdout).toMatch(/^[1-9]\d* flows forgotten$/m);
    expect((await client!.getConntrackSummary()).flows).toBe(0);
    // Forgotten: b's echo of a's datagram is now unsolicited.
    const denied = await deniedAtA();
    expect(probe(ns.b!, 'send-udp', pods.a, 43000, '--sport', 5353)).toBe('sent');
    await expect.poll(deniedAtA, { timeout: 3000 }).toBeGreaterThan(denied);
  });
});
