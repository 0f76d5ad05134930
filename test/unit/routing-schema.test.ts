// IPv4 parsing, the route check (the hand-written schema routes go through by the
// million) and the config file's routers: what is accepted, and what each refusal says.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../orchestrator/src/config/load.js';
import { checkRoute } from '../../orchestrator/src/config/schema.js';
import { formatPrefix, mask, overlaps, parseCidr, parseIPv4 } from '../../orchestrator/src/domain/ipv4.js';

describe('IPv4', () => {
  it('parses dotted quads strictly and prefixes canonically', () => {
    expect(parseIPv4('10.1.0.255')).toBe(0x0a0100ff);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['010.1.0.1', '10.1.0', '10.1.0.256', ' 10.1.0.1', '10.1.0.1/24', '']) expect(parseIPv4(bad), bad).toBeUndefined();
    expect(parseCidr('10.1.0.7/24')).toEqual({ addr: 0x0a010007, len: 24 });
    for (const bad of ['10.1.0.7/33', '10.1.0.7/024', '10.1.0.7', '10.1.0.7/']) expect(parseCidr(bad), bad).toBeUndefined();
    expect(formatPrefix(0x0a010007, 24)).toBe('10.1.0.0/24');
    expect(formatPrefix(0x0a010007, 0)).toBe('0.0.0.0/0');
    expect(mask(0)).toBe(0);
    expect(mask(32)).toBe(0xffffffff);
  });

  it('knows when subnets overlap', () => {
    const c = (s: string) => parseCidr(s)!;
    expect(overlaps(c('10.1.0.1/24'), c('10.1.0.200/25'))).toBe(true);
    expect(overlaps(c('10.1.0.1/25'), c('10.1.0.200/25'))).toBe(false);
    expect(overlaps(c('0.0.0.0/0'), c('192.0.2.1/32'))).toBe(true);
    expect(overlaps(c('10.1.0.1/24'), c('10.2.0.1/24'))).toBe(false);
  });
});

describe('checkRoute', () => {
  const bad = (input: unknown) => {
    const r = checkRoute(input);
    return r.ok ? 'ok' : `${r.path.join('.') || '(route)'}: ${r.message}`;
  };

  it('gives a canonical route: default kind, only the next-hop keys given', () => {
    expect(checkRoute({ prefix: '10.9.0.0/16', nextHops: [{ via: '10.1.0.2', interface: undefined }] })).toEqual({
      ok: true,
      route: { prefix: '10.9.0.0/16', kind: 'forward', nextHops: [{ via: '10.1.0.2' }] },
    });
    expect(checkRoute({ prefix: '0.0.0.0/0', kind: 'blackhole' })).toEqual({ ok: true, route: { prefix: '0.0.0.0/0', kind: 'blackhole', nextHops: [] } });
  });

  it('refuses what is wrong, naming the field', () => {
    const hop = [{ via: '10.1.0.2' }];
    expect(bad({ prefix: '10.9.0.1/16', nextHops: hop })).toBe('prefix: has host bits set: the prefix is 10.9.0.0/16');
    expect(bad({ prefix: '10.9.0.0', nextHops: hop })).toBe('prefix: must be an IPv4 prefix like 10.1.0.0/24');
    expect(bad({ nextHops: hop })).toBe('prefix: must be an IPv4 prefix like 10.1.0.0/24');
    expect(bad({ prefix: '10.9.0.0/16' })).toBe('nextHops: a forward route needs at least one next hop');
    expect(bad({ prefix: '10.9.0.0/16', kind: 'unreachable', nextHops: hop })).toBe('nextHops: kind unreachable takes no next hops');
    expect(bad({ prefix: '10.9.0.0/16', kind: 'nat', nextHops: hop })).toBe('kind: must be one of forward, blackhole, unreachable');
    expect(bad({ prefix: '10.9.0.0/16', nextHops: [{ via: '224.0.0.1' }] })).toBe('nextHops.0.via: must be a unicast IPv4 address like 10.1.0.1');
    expect(bad({ prefix: '10.9.0.0/16', nextHops: [{ interface: 'bad name' }] })).toMatch(/^nextHops\.0\.interface: must be 1-63 characters/);
    expect(bad({ prefix: '10.9.0.0/16', nextHops: [{}] })).toBe('nextHops.0: needs via, interface or both');
    expect(bad({ prefix: '10.9.0.0/16', nextHops: [...hop, ...hop] })).toBe('nextHops.1: is the same next hop twice');
    expect(bad({ prefix: '10.9.0.0/16', nextHops: Array.from({ length: 17 }, (_, i) => ({ via: `10.1.0.${i + 2}` })) })).toBe('nextHops: at most 16 next hops (ECMP)');
    expect(bad({ prefix: '10.9.0.0/16', nextHops: hop, metric: 5 })).toBe('(route): unknown field(s) metric');
  });
});

