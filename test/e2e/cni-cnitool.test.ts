// A CNI client nobody here wrote: cnitool (libcni 1.1.2, built from Debian's source
// package by scripts/install-cnitool.sh) drives ADD/CHECK/DEL from a conflist into real
// network namespaces, with host-local delegation and Debian's tuning plugin chained after
// ours (it gets our result as prevResult). libcni 1.1.2 ignores "cniVersions" and speaks
// the list's cniVersion, 1.0.0.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { CniEnv, REFERENCE_PLUGINS } from '../helpers/cni.js';
import { Daemon } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';

const CNITOOL = '/usr/local/bin/cnitool';
// libcni caches results here (cnitool has no option to move it); we remove our entries.
const CACHE = '/var/lib/cni/results';
const NET = `msw-cnitool-${process.pid}`;
const MEMIF_NET = `msw-cnitool-m-${process.pid}`;

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
  if (existsSync(CACHE)) for (const f of readdirSync(CACHE)) if (f.startsWith(`${NET}-`) || f.startsWith(`${MEMIF_NET}-`)) rmSync(path.join(CACHE, f), { force: true });
});

function writeConflists(): string {
  const dir = path.join(env.dir, 'net.d');
  mkdirSync(dir);
  const memswitch = { type: 'memswitch', apiSocket: env.apiSocket, spoolDir: env.spoolDir, vswitchNetwork: 'blue', timeoutMs: 5000 };
  writeFileSync(
    path.join(dir, '10-veth.conflist'),
    env.conflist(NET, [
      { ...memswitch, interface: 'veth', mtu: 1450, ipam: { type: 'host-local', ranges: [[{ subnet: '10.68.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: env.ipamDir } },
      { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.arp_notify': '1' } },
    ]),
  );
  writeFileSync(path.join(dir, '20-memif.conflist'), env.conflist(MEMIF_NET, [{ ...memswitch, interface: 'memif', capabilities: { mac: true } }]));
  return dir;
}

function cnitool(confDir: string, args: string[], extra: Record<string, string> = {}) {
  const r = spawnSync(CNITOOL, args, {
    env: { PATH: process.env.PATH, NETCONFPATH: confDir, CNI_PATH: `${env.binDir}:${REFERENCE_PLUGINS}`, ...extra },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cnitool (libcni 1.1.2) driving memswitch-cni', () => {
  // Never a silent skip: a machine without cnitool fails here, saying why.
  beforeAll(() => {
    if (!existsSync(CNITOOL))
      throw new Error(`${CNITOOL} is missing: scripts/install-cnitool.sh (run by scripts/setup.sh) could not build it; see its output`);
  });

  it('ADD/CHECK/DEL of veth containers chained with tuning, ping between them; memif with the mac capability', async () => {
    daemon = await Daemon.start(env.daemonConfig(['blue']), env.daemonEnv());
    client = await connect(daemon.apiSocket);
    const confDir = writeConflists();
    const [a, b] = [net.add('ta'), net.add('tb')];

    const addA = cnitool(confDir, ['add', NET, a.path]);
    expect(addA.stderr).toBe('');
    expect(addA.code).toBe(0);
    const result = JSON.parse(addA.stdout) as { cniVersion: string; interfaces: { name: string; sandbox: string }[]; ips: { address: string; interface: number }[] };
    expect(result.cniVersion).toBe('1.0.0');
    expect(result.interfaces).toEqual([expect.objectContaining({ name: 'eth0', sandbox: a.path })]);
    expect(result.ips).toEqual([{ address: '10.68.0.2/24', gateway: '10.68.0.1', interface: 0 }]);
    expect(cnitool(confDir, ['add', NET, b.path]).code).toBe(0);
    // tuning ran after us, on the interface our result named.
    expect(net.exec(a.name, ['sysctl', '-n', 'net.ipv4.conf.eth0.arp_notify']).trim()).toBe('1');
    expect(net.exec(a.name, ['cat', '/sys/class/net/eth0/mtu']).trim()).toBe('1450');
    expect(net.exec(a.name, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.68.0.3'])).toMatch(/2 received/);

    expect(cnitool(confDir, ['check', NET, a.path])).toMatchObject({ code: 0, stderr: '' });
    // Broken behind the runtime's back: CHECK fails with our message.
    net.exec(a.name, ['ip', 'addr', 'flush', 'dev', 'eth0']);
    const bad = cnitool(confDir, ['check', NET, a.path]);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/lacks 10\.68\.0\.2\/24/);

    const m = cnitool(confDir, ['add', MEMIF_NET, b.path], { CNI_IFNAME: 'net1', CAP_ARGS: JSON.stringify({ mac: '02:00:00:68:00:99' }) });
    expect(m.code).toBe(0);
    const mr = JSON.parse(m.stdout) as { ips?: unknown[] };
    expect(mr).toMatchObject({ cniVersion: '1.0.0', interfaces: [{ name: 'net1', mac: '02:00:00:68:00:99', sandbox: b.path }] });
    expect(mr.ips ?? []).toEqual([]); // pure L2 (libcni drops the empty list)
    expect(net.exec(b.name, ['cat', '/proc/net/unix'])).toContain('@memswitch/memif-net1');
    expect((await client.listAttachments()).attachments).toHaveLength(3);

    for (const [conf, ns, ifname] of [[NET, a, 'eth0'], [NET, b, 'eth0'], [MEMIF_NET, b, 'net1']] as const) {
      expect(cnitool(confDir, ['del', conf, ns.path], { CNI_IFNAME: ifname })).toMatchObject({ code: 0, stderr: '' });
      expect(cnitool(confDir, ['del', conf, ns.path], { CNI_IFNAME: ifname }).code).toBe(0); // again: still fine
    }
    expect((await client.listAttachments()).attachments).toEqual([]);
    expect(env.leases(NET)).toEqual([]);
    expect(net.exec(a.name, ['ip', '-o', 'link'])).not.toMatch(/eth0/);
  });
});
