// A node that rebooted: /run is empty, so memswitchd must make its run directory (and
// everything under it) itself, with the modes pods and runtimes need, and the runtime's
// CNI calls must then work with no hand work. The run and state directories are
// temporary ones under a private root: the node's own /run/memswitch is never touched.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { CniEnv, type CniRun } from '../helpers/cni.js';
import { Daemon } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';

let root = '';
let env: CniEnv;
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
const net = new Netns();

// Laid out as on a node: <root>/run stands for the tmpfs /run, <root>/var for the disk.
const dirs = () => {
  const run = path.join(root, 'run/memswitch');
  const state = path.join(root, 'var/lib/memswitch');
  return {
    run,
    state,
    apiSocket: `${run}/api.sock`,
    handoverSocket: `${run}/handover.sock`,
    infoDir: `${run}/attachments`,
    socketDir: `${run}/m`,
    memifDir: `${run}/memif`, // a config-file memif interface's socket directory
    stateDb: `${state}/state.db`,
    spoolDir: `${state}/cni-spool`,
    pluginLog: path.join(root, 'run/memswitch-cni/cni.log'), // the plugin's own: no one else makes its directory
  };
};

const config = (): string => {
  const d = dirs();
  return `
dataplane: { workers: 1 }
networks: [{ name: msw-net }]
interfaces:
  - { name: m0, kind: memif, network: msw-net, socket: ${d.memifDir}/memif.sock, id: 0 }
cni: { infoDir: ${d.infoDir}, spoolDir: ${d.spoolDir}, socketDir: ${d.socketDir} }
`;
};

async function start(umask?: number): Promise<MemswitchClient> {
  const d = dirs();
  const daemonEnv = { MEMSWITCH_API_SOCKET: d.apiSocket, MEMSWITCH_STATE_DB: d.stateDb };
  // A umask only the child gets: Daemon.start spawns before its first await.
  const old = umask === undefined ? undefined : process.umask(umask);
  let starting: Promise<Daemon>;
  try {
    starting = Daemon.start(config(), daemonEnv);
  } finally {
    if (old !== undefined) process.umask(old);
  }
  daemon = await starting;
  client?.close();
  client = await connect(daemon.apiSocket);
  return client;
}

/** The plugin's netconf, pointed at the temporary run and state directories. */
const conf = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  env.conf({ apiSocket: dirs().apiSocket, spoolDir: dirs().spoolDir, logFile: dirs().pluginLog, ...extra });
/** The messages of the plugin's log lines (JSON, one a line). */
const pluginLog = (): string[] => readFileSync(dirs().pluginLog, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);

const ok = (r: CniRun): CniRun => {
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toMatchObject({ code: 0 });
  return r;
};
const mode = (p: string): number => statSync(p).mode & 0o777;
const isSocket = (p: string): boolean => existsSync(p) && statSync(p).isSocket();

/** Every directory memswitchd makes, with the mode it must have. */
function expectDirs(): void {
  const d = dirs();
  const want: [string, number][] = [
    [d.run, 0o755],
    [d.infoDir, 0o755],
    [d.socketDir, 0o755],
    [d.memifDir, 0o755],
    [d.state, 0o750],
    [d.spoolDir, 0o700],
  ];
  for (const [dir, m] of want) {
    expect(statSync(dir).isDirectory(), dir).toBe(true);
    expect(mode(dir).toString(8), dir).toBe(m.toString(8));
  }
  expect(isSocket(d.apiSocket), d.apiSocket).toBe(true);
  expect(mode(d.apiSocket).toString(8)).toBe('660'); // owner and group: it reprograms the switch
  expect(isSocket(`${d.memifDir}/memif.sock`)).toBe(true);
  expect(isSocket(d.handoverSocket)).toBe(true);
  expect(mode(d.handoverSocket).toString(8)).toBe('600'); // root only: it hands out the sessions
}

