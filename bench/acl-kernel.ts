// npm run bench, ACLs against the kernel: the same stateful filtering by memswitch and by
// the Linux kernel, between two pods (network namespaces) on veths, one routing hop:
//   memswitch: a router with an interface on each pod's network (veth, AF_XDP copy mode:
//     this machine has no NIC), a permit+reflect ACL on what it receives from the
//     client pod (E deny entries no packet matches, then the permit) and a deny-all ACL on
//     what it sends to it (replies pass by connection tracking alone);
//   Linux: a router namespace forwarding between the two veths, nftables on the forward
//     hook: ct state established accept, the same E entries, the permit, policy drop;
// and each without its filter. iperf3 between the pods (pinned to CPU 1; memswitch polls
// on CPU 0): one TCP stream (Gbit/s; the kernel's path keeps GRO and TSO, AF_XDP does
// not) and 64-byte UDP (packets per second the server got).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { Dataplane } from '../orchestrator/src/dataplane/dataplane.js';
import { vethInterface } from '../orchestrator/src/config/schema.js';
import type { NativeAclRule } from '../orchestrator/src/dataplane/native.js';
import { fmt, median } from './common.js';

const SUT_CPU = 0;
const TRAFFIC_CPU = 1;
const SECONDS = 4;
const ENTRIES = 50;
const NS = { client: 'mswkc', server: 'mswks', router: 'mswkr' };
const CLIENT = '10.77.1.2';
const SERVER = '10.77.2.2';

export type KernelAclSystem = 'memswitch router' | 'memswitch router + stateful ACL' | 'linux router' | 'linux router + nftables ct';
const SYSTEMS: KernelAclSystem[] = ['memswitch router', 'memswitch router + stateful ACL', 'linux router', 'linux router + nftables ct'];

const run = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
const inNs = (ns: string, ...args: string[]): string => run('ip', 'netns', 'exec', ns, ...args);

export function nftAvailable(): { ok: boolean; reason?: string } {
  for (const tool of ['nft', 'iperf3'])
    try {
      run(tool, '--version');
    } catch {
      return { ok: false, reason: `${tool} not found (scripts/setup.sh --bench installs it)` };
    }
  return { ok: true };
}

function cleanup(): void {
  for (const ns of Object.values(NS)) if (existsSync(`/run/netns/${ns}`)) run('ip', 'netns', 'del', ns);
}

const entries = (): NativeAclRule[] =>
  Array.from({ length: ENTRIES }, (_, i) => ({ action: 'deny' as const, src: `172.${16 + (i >> 8)}.${i & 255}.0/24`, dst: '10.77.0.0/16', proto: 17, dstPorts: [2000, 2000] as [number, number], icmpType: -1, icmpCode: -1 }));

