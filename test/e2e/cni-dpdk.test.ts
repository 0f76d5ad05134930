// A DPDK workload on a memif attachment made by the CNI plugin: dpdk-testpmd runs inside
// the container's network namespace (ip netns exec) as a memif client of the abstract
// socket and secret from its attachment file, and its frames reach a second container
// (our native client, also inside its own namespace) through the switch.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dpdkAvailable, Testpmd } from '../../bench/testpmd.js';
import { CniEnv } from '../helpers/cni.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';
import { eventually } from '../helpers/switch.js';

let env: CniEnv;
let daemon: Daemon | undefined;
let pmd: Testpmd | undefined;
const net = new Netns();

beforeEach(() => {
  env = new CniEnv();
});
afterEach(async () => {
  // testpmd first: DPDK 22.11 may crash when its memif peer goes away under it.
  await pmd?.stop();
  pmd = undefined;
  await daemon?.stop('SIGTERM');
  daemon = undefined;
  net.cleanup();
  env.cleanup();
});

describe('dpdk-testpmd on a CNI memif attachment', () => {
  // Never a silent skip: without dpdk-testpmd this fails, saying why.
  beforeAll(() => {
    const dpdk = dpdkAvailable();
    if (!dpdk.ok) throw new Error(`this test needs dpdk-testpmd: ${dpdk.reason} (scripts/setup.sh installs dpdk-dev)`);
  });

  it('testpmd in the pod netns connects to @memswitch/memif-net1 with the attachment secret; frames reach the other pod', async () => {
    daemon = await Daemon.start(env.daemonConfig(['msw-net']), env.daemonEnv());
    const conf = env.conf({ cniVersion: '1.1.0' });
    const [a, b] = [net.add('da'), net.add('db')];
    const ra = env.run({ command: 'ADD', containerId: 'ctr-dpdk', netns: a.path, ifname: 'net1' }, conf);
    expect(ra.code).toBe(0);
    expect((ra.json as { interfaces: { socketPath: string }[] }).interfaces[0]!.socketPath).toBe('@memswitch/memif-net1');
    expect(env.run({ command: 'ADD', containerId: 'ctr-sink', netns: b.path, ifname: 'net1' }, conf).code).toBe(0);
    const info = (id: string) => JSON.parse(readFileSync(path.join(env.infoDir, `${id}-net1.json`), 'utf8')) as { mac: string; memif: { socket: string; id: number; secret: string } };
    const ia = info('ctr-dpdk');
    const ib = info('ctr-sink');

    const addon = path.join(repoRoot, 'build/addon/Release/memswitch_testing.node');
    const sink = net.spawn(b.name, [process.execPath, '-e', `
      const m = require(${JSON.stringify(addon)});
      const c = new m.MemifClient({ socket: ${JSON.stringify(ib.memif.socket)}, id: ${ib.memif.id}, secret: ${JSON.stringify(ib.memif.secret)}, hugepages: false });
      const e = new m.TrafficEngine(); const s = e.addSink(c); e.start(); console.log('ready');
      const t = setInterval(() => { const st = e.stats(s); if (st.rxPackets >= 10000) { clearInterval(t); e.stop(); c.close(); console.log('rx ' + st.rxPackets + ' foreign ' + st.rxForeign); } }, 20);`]);
    let out = '';
    sink.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    sink.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => out.includes('ready'), 10_000, 'the sink pod connected');

    // testpmd, unmodified, inside pod A's namespace: the abstract name is only there.
    const wrapper = path.join(env.dir, 'testpmd-in-pod');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${a.name} ${process.env.TESTPMD ?? '/usr/bin/dpdk-testpmd'} "$@"\n`);
    chmodSync(wrapper, 0o755);
    pmd = await Testpmd.start({
      binary: wrapper,
      vdevs: [{ role: 'client', socket: ia.memif.socket, id: ia.memif.id, secret: ia.memif.secret, mac: ia.mac }],
      forwardMode: 'txonly',
      ethPeers: [ib.mac],
      txPkts: 64,
      forwardingCpu: 1,
      memory: 'nohuge',
    });
    await eventually(() => /rx \d+/.test(out), 20_000, `10000 testpmd frames at the sink pod (${out})`);
    // Every frame is testpmd's (not our generator's format), and was switched to B's port.
    expect(out).toMatch(/rx (\d+) foreign \1/);
    await pmd.stop();
    pmd = undefined;
    for (const id of ['ctr-dpdk', 'ctr-sink']) expect(env.run({ command: 'DEL', containerId: id, netns: '', ifname: 'net1' }, conf).code).toBe(0);
    expect(env.leases()).toEqual([]);
  });
});