const addressOf = (r: CniRun): string => (r.json as { ips: { address: string }[] }).ips[0]!.address;

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'msw-boot-'));
  env = new CniEnv();
});
afterEach(async () => {
  // Each step runs even if the one before it throws: nothing stays behind.
  try {
    client?.close();
    await daemon?.stop('SIGTERM');
  } finally {
    client = undefined;
    daemon = undefined;
    try {
      net.cleanup();
    } finally {
      env.cleanup();
      rmSync(root, { recursive: true, force: true });
    }
  }
});

describe('fresh boot', () => {
  it('an empty /run: memswitchd makes its directories with their modes (whatever the umask); CNI ADD, CHECK and DEL work', async () => {
    const d = dirs();
    expect(existsSync(path.join(root, 'run'))).toBe(false);
    expect(existsSync(path.join(root, 'var'))).toBe(false);
    // umask 077 would leave every directory 0700 and lock pods out of the shared ones.
    const c = await start(0o077);
    expectDirs();

    // A veth pod (host-local IPAM) and a memif pod with its socket in socketDir.
    const ns = net.add('boot');
    const vethCall = { containerId: 'ctr-veth', netns: ns.path, ifname: 'eth0' };
    const vethConf = conf({ interface: 'veth' });
    const add = ok(env.run({ command: 'ADD', ...vethCall }, vethConf));
    const result = add.json as { cniVersion: string; interfaces: { name: string; mac: string; sandbox: string }[]; ips: { address: string; gateway: string }[] };
    expect(result.cniVersion).toBe('1.0.0');
    expect(result.interfaces).toEqual([{ name: 'eth0', mac: expect.stringMatching(/^02:/), sandbox: ns.path }]);
    expect(result.ips).toEqual([{ address: '10.66.0.2/24', gateway: '10.66.0.1', interface: 0 }]);
    const shown = net.exec(ns.name, ['ip', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(shown).toMatch(/inet 10\.66\.0\.2\/24/);
    expect(net.exec(ns.name, ['cat', '/sys/class/net/eth0/address']).trim()).toBe(result.interfaces[0]!.mac);
    ok(env.run({ command: 'CHECK', ...vethCall }, { ...vethConf, prevResult: result }));
    expect(pluginLog()).toContain('attached');
    expect(mode(path.dirname(d.pluginLog)).toString(8)).toBe('755');
    expect(mode(d.pluginLog).toString(8)).toBe('600');
    const info = path.join(d.infoDir, 'ctr-veth-eth0.json');
    expect(mode(info).toString(8)).toBe('600');
    expect(JSON.parse(readFileSync(info, 'utf8'))).toMatchObject({ kind: 'veth', mac: result.interfaces[0]!.mac });

    const memifCall = { containerId: 'ctr-memif', netns: ns.path, ifname: 'net1' };
    const memifConf = conf({ cniVersion: '1.1.0', socketMode: 'file' });
    const m = ok(env.run({ command: 'ADD', ...memifCall }, memifConf)).json as { interfaces: { socketPath: string }[] };
    const sock = m.interfaces[0]!.socketPath;
    expect(path.dirname(sock)).toBe(d.socketDir);
    expect(isSocket(sock)).toBe(true);
    expect((await c.listAttachments()).attachments.map((a) => [a.key.containerId, a.present, a.connected])).toEqual([
      ['ctr-veth', true, true],
      ['ctr-memif', true, false], // no workload connected to the memif yet
    ]);

    ok(env.run({ command: 'DEL', ...vethCall }, { ...vethConf, prevResult: result }));
    ok(env.run({ command: 'DEL', ...memifCall }, memifConf));
    expect(() => net.exec(ns.name, ['ip', 'link', 'show', 'dev', 'eth0'])).toThrow();
    expect(existsSync(info)).toBe(false);
    expect(existsSync(sock)).toBe(false);
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect(env.leases()).toEqual([]);
    expect((await daemon!.stop('SIGTERM')).code).toBe(0);
  });

  it('run directory removed while memswitchd is down (state kept): it comes back with its state, stale sockets and all; CNI works across it', async () => {
    const d = dirs();
    let c = await start();
    await c.createNetwork({ name: 'kept' });
    const [a, b] = [net.add('ra'), net.add('rb')];
    const vethConf = conf({ interface: 'veth' });
    const callA = { containerId: 'ctr-a', netns: a.path, ifname: 'eth0' };
    const ra = ok(env.run({ command: 'ADD', ...callA }, vethConf));
    const callM = { containerId: 'ctr-m', netns: b.path, ifname: 'net1' };
    ok(env.run({ command: 'ADD', ...callM }, conf()));

    // A crash leaves the socket files behind: they must not stop the next start.
    expect((await daemon!.stop('SIGKILL')).signal).toBe('SIGKILL');
    for (const s of [d.apiSocket, d.handoverSocket, `${d.memifDir}/memif.sock`]) expect(isSocket(s), s).toBe(true);
    c = await start();
    expect((await c.listAttachments()).attachments.map((x) => x.key.containerId)).toEqual(['ctr-a', 'ctr-m']);

    // Down again, and the run directory goes, as in a reboot; the state directory stays.
    expect((await daemon!.stop('SIGTERM')).code).toBe(0);
    client!.close();
    client = undefined;
    rmSync(path.join(root, 'run'), { recursive: true, force: true });
    expect(existsSync(d.stateDb)).toBe(true);
    // The runtime removes a pod meanwhile: DEL succeeds and is spooled for memswitchd.
    ok(env.run({ command: 'DEL', ...callM }, conf()));
    expect(readdirSync(d.spoolDir)).toHaveLength(1);
    expect(pluginLog()).toEqual(['memswitchd unreachable: DEL spooled for replay at its start', 'done']); // its log directory went too

    c = await start();
    expectDirs();
    expect((await c.listNetworks()).networks.map((n) => n.name).sort()).toEqual(['kept', 'msw-net']);
    // The spooled DEL was replayed; the other attachment is back, forwarding, with its file.
    expect(readdirSync(d.spoolDir)).toEqual([]);
    const kept = (await c.listAttachments()).attachments;
    expect(kept.map((x) => [x.key.containerId, x.present, x.connected])).toEqual([['ctr-a', true, true]]);
    const infoA = path.join(d.infoDir, 'ctr-a-eth0.json');
    expect(mode(infoA).toString(8)).toBe('600');
    expect(JSON.parse(readFileSync(infoA, 'utf8'))).toMatchObject({ kind: 'veth', mac: kept[0]!.mac, ips: [{ address: '10.66.0.2/24' }] });
    expect(net.exec(a.name, ['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).toMatch(/inet 10\.66\.0\.2\/24/);

    // A new pod after the "reboot": ADD works and it reaches the restored one.
    const callB = { containerId: 'ctr-b', netns: b.path, ifname: 'eth0' };
    const rb = ok(env.run({ command: 'ADD', ...callB }, vethConf));
    expect(existsSync(path.join(d.infoDir, 'ctr-b-eth0.json'))).toBe(true);
    expect(net.exec(b.name, ['ping', '-c', '3', '-i', '0.2', '-W', '2', addressOf(ra).split('/')[0]!])).toMatch(/3 received/);
    ok(env.run({ command: 'CHECK', ...callA }, { ...vethConf, prevResult: ra.json }));
    ok(env.run({ command: 'CHECK', ...callB }, { ...vethConf, prevResult: rb.json }));

    for (const call of [callA, callB]) ok(env.run({ command: 'DEL', ...call }, vethConf));
    expect((await c.listAttachments()).attachments).toEqual([]);
    expect(readdirSync(d.infoDir)).toEqual([]);
    expect(env.leases()).toEqual([]);
  });
});
