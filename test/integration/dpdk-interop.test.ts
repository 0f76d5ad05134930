// Wire compatibility with an implementation we did not write: Debian's dpdk-testpmd
// (DPDK 22.11 net_memif) as the container on both sides of the switch, and as the
// memif server our own client talks to.
import { rmSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestSwitch, abstractSocket, eventually, mac, testing } from '../helpers/switch.js';
import { Testpmd, dpdkAvailable } from '../../bench/testpmd.js';

const running: Testpmd[] = [];
let sw: TestSwitch | undefined;

beforeAll(() => {
  const dpdk = dpdkAvailable();
  if (!dpdk.ok) throw new Error(`DPDK interop tests need dpdk-testpmd: ${dpdk.reason} (scripts/setup.sh installs dpdk-dev)`);
});

afterEach(async () => {
  for (const t of running.splice(0)) await t.stop();
  sw?.close();
  sw = undefined;
});

async function testpmd(opts: Parameters<typeof Testpmd.start>[0]): Promise<Testpmd> {
  const t = await Testpmd.start(opts);
  running.push(t);
  return t;
}

describe('dpdk-testpmd as the memif client on both sides', () => {
  it.each([
    ['abstract', abstractSocket('dpdk')],
    ['filesystem', `/run/msw-vitest-${process.pid}-dpdk.sock`],
  ])('txonly -> memswitch -> rxonly over a %s socket, counts match', async (_, sock) => {
    sw = new TestSwitch();
    sw.memif('tx', sock, 0);
    sw.memif('rx', sock, 1);
    // The switch listens before the workloads start: DPDK clients connect only once.
    const rx = await testpmd({ vdevs: [{ role: 'client', socket: sock, id: 1 }], forwardMode: 'rxonly', forwardingCpu: 1, memory: 'nohuge' });
    const tx = await testpmd({ vdevs: [{ role: 'client', socket: sock, id: 0 }], forwardMode: 'txonly', txPkts: 64, forwardingCpu: 1, memory: 'nohuge' });
    await eventually(() => sw!.dp.interface('tx').connected && sw!.dp.interface('rx').connected, 10_000, 'both testpmd ports connected');
    expect(sw.dp.interface('tx').peerInterface).toMatch(/net_memif/);
    await eventually(() => sw!.dp.interface('rx').txPackets > 100_000, 10_000, 'frames forwarded to the rxonly port');

    // Stop the sender, let the receiver print its settled totals, then compare.
    await tx.stop();
    running.splice(running.indexOf(tx), 1);
    await rx.waitForSamples(2, 5000);
    const sent = sw.dp.interface('tx');
    const delivered = sw.dp.interface('rx');
    const drops = Object.values(delivered.drops).reduce((a, b) => a + b, 0) + Object.values(sent.drops).reduce((a, b) => a + b, 0);
    expect(sent.rxPackets).toBe(delivered.txPackets + drops);
    expect(rx.rxPackets(0)).toBe(delivered.txPackets);
    expect(sent.drops.bad_descriptor + sent.drops.bad_chain).toBe(0);
    if (!sock.startsWith('@')) rmSync(sock, { force: true });
  });
});

describe('dpdk-testpmd as the memif server, our client as the container', () => {
  it.each([
    ['abstract', abstractSocket('srv')],
    ['filesystem', `/run/msw-vitest-${process.pid}-srv.sock`],
  ])('receives testpmd txonly and feeds testpmd rxonly over a %s socket', async (_, sock) => {
    const server = await testpmd({
      vdevs: [{ role: 'server', socket: sock, id: 0 }, { role: 'server', socket: sock, id: 1 }],
      forwardMode: 'rxonly',
      forwardingCpu: 1,
      memory: 'nohuge',
    });
    const c = new testing.MemifClient({ socket: sock, id: 1, hugepages: false });
    expect(c.info().serverName).toMatch(/DPDK/);
    const eng = new testing.TrafficEngine();
    eng.addGenerator(c, { src: mac(1), dst: mac(2), count: 50_000, pps: 500_000 });
    eng.start();
    await eventually(() => eng.generatorsDone(), 10_000, 'generator done');
    await server.waitForSamples(2, 5000);
    eng.stop();
    expect(server.rxPackets(1)).toBe(50_000);
    c.close();
    await server.stop();
    running.splice(0);

    const txServer = await testpmd({ vdevs: [{ role: 'server', socket: sock, id: 0 }], forwardMode: 'txonly', txPkts: 128, forwardingCpu: 1, memory: 'nohuge' });
    const sinkClient = new testing.MemifClient({ socket: sock, id: 0, hugepages: false });
    const sinkEngine = new testing.TrafficEngine();
    const s = sinkEngine.addSink(sinkClient);
    sinkEngine.start();
    await eventually(() => sinkEngine.stats(s).rxPackets > 10_000, 10_000, 'frames from testpmd');
    sinkEngine.stop();
    // testpmd's frames are not ours: every one is counted as foreign, 128 bytes long.
    const st = sinkEngine.stats(s);
    expect(st.rxForeign).toBe(st.rxPackets);
    expect(st.rxBytes).toBe(st.rxPackets * 128);
    expect(sinkClient.info().rxBadDescriptors).toBe(0);
    sinkClient.close();
    await txServer.stop();
    running.splice(0);
  });
});
