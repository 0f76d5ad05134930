// npm run bench, part 2: kernel interfaces. Frames loop through the system under test
// between veth pairs (AF_XDP, copy mode: this machine has no NIC) and memif:
//   memswitch veth<->veth, the Linux bridge veth<->veth, dpdk-testpmd net_af_xdp io
//   veth<->veth (the same wire), and memswitch veth<->memif.
// The generator is one dpdk-testpmd in mac forwarding with --tx-first (CPU 1) whose ports
// are the far ends of the veth pairs (net_af_xdp) or a memif client; the system under
// test polls on CPU 0 (the bridge has no poller: the kernel forwards in the softirq of
// whichever CPU sent the frame, i.e. mostly the generator's).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Dataplane } from '../orchestrator/src/dataplane/dataplane.js';
import { afxdpInterface, memifInterface } from '../orchestrator/src/config/schema.js';
import { fmt, measureLoop, median } from './common.js';
import { Testpmd, type TestpmdOptions } from './testpmd.js';

const SUT_CPU = 0;
const TRAFFIC_CPU = 1;
const WARMUP_S = 2;
const MEASURE_S = 4;
const BURST = 64;
const SIZES = [64, 1518];

// Two veth pairs: gen* ends belong to the generator, sut* ends to the system under test.
const LINKS = { genA: 'mswbga', sutA: 'mswbsa', genB: 'mswbgb', sutB: 'mswbsb', bridge: 'mswbbr' };
const MAC_GA = '02:00:00:0b:0a:01';
const MAC_GB = '02:00:00:0b:0b:01';
const MAC_M = '02:00:00:0b:0c:01';

export type AfxdpSystem = 'memswitch veth-veth' | 'linux bridge veth-veth' | 'testpmd af_xdp veth-veth' | 'memswitch veth-memif';
export const AFXDP_SYSTEMS: AfxdpSystem[] = ['memswitch veth-veth', 'linux bridge veth-veth', 'testpmd af_xdp veth-veth', 'memswitch veth-memif'];

const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'ignore' });

function createLinks(): void {
  removeLinks();
  for (const [gen, sut, mac] of [
    [LINKS.genA, LINKS.sutA, MAC_GA],
    [LINKS.genB, LINKS.sutB, MAC_GB],
  ] as const) {
    ip('link', 'add', gen, 'type', 'veth', 'peer', 'name', sut);
    ip('link', 'set', gen, 'address', mac, 'up');
    ip('link', 'set', sut, 'up');
  }
}

export function removeLinks(): void {
  for (const l of [LINKS.genA, LINKS.genB, LINKS.bridge]) if (existsSync(`/sys/class/net/${l}`)) ip('link', 'del', l);
}

const afXdpVdev = (i: number, iface: string): string => `--vdev=net_af_xdp${i},iface=${iface},start_queue=0,queue_count=1`;

// The system under test, started; returns how to stop it.
async function startSystem(system: AfxdpSystem, sock: string): Promise<() => Promise<void>> {
  switch (system) {
    case 'memswitch veth-veth':
    case 'memswitch veth-memif': {
      const dp = Dataplane.create({ workers: 1, cpus: [SUT_CPU] });
      dp.addNetwork('bench');
      dp.addAfxdp(afxdpInterface.parse({ name: 'a', kind: 'afxdp', network: 'bench', netdev: LINKS.sutA }));
      if (system === 'memswitch veth-veth') dp.addAfxdp(afxdpInterface.parse({ name: 'b', kind: 'afxdp', network: 'bench', netdev: LINKS.sutB }));
      else dp.addMemif(memifInterface.parse({ name: 'm', kind: 'memif', network: 'bench', socket: sock, id: 0 }));
      dp.start();
      return async () => dp.stop();
    }
    case 'linux bridge veth-veth':
      ip('link', 'add', LINKS.bridge, 'type', 'bridge');
      ip('link', 'set', LINKS.sutA, 'master', LINKS.bridge);
      ip('link', 'set', LINKS.sutB, 'master', LINKS.bridge);
      ip('link', 'set', LINKS.bridge, 'up');
      return async () => ip('link', 'del', LINKS.bridge);
    case 'testpmd af_xdp veth-veth': {
      const sut = await Testpmd.start({
        vdevs: [],
        extraEal: [afXdpVdev(0, LINKS.sutA), afXdpVdev(1, LINKS.sutB)],
        forwardMode: 'io',
        burst: BURST,
        forwardingCpu: SUT_CPU,
        mainCpu: TRAFFIC_CPU,
        memory: 'hugepages',
      });
      return async () => void (await sut.stop());
    }
  }
}

