// memif -> router -> memif: memswitch routing between two networks with 1, 10k and 1M
// IPv4 routes and 1 and 1M IPv6 routes (destinations spread over the whole table), next
// to memswitch L2, dpdk-testpmd
// io forwarding, and OVS-DPDK doing the router's job with OpenFlow (match the prefix,
// set both MACs, decrement TTL). Same shape for all: our traffic engine on the traffic
// CPU sends IPv4 or IPv6/UDP at full rate from client A and sinks on client B (one thread: the
// second poller); the system under test polls on the other CPU. Rounds interleave the
// systems and every window records the host mode (cache-line ping-pong), as run.ts does.
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadAddon, type NativeDataplane, type NativeNodeRuntime } from '../orchestrator/src/dataplane/native.js';
import { formatIPv4 } from '../orchestrator/src/domain/ip.js';
import { fmt, median } from './common.js';
import { OvsDpdk } from './ovs.js';
import { Testpmd } from './testpmd.js';
import { loadTestingAddon } from './testing-addon.js';

const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';
const WARMUP_MS = 1000;
const MEASURE_S = 3;
const SLOW_MODE_NS = 100;
// The routes: consecutive /24s from 11.0.0.0, all via b (10.1.0.2 on network nb).
const FIRST_ROUTE = 11 << 24;
// Destinations walk every address of the table in an order that jumps around it.
const STRIDE = 2654435761;

type System = 'l2' | 'router-1' | 'router-10k' | 'router-1M' | 'router6-1' | 'router6-1M' | 'testpmd-io' | 'ovs-l3';
const ROUTES: Partial<Record<System, number>> = { 'router-1': 1, 'router-10k': 10_000, 'router-1M': 1_000_000, 'router6-1': 1, 'router6-1M': 1_000_000 };
const ROUTED: System[] = ['router-1', 'router-10k', 'router-1M', 'router6-1', 'router6-1M'];
const isIpv6 = (s: System): boolean => s.startsWith('router6');
// IPv6: consecutive /48s from fd00::/48 (what the generator's ip6 mode walks), via b (fd0b::2).
const route48 = (k: number): string => (k === 0 ? 'fd00::/48' : `fd00:${(k >>> 16).toString(16)}:${(k & 0xffff).toString(16)}::/48`);

export interface Sut {
  stop(): unknown;
  /** memswitch: its worker's polls so far, busy and all (is it the bottleneck?). */
  polls?(): { busy: number; all: number };
  /** memswitch: its worker's runtime (show runtime) so far. */
  runtime?(): NativeNodeRuntime[];
  /** Where client A sends: the router's MAC, b's MAC, or anything (testpmd, OVS). */
  dstMac: string;
  destinations: number; // addresses the generator spreads over
  queues: number; // queue pairs the clients need (OVS transmits on its PMD's queue 1)
}

/** What one window measured, of any system. */
export interface Measured {
  mode: 'fast' | 'slow';
  mpps: number;
  loss: number;
  pingPongNs: number;
  busy: number; // memswitch: share of its worker's polls that found frames (near 1: it is the bottleneck)
  cycles?: Record<string, number>; // memswitch: TSC cycles per frame of each node over the window (show runtime)
}

export interface RoutingWindow extends Measured {
  system: System;
  frameSize: number;
  round: number;
}


/** Each node's cycles per frame between two runtime readings (nodes that saw no timed frame left out). */
function cyclesPerFrame(before: NativeNodeRuntime[], after: NativeNodeRuntime[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of after) {
    const b = before.find((x) => x.node === n.node)!;
    const frames = n.sampledVectors - b.sampledVectors;
    if (frames > 0) out[n.node] = (n.sampledCycles - b.sampledCycles) / frames;
  }
  return out;
}

/** memswitch between networks na (memif a) and nb (memif b): bridged (routes undefined), or
 * routed by router r over `routes` routes via b; `configure` adds what a benchmark measures. */
