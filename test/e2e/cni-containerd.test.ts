// A real container runtime: Debian's containerd 1.6, driven with `ctr run --cni`, runs
// containers on memswitch networks. ctr (go-cni, libcni 1.1) execs our plugin from its
// conf dir with its own container ids ("<namespace>-<id>"), netns paths
// (/proc/PID/ns/net) and ifname (eth0). The test starts its own containerd (own root,
// state, socket, /run) and memswitchd; ctr sees the test's conflist, plugin dir and CNI
// cache in a private mount namespace (test/helpers/containerd.ts says why it must), so the
// machine's /run/containerd, /etc/cni and /run/memswitch are never touched. The image is
// built here from busybox-static (test/helpers/image.ts) and imported: no registry.
//
// ctr 1.6 runs the CNI DEL in the `ctr run` that made the network, when it sees the task
// exit (`ctr task kill` itself runs it only from 1.7 on, containerd PR 6670). So
// containers run as foreground `ctr run`s (child processes here), `ctr task kill` ends
// them, and `ctr container rm` removes them. A detached `ctr run -d` gets no DEL from
// ctr 1.6 at all: its attachment and IP lease stay until a CNI GC.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Attachment } from '../../orchestrator/src/api/messages.js';
import { hostIfname } from '../../orchestrator/src/domain/veth.js';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { CniEnv } from '../helpers/cni.js';
import { Containerd, containerdMissing, type CtrCni, type CtrProcess } from '../helpers/containerd.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { busyboxImage, type ImageArchive } from '../helpers/image.js';
import { expectForwardedThrough } from '../helpers/forwarding.js';
import { eventually } from '../helpers/switch.js';

const VETH_NET = `msw-ctrd-${process.pid}`;
const MEMIF_NET = `msw-ctrd-m-${process.pid}`;
const NAMESPACE = 'default'; // ctr's; go-cni's CNI_CONTAINERID is "<namespace>-<id>"
const INFO_IN_CONTAINER = '/run/memswitch/attachments';

let ctrd: Containerd | undefined;
let image: ImageArchive;
let imageDir: string | undefined;
let env: CniEnv;
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
let vethCni: CtrCni;
let memifCni: CtrCni;
const helpers: ChildProcess[] = [];

