// Host interfaces: a router's port into the node's own network namespace (the one
// memswitchd runs in), so that pods reach the node, and through the node's own routing
// what lies beyond it, and the node reaches pods. The port is a veth pair made by the
// same machinery as a container's (veth.ts), its "container" end left in the node's
// namespace as msw-<router>; the switch end is attached with AF_XDP on a network of its
// own, whose name no API can give, so nothing else ever shares the link.
//
// Like a container's, the pair outlives a restart when intact (the node's connections
// to pods survive it). Every pair is recorded in SQLite before it is made, config-file
// ones too, so one whose interface is gone by the next start is found and removed.
//
// IPv4 only for now (the schema refuses IPv6 here): the link has one address at each end,
// the node's routes are read and written with `ip -4`, and the router's default route to
// the node is 0.0.0.0/0. IPv6 would need a second address at each end, the node's IPv6
// routes kept the same way, and a ::/0 to the node.
import { execFileSync } from 'node:child_process';
import type { RouterInterfaceConfig, VethInterface } from '../config/schema.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { Logger } from '../log.js';
import type { RoutingStore } from '../store/routing-store.js';
import { InvalidConfigError } from './errors.js';
import { deleteVeth, fnv32 } from './veth.js';

export type HostInterfaceConfig = RouterInterfaceConfig & { host: NonNullable<RouterInterfaceConfig['host']> };

export const isHost = (spec: RouterInterfaceConfig): spec is HostInterfaceConfig => spec.host !== undefined;

/** The node end's name: msw-<router>, or msw-<hash> when that would not fit IFNAMSIZ (15). */
export function nodeIfname(router: string): string {
  const name = `msw-${router}`;
  return name.length <= 15 ? name : `msw-${fnv32(router)}`;
}

// ":" is in no network or interface name the API or the file accepts: these cannot clash.
const hostNetwork = (spec: HostInterfaceConfig): string => `host:${spec.router}`;
const portName = (spec: HostInterfaceConfig): string => `host:${spec.name}`;
const ipOf = (cidr: string): string => cidr.slice(0, cidr.indexOf('/'));

function portSpec(spec: HostInterfaceConfig): VethInterface {
  return {
    name: portName(spec),
    kind: 'veth',
    network: hostNetwork(spec),
    // memswitchd's own namespace, as a path that nsenter and ip (its children) resolve to it.
    netns: `/proc/${process.pid}/ns/net`,
    ifname: nodeIfname(spec.router),
    addresses: [spec.host.nodeAddress],
    routes: [], // the node's routes follow the router's interfaces: syncNodeRoutes
    mtu: spec.mtu,
  };
}

export class RouterHosts {
  constructor(
    private readonly dp: Dataplane,
    private readonly store: RoutingStore,
    private readonly log: Logger,
  ) {}

  /** Makes the link's network and port (the veth pair); returns the network for the router interface. */
  attach(spec: HostInterfaceConfig): string {
    const network = hostNetwork(spec);
    const port = portSpec(spec);
    this.store.putHostLink(spec.name, port.name);
    this.dp.addNetwork(network);
    try {
      const s = this.dp.addVeth(port);
      this.log.info({ routerInterface: spec.name, port: port.name, netdev: s.netdev, xdpMode: s.xdpMode, nodeIfname: port.ifname, nodeAddress: spec.host.nodeAddress }, 'host link ready');
    } catch (err) {
      this.dp.removeNetwork(network);
      this.store.deleteHostLink(spec.name);
      // veth.ts names the fields of a container's interface; here it is all the host link.
      if (err instanceof InvalidConfigError) throw new InvalidConfigError(`host: cannot make the node link ${port.ifname}: ${err.message}`, 'host');
      throw err;
    }
    return network;
  }

  /** Once its router interface is gone: the pair (the node's routes through it go with it), the network, the record. */
  detach(spec: HostInterfaceConfig): void {
    this.dp.removeInterface(portName(spec));
    this.dp.removeNetwork(hostNetwork(spec));
    this.store.deleteHostLink(spec.name);
  }

  /** Pairs an earlier run recorded for host interfaces not in `claimed` go, so their node names are free again. */
  removeStale(claimed: Set<string>): void {
    for (const l of this.store.hostLinks()) if (!claimed.has(l.routerInterface)) this.forget(l.routerInterface);
  }

  /** The pair an earlier run made for `routerInterface`, which this run does not make again. */
  forget(routerInterface: string): void {
    const link = this.store.hostLinks().find((l) => l.routerInterface === routerInterface);
    if (!link) return;
    deleteVeth(link.port);
    this.store.deleteHostLink(routerInterface);
    this.log.info({ routerInterface, port: link.port }, 'removed the node link of a host interface that is gone');
  }

  /**
   * Makes the node's routes through the link exactly `prefixes`, via the router's end.
   * Never throws: a prefix the node already routes elsewhere stays as the node has it (its
   * own routing wins), with a warning, and the router interface that asked still applies.
   */
  syncNodeRoutes(spec: HostInterfaceConfig, prefixes: string[]): void {
    const dev = nodeIfname(spec.router);
    const via = ipOf(spec.addresses[0]!);
    let shown: { dst: string; gateway?: string }[];
    try {
      shown = JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'show', 'dev', dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 })) as typeof shown;
    } catch (err) {
      this.log.warn({ routerInterface: spec.name, dev, err: (err as Error).message }, 'cannot read the node routes of a host interface');
      return;
    }
    // ip prints a /32 without its length and 0.0.0.0/0 as "default".
    const have = new Set(shown.filter((r) => r.gateway === via).map((r) => (r.dst === 'default' ? '0.0.0.0/0' : r.dst.includes('/') ? r.dst : `${r.dst}/32`)));
    const want = new Set(prefixes);
    const change = (verb: 'add' | 'del', prefix: string): void => {
      try {
        execFileSync('ip', ['route', verb, prefix, 'via', via, 'dev', dev], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
      } catch (err) {
        const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
        this.log.warn({ routerInterface: spec.name, dev, prefix, err: why }, verb === 'add' ? 'the node keeps its own route to a subnet behind a host interface' : 'cannot remove a node route of a host interface');
      }
    };
    for (const p of have) if (!want.has(p)) change('del', p);
    for (const p of want) if (!have.has(p)) change('add', p);
  }
}
