// kill -9 at random moments while objects are created (and some removed) over the API:
// after each restart every acknowledged change is there, and applied to the dataplane.
import { mkdirSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon } from '../helpers/daemon.js';
import { mac, testing } from '../helpers/switch.js';

const dir = `/run/msw-crash-test-${process.pid}`;
const sock = `${dir}/memif.sock`;
const env = { MEMSWITCH_STATE_DB: `${dir}/state.db`, MEMSWITCH_API_SOCKET: `${dir}/api.sock` };
const config = 'networks: [{ name: base }]\n';
const ROUNDS = 6;

let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
afterEach(async () => {
  client?.close();
  await daemon?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Acked {
  networks: Set<string>;
  interfaces: Map<string, number>; // name -> memif id
  macs: Map<string, string>; // mac -> interface
  removedMacs: Set<string>;
}

async function verify(c: MemswitchClient, acked: Acked): Promise<void> {
  const networks = new Set((await c.listNetworks()).networks.map((n) => n.name));
  for (const n of acked.networks) expect(networks, `network ${n}`).toContain(n);
  const interfaces = new Map((await c.listInterfaces()).interfaces.map((i) => [i.spec.name, i]));
  for (const [name, id] of acked.interfaces) {
    expect(interfaces.get(name)?.spec.memif?.id, `interface ${name}`).toBe(id);
    expect(interfaces.get(name)?.adminState, `interface ${name}`).toBe('ADMIN_STATE_UP');
  }
  // The dataplane's own table, not the store: the entries are applied.
  const table = new Map((await c.listMacTable()).entries.filter((e) => e.static).map((e) => [e.mac, e.interface]));
  for (const [m, itf] of acked.macs) expect(table.get(m), `static MAC ${m}`).toBe(itf);
  for (const m of acked.removedMacs) expect(table.has(m), `removed MAC ${m}`).toBe(false);
  // And a peer can connect to an acknowledged interface (its socket is served again).
  const last = [...acked.interfaces].at(-1);
  if (last) {
    const peer = new testing.MemifClient({ socket: sock, id: last[1], hugepages: false });
    try {
      expect(peer.info().connected, `a peer on ${last[0]}`).toBe(true);
    } finally {
      peer.close();
    }
  }
}

describe('crash safety', () => {
  it(`loses no acknowledged change across ${ROUNDS} kill -9 at random points`, async () => {
    mkdirSync(dir, { recursive: true });
    const acked: Acked = { networks: new Set(), interfaces: new Map(), macs: new Map(), removedMacs: new Set() };
    let k = 0;
    let total = 0;
    for (let round = 0; round < ROUNDS; round++) {
      daemon = await Daemon.start(config, env);
      const c = (client = await connect(daemon.apiSocket));
      await verify(c, acked);

      const victim = daemon;
      const killAfter = 20 + Math.floor(Math.random() * 200);
      const killer = setTimeout(() => victim.proc.kill('SIGKILL'), killAfter);
      let removing: string | undefined; // a removal in flight may or may not have happened
      try {
        for (;;) {
          const n = `n${k}`;
          const i = `i${k}`;
          await c.createNetwork({ name: n });
          acked.networks.add(n);
          await c.createInterface({ spec: { name: i, network: n, kind: 'memif', memif: { socket: sock, id: k } } });
          acked.interfaces.set(i, k);
          await c.addStaticMac({ network: n, mac: mac(k), interface: i });
          acked.macs.set(mac(k), i);
          if (k % 3 === 2) {
            removing = mac(k);
            await c.removeStaticMac({ network: n, mac: mac(k) });
            acked.macs.delete(mac(k));
            acked.removedMacs.add(mac(k));
            removing = undefined;
          }
          k++;
          total++;
        }
      } catch (err) {
        // The daemon died mid-call: that call was never acknowledged.
        expect((err as { code?: string }).code).toBe('UNAVAILABLE');
        if (removing) acked.macs.delete(removing);
      } finally {
        clearTimeout(killer);
      }
      expect((await daemon.stop('SIGKILL')).signal).toBe('SIGKILL');
      client.close();
      client = undefined;
      k++; // the object in flight may or may not exist; never reuse its name or id
    }
    daemon = await Daemon.start(config, env);
    client = await connect(daemon.apiSocket);
    await verify(client, acked);
    expect(total).toBeGreaterThan(ROUNDS); // the kills landed mid-stream, not before any work
  });
});
