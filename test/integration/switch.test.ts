// Real frames through the real addon: memif clients on one or more networks.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { hugepagesFree } from '../../bench/testpmd.js';
import { TestSwitch, abstractSocket, eventually, mac, runUntil, testing } from '../helpers/switch.js';

const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';

let sw: TestSwitch | undefined;
afterEach(() => {
  sw?.close();
  sw = undefined;
});

describe('L2 switching between memif clients', () => {
  it('floods unknown unicast to every other port, then unicasts once learned (four clients)', async () => {
    sw = new TestSwitch();
    const sock = abstractSocket('four');
    const c = [0, 1, 2, 3].map((i) => {
      sw!.memif(`m${i}`, sock, i);
      return sw!.client({ socket: sock, id: i });
    });
    const flood = sw.engine();
    flood.addGenerator(c[0]!, { src: mac(1), dst: mac(2), count: 400, pps: 200_000 });
    const sinks = [1, 2, 3].map((i) => flood.addSink(c[i]!));
    await runUntil(flood, sinks, 400);
    for (const s of sinks) expect(flood.stats(s).rxPackets).toBe(400);

    // Port 1 answers: mac(1) was learned on port 0, so only port 0 receives.
    const uni = sw.engine();
    uni.addGenerator(c[1]!, { src: mac(2), dst: mac(1), count: 400, pps: 200_000 });
    const [s0, s2, s3] = [0, 2, 3].map((i) => uni.addSink(c[i]!));
    await runUntil(uni, [s0!], 400);
    expect(uni.stats(s0!).rxPackets).toBe(400);
    expect(uni.stats(s0!).lost).toBe(0);
    expect(uni.stats(s2!).rxPackets + uni.stats(s3!).rxPackets).toBe(0);
    expect(sw.dp.interface('m2').txPackets).toBe(400);

    const table = sw.dp.macTable();
    expect(table).toContainEqual(expect.objectContaining({ mac: mac(1), interface: 'm0', static: false }));
    expect(table).toContainEqual(expect.objectContaining({ mac: mac(2), interface: 'm1', static: false }));
  });

  it('keeps networks and VLANs apart', async () => {
    sw = new TestSwitch({ networks: ['blue', 'red'] });
    const sock = abstractSocket('iso');
    sw.memif('a', sock, 0, { vlan: 10 });
    sw.memif('b', sock, 1, { vlan: 10 });
    sw.memif('c', sock, 2, { vlan: 20 });
    sw.memif('d', sock, 3, { network: 'red', vlan: 10 });
    sw.memif('e', sock, 4);
    const [a, b, c, d, e] = [0, 1, 2, 3, 4].map((id) => sw!.client({ socket: sock, id }));
    const eng = sw.engine();
    eng.addGenerator(a!, { src: mac(1), dst: 'ff:ff:ff:ff:ff:ff', count: 300, pps: 200_000 });
    const [sb, sc, sd, se] = [b, c, d, e].map((x) => eng.addSink(x!));
    await runUntil(eng, [sb!], 300);
    expect(eng.stats(sb!).rxPackets).toBe(300);
    expect([sc, sd, se].map((s) => eng.stats(s!).rxPackets)).toEqual([0, 0, 0]);
  });

  it('carries 9000-byte frames as descriptor chains', async () => {
    sw = new TestSwitch();
    const sock = abstractSocket('jumbo');
    sw.memif('a', sock, 0);
    sw.memif('b', sock, 1);
    const a = sw.client({ socket: sock, id: 0, bufferSize: 2048 });
    const b = sw.client({ socket: sock, id: 1, bufferSize: 2048 });
    const eng = sw.engine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), frameSize: 9000, count: 150, pps: 20_000 });
    const s = eng.addSink(b);
    await runUntil(eng, [s], 150);
    expect(eng.stats(s)).toMatchObject({ rxPackets: 150, rxBytes: 150 * 9000, rxForeign: 0, lost: 0 });
    expect(sw.dp.interface('b').txBytes).toBe(150 * 9000);
  });

  it('polls several queue pairs on several workers', async () => {
    sw = new TestSwitch({ workers: 2 });
    const sock = abstractSocket('mq');
    sw.memif('a', sock, 0);
    sw.memif('b', sock, 1);
    const a = sw.client({ socket: sock, id: 0, queues: 2 });
    const b = sw.client({ socket: sock, id: 1, queues: 2 });
    const eng = sw.engine();
    eng.addGenerator(a, { queue: 0, stream: 0, src: mac(1), dst: mac(2), count: 300, pps: 100_000 });
    eng.addGenerator(a, { queue: 1, stream: 1, src: mac(1), dst: mac(2), count: 300, pps: 100_000 });
    const s = eng.addSink(b);
    await runUntil(eng, [s], 600);
    expect(eng.stats(s).rxPackets).toBe(600);
    const info = sw.dp.interface('a');
    expect(info.rxQueues).toBe(2);
    expect(info.perWorker.map((w) => w.rxPackets > 0)).toEqual([true, true]);
  });

  it('accepts a client that disconnects and comes back', async () => {
    sw = new TestSwitch();
    const sock = abstractSocket('back');
    sw.memif('a', sock, 0);
    sw.memif('b', sock, 1);
    const a = sw.client({ socket: sock, id: 0 });
    sw.client({ socket: sock, id: 1 }).disconnect('going away');
    await eventually(() => !sw!.dp.interface('b').connected, 2000, 'b disconnected');
    const b2 = sw.client({ socket: sock, id: 1 });
    await eventually(() => sw!.dp.interface('b').connected, 2000, 'b reconnected');
    expect(sw.dp.interface('b').connects).toBe(2);
    const eng = sw.engine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), count: 200, pps: 100_000 });
    const s = eng.addSink(b2);
    await runUntil(eng, [s], 200);
    expect(eng.stats(s).rxPackets).toBe(200);
  });

  it('refuses a wrong secret and an unknown id with the reason', () => {
    sw = new TestSwitch();
    const sock = abstractSocket('secret');
    sw.memif('a', sock, 0, { secret: 'right' });
    expect(() => sw!.client({ socket: sock, id: 0, secret: 'wrong' })).toThrow(/Incorrect secret/);
    expect(() => sw!.client({ socket: sock, id: 7 })).toThrow(/ID not found/);
    expect(sw.dp.interface('a').protocolErrors.bad_secret).toBe(1);
    expect(sw.dp.socketErrors()[0]!.protocolErrors.unknown_id).toBe(1);
    expect(sw.client({ socket: sock, id: 0, secret: 'right' }).info().connected).toBe(true);
  });
});

