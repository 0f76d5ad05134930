// The gRPC API of a real memswitchd (real addon, unix socket, grpc-js client through our
// SDK), with real frames from our native memif client flowing while objects come and go.
import { mkdirSync, rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  MemswitchClient,
  MemswitchError,
  NotFoundError,
  type Event,
} from '../../orchestrator/src/sdk/index.js';
import { connect, healthCheck, reflectedServices } from '../helpers/api.js';
import { Daemon, memifPairConfig } from '../helpers/daemon.js';
import { eventually, mac, testing } from '../helpers/switch.js';
import type { NativeMemifClient, NativeTrafficEngine } from '../../bench/testing-addon.js';

const dir = `/run/msw-api-test-${process.pid}`;
const sock = `${dir}/memif.sock`;
const config = memifPairConfig(sock);

let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
const peers: NativeMemifClient[] = [];
const engines: NativeTrafficEngine[] = [];

beforeEach(() => mkdirSync(dir, { recursive: true }));
afterEach(async () => {
  for (const e of engines.splice(0)) e.stop();
  for (const p of peers.splice(0)) p.close();
  client?.close();
  client = undefined;
  await daemon?.stop('SIGKILL');
  daemon = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function peer(id: number, log2RingSize?: number): NativeMemifClient {
  const c = new testing.MemifClient({ socket: sock, id, hugepages: false, log2RingSize });
  peers.push(c);
  return c;
}

describe('memswitch.v1 API', () => {
  it('serves every RPC while traffic keeps flowing through existing interfaces', async () => {
    daemon = await Daemon.start(config);
    const c = (client = await connect(daemon.apiSocket));

    const events: Event[] = [];
    const watch = c.watchEvents({});
    const collecting = (async () => {
      for await (const e of watch) events.push(e);
    })().catch((err: unknown) => err); // surfaces below if the stream failed before we ended it
    // The subscription is live once the stream is open; an event we cause proves it.
    await c.createNetwork({ name: 'probe' });
    await eventually(() => events.some((e) => e.kind === 'EVENT_KIND_NETWORK_CREATED' && e.network === 'probe'), 5000, 'the events stream');
    await c.deleteNetwork({ name: 'probe' });

    // 60k frames at 60 kpps through m0 -> m1: about one second of traffic.
    const a = peer(0);
    // The sink runs in this (unpinned) test process: 8192 slots hold ~140 ms of frames
    // if a busy machine deschedules it, so a drop here means the switch dropped.
    const b = peer(1, 13);
    // The switch forwards to a port once its side of the handshake is done.
    await eventually(() => ['m0', 'm1'].every((i) => events.some((e) => e.kind === 'EVENT_KIND_PEER_CONNECTED' && e.interface === i)), 5000, 'm0 and m1 connected');
    const eng = new testing.TrafficEngine();
    engines.push(eng);
    eng.addGenerator(a, { src: mac(1), dst: mac(2), count: 60_000, pps: 60_000 });
    const sink = eng.addSink(b);
    eng.start();

    let churn = 0;
    while (!eng.generatorsDone()) {
      const n = `n${churn}`;
      const x = `x${churn}`;
      expect(await c.createNetwork({ name: n })).toMatchObject({ created: true, network: { name: n, source: 'SOURCE_API', interfaceCount: 0 } });
      expect((await c.createNetwork({ name: n })).created).toBe(false); // re-applying is idempotent
      const spec = { name: x, network: n, vlan: 10, kind: 'memif' as const, memif: { socket: sock, id: 100 + churn, secret: 'pw' } };
      const created = await c.createInterface({ spec });
      expect(created).toMatchObject({ created: true, interface: { adminState: 'ADMIN_STATE_UP', source: 'SOURCE_API', spec: { name: x, vlan: 10, memif: { id: 100 + churn, secret: '', secretSet: true } } } });
      expect((await c.createInterface({ spec })).created).toBe(false);
      expect(await c.addStaticMac({ network: n, mac: '02:AA:00:00:00:01', interface: x })).toMatchObject({ created: true, entry: { vlan: 10, mac: '02:aa:00:00:00:01' } });
      expect((await c.setInterfaceAdminState({ name: x, adminState: 'ADMIN_STATE_DOWN' })).interface.adminState).toBe('ADMIN_STATE_DOWN');
      expect((await c.setInterfaceAdminState({ name: x, adminState: 'ADMIN_STATE_UP' })).interface.adminState).toBe('ADMIN_STATE_UP');
      // Admin down flushed the port in the dataplane; the static entry came back with it.
      expect((await c.listMacTable({ network: n })).entries).toEqual([{ network: n, vlan: 10, mac: '02:aa:00:00:00:01', interface: x, static: true, ageSeconds: 0 }]);
      expect((await c.getNetwork({ name: n })).network.interfaceCount).toBe(1);
      await c.deleteInterface({ name: x });
      await c.deleteNetwork({ name: n });
      churn++;
    }
    await eventually(() => eng.stats(sink).rxPackets >= 60_000, 10_000, 'every frame at the sink').catch(async (err: Error) => {
      throw new Error(`${err.message}: sink ${JSON.stringify(eng.stats(sink))}; switch ${JSON.stringify((await c.getStats()).snapshot.interfaces)}`);
    });
    await new Promise((r) => setTimeout(r, 50));
    eng.stop();
    expect(churn).toBeGreaterThan(3);
    expect(eng.stats(sink)).toMatchObject({ rxPackets: 60_000, lost: 0, reordered: 0 });

    // Live state of an interface created over the API, with a real peer on it.
    await c.createNetwork({ name: 'red' });
    await c.createInterface({ spec: { name: 'r0', network: 'red', kind: 'memif', memif: { socket: sock, id: 7 } } });
    const p7 = peer(7);
    expect(p7.info().connected).toBe(true);
    await eventually(() => events.some((e) => e.kind === 'EVENT_KIND_PEER_CONNECTED' && e.interface === 'r0'), 5000, 'r0 connected event');
    const r0 = (await c.getInterface({ name: 'r0' })).interface;
    expect(r0.state).toMatchObject({ connected: true, mode: 'ethernet', connects: 1 });
    expect(r0.state.rxQueues).toBeGreaterThan(0);
    expect(r0.state.txQueues).toBeGreaterThan(0);
    expect(r0.state.peerName).not.toBe('');
    expect(r0.state.mac).toMatch(/^02:/);

    expect((await c.listNetworks()).networks.map((n) => [n.name, n.source])).toEqual([['blue', 'SOURCE_CONFIG'], ['red', 'SOURCE_API']]);
    expect((await c.listInterfaces()).interfaces.map((i) => i.spec.name)).toEqual(['m0', 'm1', 'r0']);
    expect((await c.listInterfaces({ network: 'red' })).interfaces.map((i) => i.spec.name)).toEqual(['r0']);
    expect((await c.getInterface({ name: 'm0' })).interface).toMatchObject({ source: 'SOURCE_CONFIG', state: { connected: true } });

    // The MAC table: the generator's source was learned on m0; a static entry on r0.
    expect((await c.listMacTable({ network: 'blue' })).entries).toContainEqual(expect.objectContaining({ mac: mac(1), interface: 'm0', static: false }));
    await c.addStaticMac({ network: 'red', mac: '02:bb:00:00:00:01', interface: 'r0' });
    expect((await c.listStaticMacs()).entries).toEqual([{ network: 'red', vlan: 0, mac: '02:bb:00:00:00:01', interface: 'r0' }]);
    expect((await c.flushMacTable({ network: 'blue' })).flushed).toBeGreaterThanOrEqual(1);
    expect((await c.listMacTable({ network: 'blue' })).entries).toEqual([]);
    expect((await c.flushMacTable({ network: 'red' })).flushed).toBe(0); // static entries stay
    expect((await c.listMacTable({ network: 'red' })).entries).toHaveLength(1);
    await c.removeStaticMac({ network: 'red', mac: '02:bb:00:00:00:01' });
    expect((await c.listMacTable({ network: 'red' })).entries).toEqual([]);
    expect((await c.listStaticMacs({ network: 'red' })).entries).toEqual([]);

    // Counters: a snapshot, and a stream at 100 ms.
    const snap = (await c.getStats()).snapshot;
    const m0 = snap.interfaces.find((i) => i.interface === 'm0')!;
    const m1 = snap.interfaces.find((i) => i.interface === 'm1')!;
    expect(m0.rxPackets).toBe(60_000);
    expect(m1.txPackets).toBe(60_000);
    expect(m0.drops).toHaveProperty('no_destination');
    expect(m0.perWorker).toEqual([expect.objectContaining({ worker: 0, rxPackets: 60_000 })]);
    expect(snap.workers).toHaveLength(1);
    expect(snap.workers[0]!.polls).toBeGreaterThan(0);
    expect(snap.workers[0]!.busyPolls).toBeGreaterThan(0);
    const stream = c.watchStats({ intervalMs: 100 });
    const times: number[] = [];
    for await (const s of stream) {
      times.push(s.timeUnixMs);
      if (times.length === 3) break; // leaving the loop cancels the stream
    }
    expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(150);

    const info = await c.getDaemonInfo();
    expect(info).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), apiSocket: daemon.apiSocket, networks: 2, interfaces: 3 });
    expect(info.workers).toHaveLength(1);
    expect(info.uptimeSeconds).toBeGreaterThan(0);
    expect(info.memory).toHaveProperty('fallbackInUse');

    expect(await healthCheck(daemon.apiSocket, '')).toBe('SERVING');
    expect(await healthCheck(daemon.apiSocket, 'memswitch.v1.InterfaceService')).toBe('SERVING');
    expect(await reflectedServices(daemon.apiSocket)).toEqual(
      expect.arrayContaining(['memswitch.v1.NetworkService', 'memswitch.v1.InterfaceService', 'memswitch.v1.MacService', 'memswitch.v1.StatsService', 'memswitch.v1.EventService', 'memswitch.v1.DaemonService', 'grpc.health.v1.Health']),
    );

    p7.close();
    await eventually(() => events.some((e) => e.kind === 'EVENT_KIND_PEER_DISCONNECTED' && e.interface === 'r0'), 5000, 'r0 disconnected event');
    watch.cancel();
    expect(await collecting).toBeUndefined();
    const kinds = new Set(events.map((e) => e.kind));
    for (const k of ['NETWORK_CREATED', 'NETWORK_DELETED', 'INTERFACE_CREATED', 'INTERFACE_DELETED', 'INTERFACE_UP', 'INTERFACE_DOWN', 'PEER_CONNECTED', 'PEER_DISCONNECTED'])
      expect(kinds).toContain(`EVENT_KIND_${k}`);
  });

  it('is reachable through the SDK exported from the package ("memswitch/sdk"), also over TCP', async () => {
    daemon = await Daemon.start(`${config}api: { tcp: "127.0.0.1:0" }\n`);
    const port = daemon.lines.find((l) => l.msg === 'memswitchd running')?.apiTcpPort as number;
    expect(port).toBeGreaterThan(0);
    const sdk = await import('memswitch/sdk');
    for (const address of [daemon.apiSocket, `127.0.0.1:${port}`]) {
      const c = new sdk.MemswitchClient(address);
      try {
        await c.waitForReady();
        expect((await c.listNetworks()).networks.map((n) => n.name), address).toEqual(['blue']);
        await expect(c.getNetwork({ name: 'nope' })).rejects.toBeInstanceOf(sdk.NotFoundError);
      } finally {
        c.close();
      }
    }
  });

  it('answers bad input with a clear status naming the field, and applies nothing', async () => {
    daemon = await Daemon.start(config);
    const c = (client = await connect(daemon.apiSocket));
    await c.createNetwork({ name: 'red' });
    await c.createInterface({ spec: { name: 'r0', network: 'red', kind: 'memif', memif: { socket: sock, id: 5 } } });
    const memif = (over: object = {}) => ({ spec: { name: 'new0', network: 'blue', kind: 'memif' as const, memif: { socket: sock, id: 50 }, ...over } });
    const before = JSON.stringify([await c.listNetworks(), await c.listInterfaces(), await c.listStaticMacs(), await c.listMacTable()]);

    type Case = [string, () => Promise<unknown>, new (...a: never[]) => MemswitchError, RegExp];
    const cases: Case[] = [
      ['empty network name', () => c.createNetwork({ name: '' }), InvalidArgumentError, /^name: must be 1-63/],
      ['malformed network name', () => c.createNetwork({ name: 'bad name!' }), InvalidArgumentError, /^name: must be 1-63/],
      ['oversize network name', () => c.createNetwork({ name: 'x'.repeat(64) }), InvalidArgumentError, /^name: /],
      ['huge string', () => c.createNetwork({ name: 'x'.repeat(100_000) }), InvalidArgumentError, /^name: /],
      ['missing network', () => c.getNetwork({ name: 'nope' }), NotFoundError, /no network nope/],
      ['delete missing network', () => c.deleteNetwork({ name: 'nope' }), NotFoundError, /no network nope/],
      ['delete config network', () => c.deleteNetwork({ name: 'blue' }), FailedPreconditionError, /config file/],
      ['delete network in use', () => c.deleteNetwork({ name: 'red' }), FailedPreconditionError, /still has interface r0/],
      ['no spec', () => c.createInterface({} as never), InvalidArgumentError, /^spec: is required/],
      ['no kind', () => c.createInterface({ spec: { name: 'new0', network: 'blue' } }), InvalidArgumentError, /^spec\.kind: /],
      ['interface in missing network', () => c.createInterface(memif({ network: 'nope' })), NotFoundError, /no network nope/],
      ['malformed interface name', () => c.createInterface(memif({ name: '-x' })), InvalidArgumentError, /^name: /],
      ['VLAN out of range', () => c.createInterface(memif({ vlan: 4095 })), InvalidArgumentError, /^vlan: /],
      ['malformed MAC', () => c.createInterface(memif({ mac: '02:00:00:00:00' })), InvalidArgumentError, /^mac: must be a MAC address/],
      ['multicast MAC', () => c.createInterface(memif({ mac: '01:00:5e:00:00:01' })), InvalidArgumentError, /^mac: must be a unicast MAC/],
      ['oversize secret', () => c.createInterface(memif({ memif: { socket: sock, id: 50, secret: 'x'.repeat(25) } })), InvalidArgumentError, /^secret: must be at most 24 bytes/],
      ['relative socket', () => c.createInterface(memif({ memif: { socket: 'memif.sock', id: 50 } })), InvalidArgumentError, /^socket: must be an absolute path/],
      ['oversize socket path', () => c.createInterface(memif({ memif: { socket: `/${'s'.repeat(200)}`, id: 50 } })), InvalidArgumentError, /^socket: must be at most 107/],
      ['unknown admin state', () => c.createInterface({ ...memif(), adminState: 99 as never }), InvalidArgumentError, /^admin_state: /],
      ['same name, other spec', () => c.createInterface(memif({ name: 'm0' })), AlreadyExistsError, /m0 already exists with a different spec/],
      ['socket and id taken', () => c.createInterface(memif({ memif: { socket: sock, id: 1 } })), AlreadyExistsError, /taken by m1/],
      ['missing interface', () => c.getInterface({ name: 'nope' }), NotFoundError, /no interface nope/],
      ['delete missing interface', () => c.deleteInterface({ name: 'nope' }), NotFoundError, /no interface nope/],
      ['delete config interface', () => c.deleteInterface({ name: 'm0' }), FailedPreconditionError, /config file/],
      ['unspecified admin state', () => c.setInterfaceAdminState({ name: 'm0', adminState: 'ADMIN_STATE_UNSPECIFIED' }), InvalidArgumentError, /^admin_state: /],
      ['admin state of missing interface', () => c.setInterfaceAdminState({ name: 'nope', adminState: 'ADMIN_STATE_UP' }), NotFoundError, /no interface nope/],
      ['list interfaces of missing network', () => c.listInterfaces({ network: 'nope' }), NotFoundError, /no network nope/],
      ['static MAC malformed', () => c.addStaticMac({ network: 'blue', mac: 'zz:00:00:00:00:01', interface: 'm0' }), InvalidArgumentError, /^mac: /],
      ['static MAC multicast', () => c.addStaticMac({ network: 'blue', mac: 'ff:ff:ff:ff:ff:ff', interface: 'm0' }), InvalidArgumentError, /^mac: must be a unicast/],
      ['static MAC missing network', () => c.addStaticMac({ network: 'nope', mac: '02:00:00:00:00:01', interface: 'm0' }), NotFoundError, /no network nope/],
      ['static MAC missing interface', () => c.addStaticMac({ network: 'blue', mac: '02:00:00:00:00:01', interface: 'nope' }), NotFoundError, /no interface nope/],
      ['static MAC interface elsewhere', () => c.addStaticMac({ network: 'blue', mac: '02:00:00:00:00:01', interface: 'r0' }), InvalidArgumentError, /^interface: r0 is not in network blue/],
      ['remove missing static MAC', () => c.removeStaticMac({ network: 'blue', mac: '02:00:00:00:00:01' }), NotFoundError, /no static MAC/],
      ['remove static MAC bad VLAN', () => c.removeStaticMac({ network: 'blue', mac: '02:00:00:00:00:01', vlan: 5000 }), InvalidArgumentError, /^vlan: /],
      ['MAC table of missing network', () => c.listMacTable({ network: 'nope' }), NotFoundError, /no network nope/],
      ['flush without network', () => c.flushMacTable({ network: '' }), InvalidArgumentError, /^name: /],
      ['flush missing network', () => c.flushMacTable({ network: 'nope' }), NotFoundError, /no network nope/],
      ['stats interval too short', async () => { for await (const _ of c.watchStats({ intervalMs: 5 })) break; }, InvalidArgumentError, /^interval_ms: /],
      ['unknown event kind', async () => { for await (const _ of c.watchEvents({ kinds: [99 as never] })) break; }, InvalidArgumentError, /^kinds\.0: unknown event kind/],
    ];
    for (const [what, call, type, message] of cases) {
      const err = await call().then(() => undefined, (e: unknown) => e);
      expect(err, what).toBeInstanceOf(type);
      expect((err as MemswitchError).details, what).toMatch(message);
      expect((err as MemswitchError).details, what).not.toMatch(/\n\s+at /); // no stack traces
    }
    expect(JSON.stringify([await c.listNetworks(), await c.listInterfaces(), await c.listStaticMacs(), await c.listMacTable()])).toBe(before);
  });

  it('keeps what the API created across a restart, merged with the config file', async () => {
    const state = { MEMSWITCH_STATE_DB: `${dir}/state.db` };
    daemon = await Daemon.start(config, state);
    let c = (client = await connect(daemon.apiSocket));
    await c.createNetwork({ name: 'red' });
    await c.createInterface({ spec: { name: 'r0', network: 'red', vlan: 20, kind: 'memif', memif: { socket: sock, id: 10 } }, adminState: 'ADMIN_STATE_DOWN' });
    await c.createInterface({ spec: { name: 'r1', network: 'red', vlan: 20, kind: 'memif', memif: { socket: sock, id: 11 } } });
    await c.createInterface({ spec: { name: 'clash', network: 'red', kind: 'memif', memif: { socket: sock, id: 12 } } });
    await c.addStaticMac({ network: 'red', mac: '02:cc:00:00:00:01', interface: 'r1' });
    c.close();
    expect((await daemon.stop('SIGTERM')).code).toBe(0);

    // The file now defines "clash" differently: the file wins.
    const edited = `${config}  - { name: clash, kind: memif, network: blue, socket: ${sock}, id: 13 }\n`;
    daemon = await Daemon.start(edited, state);
    c = client = await connect(daemon.apiSocket);
    expect((await c.listNetworks()).networks.map((n) => n.name)).toEqual(['blue', 'red']);
    expect((await c.listInterfaces()).interfaces.map((i) => [i.spec.name, i.source, i.adminState])).toEqual([
      ['m0', 'SOURCE_CONFIG', 'ADMIN_STATE_UP'],
      ['m1', 'SOURCE_CONFIG', 'ADMIN_STATE_UP'],
      ['clash', 'SOURCE_CONFIG', 'ADMIN_STATE_UP'],
      ['r0', 'SOURCE_API', 'ADMIN_STATE_DOWN'],
      ['r1', 'SOURCE_API', 'ADMIN_STATE_UP'],
    ]);
    expect((await c.getInterface({ name: 'clash' })).interface.spec).toMatchObject({ network: 'blue', memif: { id: 13 } });
    expect(daemon.lines.some((l) => l.msg === 'dropping a stored interface' && l.interface === 'clash')).toBe(true);
    expect((await c.listMacTable({ network: 'red' })).entries).toEqual([{ network: 'red', vlan: 20, mac: '02:cc:00:00:00:01', interface: 'r1', static: true, ageSeconds: 0 }]);
    // Restored interfaces serve peers again.
    expect(peer(11).info().connected).toBe(true);
  });
});
