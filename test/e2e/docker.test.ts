// Docker (Debian's docker.io 20.10) on memswitch networks through memswitchd's remote
// network and IPAM driver (libnetwork's plugin protocol on a unix socket). The test starts
// its own dockerd (test/helpers/docker.ts: own data and exec roots, no iptables, no
// bridge) and memswitchd, whose plugin socket has a unique name, which is the driver's
// name. The image is built here from busybox-static and `docker load`ed: no registry.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Attachment } from '../../orchestrator/src/api/messages.js';
import { hostIfname } from '../../orchestrator/src/domain/veth.js';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { CniEnv } from '../helpers/cni.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { Dockerd, dockerMissing } from '../helpers/docker.js';
import { busyboxImage, type ImageArchive } from '../helpers/image.js';
import { expectForwardedThrough } from '../helpers/forwarding.js';
import { eventually } from '../helpers/switch.js';

const DRIVER = `msw-test-${process.pid}`;
const SUBNET = `10.73.${process.pid % 200}.0/24`;
const MEMIF_SUBNET = `10.74.${process.pid % 200}.0/24`;

let dockerd: Dockerd | undefined;
let env: CniEnv | undefined;
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
let imageDir: string | undefined;
let image: ImageArchive;
const helpers: ChildProcess[] = [];

beforeAll(async () => {
  const missing = dockerMissing();
  if (missing) throw new Error(`this test needs Docker: ${missing}`);
  // dockerd first: it notes which machine directories (/run/docker/plugins) it had to make.
  dockerd = await Dockerd.start();
  env = new CniEnv();
  daemon = await Daemon.start(`${env.daemonConfig(['blue'])}docker: { pluginSocket: ${Dockerd.pluginSocket(DRIVER)} }\n`, env.daemonEnv());
  client = await connect(daemon.apiSocket);
  imageDir = mkdtempSync(path.join(tmpdir(), 'msw-image-'));
  image = busyboxImage(imageDir);
  expect(dockerd.dockerOk(['load', '--input', image.file])).toContain(`Loaded image: ${image.name}`);
}, 120_000);
afterAll(async () => {
  try {
    await dockerd?.stop(); // containers first: their endpoints go while memswitchd is up
  } finally {
    client?.close();
    await daemon?.stop('SIGTERM');
    env?.cleanup();
    if (imageDir) rmSync(imageDir, { recursive: true, force: true });
    dockerd?.removeMachineDirs();
  }
  expect(existsSync(Dockerd.pluginSocket(DRIVER))).toBe(false);
}, 60_000);
afterEach(() => {
  for (const h of helpers.splice(0)) h.kill('SIGKILL');
  dockerd?.removeAll(); // a failed test's containers and networks
});

