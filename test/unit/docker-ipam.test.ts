// The Docker IPAM side of domain/docker.ts on its own: what Docker asks for when it makes
// a network (a pool, its gateway) and an endpoint (an address), refusals, and leases
// surviving a restart through the state database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Attachments } from '../../orchestrator/src/domain/attachments.js';
import { DockerNetworks } from '../../orchestrator/src/domain/docker.js';
import type { Switch } from '../../orchestrator/src/domain/switch.js';
import { createLogger } from '../../orchestrator/src/log.js';
import { Store } from '../../orchestrator/src/store/store.js';

const GATEWAY = { RequestAddressType: 'com.docker.network.gateway' };
const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

// IPAM touches neither the switch nor the attachments.
function ipam(file?: string): { docker: DockerNetworks; file: string } {
  if (!file) {
    const dir = mkdtempSync(path.join(tmpdir(), 'msw-ipam-'));
    dirs.push(dir);
    file = path.join(dir, 'state.db');
  }
  const store = Store.open(file);
  stores.push(store);
  const docker = new DockerNetworks({} as Switch, {} as Attachments, store, createLogger('silent'));
  docker.restore();
  return { docker, file };
}

describe('Docker IPAM', () => {
  it('gives the gateway the first host and endpoints the lowest free ones; releases; leases survive a restart', () => {
    const { docker, file } = ipam();
    expect(docker.requestPool('10.9.0.0/24', '')).toEqual({ poolId: '10.9.0.0/24', pool: '10.9.0.0/24' });
    expect(docker.requestAddress('10.9.0.0/24', '', GATEWAY)).toBe('10.9.0.1/24');
    expect(docker.requestAddress('10.9.0.0/24', '', {})).toBe('10.9.0.2/24');
    expect(docker.requestAddress('10.9.0.0/24', '10.9.0.7', {})).toBe('10.9.0.7/24'); // docker run --ip
    expect(docker.requestAddress('10.9.0.0/24', '', {})).toBe('10.9.0.3/24');
    docker.releaseAddress('10.9.0.0/24', '10.9.0.2');
    docker.releaseAddress('10.9.0.0/24', '10.9.0.99'); // not handed out: fine
    stores.pop()!.close();
    const again = ipam(file).docker;
    expect(again.allocated('10.9.0.0/24').sort()).toEqual(['10.9.0.1', '10.9.0.3', '10.9.0.7']);
    expect(again.requestAddress('10.9.0.0/24', '', {})).toBe('10.9.0.2/24');
  });

  it('hands out --ip-range only, refuses what is not free or not a host, and runs out', () => {
    const { docker } = ipam();
    docker.requestPool('10.9.0.0/24', '10.9.0.128/30');
    expect(docker.requestAddress('10.9.0.0/24', '', GATEWAY)).toBe('10.9.0.1/24');
    expect(docker.requestAddress('10.9.0.0/24', '', {})).toBe('10.9.0.128/24');
    expect(() => docker.requestAddress('10.9.0.0/24', '10.9.0.128', {})).toThrow('10.9.0.128 is already in use');
    expect(() => docker.requestAddress('10.9.0.0/24', '10.9.0.255', {})).toThrow('not a host address of 10.9.0.0/24');
    expect(() => docker.requestAddress('10.9.0.0/24', '10.8.0.5', {})).toThrow('not a host address');
    for (const a of ['129', '130', '131']) expect(docker.requestAddress('10.9.0.0/24', '', {})).toBe(`10.9.0.${a}/24`);
    expect(() => docker.requestAddress('10.9.0.0/24', '', {})).toThrow('no free address left in 10.9.0.128/30');
  });

  it('refuses no subnet, an overlapping one and one written with host bits; IPv6 works too', () => {
    const { docker } = ipam();
    expect(() => docker.requestPool('', '')).toThrow('needs a subnet');
    docker.requestPool('10.9.0.0/16', '');
    expect(() => docker.requestPool('10.9.4.0/24', '')).toThrow('overlaps 10.9.0.0/16');
    expect(() => docker.requestPool('10.10.0.1/24', '')).toThrow('must be written 10.10.0.0/24');
    docker.releasePool('10.9.0.0/16');
    docker.requestPool('10.9.4.0/24', '');
    docker.requestPool('fd00:9::/64', '');
    expect(docker.requestAddress('fd00:9::/64', '', GATEWAY)).toBe('fd00:9::1/64');
    expect(docker.requestAddress('fd00:9::/64', '', {})).toBe('fd00:9::2/64');
  });
});
