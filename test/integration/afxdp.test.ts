// AF_XDP through the real addon and the real kernel: veth interfaces for ordinary
// containers (network namespaces running ping and iperf3), uplinks with a "wire" on the
// far end, dpdk-testpmd's net_af_xdp as an outside peer, removal and bad input.
// Everything here is veth in copy mode: this machine has no NIC and no SR-IOV VF.
import { afterEach, describe, expect, it } from 'vitest';
import { afxdpInterface, vethInterface } from '../../orchestrator/src/config/schema.js';
import { hostIfname } from '../../orchestrator/src/domain/veth.js';
import { Testpmd } from '../../bench/testpmd.js';
import { Netns, linkExists, sh, xdpProgram } from '../helpers/netns.js';
import { TestSwitch, abstractSocket, addon, eventually, mac, runUntil } from '../helpers/switch.js';

let sw: TestSwitch | undefined;
const net = new Netns();
afterEach(() => {
  sw?.close();
  sw = undefined;
  net.cleanup();
});

function veth(name: string, netns: string, extra: Record<string, unknown> = {}) {
  return vethInterface.parse({ name, kind: 'veth', network: 'blue', netns, ...extra });
}

function rxPackets(ns: string, ifname: string): number {
  return Number(net.exec(ns, ['cat', `/sys/class/net/${ifname}/statistics/rx_packets`]).trim());
}

describe('veth interfaces for unmodified containers', () => {
  it.each([1500, 9000])('ping, ARP and an iperf3 TCP run between two namespaces at MTU %i', async (mtu) => {
    sw = new TestSwitch();
    const a = net.add('a');
    const b = net.add('b');
    const va = sw.dp.addVeth(veth('va', a.path, { addresses: ['10.70.0.1/24'], mtu, mac: '02:00:00:70:00:01' }));
    sw.dp.addVeth(veth('vb', b.path, { addresses: ['10.70.0.2/24'], mtu, mac: '02:00:00:70:00:02' }));
    expect(va).toMatchObject({ kind: 'veth', connected: true, xdpMode: 'copy' });
    expect(['native', 'generic']).toContain(va.xdpAttach);

    const ping = net.exec(a.name, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-s', String(mtu - 28), '-M', 'do', '10.70.0.2']);
    expect(ping).toMatch(/3 received/);
    expect(net.exec(a.name, ['ip', 'neigh', 'show', '10.70.0.2'])).toMatch(/lladdr 02:00:00:70:00:02/);

    const server = net.spawn(b.name, ['iperf3', '-s', '-1', '-B', '10.70.0.2']);
    await new Promise((r) => setTimeout(r, 300));
    const report = JSON.parse(net.exec(a.name, ['iperf3', '-c', '10.70.0.2', '-t', '2', '-J'])) as {
      end: { sum_received: { bytes: number; bits_per_second: number } };
    };
    server.kill();
    expect(report.end.sum_received.bytes).toBeGreaterThan(10_000_000);
    console.log(`iperf3 through memswitch at MTU ${mtu}: ${(report.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s`);
    expect(sw.dp.interface('vb').txPackets).toBeGreaterThan(1000);
  });

  it('a veth container and a memif client exchange frames both ways', async () => {
    sw = new TestSwitch();
    const a = net.add('mix');
    sw.dp.addVeth(veth('va', a.path, { addresses: ['10.71.0.1/24'], mac: '02:00:00:71:00:01' }));
    const sock = abstractSocket('mix');
    sw.memif('m', sock, 0);
    const client = sw.client({ socket: sock, id: 0 });
    // memif -> container: frames to the container's MAC show up on its interface.
    const before = rxPackets(a.name, 'eth0');
    const eng = sw.engine();
    eng.addGenerator(client, { src: mac(0x7101), dst: '02:00:00:71:00:01', count: 500, pps: 50_000 });
    const sink = eng.addSink(client);
    eng.start();
    await eventually(() => eng.generatorsDone(), 5000, 'generator done');
    await eventually(() => rxPackets(a.name, 'eth0') - before >= 500, 5000, '500 frames in the container');
    // container -> memif: ARP requests for an absent neighbour are broadcast to the client.
    try {
      net.exec(a.name, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '10.71.0.99']);
    } catch {
      // nobody answers: the ARP requests are what we want
    }
    await eventually(() => eng.stats(sink).rxForeign >= 1, 5000, 'ARP requests at the memif client');
    eng.stop();
    expect(sw.dp.interface('va').rxPackets).toBeGreaterThanOrEqual(1);
  });

  it('a veth container and dpdk-testpmd (memif client, mac forwarding) exchange frames both ways', async () => {
    sw = new TestSwitch();
    const a = net.add('tpmix');
    sw.dp.addVeth(veth('va', a.path, { addresses: ['10.75.0.1/24'], mac: '02:00:00:75:00:01' }));
    const sock = abstractSocket('tpmix');
    sw.memif('m', sock, 0);
    const before = rxPackets(a.name, 'eth0');
    // --tx-first sends one burst to the container; afterwards every frame testpmd gets
    // (the container's broadcast pings) goes back to the container's MAC.
    const tp = await Testpmd.start({
      vdevs: [{ role: 'client', socket: sock, id: 0, mac: '02:00:00:75:00:99' }],
      forwardMode: 'mac',
      txFirst: true,
      ethPeers: ['02:00:00:75:00:01'],
      forwardingCpu: 1,
      memory: 'nohuge',
    });
    try {
      await eventually(() => rxPackets(a.name, 'eth0') - before >= 32, 10_000, 'the tx-first burst in the container');
      try {
        net.exec(a.name, ['ping', '-b', '-c', '5', '-i', '0.2', '-W', '1', '10.75.0.255']);
      } catch {
        // no one answers a broadcast ping here; the requests are the traffic we want
      }
      await tp.waitForSamples(2, 5000);
      expect(tp.rxPackets(0)).toBeGreaterThanOrEqual(5);
      await eventually(() => rxPackets(a.name, 'eth0') - before >= 32 + 5, 5000, 'pings forwarded back by testpmd');
    } finally {
      await tp.stop();
    }
    expect(sw.dp.interface('m').rxPackets).toBeGreaterThanOrEqual(32 + 5);
  });
});

