// memswitchd from a config file with kernel interfaces: two containers (network
// namespaces) get veth interfaces with addresses, talk through the switch, and the
// daemon can stop and start again on the same netdevs.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { hostIfname } from '../../orchestrator/src/domain/veth.js';
import { Daemon } from '../helpers/daemon.js';
import { Netns, linkExists, xdpProgram } from '../helpers/netns.js';

const net = new Netns();
let daemon: Daemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
  net.cleanup();
});

it('creates veth interfaces from its config, forwards between them, and restarts cleanly', async () => {
  const a = net.add('da');
  const b = net.add('db');
  const tag = `${process.pid % 10000}`;
  const config = `
networks: [{ name: blue }]
interfaces:
  - { name: va${tag}, kind: veth, network: blue, netns: ${a.path}, ifname: eth0, addresses: [10.76.0.1/24], mac: "02:00:00:76:00:01" }
  - { name: vb${tag}, kind: veth, network: blue, netns: ${b.path}, ifname: eth0, addresses: [10.76.0.2/24], mtu: 1500 }
`;
  daemon = await Daemon.start(config);
  const ready = daemon.lines.find((l) => l.msg === 'interface ready' && l.interface === `va${tag}`);
  expect(ready).toMatchObject({ kind: 'veth', xdpMode: 'copy' });
  expect(net.exec(a.name, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.76.0.2'])).toMatch(/3 received/);
  const host = hostIfname(`va${tag}`);
  expect(xdpProgram(host)).toBeDefined();

  expect((await daemon.stop('SIGTERM')).code).toBe(0);
  expect(xdpProgram(host)).toBeUndefined(); // the program is detached on shutdown

  const ifindex = (ns: string) => (JSON.parse(net.exec(ns, ['ip', '-j', 'link', 'show', 'dev', 'eth0'])) as { ifindex: number; mtu: number }[])[0]!;
  const before = ifindex(a.name);
  // An address lost while memswitchd was down is put back on start.
  net.exec(a.name, ['ip', 'addr', 'flush', 'dev', 'eth0']);
  daemon = await Daemon.start(config);
  expect(net.exec(a.name, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.76.0.2'])).toMatch(/3 received/);
  expect(linkExists(host)).toBe(true);
  // The intact pair was kept, not replaced: the container's interface never went away.
  expect(ifindex(a.name)).toEqual(before);

  // A changed configuration replaces the pair.
  await daemon.stop('SIGTERM');
  daemon = await Daemon.start(config.replace('mac: "02:00:00:76:00:01" }', 'mac: "02:00:00:76:00:01", mtu: 1400 }'));
  expect(ifindex(a.name)).toMatchObject({ mtu: 1400 });
  expect(ifindex(a.name).ifindex).not.toBe(before.ifindex);
  expect(net.exec(a.name, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.76.0.2'])).toMatch(/2 received/);
});

it('starts with only veth interfaces when its run directory does not exist yet (a fresh boot)', async () => {
  const a = net.add('fa');
  const tag = `${process.pid % 10000}`;
  const run = mkdtempSync(path.join(tmpdir(), 'msw-boot-'));
  try {
    // /run is a tmpfs: on a fresh boot /run/memswitch does not exist, and no memif socket creates it.
    const apiSocket = path.join(run, 'memswitch', 'api.sock');
    daemon = await Daemon.start(
      `networks: [{ name: blue }]
interfaces:
  - { name: vf${tag}, kind: veth, network: blue, netns: ${a.path}, ifname: eth0, addresses: [10.77.0.1/24] }
`,
      { MEMSWITCH_API_SOCKET: apiSocket },
    );
    expect(daemon.apiSocket).toBe(apiSocket);
    expect(existsSync(path.join(run, 'memswitch', 'handover.sock'))).toBe(true);
  } finally {
    await daemon?.stop('SIGKILL');
    daemon = undefined;
    rmSync(run, { recursive: true, force: true });
  }
});
