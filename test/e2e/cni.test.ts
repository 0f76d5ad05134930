// The CNI plugin exec'd exactly as a runtime does it (env vars + stdin JSON), against a
// real memswitchd, into real network namespaces, with Debian's host-local as the IPAM
// delegate. Every test ends with nothing left: no attachments, leases, spool files.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { CniEnv, type CniRun } from '../helpers/cni.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';
import { eventually } from '../helpers/switch.js';

let env: CniEnv;
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
const net = new Netns();

beforeEach(() => {
  env = new CniEnv();
});
afterEach(async () => {
  client?.close();
  client = undefined;
  await daemon?.stop('SIGTERM');
  daemon = undefined;
  net.cleanup();
  env.cleanup();
});

async function startDaemon(networks = ['msw-net']): Promise<MemswitchClient> {
  daemon = await Daemon.start(env.daemonConfig(networks), env.daemonEnv());
  client?.close();
  client = await connect(daemon.apiSocket);
  return client;
}

const ok = (r: CniRun): CniRun => {
  expect({ code: r.code, stdout: r.stdout }).toMatchObject({ code: 0 });
  return r;
};
const failed = (r: CniRun, code: number, msg: RegExp): void => {
  expect(r.code).toBe(1);
  expect(r.json).toMatchObject({ code });
  expect(`${String(r.json?.msg)} ${String(r.json?.details ?? '')}`).toMatch(msg);
};

