// Every interface kind over the gRPC API of a real memswitchd: veth interfaces into real
// network namespaces (ping through the switch), an AF_XDP uplink on a veth "wire", a memif
// listener inside a pod netns, the CLI's --kind, and bad input.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostIfname } from '../../orchestrator/src/domain/veth.js';
import { InvalidArgumentError, type MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { Netns, linkExists, xdpProgram } from '../helpers/netns.js';

const config = `
dataplane: { workers: 1 }
networks: [{ name: blue }]
`;

let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
const net = new Netns();
afterEach(async () => {
  client?.close();
  client = undefined;
  await daemon?.stop('SIGTERM');
  daemon = undefined;
  net.cleanup();
});

const cli = (socket: string, args: string[]) =>
  spawnSync(path.join(repoRoot, 'bin/memswitch'), ['--api', socket, '--json', ...args], { encoding: 'utf8', timeout: 20_000 });

describe('interface kinds over the API', () => {
  it('veth into two namespaces (SDK and CLI): ping goes through the switch; delete removes the pair', async () => {
    daemon = await Daemon.start(config);
    const c = (client = await connect(daemon.apiSocket));
    const a = net.add('ka');
    const b = net.add('kb');
    const r = await c.createInterface({
      spec: {
        name: 'va',
        network: 'blue',
        mac: '02:00:00:81:00:01',
        kind: 'veth',
        veth: { netns: a.path, ifname: 'eth0', addresses: ['10.81.0.1/24'], routes: [{ dst: '10.82.0.0/16', via: '10.81.0.2' }], mtu: 1400 },
      },
    });
    expect(r.created).toBe(true);
    expect(r.interface.spec).toMatchObject({
      kind: 'veth',
      veth: { netns: a.path, ifname: 'eth0', addresses: ['10.81.0.1/24'], routes: [{ dst: '10.82.0.0/16', via: '10.81.0.2' }], mtu: 1400 },
    });
    const made = cli(daemon.apiSocket, [
      'create', 'interface', 'vb', '--network', 'blue', '--kind', 'veth', '--netns', b.path, '--ifname', 'net1',
      '--address', '10.81.0.2/24', '--mtu', '1400', '--mac', '02:00:00:81:00:02',
    ]);
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    expect(net.exec(b.name, ['ip', '-o', 'addr', 'show', 'dev', 'net1'])).toMatch(/10\.81\.0\.2\/24/);
    expect(net.exec(a.name, ['ip', 'route', 'show', '10.82.0.0/16'])).toMatch(/via 10\.81\.0\.2/);
    expect(net.exec(a.name, ['cat', '/sys/class/net/eth0/mtu']).trim()).toBe('1400');

    expect(net.exec(a.name, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.81.0.2'])).toMatch(/3 received/);
    expect((await c.getInterface({ name: 'vb' })).interface.state.mac).toBe('02:00:00:81:00:02');

    // Same spec again: not created twice; a different one under the name: ALREADY_EXISTS.
    expect((await c.createInterface({ spec: { ...r.interface.spec } })).created).toBe(false);
    const listed = JSON.parse(cli(daemon.apiSocket, ['show', 'interfaces']).stdout) as { spec: { name: string; kind: string } }[];
    expect(listed.map((i) => [i.spec.name, i.spec.kind])).toEqual([['va', 'veth'], ['vb', 'veth']]);

    await c.deleteInterface({ name: 'va' });
    expect(linkExists(hostIfname('va'))).toBe(false);
    expect(() => net.exec(a.name, ['ip', 'link', 'show', 'eth0'])).toThrow();
  });

  it('an AF_XDP uplink on a veth wire and a memif listener inside a pod netns', async () => {
    daemon = await Daemon.start(config);
    const c = (client = await connect(daemon.apiSocket));
    const up = `mswk${process.pid % 100000}`;
    net.vethPair(up, `${up}w`);
    const u = await c.createInterface({ spec: { name: 'up0', network: 'blue', kind: 'afxdp', afxdp: { netdev: up, queues: [], mode: '', xdp: 'generic' } } });
    expect(u.interface.spec).toMatchObject({ kind: 'afxdp', afxdp: { netdev: up, mode: 'auto', xdp: 'generic' } });
    expect(u.interface.state.connected).toBe(true);
    // What the kernel granted on a veth: copy mode, generic XDP as asked.
    expect(u.interface.state).toMatchObject({ netdev: up, xdpMode: 'copy', xdpAttach: 'generic', mode: '' });
    expect(xdpProgram(up)).toBeDefined();

    const pod = net.add('kpod');
    const m = await c.createInterface({ spec: { name: 'pm', network: 'blue', kind: 'memif', memif: { socket: '@msw-kinds-memif', id: 0, netns: pod.path } } });
    expect(m.interface.spec.memif).toMatchObject({ socket: '@msw-kinds-memif', netns: pod.path });
    // The abstract name is bound in the pod's namespace, not in ours.
    expect(net.exec(pod.name, ['cat', '/proc/net/unix'])).toContain('@msw-kinds-memif');

    await c.deleteInterface({ name: 'up0' });
    expect(xdpProgram(up)).toBeUndefined();
  });

  it('rejects bad veth and afxdp specs naming the field, leaving nothing behind', async () => {
    daemon = await Daemon.start(config);
    const c = (client = await connect(daemon.apiSocket));
    const bad = async (spec: Parameters<MemswitchClient['createInterface']>[0]['spec'], field: RegExp) => {
      const err = await c.createInterface({ spec }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).details).toMatch(field);
    };
    await bad({ name: 'x', network: 'blue', kind: 'veth', veth: { netns: '', addresses: [] } }, /^netns: /);
    await bad({ name: 'x', network: 'blue', kind: 'veth', veth: { netns: '/var/run/netns/msw-nope', addresses: [] } }, /^netns: .*does not exist/);
    const ns = net.add('kbad');
    await bad({ name: 'x', network: 'blue', kind: 'veth', veth: { netns: ns.path, addresses: ['10.1.1.1/99'] } }, /^addresses\.0: /);
    await bad({ name: 'x', network: 'blue', kind: 'veth', veth: { netns: ns.path, mtu: 9100 } }, /^mtu: /);
    await bad({ name: 'x', network: 'blue', kind: 'afxdp', afxdp: { netdev: '', mode: 'fast' } }, /^netdev: /);
    await bad({ name: 'x', network: 'blue' }, /^spec\.kind: /);
    expect((await c.listInterfaces()).interfaces).toEqual([]);
    expect(linkExists(hostIfname('x'))).toBe(false);
  });
});
