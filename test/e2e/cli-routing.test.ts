// bin/memswitch's routing commands against a running memswitchd: create and delete
// routers, router interfaces, routes and neighbours; `show ip route` and friends as
// tables and as JSON.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, repoRoot } from '../helpers/daemon.js';

const cli = path.join(repoRoot, 'bin/memswitch');
const config = `networks: [{ name: blue }, { name: red }]
routers:
  - name: core
    interfaces: [{ name: core-red, network: red, addresses: [10.5.0.1/24] }]
    routes: [{ prefix: 0.0.0.0/0, via: 10.5.0.254 }]
`;

let daemon: Daemon;

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cli, ['--api', daemon.apiSocket, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function json<T = unknown>(...args: string[]): T {
  const r = run('--json', ...args);
  expect(r.stderr, args.join(' ')).toBe('');
  expect(r.status, args.join(' ')).toBe(0);
  return JSON.parse(r.stdout) as T;
}

beforeAll(async () => {
  daemon = await Daemon.start(config);
});
afterAll(async () => {
  await daemon?.stop('SIGKILL');
});

describe('memswitch CLI: routing', () => {
  it('creates routers, interfaces, routes and neighbours, and shows them', () => {
    expect(json('create', 'router', 'r1')).toMatchObject({ created: true, router: { name: 'r1' } });
    expect(json('create', 'router', 'r1')).toMatchObject({ created: false });
    expect(json('create', 'router-interface', 'r1-blue', '--router', 'r1', '--network', 'blue', '--address', '10.1.0.1/24', '--mtu', '9000')).toMatchObject({
      created: true,
      routerInterface: { spec: { name: 'r1-blue', addresses: ['10.1.0.1/24'] }, mtu: 9000 },
    });
    expect(json('create', 'route', '0.0.0.0/0', '--router', 'r1', '--via', '10.1.0.254')).toEqual({ added: 1, replaced: 0, unchanged: 0 });
    expect(run('create', 'route', '0.0.0.0/0', '--router', 'r1', '--via', '10.1.0.254').stdout).toBe('route 0.0.0.0/0 of router r1 unchanged\n');
    expect(run('create', 'route', '10.50.0.0/16', '--router', 'r1', '--via', '10.1.0.2', '--via', '10.1.0.3').stdout).toBe('route 10.50.0.0/16 of router r1 added\n');
    expect(run('create', 'route', '10.60.0.0/16', '--router', 'r1', '--interface', 'r1-blue').status).toBe(0);
    expect(run('create', 'route', '192.0.2.0/24', '--router', 'r1', '--blackhole').status).toBe(0);
    expect(json('create', 'neighbor', '10.1.0.7', '--interface', 'r1-blue', '--mac', '02:00:00:00:07:07')).toMatchObject({ created: true });

    // Like `ip route`: one row per route, a multipath route's further next hops below it.
    const table = run('show', 'ip', 'route', '--router', 'r1');
    expect(table.status).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ROUTER\s+PREFIX\s+ORIGIN\s+KIND\s+VIA\s+INTERFACE$/);
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/))).toEqual([
      ['r1', '0.0.0.0/0', 'static', 'forward', '10.1.0.254', '-'],
      ['r1', '10.1.0.0/24', 'connected', 'forward', '-', 'r1-blue'],
      ['r1', '10.1.0.1/32', 'local', 'receive', '-', 'r1-blue'],
      ['r1', '10.50.0.0/16', 'static', 'forward', '10.1.0.2', '-'],
      ['10.1.0.3', '-'],
      ['r1', '10.60.0.0/16', 'static', 'forward', '-', 'r1-blue'],
      ['r1', '192.0.2.0/24', 'static', 'blackhole', '-', '-'],
    ]);
    const all = json<{ router: string; prefix: string; origin: string; source: string }[]>('show', 'ip', 'route');
    expect(all.filter((r) => r.router === 'core').map((r) => [r.prefix, r.origin, r.source])).toEqual([
      ['0.0.0.0/0', 'ROUTE_ORIGIN_STATIC', 'SOURCE_CONFIG'],
      ['10.5.0.0/24', 'ROUTE_ORIGIN_CONNECTED', 'SOURCE_CONFIG'],
      ['10.5.0.1/32', 'ROUTE_ORIGIN_LOCAL', 'SOURCE_CONFIG'],
    ]);
    expect(all.filter((r) => r.router === 'r1')).toHaveLength(6);

    expect(run('show', 'routers').stdout).toMatch(/^NAME\s+SOURCE\s+INTERFACES\s+ROUTES\ncore\s+config\s+1\s+1\nr1\s+api\s+1\s+4\n$/);
    expect(run('show', 'router-interfaces', '--router', 'r1').stdout).toMatch(/^r1-blue\s+r1\s+blue\s+-\s+10\.1\.0\.1\/24\s+9000\s/m);
    const neighbors = run('show', 'ip', 'neighbors', '--interface', 'r1-blue');
    expect(neighbors.stdout).toMatch(/^ROUTER\s+INTERFACE\s+IP\s+MAC\s+STATE\s+AGE\s+TYPE\n/);
    expect(neighbors.stdout).toMatch(/^r1\s+r1-blue\s+10\.1\.0\.7\s+02:00:00:00:07:07\s+\S+\s+-\s+static$/m);

    expect(json('delete', 'route', '10.50.0.0/16', '10.99.0.0/16', '--router', 'r1')).toEqual({ deleted: 1 });
    expect(json('delete', 'neighbor', '10.1.0.7', '--interface', 'r1-blue')).toEqual({ deleted: '10.1.0.7' });
    expect(run('delete', 'router-interface', 'r1-blue').stderr).toMatch(/^memswitch: FAILED_PRECONDITION: router interface r1-blue is the next-hop interface of route 10\.60\.0\.0\/16/);
    json('delete', 'route', '10.60.0.0/16', '--router', 'r1');
    expect(json('delete', 'router-interface', 'r1-blue')).toEqual({ deleted: 'r1-blue' });
    expect(json('delete', 'router', 'r1')).toEqual({ deleted: 'r1', routesDeleted: 2 });
    expect(json<{ name: string }[]>('show', 'routers').map((r) => r.name)).toEqual(['core']);
  });

  it('reports bad routes on stderr with the status and the field', () => {
    const bad = run('create', 'route', '10.70.0.1/16', '--router', 'core', '--via', '10.5.0.9');
    expect(bad).toMatchObject({ status: 1, stdout: '' });
    expect(bad.stderr).toBe('memswitch: INVALID_ARGUMENT: routes[0].prefix: has host bits set: the prefix is 10.70.0.0/16\n');
    expect(run('create', 'route', '10.70.0.0/16', '--router', 'core', '--blackhole', '--unreachable').status).not.toBe(0);
    expect(run('create', 'route', '10.70.0.0/16', '--router', 'core').stderr).toMatch(/^memswitch: INVALID_ARGUMENT: routes\[0\]\.next_hops: a forward route needs at least one next hop/);
    expect(run('delete', 'router', 'core').stderr).toMatch(/^memswitch: FAILED_PRECONDITION: router core is defined in the config file/);
  });
});