export function startMemswitch(sock: string, sutCpu: number, routes: number | undefined, ipv6: boolean, configure?: (dp: NativeDataplane, ifaces: { a: number; b: number }) => void): Sut {
  // Busy polling like testpmd and OVS: an adaptive worker that naps between the generator's
  // bursts makes the generator signal its eventfd, which slows the generator, not the switch.
  const dp: NativeDataplane = new (loadAddon().Dataplane)({ workers: 1, cpus: [sutCpu], poll: 'busy' });
  const na = dp.addNetwork('na');
  const nb = routes === undefined ? na : dp.addNetwork('nb');
  const ifaces = { a: dp.addMemif({ name: 'a', network: na, socket: sock, id: 0 }), b: dp.addMemif({ name: 'b', network: nb, socket: sock, id: 1 }) };
  let dstMac = MAC_B;
  if (routes !== undefined) {
    const r = dp.addRouter('r');
    // MTU 9000: a 1518-byte frame carries 1504 bytes of IP, over the default 1500.
    const ra = dp.addRouterInterface({ name: 'ra', router: r, network: na, addresses: ['10.0.0.1/24', 'fd0a::1/64'], mtu: 9000 });
    const rb = dp.addRouterInterface({ name: 'rb', router: r, network: nb, addresses: ['10.1.0.1/24', 'fd0b::1/64'], mtu: 9000 });
    const via = ipv6 ? 'fd0b::2' : '10.1.0.2';
    dp.addStaticNeighbor(rb, via, MAC_B);
    for (let i = 0; i < routes; i += 10_000) {
      const batch = [];
      for (let k = i; k < Math.min(routes, i + 10_000); k++)
        batch.push({ prefix: ipv6 ? route48(k) : `${formatIPv4(FIRST_ROUTE + k * 256)}/24`, kind: 'forward' as const, nextHops: [{ via }] });
      dp.addRoutes(r, batch);
    }
    dstMac = dp.routerInterfaceInfo(ra).mac;
  }
  configure?.(dp, ifaces);
  dp.start();
  const polls = () => {
    const w = dp.workers()[0]!;
    return { busy: w.busyPolls, all: w.polls };
  };
  return { stop: () => dp.stop(), polls, runtime: () => dp.workers()[0]!.runtime, dstMac, destinations: (routes ?? 1) * (ipv6 ? 1 : 256), queues: 1 };
}

async function startSystem(system: System, sock: string, sutCpu: number, trafficCpu: number): Promise<Sut> {
  if (system === 'testpmd-io') {
    const t = await Testpmd.start({
      vdevs: [
        { role: 'server', socket: sock, id: 0 },
        { role: 'server', socket: sock, id: 1 },
      ],
      forwardMode: 'io',
      burst: 64,
      forwardingCpu: sutCpu,
      mainCpu: trafficCpu,
      memory: 'hugepages',
    });
    return { stop: () => t.stop(), dstMac: MAC_B, destinations: 256, queues: 1 };
  }
  if (system === 'ovs-l3') {
    const o = await OvsDpdk.start({
      socket: sock,
      pmdCpu: sutCpu,
      mainCpu: trafficCpu,
      flows: [`in_port=m0,ip,nw_dst=${formatIPv4(FIRST_ROUTE)}/24,actions=mod_dl_src:02:00:00:00:0f:01,mod_dl_dst:${MAC_B},dec_ttl,output:m1`],
    });
    return { stop: () => o.stop(), dstMac: '02:00:00:00:0f:00', destinations: 256, queues: 2 };
  }
  return startMemswitch(sock, sutCpu, system === 'l2' ? undefined : ROUTES[system], isIpv6(system));
}

async function measure(system: System, frameSize: number, round: number, sutCpu: number, trafficCpu: number): Promise<RoutingWindow> {
  const name = `msw-bench-route-${process.pid}-${system}-${round}-${frameSize}`;
  const sock = system === 'ovs-l3' ? path.join(tmpdir(), `${name}.sock`) : `@${name}`;
  const m = await measureSut(() => startSystem(system, sock, sutCpu, trafficCpu), sock, { frameSize, ipv6: isIpv6(system) }, sutCpu, trafficCpu);
  return { system, frameSize, round, ...m };
}

/**
 * One window: the system `start` brings up on `sock`, our generator at full rate from
 * client a (IPv4 or IPv6/UDP to the routes' addresses, over `destinations` of them if
 * given, else all the system's), our sink on b.
 */
export async function measureSut(
  start: () => Sut | Promise<Sut>,
  sock: string,
  traffic: { frameSize: number; ipv6: boolean; destinations?: number; oneSourcePort?: boolean },
  sutCpu: number,
  trafficCpu: number,
): Promise<Measured> {
  const testing = loadTestingAddon();
  const { frameSize } = traffic;
  const pingPongNs = testing.cacheLinePingPongNs(sutCpu, trafficCpu, 200);
  const sut = await start();
  const a = new testing.MemifClient({ socket: sock, id: 0, hugepages: true, queues: sut.queues });
  const b = new testing.MemifClient({ socket: sock, id: 1, hugepages: true, queues: sut.queues });
  const eng = new testing.TrafficEngine();
  try {
    const gen = eng.addGenerator(a, {
      frameSize,
      src: MAC_A,
      dst: sut.dstMac,
      ...(traffic.ipv6 ? { ip6Src: 'fd0a::2', ip6Dst: 'fd00::1' } : { ip4Src: '10.0.0.2', ip4Dst: formatIPv4(FIRST_ROUTE) }),
      dstCount: traffic.destinations ?? sut.destinations,
      dstStride: STRIDE,
      bare: true,
      oneSourcePort: traffic.oneSourcePort ?? false,
    });
    const sink = eng.addSink(b);
    eng.start(trafficCpu);
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    eng.resetStats();
    const p0 = sut.polls?.();
    const rt0 = sut.runtime?.();
    await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
    const p1 = sut.polls?.();
    const rt1 = sut.runtime?.();
    const rx = eng.stats(sink).rxPackets;
    const tx = eng.stats(gen).txPackets;
    const busy = p0 && p1 ? (p1.busy - p0.busy) / Math.max(1, p1.all - p0.all) : NaN;
    return { mode: pingPongNs > SLOW_MODE_NS ? 'slow' : 'fast', mpps: rx / MEASURE_S / 1e6, loss: tx > 0 ? Math.max(0, 1 - rx / tx) : NaN, pingPongNs, busy, cycles: rt0 && rt1 ? cyclesPerFrame(rt0, rt1) : undefined };
  } finally {
    eng.stop();
    a.close();
    b.close();
    await sut.stop();
  }
}