beforeAll(async () => {
  const missing = containerdMissing();
  if (missing) throw new Error(`this test needs containerd: ${missing}`);
  imageDir = mkdtempSync(path.join(tmpdir(), 'msw-image-'));
  image = busyboxImage(imageDir);
  ctrd = await Containerd.start();
  expect(ctrd.ctrOk(['images', 'import', image.file])).toContain(`unpacking ${image.name} (${image.manifestDigest})...done`);
});
afterAll(async () => {
  await ctrd?.stop();
  if (imageDir) rmSync(imageDir, { recursive: true, force: true });
});
beforeEach(async () => {
  env = new CniEnv();
  daemon = await Daemon.start(env.daemonConfig(['blue']), env.daemonEnv());
  client = await connect(daemon.apiSocket);
  const memswitch = { type: 'memswitch', apiSocket: env.apiSocket, spoolDir: env.spoolDir, vswitchNetwork: 'blue', timeoutMs: 5000 };
  const ipam = { type: 'host-local', ranges: [[{ subnet: '10.71.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: env.ipamDir };
  // go-cni loads the first config of its dir: one dir per network.
  vethCni = { confDir: path.join(env.dir, 'net.d-veth'), binDir: env.binDir };
  memifCni = { confDir: path.join(env.dir, 'net.d-memif'), binDir: env.binDir };
  mkdirSync(vethCni.confDir);
  mkdirSync(memifCni.confDir);
  writeFileSync(path.join(vethCni.confDir, `10-${VETH_NET}.conflist`), env.conflist(VETH_NET, [{ ...memswitch, interface: 'veth', ipam }]));
  writeFileSync(path.join(memifCni.confDir, `10-${MEMIF_NET}.conflist`), env.conflist(MEMIF_NET, [{ ...memswitch, interface: 'memif' }]));
});
afterEach(async () => {
  for (const h of helpers.splice(0)) h.kill('SIGKILL');
  try {
    await ctrd?.removeAll(); // the DELs run while memswitchd is still up
  } finally {
    client?.close();
    client = undefined;
    await daemon?.stop('SIGTERM');
    daemon = undefined;
    env?.cleanup();
  }
});

/** `ctr run --cni IMAGE ID CMD` in the foreground (as a child), `ctr run` options first. */
function run(id: string, cni: CtrCni, cmd: string[], options: string[] = []): CtrProcess {
  return ctrd!.spawnCtr(['run', '--cni', ...options, image.name, id, ...cmd], { cni });
}

let execSeq = 0;
function exec(id: string, cmd: string[]): string {
  return ctrd!.ctrOk(['task', 'exec', '--exec-id', `t${execSeq++}`, id, ...cmd]);
}

const attachments = async (): Promise<Attachment[]> => (await client!.listAttachments()).attachments;

/** The container's attachment, once its ADD is done and its task runs. */
async function started(id: string, p: CtrProcess): Promise<Attachment> {
  let att: Attachment | undefined;
  await eventually(
    async () => {
      if (p.proc.exitCode !== null) throw new Error(`ctr run ${id} exited ${p.proc.exitCode}: ${p.stderr}${p.stdout}`);
      att = (await attachments()).find((a) => a.key.containerId === `${NAMESPACE}-${id}`);
      return att !== undefined && new RegExp(`^${id}\\s+\\d+\\s+RUNNING`, 'm').test(ctrd!.ctrOk(['task', 'ls']));
    },
    20_000,
    `container ${id} attached and running`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; ctr run: ${p.stderr}${p.stdout}`);
  });
  return att!;
}

/** `ctr task kill` (SIGKILL: PID 1 ignores SIGTERM) and the foreground `ctr run` ending. */
async function kill(id: string, p: CtrProcess): Promise<number | null> {
  ctrd!.ctrOk(['task', 'kill', '--signal', 'SIGKILL', id]);
  const code = await Promise.race([p.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
  if (code === 'timeout') throw new Error(`ctr run ${id} did not end after ctr task kill: ${p.stderr}`);
  return code;
}

const taskPid = (a: Attachment): number => Number(/^\/proc\/(\d+)\/ns\/net$/.exec(a.netns)?.[1]);
const netnsOf = (pid: number): string => readlinkSync(`/proc/${pid}/ns/net`);
const netnsAlive = (ns: string): boolean =>
  spawnSync('lsns', ['--type', 'net', '--noheadings', '--output', 'NS'], { encoding: 'utf8' })
    .stdout.split('\n')
    .some((l) => `net:[${l.trim()}]` === ns);
const containers = () => ctrd!.ctrOk(['containers', 'ls', '--quiet']).split('\n').filter(Boolean);
const snapshots = () => ctrd!.ctrOk(['snapshots', 'ls']);

describe('containerd 1.6: ctr run --cni', () => {
  it('veth: two containers get their addresses and ping each other through memswitch; ctr task kill + ctr container rm runs DEL and leaves nothing', async () => {
    const pa = run('msw-a', vethCni, ['/bin/sleep', '300']);
    const a = await started('msw-a', pa);
    const pb = run('msw-b', vethCni, ['/bin/sleep', '300']);
    const b = await started('msw-b', pb);
    for (const att of [a, b]) expect(att).toMatchObject({ key: { cniNetwork: VETH_NET, ifname: 'eth0' }, kind: 'ATTACHMENT_KIND_VETH', network: 'blue', present: true, connected: true });
    const ip = (att: Attachment) => att.ips[0]!.address.split('/')[0]!;
    expect(new Set([ip(a), ip(b)]).size).toBe(2);
    expect(env.leases(VETH_NET).sort()).toEqual([ip(a), ip(b)].sort());
    expect(ctrd!.cniCache().sort()).toEqual([`${VETH_NET}-${NAMESPACE}-msw-a-eth0`, `${VETH_NET}-${NAMESPACE}-msw-b-eth0`]);

    // Inside: the addresses IPAM gave and memswitchd applied, and memswitchd's MAC.
    for (const [id, att] of [['msw-a', a], ['msw-b', b]] as const) {
      const addr = exec(id, ['/sbin/ip', '-o', 'addr', 'show', 'eth0']);
      expect(addr).toContain(`inet ${att.ips[0]!.address}`);
      expect(exec(id, ['/sbin/ip', '-o', 'link', 'show', 'eth0'])).toContain(`link/ether ${att.mac}`);
      expect(exec(id, ['/sbin/ip', 'route'])).toMatch(/^default via /m);
      // The container's netns is its task's own, not the host's.
      expect(exec(id, ['/bin/readlink', '/proc/self/ns/net']).trim()).toBe(netnsOf(taskPid(att)));
      expect(netnsOf(taskPid(att))).not.toBe(readlinkSync('/proc/self/ns/net'));
      expect(existsSync(`/sys/class/net/${hostIfname(att.interface)}`)).toBe(true);
    }

    expect(exec('msw-a', ['/bin/ping', '-c', '3', '-i', '0.2', '-W', '2', ip(b)])).toMatch(/3 packets transmitted, 3 packets received/);
    expect(exec('msw-b', ['/bin/ping', '-c', '3', '-i', '0.2', '-W', '2', ip(a)])).toMatch(/3 packets transmitted, 3 packets received/);
    await expectForwardedThrough(client!, 'blue', [a, b]);

    // ctr task kill: the task dies, its `ctr run` runs the DEL and deletes the task.
    const nsA = netnsOf(taskPid(a));
    expect(await kill('msw-a', pa)).toBe(137);
    expect(pa.stderr).not.toMatch(/network review|error/i);
    expect((await attachments()).map((x) => x.key.containerId)).toEqual([`${NAMESPACE}-msw-b`]);
    expect((await client!.listInterfaces()).interfaces.map((i) => i.spec.name)).toEqual([b.interface]);
    expect(env.leases(VETH_NET)).toEqual([ip(b)]);
    expect(ctrd!.cniCache()).toEqual([`${VETH_NET}-${NAMESPACE}-msw-b-eth0`]); // libcni's DEL succeeded
    expect(existsSync(`/sys/class/net/${hostIfname(a.interface)}`)).toBe(false);
    expect(existsSync(`/proc/${taskPid(a)}`)).toBe(false);
    expect(netnsAlive(nsA)).toBe(false);
    expect(ctrd!.ctrOk(['task', 'ls'])).not.toMatch(/^msw-a\s/m);
    // ctr container rm: the container and its snapshot go; b is untouched.
    expect(containers()).toContain('msw-a');
    ctrd!.ctrOk(['containers', 'rm', 'msw-a']);
    expect(containers()).toEqual(['msw-b']);
    expect(snapshots()).not.toMatch(/^msw-a\s/m);
    expect(exec('msw-b', ['/sbin/ip', '-o', 'addr', 'show', 'eth0'])).toContain(`inet ${b.ips[0]!.address}`);

    expect(await kill('msw-b', pb)).toBe(137);
    ctrd!.ctrOk(['containers', 'rm', 'msw-b']);
    expect(await attachments()).toEqual([]);
    expect((await client!.listInterfaces()).interfaces).toEqual([]);
    expect(env.leases(VETH_NET)).toEqual([]);
    expect(existsSync(`/sys/class/net/${hostIfname(b.interface)}`)).toBe(false);
    expect(readdirSync(env.infoDir)).toEqual([]);
    expect(env.spooled()).toEqual([]); // every DEL reached memswitchd, none was spooled
    expect(ctrd!.cniCache()).toEqual([]);
    expect(containers()).toEqual([]);
    expect(snapshots().split('\n').slice(1).filter((l) => l && !l.startsWith('sha256:'))).toEqual([]); // the image's layer only
  });

  it('memif: the socket listens in the container netns, the attachment file shows in its mount, a client there connects; kill + rm runs DEL', async () => {
    // The operator mounts the attachment directory into the workload (deploy/README.md).
    const pm = run('msw-m', memifCni, ['/bin/sleep', '300'], ['--mount', `type=bind,src=${env.infoDir},dst=${INFO_IN_CONTAINER},options=rbind:ro`]);
    const m = await started('msw-m', pm);
    expect(m).toMatchObject({ key: { cniNetwork: MEMIF_NET, ifname: 'eth0' }, kind: 'ATTACHMENT_KIND_MEMIF', socket: '@memswitch/memif-eth0', present: true, connected: false });
    expect(ctrd!.cniCache()).toEqual([`${MEMIF_NET}-${NAMESPACE}-msw-m-eth0`]);

    // An abstract socket belongs to a netns: the listener shows in the container's view,
    // and that view is the container's own netns.
    expect(exec('msw-m', ['/bin/cat', '/proc/net/unix'])).toMatch(/ @memswitch\/memif-eth0$/m);
    const ns = netnsOf(taskPid(m));
    expect(exec('msw-m', ['/bin/readlink', '/proc/self/ns/net']).trim()).toBe(ns);
    expect(ns).not.toBe(readlinkSync('/proc/self/ns/net'));

    // The attachment file, as the workload reads it through its mount.
    expect(path.dirname(m.infoFile)).toBe(env.infoDir);
    const info = JSON.parse(exec('msw-m', ['/bin/cat', `${INFO_IN_CONTAINER}/${path.basename(m.infoFile)}`])) as {
      containerId: string;
      kind: string;
      mac: string;
      memif: { socket: string; id: number; secret: string; role: string; mode: string };
    };
    expect(info).toMatchObject({ containerId: `${NAMESPACE}-msw-m`, kind: 'memif', mac: m.mac, memif: { socket: m.socket, id: m.memifId, role: 'client', mode: 'ethernet' } });
    expect(info.memif.secret).toMatch(/^[A-Za-z0-9_-]{16}$/);

    // A memif client in the container's netns, with the file's socket, id and secret.
    const addon = path.join(repoRoot, 'build/addon/Release/memswitch_testing.node');
    const memifClient = spawn('nsenter', [`--net=${m.netns}`, process.execPath, '-e', `
      const m = require(${JSON.stringify(addon)});
      const c = new m.MemifClient({ socket: ${JSON.stringify(info.memif.socket)}, id: ${info.memif.id}, secret: ${JSON.stringify(info.memif.secret)}, hugepages: false, timeoutMs: 5000 });
      console.log('connected');
      setTimeout(() => { c.close(); }, 30000);`], { stdio: ['ignore', 'pipe', 'pipe'] });
    helpers.push(memifClient);
    let out = '';
    memifClient.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    memifClient.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => out.includes('connected') || memifClient.exitCode !== null, 10_000, 'the memif client in the container netns');
    expect(out).toContain('connected');
    await eventually(async () => (await client!.getAttachment({ key: m.key })).attachment.connected, 5000, 'memswitchd to see the client connected');
    memifClient.kill('SIGKILL');

    expect(await kill('msw-m', pm)).toBe(137);
    expect(await attachments()).toEqual([]);
    expect((await client!.listInterfaces()).interfaces).toEqual([]);
    expect(readdirSync(env.infoDir)).toEqual([]); // the attachment file went with the DEL
    expect(env.spooled()).toEqual([]);
    expect(netnsAlive(ns)).toBe(false); // and with it the socket's namespace
    expect(ctrd!.cniCache()).toEqual([]);
    ctrd!.ctrOk(['containers', 'rm', 'msw-m']);
    expect(containers()).toEqual([]);
  });
});
