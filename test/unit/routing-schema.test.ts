// The route check (the hand-written schema routes go through by the million), the
// address schemas and the config file's routers, for both families: what is accepted,
// and what each refusal says.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../orchestrator/src/config/load.js';
import { checkRoute, ipHost, ipPrefix, routerInterfaceSchema } from '../../orchestrator/src/config/schema.js';

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

  const hop = [{ via: '10.1.0.2' }];
  it.each<[unknown, string | RegExp]>([
    [{ prefix: '10.9.0.1/16', nextHops: hop }, 'prefix: has host bits set: the prefix is 10.9.0.0/16'],
    [{ prefix: '10.9.0.0', nextHops: hop }, 'prefix: must be an IPv4 or IPv6 prefix like 10.1.0.0/24 or fd00:1::/64'],
    [{ nextHops: hop }, 'prefix: must be an IPv4 or IPv6 prefix like 10.1.0.0/24 or fd00:1::/64'],
    [{ prefix: '10.9.0.0/16' }, 'nextHops: a forward route needs at least one next hop'],
    [{ prefix: '10.9.0.0/16', kind: 'unreachable', nextHops: hop }, 'nextHops: kind unreachable takes no next hops'],
    [{ prefix: '10.9.0.0/16', kind: 'nat', nextHops: hop }, 'kind: must be one of forward, blackhole, unreachable'],
    [{ prefix: '10.9.0.0/16', nextHops: [{ via: '224.0.0.1' }] }, 'nextHops.0.via: must be a unicast IPv4 address like 10.1.0.1'],
    [{ prefix: '10.9.0.0/16', nextHops: [{ interface: 'bad name' }] }, /^nextHops\.0\.interface: must be 1-63 characters/],
    [{ prefix: '10.9.0.0/16', nextHops: [{}] }, 'nextHops.0: needs via, interface or both'],
    [{ prefix: '10.9.0.0/16', nextHops: [...hop, ...hop] }, 'nextHops.1: is the same next hop twice'],
    [{ prefix: '10.9.0.0/16', nextHops: Array.from({ length: 17 }, (_, i) => ({ via: `10.1.0.${i + 2}` })) }, 'nextHops: at most 16 next hops (ECMP)'],
    [{ prefix: '10.9.0.0/16', nextHops: hop, metric: 5 }, '(route): unknown field(s) metric'],
  ])('refuses what is wrong, naming the field: %j', (input, want) => {
    if (typeof want === 'string') expect(bad(input)).toBe(want);
    else expect(bad(input)).toMatch(want);
  });

  it('takes IPv6 routes in their canonical spelling, next hops of the same family', () => {
    expect(checkRoute({ prefix: 'fd00:2::/64', nextHops: [{ via: 'fd00:1::2' }, { via: 'fe80::1', interface: 'r1-blue' }] })).toEqual({
      ok: true,
      route: { prefix: 'fd00:2::/64', kind: 'forward', nextHops: [{ via: 'fd00:1::2' }, { via: 'fe80::1', interface: 'r1-blue' }] },
    });
    expect(checkRoute({ prefix: '::/0', kind: 'unreachable' })).toMatchObject({ ok: true });
  });

  const hop6 = [{ via: 'fd00:1::2' }];
  it.each<[unknown, string]>([
    [{ prefix: 'fd00:2::1/64', nextHops: hop6 }, 'prefix: has host bits set: the prefix is fd00:2::/64'],
    [{ prefix: 'FD00:0:0::/64', nextHops: hop6 }, 'prefix: must be written fd00::/64 (the canonical form)'],
    [{ prefix: 'fd00:2:0:0::/64', nextHops: hop6 }, 'prefix: must be written fd00:2::/64 (the canonical form)'],
    [{ prefix: 'fd00:2::/129', nextHops: hop6 }, 'prefix: must be an IPv4 or IPv6 prefix like 10.1.0.0/24 or fd00:1::/64'],
    [{ prefix: 'fd00:2::/64', nextHops: [{ via: '10.1.0.2' }] }, 'nextHops.0.via: is an IPv4 address: a route to an IPv6 prefix needs an IPv6 next hop'],
    [{ prefix: '10.9.0.0/16', nextHops: [{ via: '10.1.0.2' }, { via: 'fd00:1::2' }] }, 'nextHops.1.via: is an IPv6 address: a route to an IPv4 prefix needs an IPv4 next hop'],
    [{ prefix: 'fd00:2::/64', nextHops: [{ via: 'ff02::2' }] }, 'nextHops.0.via: must be a unicast IPv6 address like fd00:1::1'],
    [{ prefix: 'fd00:2::/64', nextHops: [{ via: 'fd00:1::x' }] }, 'nextHops.0.via: must be a unicast IPv6 address like fd00:1::1'],
    [{ prefix: 'fd00:2::/64', nextHops: [{ via: 7 }] }, 'nextHops.0.via: must be a unicast IPv6 address like fd00:1::1'],
    [{ prefix: 'fd00:2::/64', nextHops: [{ via: 'fd00:1:0::2' }] }, 'nextHops.0.via: must be written fd00:1::2 (the canonical form)'],
  ])('refuses a wrong IPv6 route or a next hop of the other family: %j', (input, want) => {
    expect(bad(input)).toBe(want);
  });
});