describe('AF_XDP uplinks', () => {
  it('frames from the wire reach a memif container and back', async () => {
    sw = new TestSwitch();
    const wire = net.add('wire');
    const up = `mswup${process.pid % 100000}`;
    const far = `mswfar${process.pid % 100000}`;
    net.vethPair(up, far);
    sh('ip', ['link', 'set', far, 'netns', wire.path]);
    net.exec(wire.name, ['ip', 'addr', 'add', '10.72.0.1/24', 'dev', far]);
    net.exec(wire.name, ['ip', 'link', 'set', far, 'address', '02:00:00:72:00:01', 'up']);
    net.exec(wire.name, ['ethtool', '-K', far, 'tx', 'off']);
    const uplink = sw.dp.addAfxdp(afxdpInterface.parse({ name: 'up0', kind: 'afxdp', network: 'blue', netdev: up }));
    expect(uplink).toMatchObject({ kind: 'afxdp', netdev: up, connected: true, rxQueues: 1 });
    expect(xdpProgram(up)).toBeDefined();
    const sock = abstractSocket('uplink');
    sw.memif('m', sock, 0);
    const client = sw.client({ socket: sock, id: 0 });
    const eng = sw.engine();
    const sink = eng.addSink(client);
    eng.addGenerator(client, { src: mac(0x7201), dst: '02:00:00:72:00:01', count: 300, pps: 50_000 });
    const before = rxPackets(wire.name, far);
    eng.start();
    try {
      net.exec(wire.name, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '10.72.0.99']);
    } catch {
      // unanswered ARP requests, broadcast over the uplink
    }
    await eventually(() => eng.stats(sink).rxForeign >= 1, 5000, 'frames from the wire at the memif client');
    await eventually(() => rxPackets(wire.name, far) - before >= 300, 5000, '300 frames on the wire');
    eng.stop();
    expect(sw.dp.interface('up0').rxPackets).toBeGreaterThanOrEqual(1);
  });

  it('dpdk-testpmd net_af_xdp on the far end of a veth uplink', async () => {
    sw = new TestSwitch();
    const up = `mswtu${process.pid % 100000}`;
    const far = `mswtf${process.pid % 100000}`;
    net.vethPair(up, far);
    sw.dp.addAfxdp(afxdpInterface.parse({ name: 'up0', kind: 'afxdp', network: 'blue', netdev: up }));
    const sock = abstractSocket('tp');
    sw.memif('m', sock, 0);
    const client = sw.client({ socket: sock, id: 0 });
    const eng = sw.engine();
    const sink = eng.addSink(client);
    eng.start();
    const tp = await Testpmd.start({
      vdevs: [],
      extraEal: [`--vdev=net_af_xdp0,iface=${far},start_queue=0,queue_count=1`],
      forwardMode: 'txonly',
      txPkts: 64,
      forwardingCpu: 1,
      memory: 'nohuge',
    });
    try {
      await eventually(() => eng.stats(sink).rxPackets > 10_000, 15_000, 'testpmd frames at the memif client');
    } finally {
      await tp.stop();
      eng.stop();
    }
    // testpmd's 64-byte frames, plus the odd IPv6 neighbour discovery frame of the kernel.
    expect(eng.stats(sink).rxBytes / eng.stats(sink).rxPackets).toBeCloseTo(64, 0);
    expect(sw.dp.interface('up0').rxPackets).toBeGreaterThanOrEqual(eng.stats(sink).rxPackets);
  });
});

