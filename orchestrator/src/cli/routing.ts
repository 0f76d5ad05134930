// The routing commands: show routers, router-interfaces, ip route, ip neighbors and their
// ipv6 twins; create and delete router, router-interface, route and neighbor (either
// family). Same verbs and output rules as the rest of the CLI (main.ts), over RouterService.
import { Option, type Command } from 'commander';
import type { IpFamily, Neighbor, Route, RouteInput, Router, RouterInterface } from '../sdk/index.js';
import { parseIntArg, table, type Cli } from './common.js';

const lower = (wire: string, prefix: string): string => wire.replace(prefix, '').toLowerCase();
const repeatable = (v: string, acc: string[]): string[] => [...acc, v];

/** One row per next hop, like `ip route` lists the nexthops of a multipath route. */
function routesTable(routes: Route[]): string {
  const rows = routes.flatMap((r) => {
    const first = [r.router, r.prefix, lower(r.origin, 'ROUTE_ORIGIN_'), lower(r.kind, 'ROUTE_KIND_')];
    if (r.nextHops.length === 0) return [[...first, '-', '-']];
    return r.nextHops.map((h, i) => [...(i === 0 ? first : ['', '', '', '']), h.via || '-', h.interface || '-']);
  });
  return table(['ROUTER', 'PREFIX', 'ORIGIN', 'KIND', 'VIA', 'INTERFACE'], rows);
}

const routersTable = (list: Router[]): string =>
  table(['NAME', 'SOURCE', 'INTERFACES', 'ROUTES'], list.map((r) => [r.name, lower(r.source, 'SOURCE_'), r.interfaceCount, r.routeCount]));

const routerInterfacesTable = (list: RouterInterface[]): string =>
  table(
    ['NAME', 'ROUTER', 'NETWORK', 'VLAN', 'ADDRESSES', 'MTU', 'MAC', 'SOURCE'],
    list.map((i) => [
      i.spec.name,
      i.spec.router,
      i.spec.host ? `host (${i.nodeIfname} ${[i.spec.host.nodeAddress, i.spec.host.nodeAddress6].filter(Boolean).join(',')})` : i.spec.network,
      i.spec.vlan || '-',
      i.spec.addresses.join(','),
      i.mtu,
      i.mac,
      lower(i.source, 'SOURCE_'),
    ]),
  );

const neighborsTable = (list: Neighbor[]): string =>
  table(
    ['ROUTER', 'INTERFACE', 'IP', 'MAC', 'STATE', 'AGE', 'TYPE'],
    list.map((n) => [n.router, n.routerInterface, n.ip, n.mac || '-', lower(n.state, 'NEIGHBOR_STATE_'), n.static ? '-' : `${n.ageSeconds}s`, n.static ? 'static' : 'dynamic']),
  );

interface RouteOptions {
  router: string;
  via: string[];
  interface?: string;
  blackhole?: boolean;
  unreachable?: boolean;
}

/** --via (repeatable: ECMP), --interface (with each via, or alone: on-link), or a drop kind. */
function routeInput(prefix: string, o: RouteOptions): RouteInput {
  const kind = o.blackhole ? 'ROUTE_KIND_BLACKHOLE' : o.unreachable ? 'ROUTE_KIND_UNREACHABLE' : 'ROUTE_KIND_FORWARD';
  const nextHops = o.via.length > 0 ? o.via.map((via) => ({ via, interface: o.interface })) : o.interface ? [{ interface: o.interface }] : [];
  return { router: o.router, prefix, kind, nextHops };
}

