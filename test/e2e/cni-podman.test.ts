// A real container runtime: podman 4.3 (Debian's), with its CNI network backend, runs
// containers on memswitch networks. podman execs our plugin from its own conflist with
// its own container ids, netns paths and ifnames, and calls DEL when a container goes.
// Everything podman keeps (storage, run state, its netns, the conflists) lives in the
// test's temp directory; the containers run a busybox rootfs built here (no images, no
// registry).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { CniEnv, REFERENCE_PLUGINS } from '../helpers/cni.js';
import { Daemon } from '../helpers/daemon.js';

const BUSYBOX = '/bin/busybox'; // busybox-static: runs in an empty rootfs
const VETH_NET = `msw-pm-${process.pid}`;
const MEMIF_NET = `msw-pm-m-${process.pid}`;
const BROKEN_NET = `msw-pm-x-${process.pid}`;

let env: CniEnv;
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;

beforeAll(() => {
  for (const bin of ['podman', 'runc'])
    if (spawnSync(bin, ['--version']).status !== 0) throw new Error(`${bin} is not installed: run scripts/setup.sh (apt-get install podman runc)`);
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: run scripts/setup.sh (apt-get install busybox-static)`);
});
beforeEach(async () => {
  env = new CniEnv();
  daemon = await Daemon.start(env.daemonConfig(['blue']), env.daemonEnv());
  client = await connect(daemon.apiSocket);
  setUpPodman();
});
afterEach(async () => {
  podman(['rm', '--all', '--force', '--time', '0']);
  client?.close();
  client = undefined;
  await daemon?.stop('SIGTERM');
  daemon = undefined;
  env.cleanup();
});

function setUpPodman(): void {
  const rootfs = path.join(env.dir, 'rootfs');
  mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp']) mkdirSync(path.join(rootfs, d));
  copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  for (const cmd of ['sh', 'ip', 'ping', 'sleep', 'cat', 'grep']) symlinkSync('busybox', path.join(rootfs, 'bin', cmd));

  const netd = path.join(env.dir, 'net.d');
  mkdirSync(netd);
  const memswitch = { type: 'memswitch', apiSocket: env.apiSocket, spoolDir: env.spoolDir, vswitchNetwork: 'blue', timeoutMs: 5000 };
  const ipam = (subnet: string) => ({ type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: env.ipamDir });
  writeFileSync(path.join(netd, `${VETH_NET}.conflist`), env.conflist(VETH_NET, [{ ...memswitch, interface: 'veth', ipam: ipam('10.69.0.0/24') }]));
  writeFileSync(path.join(netd, `${MEMIF_NET}.conflist`), env.conflist(MEMIF_NET, [{ ...memswitch, interface: 'memif' }]));
  // A network whose memswitch network does not exist: every ADD fails after IPAM ran.
  writeFileSync(path.join(netd, `${BROKEN_NET}.conflist`), env.conflist(BROKEN_NET, [{ ...memswitch, vswitchNetwork: 'nowhere', interface: 'veth', ipam: ipam('10.70.0.0/24') }]));

  // Why each setting: this machine has hybrid cgroups (crun refuses them; runc with
  // cgroupfs takes them) and no CAP_SYS_RESOURCE (podman's default rlimits exceed ours).
  writeFileSync(
    path.join(env.dir, 'containers.conf'),
    `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["${env.binDir}", "${REFERENCE_PLUGINS}"]
network_config_dir = "${netd}"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`,
  );
}

function podman(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    'podman',
    ['--root', path.join(env.dir, 'storage'), '--runroot', path.join(env.dir, 'run'), '--tmpdir', path.join(env.dir, 'libpod'), ...args],
    { env: { ...process.env, CONTAINERS_CONF: path.join(env.dir, 'containers.conf') }, encoding: 'utf8', timeout: 60_000 },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `podman run OPTIONS --rootfs ROOTFS CMD`: with --rootfs the rootfs takes the image's place. */
function run(options: string[], cmd: string[]): string {
  const args = [...options, '--rootfs', path.join(env.dir, 'rootfs'), ...cmd];
  const r = podman(['run', ...args]);
  if (r.code !== 0) throw new Error(`podman run ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

function exec(container: string, cmd: string[]): string {
  const r = podman(['exec', container, ...cmd]);
  if (r.code !== 0) throw new Error(`podman exec ${cmd.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const attachments = async () => (await client!.listAttachments()).attachments;

describe('podman with its CNI backend', () => {
  it('veth: two containers ping each other through memswitch; removing them runs DEL', async () => {
    const b = run(['-d', '--network', VETH_NET], ['/bin/sleep', '300']);
    const [att] = await attachments();
    expect(att).toMatchObject({ key: { cniNetwork: VETH_NET, containerId: b, ifname: 'eth0' }, kind: 'ATTACHMENT_KIND_VETH', present: true });
    const ipB = att!.ips[0]!.address.split('/')[0]!;
    expect(exec(b, ['/bin/ip', '-o', 'addr', 'show', 'eth0'])).toContain(`inet ${ipB}/24`);

    const out = run(['--rm', '--network', VETH_NET], ['/bin/ping', '-c', '3', '-W', '2', ipB]);
    expect(out).toMatch(/3 packets received/);
    // The pinging container is gone, and podman's DEL took its attachment with it.
    expect((await attachments()).map((a) => a.key.containerId)).toEqual([b]);
    expect(env.leases(VETH_NET)).toEqual([ipB]);

    expect(podman(['rm', '--force', '--time', '0', b]).code).toBe(0);
    expect(await attachments()).toEqual([]);
    expect((await client!.listInterfaces()).interfaces).toEqual([]);
    expect(env.leases(VETH_NET)).toEqual([]);
    expect(readdirSync('/sys/class/net').filter((l) => l.startsWith('msw'))).toEqual([]);
  });

  it('memif: the container finds its memif socket in its own netns; a failed ADD leaves nothing', async () => {
    const m = run(['-d', '--network', MEMIF_NET], ['/bin/sleep', '300']);
    const [att] = await attachments();
    expect(att).toMatchObject({ key: { cniNetwork: MEMIF_NET, containerId: m }, kind: 'ATTACHMENT_KIND_MEMIF', socket: `@memswitch/memif-${att!.key.ifname}` });
    // Abstract sockets belong to a netns: the listener shows in the container's view only.
    expect(exec(m, ['/bin/cat', '/proc/net/unix'])).toContain(`@memswitch/memif-${att!.key.ifname}`);
    expect(podman(['rm', '--force', '--time', '0', m]).code).toBe(0);
    expect(await attachments()).toEqual([]);

    const broken = podman(['run', '--rm', '--network', BROKEN_NET, '--rootfs', path.join(env.dir, 'rootfs'), '/bin/sh', '-c', 'true']);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toMatch(/no network nowhere|nowhere/);
    expect(await attachments()).toEqual([]);
    expect(env.leases(BROKEN_NET)).toEqual([]);
    expect(podman(['ps', '--all', '--quiet']).stdout.trim()).toBe('');
  });
});
