// AttachmentService of a real memswitchd: memif and veth attachments into real network
// namespaces, idempotency by key, the per-attachment JSON file, persistence across a
// restart (and dropping attachments whose namespace died meanwhile), GC per CNI network.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError, type AttachRequest, type MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { Netns, linkExists } from '../helpers/netns.js';

let dir = '';
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
const net = new Netns();

const config = (): string => `
dataplane: { workers: 1 }
networks: [{ name: blue }, { name: red }]
cni: { infoDir: ${dir}/info, spoolDir: ${dir}/spool, socketDir: ${dir}/m }
`;
const env = (): NodeJS.ProcessEnv => ({ MEMSWITCH_STATE_DB: `${dir}/state.db`, MEMSWITCH_API_SOCKET: `${dir}/api.sock` });

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'msw-att-'));
});
afterEach(async () => {
  client?.close();
  client = undefined;
  await daemon?.stop('SIGTERM');
  daemon = undefined;
  net.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const key = (containerId: string, ifname = 'net1', cniNetwork = 'cni-blue') => ({ cniNetwork, containerId, ifname });

describe('AttachmentService', () => {
  it('attaches memif and veth, idempotently by key; detach is idempotent; info file is 0600', async () => {
    daemon = await Daemon.start(config(), env());
    const c = (client = await connect(daemon.apiSocket));
    const a = net.add('atta');
    const b = net.add('attb');
    const memifReq: AttachRequest = { key: key('ctr-a'), netns: a.path, network: 'blue', kind: 'ATTACHMENT_KIND_MEMIF', ips: [{ address: '10.90.0.5/24', gateway: '10.90.0.1' }] };
    const r1 = await c.attach(memifReq);
    expect(r1).toMatchObject({
      created: true,
      attachment: { socket: '@memswitch/memif-net1', memifId: 0, present: true, connected: false, ips: [{ address: '10.90.0.5/24', gateway: '10.90.0.1' }] },
    });
    expect(r1.attachment.mac).toMatch(/^02:/);
    // The listener is bound in the pod's namespace before Attach answered.
    expect(net.exec(a.name, ['cat', '/proc/net/unix'])).toContain('@memswitch/memif-net1');
    const info = JSON.parse(readFileSync(r1.attachment.infoFile, 'utf8')) as { memif: { socket: string; secret: string }; mac: string };
    expect(r1.attachment.infoFile).toBe(`${dir}/info/ctr-a-net1.json`);
    expect(statSync(r1.attachment.infoFile).mode & 0o777).toBe(0o600);
    expect(info).toMatchObject({ mac: r1.attachment.mac, memif: { socket: '@memswitch/memif-net1' } });
    expect(info.memif.secret).toMatch(/^[A-Za-z0-9_-]{16}$/);

    // Same key + same params: the stored result (pod fields are informational).
    const r2 = await c.attach({ ...memifReq, podName: 'other' });
    expect(r2.created).toBe(false);
    expect(r2.attachment.mac).toBe(r1.attachment.mac);
    // Same key + different params: ALREADY_EXISTS.
    await expect(c.attach({ ...memifReq, ips: [] })).rejects.toBeInstanceOf(AlreadyExistsError);

    const v = await c.attach({
      key: key('ctr-b', 'eth0'), netns: b.path, network: 'blue', kind: 'ATTACHMENT_KIND_VETH', mac: '02:00:00:90:00:02', mtu: 1400,
      ips: [{ address: '10.90.0.6/24', gateway: '10.90.0.1' }], routes: [{ dst: '10.91.0.0/16', gw: '' }],
    });
    expect(v.attachment).toMatchObject({ kind: 'ATTACHMENT_KIND_VETH', mac: '02:00:00:90:00:02', present: true, connected: true });
    expect(net.exec(b.name, ['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).toMatch(/10\.90\.0\.6\/24/);
    expect(net.exec(b.name, ['ip', 'route', 'show', '10.91.0.0/16'])).toMatch(/via 10\.90\.0\.1/);
    // The switch shows the interfaces as CNI-owned and refuses to delete them directly.
    const itfs = (await c.listInterfaces()).interfaces;
    expect(itfs.map((i) => i.source)).toEqual(['SOURCE_CNI', 'SOURCE_CNI']);
    await expect(c.deleteInterface({ name: v.attachment.interface })).rejects.toThrow(/CNI attachment/);

    // The CLI lists them (table and JSON).
    const cli = (args: string[]) => spawnSync(path.join(repoRoot, 'bin/memswitch'), ['--api', daemon!.apiSocket, ...args], { encoding: 'utf8' });
    const shown = JSON.parse(cli(['--json', 'show', 'attachments']).stdout) as { key: { containerId: string }; kind: string }[];
    expect(shown.map((a) => [a.key.containerId, a.kind])).toEqual([['ctr-a', 'ATTACHMENT_KIND_MEMIF'], ['ctr-b', 'ATTACHMENT_KIND_VETH']]);
    expect(cli(['show', 'attachments']).stdout).toMatch(/cni-blue\s+ctr-a\s+net1\s+memif\s+blue\s+cni-\w+\s+02:\S+\s+10\.90\.0\.5\/24\s+@memswitch\/memif-net1#0\s+waiting/);

    expect(await c.detach({ key: key('ctr-a') })).toEqual({ detached: true });
    expect(await c.detach({ key: key('ctr-a') })).toEqual({ detached: false });
    expect(existsSync(r1.attachment.infoFile)).toBe(false);
    await expect(c.getAttachment({ key: key('ctr-a') })).rejects.toBeInstanceOf(NotFoundError);
    expect(net.exec(a.name, ['cat', '/proc/net/unix'])).not.toContain('@memswitch/memif-net1');
  });

  it("captures and traces a pod's attachments by pod name", async () => {
    daemon = await Daemon.start(config(), env());
    const c = (client = await connect(daemon.apiSocket));
    const ns = net.add('attcap');
    const pod = { podNamespace: 'shop', podName: 'web-0' };
    await c.attach({ key: key('ctr-web', 'net1'), netns: ns.path, network: 'blue', kind: 'ATTACHMENT_KIND_MEMIF', socketName: 'web1', ...pod });
    await c.attach({ key: key('ctr-web', 'net2', 'cni-red'), netns: ns.path, network: 'red', kind: 'ATTACHMENT_KIND_MEMIF', socketName: 'web2', ...pod });
    for (const ref of ['shop/web-0', 'web-0']) {
      const stream = c.capture({ pod: ref });
      const first = await stream[Symbol.asyncIterator]().next();
      expect(first.value.pcapng.readUInt32LE(0)).toBe(0x0a0d0d0a); // the section header: capturing
      expect((await c.getDaemonInfo()).captures).toBe(1);
      stream.cancel();
      await expect.poll(async () => (await c.getDaemonInfo()).captures).toBe(0);
    }
    for (const ref of ['shop/web-1', 'other/web-0']) {
      const stream = c.capture({ pod: ref });
      await expect(stream[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(NotFoundError);
    }
    // A trace has nothing to say before a packet comes: it runs until cancelled.
    const trace = c.trace({ pod: 'shop/web-0', packets: 5 });
    const pending = trace[Symbol.asyncIterator]().next().catch(() => undefined);
    await expect.poll(async () => (await c.getDaemonInfo()).traces).toBe(1);
    trace.cancel();
    await pending;
    await expect.poll(async () => (await c.getDaemonInfo()).traces).toBe(0);
    await expect(c.trace({ pod: 'shop/web-1', packets: 5 })[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(NotFoundError);
  });

  it('survives a restart; drops attachments whose netns vanished; GC touches one CNI network only', async () => {
    daemon = await Daemon.start(config(), env());
    let c = (client = await connect(daemon.apiSocket));
    const nss = [net.add('g0'), net.add('g1'), net.add('g2')];
    for (const [i, ns] of nss.entries())
      await c.attach({ key: key(`ctr-${i}`), netns: ns.path, network: 'blue', kind: 'ATTACHMENT_KIND_MEMIF' });
    await c.attach({ key: key('ctr-0', 'net2', 'cni-red'), netns: nss[0]!.path, network: 'red', kind: 'ATTACHMENT_KIND_MEMIF' });
    const macs = (await c.listAttachments()).attachments.map((a) => a.mac);
    expect(new Set(macs).size).toBe(4);

    client.close();
    await daemon.stop('SIGKILL');
    net.cleanup(); // all three namespaces die while memswitchd is down...
    const again = net.add('g3');
    daemon = await Daemon.start(config(), env());
    c = client = await connect(daemon.apiSocket);
    expect((await c.listAttachments()).attachments).toEqual([]);

    for (const id of ['x', 'y', 'z']) await c.attach({ key: key(id), netns: again.path, network: 'blue', kind: 'ATTACHMENT_KIND_MEMIF', socketName: `m-${id}` });
    const red = await c.attach({ key: key('x', 'net1', 'cni-red'), netns: again.path, network: 'red', kind: 'ATTACHMENT_KIND_MEMIF', socketName: 'red' });
    // Admin state and static MACs set on an attachment's interface come back with it.
    await c.setInterfaceAdminState({ name: red.attachment.interface, adminState: 'ADMIN_STATE_DOWN' });
    await c.addStaticMac({ network: 'red', mac: '02:00:00:00:ee:01', interface: red.attachment.interface });
    client.close();
    await daemon.stop('SIGTERM');
    daemon = await Daemon.start(config(), env());
    c = client = await connect(daemon.apiSocket);
    expect((await c.listAttachments({ cniNetwork: 'cni-blue' })).attachments.map((a) => [a.key.containerId, a.socket, a.present])).toEqual([
      ['x', '@m-x', true], ['y', '@m-y', true], ['z', '@m-z', true],
    ]);
    expect((await c.getInterface({ name: red.attachment.interface })).interface.adminState).toBe('ADMIN_STATE_DOWN');
    expect((await c.listStaticMacs({ network: 'red' })).entries).toEqual([{ network: 'red', vlan: 0, mac: '02:00:00:00:ee:01', interface: red.attachment.interface }]);
    const gc = await c.gcAttachments({ cniNetwork: 'cni-blue', valid: [{ containerId: 'y', ifname: 'net1' }] });
    expect(gc.removed.map((k) => k.containerId).sort()).toEqual(['x', 'z']);
    expect((await c.listAttachments()).attachments.map((a) => `${a.key.cniNetwork}/${a.key.containerId}`)).toEqual(['cni-blue/y', 'cni-red/x']);
    expect(linkExists('lo')).toBe(true);
  });
});