export function addRoutingCommands(cmds: { show: Command; create: Command; del: Command }, { run, emit, api }: Cli): void {
  const { show, create, del } = cmds;
  show
    .command('routers')
    .description('routers (VRFs)')
    .action(
      run(async (g) => {
        const r = await api(g).listRouters();
        emit(g, r.routers, () => routersTable(r.routers));
      }),
    );
  show
    .command('router-interfaces')
    .description("routers' interfaces on networks, with their addresses")
    .option('--router <name>', 'only this router')
    .action(
      run(async (g, o: { router?: string }) => {
        const r = await api(g).listRouterInterfaces({ router: o.router });
        emit(g, r.routerInterfaces, () => routerInterfacesTable(r.routerInterfaces));
      }),
    );
  // One family each, as VPP and Cisco IOS split them: `show ip` is IPv4's.
  const families: [string, IpFamily, string, string][] = [
    ['ip', 'IP_FAMILY_IPV4', 'IPv4', 'ARP'],
    ['ipv6', 'IP_FAMILY_IPV6', 'IPv6', 'neighbour discovery'],
  ];
  for (const [word, family, name, resolution] of families) {
    const cmd = show.command(word).description(`${name} routing state`);
    cmd
      .command('route')
      .description(`${name} routing tables: static, connected and local routes`)
      .option('--router <name>', 'only this router')
      .action(
        run(async (g, o: { router?: string }) => {
          const routes: Route[] = [];
          for await (const r of api(g).routes({ router: o.router, family, pageSize: 10_000 })) routes.push(r);
          emit(g, routes, () => routesTable(routes));
        }),
      );
    cmd
      .command('neighbors')
      .description(`${name} neighbours (${resolution}): static and resolved entries, as the dataplane holds them`)
      .option('--router <name>', 'only this router')
      .option('--interface <name>', 'only this router interface')
      .action(
        run(async (g, o: { router?: string; interface?: string }) => {
          const r = await api(g).listNeighbors({ router: o.router, routerInterface: o.interface, family });
          emit(g, r.neighbors, () => neighborsTable(r.neighbors));
        }),
      );
  }

  create
    .command('router')
    .argument('<name>')
    .action(
      run(async (g, name: string) => {
        const r = await api(g).createRouter({ name });
        emit(g, r, () => `router ${name} ${r.created ? 'created' : 'already exists'}\n`);
      }),
    );
  create
    .command('router-interface')
    .description("a router's interface on a network (its address is the network's gateway), or with --node-address into the node")
    .argument('<name>')
    .requiredOption('--router <name>')
    .option('--network <name>', 'the network (not for a host interface)')
    .option('--address <cidr>', 'an address like 10.1.0.1/24 or fd00:1::1/64 (repeatable)', repeatable, [] as string[])
    .option('--vlan <vlan>', 'access VLAN in the network', parseIntArg('--vlan', 1, 4094))
    .option('--mtu <mtu>', 'IP MTU (default 1500)', parseIntArg('--mtu', 68, 9000))
    .option('--mac <mac>', 'the interface MAC (default: derived from the name)')
    .option('--node-address <cidr>', "a host interface: the node's end of the link, like 169.254.70.2/30 or fd00:70::2/64 (one per family of --address)", repeatable, [] as string[])
    .option('--node-route <prefix>', 'a host interface: a prefix the node reaches through it (repeatable; default every connected subnet of the router)', repeatable, [] as string[])
    .action(
      run(async (g, name: string, o: { router: string; network?: string; address: string[]; vlan?: number; mtu?: number; mac?: string; nodeAddress: string[]; nodeRoute: string[] }) => {
        // One of each family: the server names the field of one that is wrong or missing.
        const of = (v6: boolean): string | undefined => o.nodeAddress.find((a) => a.includes(':') === v6);
        if (o.nodeAddress.filter((a) => a === of(a.includes(':'))).length < o.nodeAddress.length) throw new Error('--node-address: at most one IPv4 and one IPv6 address');
        const host = o.nodeAddress.length > 0 ? { nodeAddress: of(false), nodeAddress6: of(true), routes: o.nodeRoute } : undefined;
        const r = await api(g).createRouterInterface({ spec: { name, router: o.router, network: o.network, addresses: o.address, vlan: o.vlan, mtu: o.mtu, mac: o.mac, host } });
        emit(g, r, () => `router interface ${name} ${r.created ? 'created' : 'already exists'}${r.routerInterface.nodeIfname ? ` (${r.routerInterface.nodeIfname} in the node)` : ''}\n`);
      }),
    );
  create
    .command('route')
    .description('a static route (an existing prefix is replaced)')
    .argument('<prefix>', 'like 10.20.0.0/16 or fd00:20::/48; 0.0.0.0/0 or ::/0 for a default route')
    .requiredOption('--router <name>')
    .option('--via <ip>', "next hop address, of the prefix's family (repeatable: ECMP)", repeatable, [] as string[])
    .option('--interface <name>', 'the router interface to leave by (alone: the destination is on-link)')
    .addOption(new Option('--blackhole', 'drop silently').conflicts('unreachable'))
    .addOption(new Option('--unreachable', 'drop and answer ICMP unreachable'))
    .action(
      run(async (g, prefix: string, o: RouteOptions) => {
        const { counts } = await api(g).addRoutes({ routes: [routeInput(prefix, o)] });
        const what = counts.added ? 'added' : counts.replaced ? 'replaced' : 'unchanged';
        emit(g, counts, () => `route ${prefix} of router ${o.router} ${what}\n`);
      }),
    );
  create
    .command('neighbor')
    .description('a static neighbour (an ARP or IPv6 neighbour entry) on a router interface')
    .argument('<ip>')
    .requiredOption('--interface <name>', 'the router interface')
    .requiredOption('--mac <mac>')
    .action(
      run(async (g, ip: string, o: { interface: string; mac: string }) => {
        const r = await api(g).addNeighbor({ routerInterface: o.interface, ip, mac: o.mac });
        emit(g, r, () => `neighbour ${ip} -> ${r.neighbor.mac} on ${o.interface} ${r.created ? 'created' : 'already exists'}\n`);
      }),
    );

  del
    .command('router')
    .argument('<name>')
    .action(
      run(async (g, name: string) => {
        const r = await api(g).deleteRouter({ name });
        emit(g, { deleted: name, ...r }, () => `router ${name} deleted with ${r.routesDeleted} static routes\n`);
      }),
    );
  del
    .command('router-interface')
    .argument('<name>')
    .action(
      run(async (g, name: string) => {
        await api(g).deleteRouterInterface({ name });
        emit(g, { deleted: name }, () => `router interface ${name} deleted\n`);
      }),
    );
  del
    .command('route')
    .argument('<prefix...>')
    .requiredOption('--router <name>')
    .action(
      run(async (g, prefixes: string[], o: { router: string }) => {
        const r = await api(g).deleteRoutes({ router: o.router, prefixes });
        emit(g, r, () => `${r.deleted} of ${prefixes.length} routes deleted\n`);
      }),
    );
  del
    .command('neighbor')
    .argument('<ip>')
    .requiredOption('--interface <name>', 'the router interface')
    .action(
      run(async (g, ip: string, o: { interface: string }) => {
        await api(g).deleteNeighbor({ routerInterface: o.interface, ip });
        emit(g, { deleted: ip }, () => `neighbour ${ip} on ${o.interface} deleted\n`);
      }),
    );
}