describe('a hostile container', () => {
  it('gets bad descriptors counted as drops while a good pair keeps forwarding', async () => {
    sw = new TestSwitch();
    const sock = abstractSocket('hostile');
    sw.memif('a', sock, 0);
    sw.memif('b', sock, 1);
    sw.memif('evil', sock, 2);
    const a = sw.client({ socket: sock, id: 0 });
    const b = sw.client({ socket: sock, id: 1 });
    const evil = sw.client({ socket: sock, id: 2 });
    const eng = sw.engine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), pps: 100_000 });
    const s = eng.addSink(b);
    eng.start();
    await eventually(() => eng.stats(s).rxPackets > 1000, 5000, 'good traffic');
    const kinds = ['region', 'offset', 'length', 'zero_length'] as const;
    for (const k of kinds) expect(evil.injectBadTx(k, 25)).toBe(25);
    await eventually(() => sw!.dp.interface('evil').drops.bad_descriptor === 100, 5000, '100 bad_descriptor drops');
    expect(evil.injectBadTx('huge_frame', 5)).toBe(5);
    await eventually(() => sw!.dp.interface('evil').drops.bad_chain === 5, 5000, '5 bad_chain drops');
    const before = eng.stats(s).rxPackets;
    await eventually(() => eng.stats(s).rxPackets > before + 1000, 5000, 'good traffic after the attack');
    eng.stop();
    expect(sw.dp.interface('evil').connected).toBe(true);
    expect(sw.dp.interface('b').drops.bad_descriptor).toBe(0);
  });
});