function generator(system: AfxdpSystem, sock: string, frameSize: number): TestpmdOptions {
  const common = { forwardMode: 'mac' as const, txFirst: true, txPkts: frameSize, burst: BURST, forwardingCpu: TRAFFIC_CPU, mainCpu: SUT_CPU, memory: 'hugepages' as const };
  if (system === 'memswitch veth-memif')
    // memif client first (port 0), then the veth end (port 1).
    return { ...common, vdevs: [{ role: 'client', socket: sock, id: 0, mac: MAC_M }], extraEal: [afXdpVdev(1, LINKS.genA)], ethPeers: [MAC_GA, MAC_M] };
  return { ...common, vdevs: [], extraEal: [afXdpVdev(0, LINKS.genA), afXdpVdev(1, LINKS.genB)], ethPeers: [MAC_GB, MAC_GA] };
}

export interface AfxdpMeasurement {
  system: AfxdpSystem;
  frameSize: number;
  round: number;
  mpps: number;
  loss: number;
  samples: number[];
}

export async function runAfxdpBench(rounds: number): Promise<{ measurements: AfxdpMeasurement[]; rows: object[]; table: string }> {
  const measurements: AfxdpMeasurement[] = [];
  createLinks();
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const frameSize of SIZES) {
        // Rotate the order per round so a slow minute of the host does not hit one system.
        const order = AFXDP_SYSTEMS.map((_, i) => AFXDP_SYSTEMS[(i + round - 1) % AFXDP_SYSTEMS.length]!);
        for (const system of order) {
          const sock = `@msw-bench-xdp-${process.pid}-${round}-${frameSize}`;
          const stop = await startSystem(system, sock);
          try {
            const { gen, window } = await measureLoop(() => Testpmd.start(generator(system, sock, frameSize)), WARMUP_S, MEASURE_S);
            await gen.stop();
            const m = { system, frameSize, round, mpps: median(window.samples), loss: window.loss, samples: window.samples };
            measurements.push(m);
            console.error(`round ${round} ${system} ${frameSize}B: ${fmt(m.mpps)} Mpps, loss ${fmt(m.loss * 100, 3)}%`);
          } finally {
            await stop();
          }
        }
      }
    }
  } finally {
    removeLinks();
  }
  const rows = SIZES.map((frameSize) => {
    const mpps = (s: AfxdpSystem) => median(measurements.filter((m) => m.system === s && m.frameSize === frameSize).map((m) => m.mpps));
    const ratio = (s: AfxdpSystem, base: AfxdpSystem) =>
      median(
        measurements
          .filter((m) => m.system === s && m.frameSize === frameSize)
          .map((m) => m.mpps / (measurements.find((b) => b.system === base && b.frameSize === frameSize && b.round === m.round)?.mpps ?? NaN)),
      );
    return {
      frameSize,
      mpps: Object.fromEntries(AFXDP_SYSTEMS.map((s) => [s, mpps(s)])) as Record<AfxdpSystem, number>,
      memswitchVsBridge: ratio('memswitch veth-veth', 'linux bridge veth-veth'),
      memswitchVsTestpmd: ratio('memswitch veth-veth', 'testpmd af_xdp veth-veth'),
    };
  });
  const table = [
    '',
    'veth (AF_XDP copy mode) and memif, frames looping through the system under test (Mpps, both directions, medians)',
    '',
    `| frame | ${AFXDP_SYSTEMS.join(' | ')} | memswitch / bridge | memswitch / testpmd af_xdp |`,
    `| ---: | ${AFXDP_SYSTEMS.map(() => '---:').join(' | ')} | ---: | ---: |`,
    ...rows.map(
      (r) =>
        `| ${r.frameSize} B | ${AFXDP_SYSTEMS.map((s) => fmt(r.mpps[s])).join(' | ')} | **${fmt(r.memswitchVsBridge)}x** | **${fmt(r.memswitchVsTestpmd)}x** |`,
    ),
  ].join('\n');
  return { measurements, rows, table };
}