/** One POST to the plugin socket, as Docker makes it. */
function pluginCall(method: string, body: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: Dockerd.pluginSocket(DRIVER), path: `/${method}`, method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

const attachments = async (): Promise<Attachment[]> => (await client!.listAttachments()).attachments;
const run = (name: string, network: string): string => dockerd!.dockerOk(['run', '--detach', '--name', name, '--network', network, image.name, '/bin/sleep', '300']);
const exec = (name: string, cmd: string[]): string => dockerd!.dockerOk(['exec', name, ...cmd]);
const networkId = (name: string): string => dockerd!.dockerOk(['network', 'inspect', '--format', '{{.Id}}', name]);
const endpointOf = (container: string, network: string): { EndpointID: string; IPAddress: string } =>
  JSON.parse(dockerd!.dockerOk(['inspect', '--format', `{{json (index .NetworkSettings.Networks "${network}")}}`, container])) as { EndpointID: string; IPAddress: string };

describe('Docker 20.10: the memswitch remote network and IPAM driver', () => {
  it('veth: containers get addresses from memswitch IPAM and ping each other through memswitch; docker rm -f and docker network rm leave nothing', async () => {
    dockerd!.dockerOk(['network', 'create', '--driver', DRIVER, '--ipam-driver', DRIVER, '--subnet', SUBNET, 'mswnet']);
    const netId = networkId('mswnet');
    const memswitchNet = `docker-${netId.slice(0, 12)}`;
    expect((await client!.listNetworks()).networks.map((n) => n.name)).toContain(memswitchNet);

    run('msw-a', 'mswnet');
    run('msw-b', 'mswnet');
    const prefix = SUBNET.slice(0, SUBNET.lastIndexOf('.'));
    const epA = endpointOf('msw-a', 'mswnet');
    const epB = endpointOf('msw-b', 'mswnet');
    // .1 is the gateway Docker asks IPAM for; the containers get the next ones.
    expect([epA.IPAddress, epB.IPAddress]).toEqual([`${prefix}.2`, `${prefix}.3`]);

    const byEndpoint = async (ep: string) => (await attachments()).find((x) => x.key.containerId === ep);
    const a = (await byEndpoint(epA.EndpointID))!;
    const b = (await byEndpoint(epB.EndpointID))!;
    for (const att of [a, b]) expect(att).toMatchObject({ key: { cniNetwork: memswitchNet }, kind: 'ATTACHMENT_KIND_VETH', network: memswitchNet, present: true, connected: true });
    for (const [name, att, ep] of [['msw-a', a, epA], ['msw-b', b, epB]] as const) {
      expect(exec(name, ['/sbin/ip', '-o', 'addr', 'show', 'eth0'])).toContain(`inet ${ep.IPAddress}/24`);
      expect(exec(name, ['/sbin/ip', '-o', 'link', 'show', 'eth0'])).toContain(`link/ether ${att.mac}`);
      expect(existsSync(`/sys/class/net/${hostIfname(att.interface)}`)).toBe(true);
      expect(existsSync(`/sys/class/net/${att.key.ifname}`)).toBe(false); // Docker moved the container end
    }

    expect(exec('msw-a', ['/bin/ping', '-c', '3', '-i', '0.2', '-W', '2', epB.IPAddress])).toMatch(/3 packets transmitted, 3 packets received/);
    expect(exec('msw-b', ['/bin/ping', '-c', '3', '-i', '0.2', '-W', '2', epA.IPAddress])).toMatch(/3 packets transmitted, 3 packets received/);
    await expectForwardedThrough(client!, memswitchNet, [a, b]);

    // docker rm -f: Leave and DeleteEndpoint; the port and the pair go, the address is free
    // again (the next container gets it), b is untouched.
    dockerd!.dockerOk(['rm', '--force', 'msw-a']);
    expect((await attachments()).map((x) => x.key.containerId)).toEqual([epB.EndpointID]);
    expect((await client!.listInterfaces()).interfaces.map((i) => i.spec.name)).toEqual([b.interface]);
    expect(existsSync(`/sys/class/net/${hostIfname(a.interface)}`)).toBe(false);
    run('msw-c', 'mswnet');
    expect(endpointOf('msw-c', 'mswnet').IPAddress).toBe(epA.IPAddress);
    // From c: b's ARP entry for that address still names a's MAC until c's request renews it.
    expect(exec('msw-c', ['/bin/ping', '-c', '2', '-i', '0.2', '-W', '2', epB.IPAddress])).toMatch(/2 packets received/);

    dockerd!.dockerOk(['rm', '--force', 'msw-b', 'msw-c']);
    expect(await attachments()).toEqual([]);
    expect((await client!.listInterfaces()).interfaces).toEqual([]);
    for (const att of [a, b]) expect(existsSync(`/sys/class/net/${hostIfname(att.interface)}`)).toBe(false);
    // docker network rm: the memswitch network made for it goes too.
    dockerd!.dockerOk(['network', 'rm', 'mswnet']);
    expect((await client!.listNetworks()).networks.map((n) => n.name)).not.toContain(memswitchNet);
  }, 120_000);

  it('a memswitchd restart keeps Docker\'s network, endpoints and leases: traffic resumes, then rm and network rm work', async () => {
    dockerd!.dockerOk(['network', 'create', '--driver', DRIVER, '--ipam-driver', DRIVER, '--subnet', SUBNET, 'rnet']);
    run('msw-a', 'rnet');
    run('msw-b', 'rnet');
    const epA = endpointOf('msw-a', 'rnet');
    const epB = endpointOf('msw-b', 'rnet');
    const before = await attachments();

    client!.close();
    await daemon!.stop('SIGTERM');
    daemon = await Daemon.start(`${env!.daemonConfig(['blue'])}docker: { pluginSocket: ${Dockerd.pluginSocket(DRIVER)} }\n`, env!.daemonEnv());
    client = await connect(daemon.apiSocket);
    expect(daemon.lines.find((l) => l.msg === 'memswitchd running')).toMatchObject({ dockerNetworks: 1, dockerEndpoints: 2 });
    const after = await attachments();
    expect(after.map((x) => [x.key, x.interface, x.mac])).toEqual(before.map((x) => [x.key, x.interface, x.mac]));
    for (const att of after) expect(att).toMatchObject({ present: true, connected: true });
    // The same pairs (Docker's eth0 stayed in the containers), attached anew.
    expect(exec('msw-a', ['/bin/ping', '-c', '3', '-i', '0.2', '-W', '2', epB.IPAddress])).toMatch(/3 packets received/);

    // The restarted daemon knows the pool's leases: the next container gets a new address.
    run('msw-c', 'rnet');
    expect(endpointOf('msw-c', 'rnet').IPAddress).not.toMatch(new RegExp(`^(${epA.IPAddress}|${epB.IPAddress})$`));
    dockerd!.dockerOk(['rm', '--force', 'msw-a', 'msw-b', 'msw-c']);
    expect(await attachments()).toEqual([]);
    dockerd!.dockerOk(['network', 'rm', 'rnet']);
    expect((await client!.listNetworks()).networks.map((n) => n.name)).toEqual(['blue']);
  }, 120_000);

  it('-o memswitch.network joins an existing memswitch network, which docker network rm leaves; bad requests get a clear Err', async () => {
    dockerd!.dockerOk(['network', 'create', '--driver', DRIVER, '--ipam-driver', DRIVER, '--subnet', SUBNET, '--opt', 'memswitch.network=blue', 'bnet']);
    run('msw-a', 'bnet');
    expect(await attachments()).toMatchObject([{ network: 'blue', kind: 'ATTACHMENT_KIND_VETH', connected: true }]);
    dockerd!.dockerOk(['rm', '--force', 'msw-a']);
    dockerd!.dockerOk(['network', 'rm', 'bnet']);
    expect((await client!.listNetworks()).networks.map((n) => n.name)).toEqual(['blue']);

    const missing = dockerd!.docker(['network', 'create', '--driver', DRIVER, '--subnet', '10.76.0.0/24', '--opt', 'memswitch.network=nosuch', 'x']);
    expect(missing.stderr).toContain('no network nosuch');
    // The protocol itself: validated, and answered with {"Err": ...}.
    expect(await pluginCall('NetworkDriver.Join', { NetworkID: 'x', EndpointID: 'y' })).toEqual({ status: 400, body: { Err: 'memswitch: NetworkID: must be a Docker object ID (64 hex digits)' } });
    expect(await pluginCall('NetworkDriver.Join', '{not json')).toMatchObject({ status: 400, body: { Err: expect.stringContaining('memswitch: ') } });
    expect(await pluginCall('IpamDriver.RequestPool', { Pool: '' })).toMatchObject({ status: 400, body: { Err: expect.stringContaining('needs a subnet') } });
    expect(await pluginCall('NetworkDriver.Nonsense', {})).toMatchObject({ status: 404 });
    expect(await pluginCall('Plugin.Activate', {})).toEqual({ status: 200, body: { Implements: ['NetworkDriver', 'IpamDriver'] } });
  }, 120_000);

  it('memif as a secondary network: docker network connect, or docker run onto it, gives the container a memif listener in its netns that a client there connects to', async () => {
    dockerd!.dockerOk(['network', 'create', '--driver', DRIVER, '--ipam-driver', DRIVER, '--subnet', SUBNET, 'vnet']);
    dockerd!.dockerOk(['network', 'create', '--driver', DRIVER, '--ipam-driver', DRIVER, '--subnet', MEMIF_SUBNET, '--opt', 'memswitch.interface=memif', 'mnet']);
    run('msw-m', 'vnet');
    dockerd!.dockerOk(['network', 'connect', 'mnet', 'msw-m']);
    const ep = endpointOf('msw-m', 'mnet');
    const m = (await attachments()).find((x) => x.key.containerId === ep.EndpointID);
    expect(m).toMatchObject({ kind: 'ATTACHMENT_KIND_MEMIF', socket: '@memswitch/memif-memif0', present: true, connected: false });
    expect(m!.ips.map((i) => i.address)).toEqual([`${ep.IPAddress}/24`]);
    // The abstract socket belongs to the container's netns: it shows in its view only.
    expect(exec('msw-m', ['/bin/cat', '/proc/net/unix'])).toMatch(/ @memswitch\/memif-memif0$/m);
    expect(exec('msw-m', ['/sbin/ip', '-o', 'link'])).not.toMatch(/eth1/); // no kernel interface for it

    // An unknown option is refused with a clear error, before anything is made.
    const bad = dockerd!.docker(['network', 'create', '--driver', DRIVER, '--ipam-driver', DRIVER, '--subnet', '10.75.0.0/24', '--opt', 'memswitch.colour=red', 'bad']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('unknown option(s) memswitch.colour');

    // docker run straight onto it: Join comes before the sandbox's netns exists, and the
    // listener follows once the container started. A client there connects with the
    // socket, id and secret of the attachment file.
    run('msw-n', 'mnet');
    const epN = endpointOf('msw-n', 'mnet');
    let n: Attachment | undefined;
    await eventually(async () => (n = (await attachments()).find((x) => x.key.containerId === epN.EndpointID)) !== undefined, 10_000, 'the memif attachment of msw-n');
    expect(n!.netns).toBe(dockerd!.dockerOk(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', 'msw-n']));
    expect(exec('msw-n', ['/bin/cat', '/proc/net/unix'])).toMatch(/ @memswitch\/memif-memif0$/m);
    const info = JSON.parse(readFileSync(n!.infoFile, 'utf8')) as { memif: { socket: string; id: number; secret: string } };
    const addon = path.join(repoRoot, 'build/addon/Release/memswitch_testing.node');
    const memifClient = spawn('nsenter', [`--net=${n!.netns}`, process.execPath, '-e', `
      const m = require(${JSON.stringify(addon)});
      const c = new m.MemifClient({ socket: ${JSON.stringify(info.memif.socket)}, id: ${info.memif.id}, secret: ${JSON.stringify(info.memif.secret)}, hugepages: false, timeoutMs: 5000 });
      console.log('connected');
      setTimeout(() => c.close(), 30000);`], { stdio: ['ignore', 'pipe', 'pipe'] });
    helpers.push(memifClient);
    let out = '';
    memifClient.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    memifClient.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => out.includes('connected') || memifClient.exitCode !== null, 10_000, 'the memif client in the container netns');
    expect(out).toContain('connected');
    await eventually(async () => (await client!.getAttachment({ key: n!.key })).attachment.connected, 5000, 'memswitchd to see the client connected');
    memifClient.kill('SIGKILL');
    dockerd!.dockerOk(['rm', '--force', 'msw-n']);

    dockerd!.dockerOk(['network', 'disconnect', 'mnet', 'msw-m']);
    await eventually(async () => (await attachments()).every((x) => x.kind !== 'ATTACHMENT_KIND_MEMIF'), 5000, 'the memif attachment to go');
    dockerd!.dockerOk(['rm', '--force', 'msw-m']);
    dockerd!.dockerOk(['network', 'rm', 'vnet', 'mnet']);
    expect(await attachments()).toEqual([]);
    expect((await client!.listNetworks()).networks.map((n) => n.name)).toEqual(['blue']);
  }, 120_000);
});