describe('a container that truncates its shared memory', () => {
  it('is disconnected, and the switch neither crashes nor stops forwarding for others', async () => {
    sw = new TestSwitch();
    const sock = abstractSocket('trunc');
    sw.memif('a', sock, 0);
    sw.memif('b', sock, 1);
    sw.memif('evil', sock, 2);
    const a = sw.client({ socket: sock, id: 0 });
    const b = sw.client({ socket: sock, id: 1 });
    // Hugepage memory, like a DPDK workload's: unsealed, and truncatable only in 2 MiB steps.
    const evil = sw.client({ socket: sock, id: 2, hugepages: true });
    expect(evil.info().hugepages).toBe(true);
    evil.injectTruncate(2 * 1024 * 1024); // the rings stay, most buffers are gone
    const eng = sw.engine();
    eng.addGenerator(a, { src: mac(1), dst: 'ff:ff:ff:ff:ff:ff', pps: 100_000 }); // floods into evil's buffers
    const s = eng.addSink(b);
    eng.start();
    await eventually(() => !sw!.dp.interface('evil').connected, 5000, 'the truncating peer to be disconnected');
    const before = eng.stats(s).rxPackets;
    await eventually(() => eng.stats(s).rxPackets > before + 1000, 5000, 'forwarding to b to go on');
    eng.stop();
    expect(sw.dp.interface('evil').protocolErrors.bad_region).toBe(1);
    expect(evil.pollControl()).toBe(false);
    expect(evil.info().disconnectReason).toBe('Region truncated');
  });
});