describe('config: routers', () => {
  const networks = 'networks: [{ name: blue }, { name: red }]\n';
  const problems = (yaml: string): string[] => {
    try {
      parseConfig(networks + yaml, 'test');
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it('reads routers, their interfaces and routes with defaults, one next hop written flat', () => {
    const cfg = parseConfig(
      `${networks}routers:
  - name: core
    interfaces: [{ name: core-blue, network: blue, addresses: [10.1.0.1/24] }]
    routes:
      - { prefix: 0.0.0.0/0, via: 10.1.0.254 }
      - { prefix: 10.8.0.0/16, via: 10.1.0.9, interface: core-blue }
      - { prefix: 192.0.2.0/24, kind: blackhole }
`,
      'test',
    );
    expect(cfg.dataplane.neighborAgeSeconds).toBe(300);
    expect(cfg.routers).toEqual([
      {
        name: 'core',
        interfaces: [{ name: 'core-blue', network: 'blue', addresses: ['10.1.0.1/24'], mtu: 1500 }],
        routes: [
          { prefix: '0.0.0.0/0', kind: 'forward', nextHops: [{ via: '10.1.0.254' }] },
          { prefix: '10.8.0.0/16', kind: 'forward', nextHops: [{ via: '10.1.0.9', interface: 'core-blue' }] },
          { prefix: '192.0.2.0/24', kind: 'blackhole', nextHops: [] },
        ],
      },
    ]);
  });

  it('says which field is wrong', () => {
    const itf = (over: string) => `routers: [{ name: core, interfaces: [{ name: c0, network: blue, addresses: [10.1.0.1/24]${over} }] }]\n`;
    expect(problems('routers: [{ name: core, interfaces: [{ name: c0, network: green, addresses: [10.1.0.1/24] }] }]\n')).toEqual([
      'routers.0.interfaces.0.network: no network named "green"',
    ]);
    expect(problems('routers: [{ name: core, interfaces: [{ name: c0, network: blue, addresses: [10.1.0.0/24] }] }]\n')).toEqual([
      'routers.0.interfaces.0.addresses.0: is the network address of 10.1.0.0/24',
    ]);
    expect(problems('routers: [{ name: core, interfaces: [{ name: c0, network: blue, addresses: [10.1.0.255/24] }] }]\n')).toEqual([
      'routers.0.interfaces.0.addresses.0: is the broadcast address of 10.1.0.0/24',
    ]);
    expect(problems(itf(', mtu: 9001'))).toEqual(['routers.0.interfaces.0.mtu: Number must be less than or equal to 9000']);
    expect(problems('routers: [{ name: core }, { name: core }]\n')).toEqual(['routers.1.name: duplicate router "core"']);
    expect(
      problems(`routers:
  - { name: a, interfaces: [{ name: x, network: blue, addresses: [10.1.0.1/24] }] }
  - { name: b, interfaces: [{ name: x, network: blue, addresses: [10.2.0.1/24] }] }
`),
    ).toEqual(['routers.1.interfaces.0.name: duplicate router interface "x"', 'routers.1.interfaces.0.network: network blue already has a router interface']);
    expect(problems('routers: [{ name: core, routes: [{ prefix: 10.8.0.1/16, via: 10.1.0.9 }] }]\n')).toEqual([
      'routers.0.routes.0.prefix: has host bits set: the prefix is 10.8.0.0/16',
    ]);
    expect(problems('routers: [{ name: core, routes: [{ prefix: 10.8.0.0/16 }] }]\n')).toEqual(['routers.0.routes.0.via: a forward route needs via, interface or both']);
    expect(problems('routers: [{ name: core, routes: [{ prefix: 10.8.0.0/16, kind: blackhole, via: 10.1.0.9 }] }]\n')).toEqual([
      'routers.0.routes.0.via: kind blackhole takes no next hop',
    ]);
    expect(problems('routers: [{ name: core, routes: [{ prefix: 10.8.0.0/16, interface: nope }] }]\n')).toEqual([
      'routers.0.routes.0.interface: router core has no interface "nope"',
    ]);
    expect(problems('routers: [{ name: core, routes: [{ prefix: 10.8.0.0/16, via: 10.1.0.9 }, { prefix: 10.8.0.0/16, via: 10.1.0.8 }] }]\n')).toEqual([
      'routers.0.routes.1.prefix: duplicate route 10.8.0.0/16',
    ]);
  });

  it('reads a host interface (its name, node routes and MTU defaulted), and says which of its fields is wrong', () => {
    const cfg = parseConfig(`${networks}routers: [{ name: core, host: { address: 169.254.70.1/30, nodeAddress: 169.254.70.2/30 }, routes: [{ prefix: 10.8.0.0/16, interface: core-host }] }]\n`, 'test');
    expect(cfg.routers[0]!.host).toEqual({ address: '169.254.70.1/30', nodeAddress: '169.254.70.2/30', routes: [], mtu: 1500 });
    const host = (h: string) => problems(`routers: [{ name: core, host: { ${h} } }]\n`);
    expect(host('address: 169.254.70.1/30, nodeAddress: 169.254.70.5/30')).toEqual([
      "routers.0.host.nodeAddress: must be in 169.254.70.0/30, the subnet of the router's address 169.254.70.1/30",
    ]);
    expect(host('address: 169.254.70.1/30, nodeAddress: 169.254.70.2/29')).toEqual([
      "routers.0.host.nodeAddress: must be in 169.254.70.0/30, the subnet of the router's address 169.254.70.1/30",
    ]);
    expect(host('address: 169.254.70.1/30, nodeAddress: 169.254.70.1/30')).toEqual(["routers.0.host.nodeAddress: must not be the router's own address 169.254.70.1/30"]);
    expect(host('address: 169.254.70.1/30, nodeAddress: 169.254.70.3/30')).toEqual(['routers.0.host.nodeAddress: is the broadcast address of 169.254.70.0/30']);
    expect(host('address: 169.254.70.1, nodeAddress: 169.254.70.2/30')).toEqual([
      'routers.0.host.address: must be a unicast IPv4 address with a prefix length 1-32, like 10.1.0.1/24',
    ]);
    expect(host('address: 169.254.70.1/30, nodeAddress: 169.254.70.2/30, routes: [10.8.0.1/16]')).toEqual([
      'routers.0.host.routes.0: has host bits set: the prefix is 10.8.0.0/16',
    ]);
    expect(host('address: 169.254.70.1/30, nodeAddress: 169.254.70.2/30, network: blue')).toEqual(['routers.0.host: unknown field(s) network']);
    expect(
      problems(`routers: [{ name: core, host: { address: 169.254.70.1/30, nodeAddress: 169.254.70.2/30 }, interfaces: [{ name: core-host, network: blue, addresses: [10.1.0.1/24] }] }]\n`),
    ).toEqual(['routers.0.interfaces.0.name: duplicate router interface "core-host"']);
    expect(problems(`routers: [{ name: ${'r'.repeat(60)}, host: { address: 169.254.70.1/30, nodeAddress: 169.254.70.2/30 } }]\n`)).toEqual([
      expect.stringMatching(/^routers\.0\.host\.name: is required: the default r+-host is not a valid name/),
    ]);
  });
});