/** The pods and the system under test between them; how to stop it. */
function start(system: KernelAclSystem): () => void {
  cleanup();
  run('ip', 'netns', 'add', NS.client);
  run('ip', 'netns', 'add', NS.server);
  if (system.startsWith('memswitch')) {
    const dp = Dataplane.create({ workers: 1, cpus: [SUT_CPU], poll: 'busy' });
    dp.addNetwork('nc');
    dp.addNetwork('ns');
    dp.addRouter('r');
    dp.addRouterInterface({ name: 'rc', router: 'r', network: 'nc', addresses: ['10.77.1.1/24'], mtu: 1500 });
    dp.addRouterInterface({ name: 'rs', router: 'r', network: 'ns', addresses: ['10.77.2.1/24'], mtu: 1500 });
    for (const [name, network, ns, addr, gw] of [
      ['c', 'nc', NS.client, CLIENT, '10.77.1.1'],
      ['s', 'ns', NS.server, SERVER, '10.77.2.1'],
    ] as const)
      dp.addVeth(vethInterface.parse({ name, kind: 'veth', network, netns: `/run/netns/${ns}`, ifname: 'eth0', addresses: [`${addr}/24`], routes: [{ dst: 'default', via: gw }] }));
    if (system === 'memswitch router + stateful ACL') {
      dp.addAcl('from-client', [...entries(), { action: 'permit+reflect', dst: '10.77.0.0/16', proto: 0, icmpType: -1, icmpCode: -1 }]);
      dp.addAcl('to-client', []);
      dp.bindAcl('c', 'in', 'from-client');
      dp.bindAcl('c', 'out', 'to-client');
    }
    dp.start();
    return () => {
      dp.stop();
      cleanup();
    };
  }
  run('ip', 'netns', 'add', NS.router);
  for (const [ns, pod, hostEnd, addr, gw] of [
    [NS.client, 'mswkcp', 'mswkcr', CLIENT, '10.77.1.1'],
    [NS.server, 'mswksp', 'mswksr', SERVER, '10.77.2.1'],
  ] as const) {
    run('ip', 'link', 'add', pod, 'netns', ns, 'type', 'veth', 'peer', 'name', hostEnd, 'netns', NS.router);
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    inNs(ns, 'ip', 'addr', 'add', `${addr}/24`, 'dev', pod);
    inNs(ns, 'ip', 'link', 'set', pod, 'up');
    inNs(ns, 'ip', 'route', 'add', 'default', 'via', gw);
    inNs(NS.router, 'ip', 'addr', 'add', `${gw}/24`, 'dev', hostEnd);
    inNs(NS.router, 'ip', 'link', 'set', hostEnd, 'up');
  }
  inNs(NS.router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  if (system === 'linux router + nftables ct') {
    const deny = entries().map((r) => `    ip saddr ${r.src} ip daddr 10.77.0.0/16 udp dport 2000 drop`);
    const ruleset = `table inet bench {\n  chain forward {\n    type filter hook forward priority 0; policy drop;\n    ct state established,related accept\n${deny.join('\n')}\n    iifname "mswkcr" ip daddr 10.77.0.0/16 accept\n  }\n}\n`;
    execFileSync('ip', ['netns', 'exec', NS.router, 'nft', '-f', '-'], { input: ruleset });
  }
  return cleanup;
}

/** One iperf3 run from the client pod to the server pod: TCP Gbit/s, or UDP packets per second received. */
async function iperf(udp: boolean): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', NS.server, 'taskset', '-c', String(TRAFFIC_CPU), 'iperf3', '-s', '-1'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const args = ['-c', SERVER, '-t', String(SECONDS), '-J', ...(udp ? ['-u', '-b', '0', '-l', '64'] : [])];
    const out = JSON.parse(inNs(NS.client, 'taskset', '-c', String(TRAFFIC_CPU), 'iperf3', ...args)) as {
      end: { sum_received?: { bits_per_second: number }; sum?: { packets: number; lost_packets: number; seconds: number } };
    };
    if (!udp) return (out.end.sum_received?.bits_per_second ?? 0) / 1e9;
    const s = out.end.sum!;
    return (s.packets - s.lost_packets) / s.seconds / 1e6;
  } finally {
    if (server.exitCode === null) {
      server.kill();
      await once(server, 'exit');
    }
  }
}

export interface KernelAclMeasurement {
  system: KernelAclSystem;
  round: number;
  tcpGbps: number;
  udpMpps: number;
}

export async function runKernelAclBench(rounds: number): Promise<{ measurements: KernelAclMeasurement[]; rows: object[]; table: string }> {
  const measurements: KernelAclMeasurement[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const order = SYSTEMS.map((_, i) => SYSTEMS[(i + round - 1) % SYSTEMS.length]!);
      for (const system of order) {
        const stop = start(system);
        try {
          const m = { system, round, tcpGbps: await iperf(false), udpMpps: await iperf(true) };
          measurements.push(m);
          console.error(`acl-kernel round ${round} ${system}: TCP ${fmt(m.tcpGbps)} Gbit/s, UDP 64 B ${fmt(m.udpMpps, 3)} Mpps`);
        } finally {
          stop();
        }
      }
    }
  } finally {
    cleanup();
  }
  const of = (s: KernelAclSystem, k: 'tcpGbps' | 'udpMpps') => median(measurements.filter((m) => m.system === s).map((m) => m[k]));
  const rows = SYSTEMS.map((s) => ({ system: s, tcpGbps: of(s, 'tcpGbps'), udpMpps: of(s, 'udpMpps') }));
  const keeps = (with_: KernelAclSystem, without: KernelAclSystem, k: 'tcpGbps' | 'udpMpps') => fmt(of(with_, k) / of(without, k));
  const table = [
    '',
    `Stateful filtering against the kernel: pod -> router -> pod on veths, iperf3 pinned to CPU ${TRAFFIC_CPU}, ${ENTRIES} deny entries then the permit (medians of ${rounds} rounds)`,
    '',
    '| system | TCP Gbit/s | UDP 64 B Mpps |',
    '| --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.system} | ${fmt(r.tcpGbps)} | ${fmt(r.udpMpps, 3)} |`),
    '',
    `With the filter, memswitch keeps ${keeps('memswitch router + stateful ACL', 'memswitch router', 'tcpGbps')} of its TCP rate and ${keeps('memswitch router + stateful ACL', 'memswitch router', 'udpMpps')} of its UDP rate; the kernel ${keeps('linux router + nftables ct', 'linux router', 'tcpGbps')} and ${keeps('linux router + nftables ct', 'linux router', 'udpMpps')}.`,
  ].join('\n');
  return { measurements, rows, table };
}