describe('address schemas', () => {
  const problem = (schema: { safeParse: (v: unknown) => { success: boolean; error?: { issues: { message: string }[] } } }, v: unknown): string =>
    schema.safeParse(v).error?.issues[0]?.message ?? 'ok';

  it('hosts and prefixes of either family, each in one spelling', () => {
    for (const s of ['10.1.0.7', 'fd00:1::7', 'fe80::1', '2001:db8::1']) expect(problem(ipHost, s), s).toBe('ok');
    for (const s of ['::', '::1', 'ff02::1', '::ffff:10.1.0.7', '127.0.0.1', '10.1.0.7/32', 'fd00::1%eth0'])
      expect(problem(ipHost, s), s).toBe('must be a unicast IPv4 or IPv6 address like 10.1.0.1 or fd00:1::1');
    for (const s of ['FD00::7', 'fd00:0:0:0:0:0:0:7']) expect(problem(ipHost, s), s).toBe('must be written fd00::7 (the canonical form)');
    for (const [s, want] of [
      ['::/0', 'ok'],
      ['2001:db8:0:1:1:1:1:1/128', 'ok'],
      ['2001:db8:0:1:1:1:1:1/64', 'has host bits set: the prefix is 2001:db8:0:1::/64'],
    ] as const)
      expect(problem(ipPrefix, s), s).toBe(want);
  });

  it('router interfaces: IPv6 addresses beside IPv4 ones, unicast, canonical, no network or broadcast rule', () => {
    const itf = (addresses: string[], extra: object = { network: 'blue' }) => routerInterfaceSchema.safeParse({ name: 'r1-blue', router: 'r1', addresses, ...extra });
    const first = (addresses: string[], extra?: object) => {
      const r = itf(addresses, extra);
      return r.success ? 'ok' : `${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`;
    };
    expect(first(['10.1.0.1/24', 'fd00:1::1/64', 'fe80::1/64'])).toBe('ok');
    // IPv6 keeps no subnet-router anycast or broadcast address from the router.
    for (const a of ['fd00:1::/64', 'fd00:1::ffff:ffff:ffff:ffff/64', 'fd00:1::1/128']) expect(first([a]), a).toBe('ok');
    expect(first(['10.1.0.0/24'])).toBe('addresses.0: is the network address of 10.1.0.0/24');
    for (const a of ['ff02::1/64', '::1/128', '::/0', 'fd00:1::1/0', '::ffff:10.1.0.1/120', 'fd00:1::1/129', 'fd00:1::1'])
      expect(first([a]), a).toBe('addresses.0: must be a unicast IPv4 or IPv6 address with a prefix length, like 10.1.0.1/24 or fd00:1::1/64');
    expect(first(['10.1.0.1/24', 'FD00:1::1/64'])).toBe('addresses.1: must be written fd00:1::1/64 (the canonical form)');
  });

  // A host interface over the API: the router's ends in addresses, the node's in
  // host.nodeAddress (IPv4) and host.nodeAddress6 (IPv6), paired by family.
  const hostItf = (addresses: string[], host: object) => {
    const r = routerInterfaceSchema.safeParse({ name: 'r1-host', router: 'r1', addresses, host });
    return r.success ? 'ok' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  const v4 = { nodeAddress: '169.254.70.2/30' };
  const v6 = { nodeAddress6: 'fd00:70::2/64' };
  it.each<[string, string[], object, string | string[]]>([
    ['IPv4 only, as before', ['169.254.70.1/30'], v4, 'ok'],
    ['IPv6 only', ['fd00:70::1/64'], v6, 'ok'],
    ['dual-stack', ['169.254.70.1/30', 'fd00:70::1/64'], { ...v4, ...v6 }, 'ok'],
    ['dual-stack, IPv6 first', ['fd00:70::1/64', '169.254.70.1/30'], { ...v6, ...v4 }, 'ok'],
    ['node routes of both families', ['169.254.70.1/30', 'fd00:70::1/64'], { ...v4, ...v6, routes: ['10.8.0.0/16', 'fd00:8::/48', '::/0'] }, 'ok'],
    ['the IPv6 node address missing', ['169.254.70.1/30', 'fd00:70::1/64'], v4, ["host.nodeAddress6: is required with the router's IPv6 address fd00:70::1/64: the node's end of the link"]],
    ['the IPv4 node address missing', ['169.254.70.1/30'], v6, [
      "host.nodeAddress: is required with the router's IPv4 address 169.254.70.1/30: the node's end of the link",
      "host.nodeAddress6: needs the router's IPv6 end of the link in addresses",
    ]],
    ['an IPv6 node address with no IPv6 router address', ['169.254.70.1/30'], { ...v4, ...v6 }, ["host.nodeAddress6: needs the router's IPv6 end of the link in addresses"]],
    ['an IPv6 node address in nodeAddress', ['169.254.70.1/30', 'fd00:70::1/64'], { nodeAddress: 'fd00:70::2/64', ...v6 }, ["host.nodeAddress: is an IPv6 address: the link's IPv6 end is nodeAddress6"]],
    ['an IPv4 node address in nodeAddress6', ['fd00:70::1/64'], { nodeAddress6: '169.254.70.2/30' }, ["host.nodeAddress6: is an IPv4 address: the link's IPv4 end is nodeAddress"]],
    ['the IPv6 node address outside the link', ['fd00:70::1/64'], { nodeAddress6: 'fd00:71::2/64' }, ["host.nodeAddress6: must be in fd00:70::/64, the subnet of the router's address fd00:70::1/64"]],
    ['the IPv6 node address of another length', ['fd00:70::1/64'], { nodeAddress6: 'fd00:70::2/120' }, ["host.nodeAddress6: must be in fd00:70::/64, the subnet of the router's address fd00:70::1/64"]],
    ["the router's own IPv6 address", ['fd00:70::1/64'], { nodeAddress6: 'fd00:70::1/64' }, ["host.nodeAddress6: must not be the router's own address fd00:70::1/64"]],
    ['a non-canonical IPv6 node address', ['fd00:70::1/64'], { nodeAddress6: 'FD00:70:0::2/64' }, ['host.nodeAddress6: must be written fd00:70::2/64 (the canonical form)']],
    ['a multicast IPv6 node address', ['fd00:70::1/64'], { nodeAddress6: 'ff02::2/64' }, ['host.nodeAddress6: must be a unicast IPv6 address with a prefix length 1-128, like fd00:1::1/64']],
    ['a link-local node address', ['fd00:70::1/64'], { nodeAddress6: 'fe80::2/64' }, [
      'host.nodeAddress6: must not be link-local (fe80::/10): the node and the router route via it, so it must be global or unique-local, like fd00:70::1/64',
    ]],
    ['a link-local router address', ['fe80::1/64'], { nodeAddress6: 'fe80::2/64' }, [
      'host.nodeAddress6: must not be link-local (fe80::/10): the node and the router route via it, so it must be global or unique-local, like fd00:70::1/64',
      'addresses.0: must not be link-local (fe80::/10): the node and the router route via it, so it must be global or unique-local, like fd00:70::1/64',
    ]],
    ['two IPv6 router addresses', ['fd00:70::1/64', 'fd00:71::1/64'], v6, ["addresses.1: a host interface has one IPv6 address: the router's end of the link to the node"]],
    ['two IPv4 router addresses', ['169.254.70.1/30', '169.254.71.1/30'], v4, ["addresses.1: a host interface has one IPv4 address: the router's end of the link to the node"]],
    ['an IPv6 node route on an IPv4 link', ['169.254.70.1/30'], { ...v4, routes: ['fd00::/8'] }, ['host.routes.0: is an IPv6 prefix, but the link to the node has no IPv6 addresses']],
    ['an IPv4 node route on an IPv6 link', ['fd00:70::1/64'], { ...v6, routes: ['fd00::/8', '10.8.0.0/16'] }, ['host.routes.1: is an IPv4 prefix, but the link to the node has no IPv4 addresses']],
    ['a node route with host bits', ['fd00:70::1/64'], { ...v6, routes: ['fd00:8::1/48'] }, ['host.routes.0: has host bits set: the prefix is fd00:8::/48']],
    ['no node address at all', ['169.254.70.1/30'], {}, ["host.nodeAddress: is required with the router's IPv4 address 169.254.70.1/30: the node's end of the link"]],
  ])('host interface: %s', (_what, addresses, host, want) => {
    expect(hostItf(addresses, host)).toEqual(want);
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

  const core = (over: string) => `routers: [{ name: core, ${over} }]\n`;
  it.each<[string, string[]]>([
    [core('interfaces: [{ name: c0, network: green, addresses: [10.1.0.1/24] }]'), ['routers.0.interfaces.0.network: no network named "green"']],
    [core('interfaces: [{ name: c0, network: blue, addresses: [10.1.0.0/24] }]'), ['routers.0.interfaces.0.addresses.0: is the network address of 10.1.0.0/24']],
    [core('interfaces: [{ name: c0, network: blue, addresses: [10.1.0.255/24] }]'), ['routers.0.interfaces.0.addresses.0: is the broadcast address of 10.1.0.0/24']],
    [core('interfaces: [{ name: c0, network: blue, addresses: [10.1.0.1/24], mtu: 9001 }]'), ['routers.0.interfaces.0.mtu: Number must be less than or equal to 9000']],
    ['routers: [{ name: core }, { name: core }]\n', ['routers.1.name: duplicate router "core"']],
    [
      `routers:
  - { name: a, interfaces: [{ name: x, network: blue, addresses: [10.1.0.1/24] }] }
  - { name: b, interfaces: [{ name: x, network: blue, addresses: [10.2.0.1/24] }] }
`,
      ['routers.1.interfaces.0.name: duplicate router interface "x"', 'routers.1.interfaces.0.network: network blue already has a router interface'],
    ],
    [core('routes: [{ prefix: 10.8.0.1/16, via: 10.1.0.9 }]'), ['routers.0.routes.0.prefix: has host bits set: the prefix is 10.8.0.0/16']],
    [core('routes: [{ prefix: 10.8.0.0/16 }]'), ['routers.0.routes.0.via: a forward route needs via, interface or both']],
    [core('routes: [{ prefix: 10.8.0.0/16, kind: blackhole, via: 10.1.0.9 }]'), ['routers.0.routes.0.via: kind blackhole takes no next hop']],
    [core('routes: [{ prefix: 10.8.0.0/16, interface: nope }]'), ['routers.0.routes.0.interface: router core has no interface "nope"']],
    [core('routes: [{ prefix: 10.8.0.0/16, via: 10.1.0.9 }, { prefix: 10.8.0.0/16, via: 10.1.0.8 }]'), ['routers.0.routes.1.prefix: duplicate route 10.8.0.0/16']],
    [core('routes: [{ prefix: "fd00:9::/48", via: 10.1.0.9 }]'), ['routers.0.routes.0.via: is an IPv4 address: a route to an IPv6 prefix needs an IPv6 next hop']],
    [core('routes: [{ prefix: "fd00:9::1/48", via: "fd00:1::2" }]'), ['routers.0.routes.0.prefix: has host bits set: the prefix is fd00:9::/48']],
    [core('routes: [{ prefix: "fd00:9::/48", via: "FD00:1::2" }]'), ['routers.0.routes.0.via: must be written fd00:1::2 (the canonical form)']],
  ])('says which field is wrong: %s', (yaml, want) => {
    expect(problems(yaml)).toEqual(want);
  });

  it('reads IPv6 interface addresses and routes', () => {
    const cfg = parseConfig(
      `${networks}routers:
  - name: core
    interfaces: [{ name: core-blue, network: blue, addresses: [10.1.0.1/24, "fd00:1::1/64"] }]
    routes:
      - { prefix: "::/0", via: "fd00:1::fe" }
      - { prefix: "fd00:9::/48", kind: blackhole }
`,
      'test',
    );
    expect(cfg.routers[0]!.interfaces[0]!.addresses).toEqual(['10.1.0.1/24', 'fd00:1::1/64']);
    expect(cfg.routers[0]!.routes).toEqual([
      { prefix: '::/0', kind: 'forward', nextHops: [{ via: 'fd00:1::fe' }] },
      { prefix: 'fd00:9::/48', kind: 'blackhole', nextHops: [] },
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

  it('reads an IPv6 and a dual-stack host interface: address6 and nodeAddress6 beside address and nodeAddress', () => {
    const read = (h: string) => parseConfig(`${networks}routers: [{ name: core, host: { ${h} } }]\n`, 'test').routers[0]!.host;
    expect(read('address6: "fd00:70::1/64", nodeAddress6: "fd00:70::2/64"')).toEqual({ address6: 'fd00:70::1/64', nodeAddress6: 'fd00:70::2/64', routes: [], mtu: 1500 });
    expect(read('address: 169.254.70.1/30, nodeAddress: 169.254.70.2/30, address6: "fd00:70::1/64", nodeAddress6: "fd00:70::2/64", routes: ["fd00:8::/48", 10.8.0.0/16]')).toEqual({
      address: '169.254.70.1/30',
      nodeAddress: '169.254.70.2/30',
      address6: 'fd00:70::1/64',
      nodeAddress6: 'fd00:70::2/64',
      routes: ['fd00:8::/48', '10.8.0.0/16'],
      mtu: 1500,
    });
  });

  it.each<[string, string[]]>([
    ['nodeAddress: 169.254.70.2/30', ["routers.0.host.address: is required (or address6): the router's end of the link to the node"]],
    ['address: "fd00:70::1/64", nodeAddress6: "fd00:70::2/64"', [
      "routers.0.host.address: is an IPv6 address: the link's IPv6 end is address6",
      "routers.0.host.nodeAddress6: needs the router's IPv6 end of the link in address6",
    ]],
    ['address6: "fd00:70::1/64"', ["routers.0.host.nodeAddress6: is required with the router's IPv6 address fd00:70::1/64: the node's end of the link"]],
    ['address6: "fd00:70::1/64", nodeAddress6: "fd00:70::1/64"', ["routers.0.host.nodeAddress6: must not be the router's own address fd00:70::1/64"]],
    ['address6: "fd00:70::1/64", nodeAddress6: "fd00:7::2/64"', ["routers.0.host.nodeAddress6: must be in fd00:70::/64, the subnet of the router's address fd00:70::1/64"]],
    ['address6: "fe80::1/64", nodeAddress6: "fe80::2/64"', [
      'routers.0.host.address6: must not be link-local (fe80::/10): the node and the router route via it, so it must be global or unique-local, like fd00:70::1/64',
      'routers.0.host.nodeAddress6: must not be link-local (fe80::/10): the node and the router route via it, so it must be global or unique-local, like fd00:70::1/64',
    ]],
    ['address: 169.254.70.1/30, nodeAddress: 169.254.70.2/30, nodeAddress6: "fd00:70::2/64"', ["routers.0.host.nodeAddress6: needs the router's IPv6 end of the link in address6"]],
    ['address: 169.254.70.1/30, nodeAddress: 169.254.70.2/30, routes: ["fd00:8::/48"]', ['routers.0.host.routes.0: is an IPv6 prefix, but the link to the node has no IPv6 addresses']],
  ])('config host interface %s: refused', (h, want) => {
    expect(problems(`routers: [{ name: core, host: { ${h} } }]\n`)).toEqual(want);
  });
});