describe('reconfiguration', () => {
  it('keeps forwarding without loss while interfaces, networks and static MACs come and go', async () => {
    sw = new TestSwitch({ workers: 2 });
    const sock = abstractSocket('reconf');
    sw.memif('a', sock, 0);
    sw.memif('b', sock, 1);
    const a = sw.client({ socket: sock, id: 0 });
    // A deep sink ring: on two CPUs the sink thread is sometimes descheduled for >10 ms,
    // and a full ring there would be the receiver's loss, not the reconfiguration's.
    const b = sw.client({ socket: sock, id: 1, log2RingSize: 14 });
    const eng = sw.engine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), pps: 100_000, count: 100_000 });
    const s = eng.addSink(b);
    eng.start();
    // Every change publishes a new table and waits for a quiescent point on both workers.
    let changes = 0;
    while (!eng.generatorsDone()) {
      const n = changes % 50;
      sw.dp.addNetwork(`tmp${n}`);
      sw.memif(`x${n}`, sock, 100 + n, { network: `tmp${n}` });
      const c = sw.client({ socket: sock, id: 100 + n });
      sw.dp.addStaticMac('blue', 0, mac(1000 + n), 'b');
      c.close();
      sw.dp.removeInterface(`x${n}`);
      sw.dp.removeNetwork(`tmp${n}`);
      changes++;
      // Paced like a real control plane: a spinning loop would starve the traffic
      // thread on two CPUs and measure the scheduler instead of the switch.
      await new Promise((r) => setTimeout(r, 2));
    }
    await eventually(() => eng.stats(s).rxPackets >= 100_000, 5000, 'every frame delivered').catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(eng.stats(s))} a=${JSON.stringify(sw!.dp.interface('a'))} b=${JSON.stringify(sw!.dp.interface('b').drops)} workers=${JSON.stringify(sw!.dp.workers())}`);
    });
    eng.stop();
    expect(changes).toBeGreaterThan(20);
    expect(eng.stats(s)).toMatchObject({ rxPackets: 100_000, lost: 0, reordered: 0 });
    expect(sw.dp.interface('a').drops).toEqual(Object.fromEntries(Object.keys(sw.dp.interface('a').drops).map((k) => [k, 0])));
  });
});

describe('shared memory', () => {
  it('uses hugepages for client regions when they are free', () => {
    sw = new TestSwitch();
    const sock = abstractSocket('huge');
    sw.memif('a', sock, 0);
    const before = testing.memoryCounters();
    const c = sw.client({ socket: sock, id: 0, hugepages: true });
    expect(c.info().hugepages).toBe(true); // global setup reserved hugepages for the run
    expect(testing.memoryCounters().hugepageBytes).toBeGreaterThan(before.hugepageBytes);
  });

  it('falls back to 4 KiB pages, counted, when the region does not fit in free hugepages', () => {
    // Real nodes reserve hugepages (512 or more): leave exactly one free page for the
    // duration of the test instead of sizing a region from whatever is free.
    const original = Number(readFileSync(NR_HUGEPAGES, 'utf8'));
    const inUse = original - hugepagesFree();
    try {
      writeFileSync(NR_HUGEPAGES, String(inUse + 1));
      expect(hugepagesFree()).toBeLessThanOrEqual(1);
      sw = new TestSwitch();
      const sock = abstractSocket('fallback');
      sw.memif('a', sock, 0);
      // 2 rings x 4096 slots x 2048 bytes = 16 MiB: more than the one free 2 MiB page.
      const before = testing.memoryCounters();
      const c = sw.client({ socket: sock, id: 0, hugepages: true, log2RingSize: 12, bufferSize: 2048 });
      const after = testing.memoryCounters();
      expect(c.info()).toMatchObject({ connected: true, hugepages: false });
      expect(after.fallbackRegions).toBe(before.fallbackRegions + 1);
      expect(after.fallbackBytes - before.fallbackBytes).toBeGreaterThanOrEqual(16 << 20);
    } finally {
      sw?.close();
      sw = undefined;
      writeFileSync(NR_HUGEPAGES, String(original));
    }
  });
});

describe('admin state', () => {
  it('stops polling and sending on an admin-down interface, and resumes when up', async () => {
    sw = new TestSwitch();
    const sock = abstractSocket('admin');
    sw.memif('a', sock, 0);
    sw.memif('b', sock, 1);
    const a = sw.client({ socket: sock, id: 0 });
    const b = sw.client({ socket: sock, id: 1 });
    sw.dp.setAdminUp('b', false);
    expect(sw.dp.interface('b')).toMatchObject({ adminUp: false, connected: true });
    const eng = sw.engine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), count: 200, pps: 100_000 });
    const s = eng.addSink(b);
    eng.start();
    await eventually(() => eng.generatorsDone(), 5000, 'generator done');
    await eventually(() => sw!.dp.interface('a').drops.no_destination === 200, 5000, 'drops while b is down');
    expect(eng.stats(s).rxPackets).toBe(0);
    eng.stop();
    sw.dp.setAdminUp('b', true);
    const again = sw.engine();
    again.addGenerator(a, { src: mac(1), dst: mac(2), count: 200, pps: 100_000, stream: 1 });
    const s2 = again.addSink(b);
    await runUntil(again, [s2], 200);
    expect(again.stats(s2).rxPackets).toBe(200);
  });
});

describe('adaptive polling', () => {
  // Process CPU time over an idle period with two connected clients and no traffic.
  async function idleCpu(poll: 'busy' | 'adaptive'): Promise<{ cpu: number; sleeps: number }> {
    sw = new TestSwitch({ poll });
    const sock = abstractSocket(`idle-${poll}`);
    sw.memif('a', sock, 0);
    sw.memif('b', sock, 1);
    sw.client({ socket: sock, id: 0 });
    sw.client({ socket: sock, id: 1 });
    await new Promise((r) => setTimeout(r, 100));
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 500));
    const used = process.cpuUsage(before);
    const sleeps = sw.dp.workers()[0]!.sleeps;
    sw.close();
    sw = undefined;
    return { cpu: (used.user + used.system) / 500_000, sleeps };
  }

  it('lets an idle worker sleep instead of spinning, and wakes it for the next frame', async () => {
    const busy = await idleCpu('busy');
    const adaptive = await idleCpu('adaptive');
    expect(busy.sleeps).toBe(0);
    expect(adaptive.sleeps).toBeGreaterThan(0);
    expect(adaptive.cpu).toBeLessThan(busy.cpu / 2);

    // Sparse traffic: every frame finds the worker asleep and must wake it.
    sw = new TestSwitch();
    const sock = abstractSocket('sparse');
    sw.memif('a', sock, 0);
    sw.memif('b', sock, 1);
    const a = sw.client({ socket: sock, id: 0 });
    const b = sw.client({ socket: sock, id: 1 });
    const eng = sw.engine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), count: 50, pps: 100 });
    const s = eng.addSink(b);
    const sleepsBefore = sw.dp.workers()[0]!.sleeps;
    await runUntil(eng, [s], 50);
    expect(eng.stats(s)).toMatchObject({ rxPackets: 50, lost: 0 });
    expect(sw.dp.workers()[0]!.sleeps - sleepsBefore).toBeGreaterThan(10);
  });
});
