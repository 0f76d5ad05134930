// memif -> router -> memif with an ACL on what the router receives from a, in CSIT's ACL
// shape: E = 1, 10 or 50 deny entries no packet matches, then the permit; F = 100, 10k or
// 100k flows (UDP to F addresses, one source port); stateless (permit: every packet
// walks the entries) and stateful (permit+reflect: a flow's first packet is judged, the
// rest are found in connection tracking). Next to plain routing over the same 1024 /24
// routes, interleaved in the same run, as routing.ts measures it.
import { fmt, median } from './common.js';
import { measureSut, startMemswitch, type Measured } from './routing.js';
import type { NativeAclRule } from '../orchestrator/src/dataplane/native.js';

const ROUTES = 1024; // /24s from 11.0.0.0: 262144 addresses, room for every flow count
const FLOWS = [100, 10_000, 100_000];
const ENTRIES = [1, 10, 50];

type Kind = 'route' | 'stateless' | 'stateful';
interface System {
  kind: Kind;
  entries: number;
}
export interface AclWindow extends Measured {
  system: string;
  flows: number;
  round: number;
}

const label = (s: System): string => (s.kind === 'route' ? 'route' : `${s.kind}-${s.entries}`);

/** `entries` deny rules for sources nothing sends from, then the permit of the traffic. */
function rules(kind: Kind, entries: number): NativeAclRule[] {
  const deny = Array.from({ length: entries }, (_, i) => ({
    action: 'deny' as const,
    src: `172.${16 + (i >> 8)}.${i & 255}.0/24`,
    dst: '11.0.0.0/8',
    proto: 17,
    dstPorts: [2000, 2000] as [number, number],
    icmpType: -1,
    icmpCode: -1,
  }));
  return [...deny, { action: kind === 'stateful' ? 'permit+reflect' : 'permit', dst: '11.0.0.0/8', proto: 17, icmpType: -1, icmpCode: -1 }];
}

async function measure(system: System, flows: number, round: number, sutCpu: number, trafficCpu: number): Promise<AclWindow> {
  const sock = `@msw-bench-acl-${process.pid}-${label(system)}-${flows}-${round}`;
  const start = () =>
    startMemswitch(sock, sutCpu, ROUTES, false, (dp, ifaces) => {
      if (system.kind === 'route') return;
      dp.bindAcl(ifaces.a, 'in', dp.addAcl('bench', rules(system.kind, system.entries)));
    });
  const m = await measureSut(start, sock, { frameSize: 64, ipv6: false, destinations: flows, oneSourcePort: true }, sutCpu, trafficCpu);
  return { system: label(system), flows, round, ...m };
}

export async function runAclBench(opts: { rounds: number; sutCpu: number; trafficCpu: number }): Promise<{ windows: AclWindow[]; rows: unknown[]; table: string }> {
  const systems: System[] = [{ kind: 'route', entries: 0 }, ...ENTRIES.flatMap((entries) => (['stateless', 'stateful'] as const).map((kind) => ({ kind, entries })))];
  const windows: AclWindow[] = [];
  for (let round = 1; round <= opts.rounds; round++)
    for (const flows of FLOWS)
      for (const system of round % 2 ? systems : [...systems].reverse()) {
        const w = await measure(system, flows, round, opts.sutCpu, opts.trafficCpu);
        windows.push(w);
        console.error(`acl round ${round} ${w.system} ${flows} flows: ${fmt(w.mpps)} Mpps, loss ${fmt(w.loss * 100, 3)}%, worker busy ${fmt(w.busy * 100, 0)}% (${w.mode})`);
      }
  const headlineMode = windows.filter((w) => w.mode === 'fast').length >= windows.length / 2 ? 'fast' : 'slow';
  const of = (system: string, flows: number) => windows.filter((w) => w.system === system && w.flows === flows && w.mode === headlineMode);
  const mpps = (system: string, flows: number) => median(of(system, flows).map((w) => w.mpps));
  const aclCycles = (system: string, flows: number) => median(of(system, flows).map((w) => (w.cycles?.acl_in ?? NaN) + (w.cycles?.acl_out ?? 0)).filter((c) => !Number.isNaN(c)));
  const rows = FLOWS.flatMap((flows) =>
    ENTRIES.map((entries) => {
      const route = mpps('route', flows);
      const stateless = mpps(`stateless-${entries}`, flows);
      const stateful = mpps(`stateful-${entries}`, flows);
      return {
        flows,
        entries,
        mode: headlineMode,
        routeMpps: route,
        statelessMpps: stateless,
        statefulMpps: stateful,
        statelessVsRoute: stateless / route,
        statefulVsRoute: stateful / route,
        statelessAclCycles: aclCycles(`stateless-${entries}`, flows),
        statefulAclCycles: aclCycles(`stateful-${entries}`, flows),
      };
    }),
  );
  const table = [
    '',
    `memif -> router -> memif, 64 B, an ACL on what a sends: E deny entries no packet matches, then the permit (medians of ${opts.rounds} interleaved rounds, ${headlineMode}-mode windows)`,
    '',
    '| flows | entries | plain routing Mpps | stateless Mpps | stateful Mpps | stateless vs routing | stateful vs routing | ACL cycles/frame stateless | stateful |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.flows} | ${r.entries} | ${fmt(r.routeMpps)} | ${fmt(r.statelessMpps)} | ${fmt(r.statefulMpps)} | **${fmt(r.statelessVsRoute)}x** | **${fmt(r.statefulVsRoute)}x** | ${fmt(r.statelessAclCycles, 0)} | ${fmt(r.statefulAclCycles, 0)} |`,
    ),
  ].join('\n');
  return { windows, rows, table };
}