describe('removal and restart', () => {
  it('leaves no XDP program, no link and no UMEM behind, and the netdevs can be attached again', async () => {
    sw = new TestSwitch();
    const a = net.add('rm');
    const b = net.add('rm');
    const umemBefore = addon.memoryCounters();
    sw.dp.addVeth(veth('va', a.path, { addresses: ['10.73.0.1/24'] }));
    sw.dp.addVeth(veth('vb', b.path, { addresses: ['10.73.0.2/24'] }));
    const hostA = hostIfname('va');
    expect(xdpProgram(hostA)).toBeDefined();
    const flood = net.spawn(a.name, ['ping', '-f', '-w', '5', '10.73.0.2']); // traffic while we delete
    await eventually(() => sw!.dp.interface('vb').txPackets > 100, 5000, 'traffic');
    sw.dp.removeInterface('va');
    sw.dp.removeInterface('vb');
    flood.kill();
    expect(linkExists(hostA)).toBe(false);
    expect(linkExists(hostIfname('vb'))).toBe(false);
    const after = addon.memoryCounters();
    expect(after.hugepageBytes + after.fallbackBytes).toBe(umemBefore.hugepageBytes + umemBefore.fallbackBytes);

    // An uplink removed and a new switch on the same netdev, as after a daemon restart.
    net.vethPair('mswrs0', 'mswrs1');
    sw.dp.addAfxdp(afxdpInterface.parse({ name: 'up', kind: 'afxdp', network: 'blue', netdev: 'mswrs0' }));
    sw.close();
    expect(xdpProgram('mswrs0')).toBeUndefined();
    sw = new TestSwitch();
    sw.dp.addAfxdp(afxdpInterface.parse({ name: 'up', kind: 'afxdp', network: 'blue', netdev: 'mswrs0' }));
    expect(xdpProgram('mswrs0')).toBeDefined();
    expect(sw.dp.interface('up').connected).toBe(true);
  });
});

describe('bad input', () => {
  it('names the field and keeps the rest of the switch running', async () => {
    sw = new TestSwitch();
    const a = net.add('ok');
    const b = net.add('ok');
    sw.dp.addVeth(veth('va', a.path, { addresses: ['10.74.0.1/24'] }));
    sw.dp.addVeth(veth('vb', b.path, { addresses: ['10.74.0.2/24'] }));
    const up = (extra: Record<string, unknown>) => afxdpInterface.parse({ name: 'bad', kind: 'afxdp', network: 'blue', ...extra });

    expect(() => sw!.dp.addAfxdp(up({ netdev: 'mswnosuch0' }))).toThrow(/netdev: no network interface named mswnosuch0/);
    net.vethPair('mswbq0', 'mswbq1');
    expect(() => sw!.dp.addAfxdp(up({ netdev: 'mswbq0', queues: [3] }))).toThrow(/queues: queue 3 out of range: mswbq0 has 1 rx queue/);
    net.vethPair('mswbm0', 'mswbm1', 9500);
    expect(() => sw!.dp.addAfxdp(up({ netdev: 'mswbm0' }))).toThrow(/mtu: mswbm0 has MTU 9500/);
    expect(() => sw!.dp.addVeth(veth('vc', '/var/run/netns/msw-does-not-exist'))).toThrow(/netns: \/var\/run\/netns\/msw-does-not-exist does not exist/);
    expect(vethInterface.safeParse({ name: 'x', kind: 'veth', network: 'blue', netns: a.path, mtu: 9500 }).success).toBe(false);
    // Nothing half-applied: no XDP program and no stray link.
    expect(xdpProgram('mswbq0')).toBeUndefined();
    expect(xdpProgram('mswbm0')).toBeUndefined();
    expect(linkExists(hostIfname('vc'))).toBe(false);
    expect(net.exec(a.name, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.74.0.2'])).toMatch(/2 received/);
  });
});