export async function runRoutingBench(opts: { frameSizes: number[]; rounds: number; sutCpu: number; trafficCpu: number; ovs: boolean }): Promise<{ windows: RoutingWindow[]; rows: unknown[]; table: string }> {
  const systems: System[] = ['l2', ...ROUTED, 'testpmd-io', ...(opts.ovs ? (['ovs-l3'] as const) : [])];
  const windows: RoutingWindow[] = [];
  for (let round = 1; round <= opts.rounds; round++)
    for (const size of opts.frameSizes)
      for (const system of round % 2 ? systems : [...systems].reverse()) {
        const w = await measure(system, size, round, opts.sutCpu, opts.trafficCpu);
        windows.push(w);
        console.error(`routing round ${round} ${system} ${size}B: ${fmt(w.mpps)} Mpps, loss ${fmt(w.loss * 100, 3)}%, worker busy ${fmt(w.busy * 100, 0)}% (${w.mode})`);
      }
  // Ratios between windows of the same host mode, the mode with more windows first.
  const of = (sys: System, size: number, mode: string) => windows.filter((w) => w.system === sys && w.frameSize === size && w.mode === mode).map((w) => w.mpps);
  const headlineMode = windows.filter((w) => w.mode === 'fast').length >= windows.length / 2 ? 'fast' : 'slow';
  const rows = opts.frameSizes.flatMap((size) =>
    ROUTED.map((sys) => {
      const r = median(of(sys, size, headlineMode));
      const peer = (p: System) => r / median(of(p, size, headlineMode));
      return { frameSize: size, system: sys, mode: headlineMode, mpps: r, vsL2: peer('l2'), vsTestpmdIo: peer('testpmd-io'), vsOvsL3: opts.ovs ? peer('ovs-l3') : NaN, l2Mpps: median(of('l2', size, headlineMode)) };
    }),
  );
  const table = [
    '',
    `memif -> router -> memif between two networks (IPv4 /24 routes; IPv6 /48 routes), our generator at full rate (medians of ${opts.rounds} interleaved rounds, ${headlineMode}-mode windows; OVS does IPv4)`,
    '',
    '| frame | family | routes | router Mpps | L2 Mpps | vs memswitch L2 | vs testpmd io | vs OVS-DPDK OpenFlow L3 |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.frameSize} B | ${isIpv6(r.system) ? 'IPv6' : 'IPv4'} | ${r.system.slice(r.system.indexOf('-') + 1)} | ${fmt(r.mpps)} | ${fmt(r.l2Mpps)} | **${fmt(r.vsL2)}x** | **${fmt(r.vsTestpmdIo)}x** | ${fmt(r.vsOvsL3)}x |`,
    ),
  ].join('\n');
  // Where the worker's time goes: show runtime's cycles per frame, per node, over the
  // same windows (medians); rx, the stages that ran, tx.
  const memswitchSystems: System[] = ['l2', ...ROUTED];
  const nodes = [...new Set(windows.flatMap((w) => Object.keys(w.cycles ?? {})))];
  const nodeCycles = (sys: System, size: number, node: string) => median(windows.filter((w) => w.system === sys && w.frameSize === size && w.mode === headlineMode && w.cycles?.[node] !== undefined).map((w) => w.cycles![node]!));
  const runtimeTable = [
    '',
    `Where the worker's time goes: TSC cycles per frame of each node (memswitch show runtime over the same windows, medians; ${headlineMode}-mode)`,
    '',
    `| frame | system | ${nodes.join(' | ')} | total |`,
    `| ---: | --- | ${nodes.map(() => '---:').join(' | ')} | ---: |`,
    ...opts.frameSizes.flatMap((size) =>
      memswitchSystems.map((sys) => {
        const c = nodes.map((n) => nodeCycles(sys, size, n));
        return `| ${size} B | ${sys} | ${c.map((v) => (Number.isNaN(v) ? '-' : fmt(v, 0))).join(' | ')} | ${fmt(c.filter((v) => !Number.isNaN(v)).reduce((a, v) => a + v, 0), 0)} |`;
      }),
    ),
  ].join('\n');
  return { windows, rows, table: `${table}\n${runtimeTable}` };
}