describe('memswitch CNI plugin', () => {
  it('VERSION answers in the version asked, for every supported version', () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const r = ok(env.run({ command: 'VERSION' }, { cniVersion: v }));
      expect(r.json).toEqual({ cniVersion: v, supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    }
  });

  it('ADD/CHECK/DEL in every spec version: the result has that version\'s shape', async () => {
    const c = await startDaemon();
    for (const [i, v] of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'].entries()) {
      const ns = net.add(`v${i}`);
      const call = { containerId: `ctr-v${i}`, netns: ns.path, ifname: 'net1' };
      const conf = env.conf({ cniVersion: v, mtu: 9000 });
      const add = ok(env.run({ command: 'ADD', ...call }, conf));
      const result = add.json as { cniVersion: string; interfaces: Record<string, unknown>[]; ips: Record<string, unknown>[]; routes: unknown[] };
      expect(result.cniVersion).toBe(v);
      expect(result.interfaces).toHaveLength(1);
      expect(result.interfaces[0]).toMatchObject({ name: 'net1', sandbox: ns.path });
      expect(result.interfaces[0]!.mac).toMatch(/^02:/);
      expect(result.ips).toEqual([{ ...(v < '1.0.0' ? { version: '4' } : {}), address: `10.66.0.${i + 2}/24`, gateway: '10.66.0.1', interface: 0 }]);
      expect(result.routes).toEqual([{ dst: '0.0.0.0/0' }]);
      if (v === '1.1.0') expect(result.interfaces[0]).toMatchObject({ socketPath: '@memswitch/memif-net1', mtu: 9000 });
      else expect(Object.keys(result.interfaces[0]!).sort()).toEqual(['mac', 'name', 'sandbox']);
      expect(add.stdout.trim().split('\n')).toHaveLength(1); // one document, nothing else on stdout

      // memswitchd recorded the IPs IPAM gave; the workload's file says where to connect.
      const a = (await c.getAttachment({ key: { cniNetwork: 'msw-net', containerId: call.containerId, ifname: 'net1' } })).attachment;
      expect(a.ips).toEqual([{ address: `10.66.0.${i + 2}/24`, gateway: '10.66.0.1' }]);
      expect(JSON.parse(readFileSync(a.infoFile, 'utf8'))).toMatchObject({ mac: result.interfaces[0]!.mac, memif: { socket: '@memswitch/memif-net1', id: 0 } });

      if (v >= '0.4.0') ok(env.run({ command: 'CHECK', ...call }, { ...conf, prevResult: result }));
      ok(env.run({ command: 'DEL', ...call }, { ...conf, prevResult: result }));
      ok(env.run({ command: 'DEL', ...call }, { ...conf, prevResult: result })); // DEL twice
      expect(existsSync(a.infoFile)).toBe(false);
    }
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect(env.leases()).toEqual([]);
  });

  it('chained after another plugin: prevResult is kept and extended, CHECK finds our interface in it', async () => {
    await startDaemon();
    const ns = net.add('chain');
    const call = { containerId: 'ctr-chain', netns: ns.path, ifname: 'net1' };
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '02:42:00:00:00:01', sandbox: ns.path }],
      ips: [{ address: '192.168.7.5/24', gateway: '192.168.7.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '192.168.7.1' }],
      dns: { nameservers: ['192.168.7.1'] },
    };
    const conf = env.conf();
    const r = ok(env.run({ command: 'ADD', ...call }, { ...conf, prevResult })).json as typeof prevResult;
    expect(r.interfaces).toEqual([prevResult.interfaces[0], expect.objectContaining({ name: 'net1', sandbox: ns.path })]);
    expect(r.ips).toEqual([prevResult.ips[0], { address: '10.66.0.2/24', gateway: '10.66.0.1', interface: 1 }]);
    expect(r.routes).toEqual([...prevResult.routes, { dst: '0.0.0.0/0' }]);
    expect(r.dns).toEqual(prevResult.dns);
    ok(env.run({ command: 'CHECK', ...call }, { ...conf, prevResult: r }));
    // The switch port taken down behind the runtime's back: CHECK reports it.
    const c = client!;
    const itf = (await c.getAttachment({ key: { cniNetwork: 'msw-net', containerId: 'ctr-chain', ifname: 'net1' } })).attachment.interface;
    await c.setInterfaceAdminState({ name: itf, adminState: 'ADMIN_STATE_DOWN' });
    failed(env.run({ command: 'CHECK', ...call }, { ...conf, prevResult: r }), 103, /missing or admin down/);
    // STATUS: memswitchd answers, but an existing container has no forwarding: 51, naming it.
    const status = env.conf({ cniVersion: '1.1.0' });
    failed(env.run({ command: 'STATUS' }, status), 51, /1 attachment\(s\) of msw-net are not forwarding/);
    await c.setInterfaceAdminState({ name: itf, adminState: 'ADMIN_STATE_UP' });
    ok(env.run({ command: 'STATUS' }, status));
    ok(env.run({ command: 'CHECK', ...call }, { ...conf, prevResult: r }));
    ok(env.run({ command: 'DEL', ...call }, { ...conf, prevResult: r }));
    expect(env.leases()).toEqual([]);
  });

  it('veth: two containers ping each other through the switch; CHECK sees a broken interface', async () => {
    const c = await startDaemon();
    const conf = env.conf({ interface: 'veth', mtu: 1400 });
    const [a, b] = [net.add('pa'), net.add('pb')];
    const ra = ok(env.run({ command: 'ADD', containerId: 'ctr-a', netns: a.path, ifname: 'eth0' }, conf)).json!;
    const rb = ok(env.run({ command: 'ADD', containerId: 'ctr-b', netns: b.path, ifname: 'eth0', args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod-b;K8S_POD_UID=uid-b;MAC=02:00:00:66:00:0b' }, conf)).json!;
    expect((rb.interfaces as { mac: string }[])[0]!.mac).toBe('02:00:00:66:00:0b');
    expect(net.exec(b.name, ['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).toMatch(/inet 10\.66\.0\.3\/24/);
    expect(net.exec(b.name, ['ip', 'route', 'show', 'default'])).toMatch(/default via 10\.66\.0\.1 dev eth0/);
    expect(net.exec(b.name, ['cat', '/sys/class/net/eth0/mtu']).trim()).toBe('1400');
    expect(net.exec(a.name, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.66.0.3'])).toMatch(/3 received/);
    expect((await c.getAttachment({ key: { cniNetwork: 'msw-net', containerId: 'ctr-b', ifname: 'eth0' } })).attachment).toMatchObject({ podNamespace: 'ns', podName: 'pod-b', podUid: 'uid-b' });

    ok(env.run({ command: 'CHECK', containerId: 'ctr-a', netns: a.path, ifname: 'eth0' }, { ...conf, prevResult: ra }));
    // The runtime's cached result disagrees (another MAC): CHECK says so.
    const wrong = { ...ra, interfaces: [{ ...(ra.interfaces as object[])[0], mac: '02:11:11:11:11:11' }] };
    failed(env.run({ command: 'CHECK', containerId: 'ctr-a', netns: a.path, ifname: 'eth0' }, { ...conf, prevResult: wrong }), 103, /MAC of eth0/);
    // Someone removed the address behind our back.
    net.exec(a.name, ['ip', 'addr', 'flush', 'dev', 'eth0']);
    failed(env.run({ command: 'CHECK', containerId: 'ctr-a', netns: a.path, ifname: 'eth0' }, { ...conf, prevResult: ra }), 103, /lacks 10\.66\.0\.2\/24/);

    // DEL after the netns is gone, and DEL with an empty CNI_NETNS (ctr does that).
    net.cleanup();
    ok(env.run({ command: 'DEL', containerId: 'ctr-a', netns: a.path, ifname: 'eth0' }, { ...conf, prevResult: ra }));
    ok(env.run({ command: 'DEL', containerId: 'ctr-b', netns: '', ifname: 'eth0' }, conf));
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect((await c.listInterfaces()).interfaces).toEqual([]);
    expect(env.leases()).toEqual([]);
  });

  it('veth dual-stack: host-local gives IPv4 and IPv6 addresses; both ping through the switch', async () => {
    const c = await startDaemon();
    const conf = {
      ...env.conf({ interface: 'veth' }),
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.67.0.0/24' }], [{ subnet: 'fd00:67::/64' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }], dataDir: env.ipamDir },
    };
    const [a, b] = [net.add('6a'), net.add('6b')];
    const ra = ok(env.run({ command: 'ADD', containerId: 'ctr-6a', netns: a.path, ifname: 'eth0' }, conf)).json as { ips: { address: string; gateway?: string }[] };
    ok(env.run({ command: 'ADD', containerId: 'ctr-6b', netns: b.path, ifname: 'eth0' }, conf));
    expect(ra.ips.map((i) => i.address)).toEqual(['10.67.0.2/24', 'fd00:67::2/64']);
    expect(net.exec(b.name, ['ip', '-o', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).toMatch(/inet6 fd00:67::3\/64/);
    expect(net.exec(b.name, ['ip', '-6', 'route', 'show', 'default'])).toMatch(/default via fd00:67::1 dev eth0/);
    // Neighbour discovery is multicast: the switch floods it within the network.
    expect(net.exec(a.name, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd00:67::3'])).toMatch(/3 received/);
    expect(net.exec(a.name, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.67.0.3'])).toMatch(/3 received/);
    expect((await c.getAttachment({ key: { cniNetwork: 'msw-net', containerId: 'ctr-6a', ifname: 'eth0' } })).attachment.ips.map((i) => i.address)).toEqual(['10.67.0.2/24', 'fd00:67::2/64']);
    ok(env.run({ command: 'CHECK', containerId: 'ctr-6a', netns: a.path, ifname: 'eth0' }, { ...conf, prevResult: ra }));
    for (const [id, n] of [['ctr-6a', a], ['ctr-6b', b]] as const) ok(env.run({ command: 'DEL', containerId: id, netns: n.path, ifname: 'eth0' }, conf));
    expect(env.leases()).toEqual([]);
  });

  it('memif: two containers exchange frames through their abstract sockets, from inside their netns', async () => {
    await startDaemon();
    const conf = env.conf({}, null); // pure L2: no ipam
    const [a, b] = [net.add('ma'), net.add('mb')];
    const ra = ok(env.run({ command: 'ADD', containerId: 'ctr-ma', netns: a.path, ifname: 'net1' }, conf)).json!;
    ok(env.run({ command: 'ADD', containerId: 'ctr-mb', netns: b.path, ifname: 'net1' }, conf));
    expect(ra.ips).toEqual([]);
    const info = (id: string) => {
      const file = path.join(env.infoDir, `${id}-net1.json`);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      return JSON.parse(readFileSync(file, 'utf8')) as { mac: string; memif: { socket: string; id: number; secret: string } };
    };
    const ia = info('ctr-ma');
    const ib = info('ctr-mb');
    // The workloads: our native memif client in a child process inside each netns, with
    // the socket and secret from its attachment file.
    const addon = path.join(repoRoot, 'build/addon/Release/memswitch_testing.node');
    const workload = (ns: string, i: typeof ia, role: string) =>
      net.spawn(ns, [process.execPath, '-e', `
        const m = require(${JSON.stringify(addon)});
        const c = new m.MemifClient({ socket: ${JSON.stringify(i.memif.socket)}, id: ${i.memif.id}, secret: ${JSON.stringify(i.memif.secret)}, hugepages: false });
        const e = new m.TrafficEngine();
        ${role === 'sink'
          ? `const s = e.addSink(c); e.start(); console.log('ready');
             const t = setInterval(() => { const n = e.stats(s).rxPackets; if (n >= 1000) { clearInterval(t); e.stop(); c.close(); console.log('rx ' + n); } }, 20);`
          : `e.addGenerator(c, { src: ${JSON.stringify(ia.mac)}, dst: ${JSON.stringify(ib.mac)}, count: 1000, pps: 50000 }); e.start();
             const t = setInterval(() => { if (e.generatorsDone()) { clearInterval(t); setTimeout(() => { e.stop(); c.close(); console.log('sent'); }, 100); } }, 20);`}`]);
    const sink = workload(b.name, ib, 'sink');
    let sinkOut = '';
    sink.stdout!.on('data', (d: Buffer) => (sinkOut += d.toString()));
    sink.stderr!.on('data', (d: Buffer) => (sinkOut += d.toString()));
    await eventually(() => sinkOut.includes('ready'), 10_000, 'the sink workload connected');
    const gen = workload(a.name, ia, 'gen');
    let genOut = '';
    gen.stdout!.on('data', (d: Buffer) => (genOut += d.toString()));
    gen.stderr!.on('data', (d: Buffer) => (genOut += d.toString()));
    await eventually(() => /rx \d+/.test(sinkOut), 15_000, `1000 frames at the sink (sink: ${sinkOut} gen: ${genOut})`);
    expect(sinkOut).toMatch(/rx 1000/);

    // Another container's secret does not open this socket.
    const intruder = net.spawn(a.name, [process.execPath, '-e', `
      const m = require(${JSON.stringify(addon)});
      try { new m.MemifClient({ socket: ${JSON.stringify(ia.memif.socket)}, id: 0, secret: 'wrong', hugepages: false, timeoutMs: 1000 }); console.log('connected'); }
      catch (e) { console.log('refused'); }`]);
    let intr = '';
    intruder.stdout!.on('data', (d: Buffer) => (intr += d.toString()));
    await eventually(() => intr.length > 0, 10_000, 'the intruder result');
    expect(intr).toMatch(/refused/);

    for (const id of ['ctr-ma', 'ctr-mb']) ok(env.run({ command: 'DEL', containerId: id, netns: '', ifname: 'net1' }, conf));
  });

  it('memif socketMode "file": a filesystem socket per container, named in the device-info file; both removed on DEL', async () => {
    const c = await startDaemon();
    const ns = net.add('file');
    const call = { containerId: 'ctr-file', netns: ns.path, ifname: 'net1' };
    const conf = env.conf({ cniVersion: '1.1.0', socketMode: 'file', socketDir: path.join(env.dir, 'sockets') }, null);
    // Multus passes CNIDeviceInfoFile: the NPWG device-info names the memif socket. Its
    // directory need not exist yet.
    const deviceInfo = path.join(env.dir, 'devinfo', 'dp', 'device-info.json');
    const withInfo = { ...conf, capabilities: { CNIDeviceInfoFile: true }, runtimeConfig: { CNIDeviceInfoFile: deviceInfo } };
    const r = ok(env.run({ command: 'ADD', ...call }, withInfo)).json as { interfaces: { socketPath: string }[] };
    const sock = r.interfaces[0]!.socketPath;
    expect(JSON.parse(readFileSync(deviceInfo, 'utf8'))).toEqual({ type: 'memif', version: '1.1.0', memif: { role: 'client', path: sock, mode: 'ethernet' } });
    expect(sock).toMatch(new RegExp(`^${env.dir}/sockets/[0-9a-f]{12}-net1\\.sock$`));
    expect(statSync(sock).isSocket()).toBe(true);
    ok(env.run({ command: 'DEL', ...call }, withInfo));
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(deviceInfo)).toBe(false);

    // A device-info file that cannot be written fails the ADD after the attach: the
    // attachment and its lease are taken back, not left for IPAM to hand out again.
    const blocked = path.join(env.dir, 'not-a-dir');
    writeFileSync(blocked, '');
    const withIpam = env.conf({ cniVersion: '1.1.0', socketMode: 'file', socketDir: path.join(env.dir, 'sockets') });
    const unwritable = { ...withIpam, capabilities: { CNIDeviceInfoFile: true }, runtimeConfig: { CNIDeviceInfoFile: path.join(blocked, 'device-info.json') } };
    failed(env.run({ command: 'ADD', ...call }, unwritable), 5, /CNIDeviceInfoFile .*not-a-dir/);
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect(env.leases()).toEqual([]);
    expect(readdirSync(path.join(env.dir, 'sockets'))).toEqual([]);
  });

  it('bad input: the right code and message on stdout, nothing left behind', async () => {
    const c = await startDaemon();
    const ns = net.add('bad');
    const call = { containerId: 'ctr-bad', netns: ns.path, ifname: 'net1' };
    const conf = env.conf();
    failed(env.run({ command: 'ADD', ...call, env: { CNI_COMMAND: undefined } }, conf), 4, /\[CNI_COMMAND\] missing/);
    failed(env.run({ command: 'ADD', ...call, netns: undefined }, conf), 4, /required env variables \[CNI_NETNS\] missing/);
    failed(env.run({ command: 'ADD', ifname: 'net1' }, conf), 4, /\[CNI_CONTAINERID,CNI_NETNS\] missing/);
    failed(env.run({ command: 'CHECK', ...call, ifname: undefined }, conf), 4, /\[CNI_IFNAME\] missing/);
    failed(env.run({ command: 'FROB', ...call }, conf), 4, /unknown CNI_COMMAND: FROB/);
    failed(env.run({ command: 'ADD', ...call, containerId: '/x' }, conf), 4, /CNI_CONTAINERID/);
    failed(env.run({ command: 'ADD', ...call, ifname: 'a-very-long-ifname' }, conf), 4, /CNI_IFNAME/);
    failed(env.run({ command: 'ADD', ...call }, ''), 6, /stdin is empty/);
    failed(env.run({ command: 'ADD', ...call }, '{"cniVersion":'), 6, /decoding/);
    failed(env.run({ command: 'ADD', ...call }, '[1,2]'), 6, /JSON object/);
    failed(env.run({ command: 'ADD', ...call }, { ...conf, cniVersion: '9.9.9' }), 1, /incompatible CNI versions.*config is "9\.9\.9"/);
    failed(env.run({ command: 'ADD', ...call }, { ...conf, cniVersion: undefined }), 1, /incompatible CNI versions/);
    failed(env.run({ command: 'ADD', ...call }, { ...conf, frobnicate: true }), 2, /frobnicate/);
    failed(env.run({ command: 'ADD', ...call }, { ...conf, interface: 'tap' }), 7, /interface:/);
    failed(env.run({ command: 'ADD', ...call }, { ...conf, mtu: 100000 }), 7, /mtu:/);
    failed(env.run({ command: 'ADD', ...call, netns: '/var/run/netns/msw-does-not-exist' }, conf), 4, /CNI_NETNS: .* does not exist/);
    // An unknown memswitch network: memswitchd says so; host-local's lease is given back.
    failed(env.run({ command: 'ADD', ...call }, { ...conf, vswitchNetwork: 'nope' }), 7, /no network nope/);
    // Bad IPAM config: an IPAM plugin that does not exist, and one host-local refuses.
    failed(env.run({ command: 'ADD', ...call }, { ...conf, ipam: { type: 'no-such-ipam' } }), 7, /failed to find IPAM plugin "no-such-ipam"/);
    const badIpam = env.run({ command: 'ADD', ...call }, { ...conf, ipam: { type: 'host-local', ranges: [[{ subnet: '10.66.0.0/99' }]], dataDir: env.ipamDir } });
    expect(badIpam.code).toBe(1);
    expect(String(badIpam.json?.msg)).toMatch(/IPAM plugin host-local failed \(add\)/);
    // A chained ADD whose prevResult is not a result; a DEL tolerates any prevResult.
    failed(env.run({ command: 'ADD', ...call }, { ...conf, prevResult: { interfaces: 'eth0' } }), 7, /prevResult\.interfaces/);
    ok(env.run({ command: 'DEL', ...call }, { ...conf, prevResult: { interfaces: 'eth0', ips: 7 } }));
    // Same key, different parameters: the spec's "interface already exists" error.
    ok(env.run({ command: 'ADD', ...call }, conf));
    failed(env.run({ command: 'ADD', ...call }, { ...conf, mac: '02:00:00:00:99:99' }), 100, /already exists/);
    ok(env.run({ command: 'DEL', ...call }, conf));
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect(env.leases()).toEqual([]);
    expect(net.exec(ns.name, ['ip', '-o', 'link'])).not.toMatch(/net1/);
  });

  it('ADD twice returns the same result; 50 parallel ADDs get distinct MACs, IPs, sockets; parallel DELs clean up', async () => {
    const c = await startDaemon();
    const conf = env.conf({ cniVersion: '1.1.0' });
    const ns = Array.from({ length: 50 }, (_, i) => net.add(`p${i}`));
    const first = ok(env.run({ command: 'ADD', containerId: 'ctr-p0', netns: ns[0]!.path, ifname: 'net1' }, conf));
    const again = ok(env.run({ command: 'ADD', containerId: 'ctr-p0', netns: ns[0]!.path, ifname: 'net1' }, conf));
    expect(again.json).toEqual(first.json);
    ok(env.run({ command: 'DEL', containerId: 'ctr-p0', netns: ns[0]!.path, ifname: 'net1' }, conf));

    const adds = await Promise.all(ns.map((n, i) => env.runAsync({ command: 'ADD', containerId: `ctr-p${i}`, netns: n.path, ifname: 'net1' }, conf)));
    expect(adds.filter((r) => r.code !== 0).map((r) => r.stdout)).toEqual([]);
    const results = adds.map((r) => r.json as { interfaces: { mac: string; socketPath: string }[]; ips: { address: string }[] });
    expect(new Set(results.map((r) => r.interfaces[0]!.mac)).size).toBe(50);
    expect(new Set(results.map((r) => r.ips[0]!.address)).size).toBe(50);
    const atts = (await c.listAttachments()).attachments;
    expect(atts).toHaveLength(50);
    expect(new Set(atts.map((a) => `${a.netns}|${a.socket}#${a.memifId}`)).size).toBe(50);
    expect(atts.every((a) => a.present)).toBe(true);
    const ms = adds.map((r) => r.ms).sort((x, y) => x - y);
    console.log(`50 parallel memif ADDs (host-local IPAM): p50 ${ms[25]!.toFixed(0)} ms, max ${ms[49]!.toFixed(0)} ms wall each`);

    const dels = await Promise.all(ns.map((n, i) => env.runAsync({ command: 'DEL', containerId: `ctr-p${i}`, netns: n.path, ifname: 'net1' }, conf)));
    expect(dels.map((r) => r.code)).toEqual(Array(50).fill(0));
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect(env.leases()).toEqual([]);
  });

  it('memswitchd down: ADD says try again later (11) and releases its lease; DEL succeeds, is spooled and replayed on start', async () => {
    const ns = net.add('down');
    const call = { containerId: 'ctr-down', netns: ns.path, ifname: 'net1' };
    const conf = env.conf({ cniVersion: '1.1.0' });
    failed(env.run({ command: 'ADD', ...call }, conf), 11, /memswitchd is not available/);
    expect(env.leases()).toEqual([]);
    failed(env.run({ command: 'STATUS' }, conf), 50, /memswitchd is not available/);

    let c = await startDaemon();
    ok(env.run({ command: 'STATUS' }, conf));
    ok(env.run({ command: 'ADD', ...call }, conf));
    client!.close();
    client = undefined;
    await daemon!.stop('SIGKILL');
    ok(env.run({ command: 'DEL', ...call }, conf));
    expect(env.spooled()).toHaveLength(1);
    expect(env.leases()).toEqual([]); // IPAM DEL ran although memswitchd was down
    c = await startDaemon();
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect(env.spooled()).toEqual([]);
    expect(daemon!.lines.some((l) => l.msg === 'replayed a spooled CNI DEL')).toBe(true);
  });

  it('memswitchd killed during ADDs: every ADD succeeds or says 11, a failed one leaves nothing', async () => {
    const conf = env.conf({ interface: 'veth' });
    // Where the kill lands depends on scheduling: a batch may finish before SIGKILL arrives.
    // Repeat (checking every invariant each round) until a round had ADDs cut off.
    let interrupted = 0;
    for (let round = 0; round < 4 && interrupted === 0; round++) {
      await startDaemon();
      const ns = Array.from({ length: 8 }, (_, i) => net.add(`k${round}-${i}`));
      const ids = ns.map((_, i) => `ctr-k${round}-${i}`);
      const adds = ns.map((n, i) => env.runAsync({ command: 'ADD', containerId: ids[i]!, netns: n.path, ifname: 'eth0' }, conf));
      // Kill it mid-way: after the first attachment is made, with the others in flight.
      await daemon!.waitFor((l) => l.msg === 'attached', 20_000);
      await daemon!.stop('SIGKILL');
      const results = await Promise.all(adds);
      for (const r of results) {
        if (r.code !== 0) expect(r.json).toMatchObject({ code: 11 });
      }
      interrupted = results.filter((r) => r.code !== 0).length;
      const c = await startDaemon();
      // A failed ADD left nothing: its DEL was spooled and replayed; its lease is free.
      const succeeded = ids.filter((_, i) => results[i]!.code === 0);
      expect((await c.listAttachments()).attachments.map((a) => a.key.containerId).sort()).toEqual(succeeded.sort());
      expect(env.leases()).toHaveLength(succeeded.length);
      expect(env.spooled()).toEqual([]);
      const dels = await Promise.all(ns.map((n, i) => env.runAsync({ command: 'DEL', containerId: ids[i]!, netns: n.path, ifname: 'eth0' }, conf)));
      expect(dels.map((r) => r.code)).toEqual(Array(8).fill(0));
      expect((await c.listAttachments()).attachments).toEqual([]);
      expect((await c.listInterfaces()).interfaces).toEqual([]);
      expect(env.leases()).toEqual([]);
      for (const n of ns) expect(net.exec(n.name, ['ip', '-o', 'link'])).not.toMatch(/eth0/);
      console.log(`killed during ADD (round ${round + 1}): ${8 - interrupted}/8 ADDs had completed`);
      await daemon!.stop();
    }
    expect(interrupted, 'no round had an ADD in flight when memswitchd was killed').toBeGreaterThan(0);
  });

  it('the plugin SIGKILLed at any point of ADD, then DEL: nothing left', async () => {
    const c = await startDaemon();
    const conf = env.conf({ interface: 'veth' });
    const ns = Array.from({ length: 6 }, (_, i) => net.add(`sk${i}`));
    // Kill points spread over start-up, IPAM and the Attach call.
    const runs = await Promise.all(ns.map((n, i) => env.runAsync({ command: 'ADD', containerId: `ctr-sk${i}`, netns: n.path, ifname: 'eth0' }, conf, 40 + i * 40)));
    console.log(`plugin killed during ADD: ${runs.filter((r) => r.code === null).length}/6 killed before finishing`);
    for (const [i, n] of ns.entries()) ok(env.run({ command: 'DEL', containerId: `ctr-sk${i}`, netns: n.path, ifname: 'eth0' }, conf));
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect((await c.listInterfaces()).interfaces).toEqual([]);
    expect(env.leases()).toEqual([]);
  });

  it('GC removes attachments not in cni.dev/valid-attachments (or cni.dev/attachments), for that network only', async () => {
    const c = await startDaemon(['msw-net', 'other']);
    const ns = [net.add('g0'), net.add('g1'), net.add('g2')];
    const conf = env.conf({ cniVersion: '1.1.0' });
    const other = env.conf({ cniVersion: '1.1.0', name: 'other' }, { subnet: '10.67.0.0/24' });
    for (const [i, n] of ns.entries()) ok(env.run({ command: 'ADD', containerId: `ctr-g${i}`, netns: n.path, ifname: 'net1' }, conf));
    ok(env.run({ command: 'ADD', containerId: 'ctr-g0', netns: ns[0]!.path, ifname: 'net2' }, other));
    ok(env.run({ command: 'GC' }, { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'ctr-g1', ifname: 'net1' }, { containerID: 'ctr-g2', ifname: 'net1' }] }));
    expect((await c.listAttachments()).attachments.map((a) => `${a.key.cniNetwork}/${a.key.containerId}/${a.key.ifname}`).sort()).toEqual([
      'msw-net/ctr-g1/net1', 'msw-net/ctr-g2/net1', 'other/ctr-g0/net2',
    ]);
    ok(env.run({ command: 'GC' }, { ...conf, 'cni.dev/attachments': [{ containerID: 'ctr-g2', ifname: 'net1' }] }));
    ok(env.run({ command: 'GC' }, { ...other, 'cni.dev/valid-attachments': [] }));
    expect((await c.listAttachments()).attachments.map((a) => a.key.containerId)).toEqual(['ctr-g2']);
    ok(env.run({ command: 'DEL', containerId: 'ctr-g2', netns: ns[2]!.path, ifname: 'net1' }, conf));
    // host-local (1.1.1) predates GC: its leases of GC'd containers go with their DELs.
    for (const [i, n] of ns.entries()) ok(env.run({ command: 'DEL', containerId: `ctr-g${i}`, netns: n.path, ifname: 'net1' }, conf));
    ok(env.run({ command: 'DEL', containerId: 'ctr-g0', netns: ns[0]!.path, ifname: 'net2' }, other));
    expect(env.leases()).toEqual([]);
    expect(env.leases('other')).toEqual([]);
  });
});
