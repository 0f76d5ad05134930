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
// IPv4, IPv6 or both: the link has one address of each family it carries at each end
// (the node's IPv6 one without DAD, as a container's: veth.ts), the node's routes of a
// family go via the router's end of that family, and the router routes 0.0.0.0/0 and ::/0
// to the node's (routing.ts). The node's routes through the link are read per family
// (`ip -4`, `ip -6`): every route through a gateway there is ours (nothing else shares
// the link), the kernel's own (the link's connected subnets, fe80::/64) have none. One
// via another address than the router's end now has (an earlier run's config) is put
// back via the current one, and a family the link no longer carries (also an earlier
// run's) leaves no address or route behind.
import { execFileSync } from 'node:child_process';
import type { RouterInterfaceConfig, VethInterface } from '../config/schema.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { Logger } from '../log.js';
import type { RoutingStore } from '../store/routing-store.js';
import { InvalidConfigError } from './errors.js';
import { familyOf, type Family } from './ip.js';
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
const nodeAddresses = (spec: HostInterfaceConfig): string[] => [spec.host.nodeAddress, spec.host.nodeAddress6].filter((a) => a !== undefined);
// ip prints a host route without its length and a default route as "default".
const MAX_LEN = { 4: 32, 6: 128 } as const;
const DEFAULT_ROUTE = { 4: '0.0.0.0/0', 6: '::/0' } as const;

const ip = (args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
const stderrOf = (err: unknown): string => (err as { stderr?: Buffer | string }).stderr?.toString().trim() || (err as Error).message;

function portSpec(spec: HostInterfaceConfig): VethInterface {
  return {
    name: portName(spec),
    kind: 'veth',
    network: hostNetwork(spec),
    // memswitchd's own namespace, as a path that nsenter and ip (its children) resolve to it.
    netns: `/proc/${process.pid}/ns/net`,
    ifname: nodeIfname(spec.router),
    addresses: nodeAddresses(spec),
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
      this.log.info({ routerInterface: spec.name, port: port.name, netdev: s.netdev, xdpMode: s.xdpMode, nodeIfname: port.ifname, nodeAddresses: port.addresses }, 'host link ready');
    } catch (err) {
      this.dp.removeNetwork(network);
      this.store.deleteHostLink(spec.name);
      // veth.ts names the fields of a container's interface; here it is all the host link.
      if (err instanceof InvalidConfigError) throw new InvalidConfigError(`host: cannot make the node link ${port.ifname}: ${err.message}`, 'host');
      throw err;
    }
    this.pruneNodeAddresses(spec, port.ifname, port.addresses);
    return network;
  }

  /** A kept pair (veth.ts) has what an earlier run gave the node's end: addresses the spec no longer holds go. */
  private pruneNodeAddresses(spec: HostInterfaceConfig, dev: string, want: string[]): void {
    try {
      const shown = JSON.parse(ip(['-j', 'addr', 'show', 'dev', dev])) as { addr_info?: { local: string; prefixlen: number; scope: string }[] }[];
      for (const a of shown[0]?.addr_info ?? []) {
        const address = `${a.local}/${a.prefixlen}`;
        if (a.scope !== 'global' || want.includes(address)) continue;
        ip(['addr', 'del', address, 'dev', dev]);
        this.log.info({ routerInterface: spec.name, dev, address }, 'removed a node address the host interface no longer has');
      }
    } catch (err) {
      this.log.warn({ routerInterface: spec.name, dev, err: stderrOf(err) }, 'cannot check the node addresses of a host interface');
    }
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
   * Makes the node's routes through the link exactly `prefixes`, via the router's end of
   * each prefix's family. Never throws: a prefix the node already routes elsewhere stays
   * as the node has it (its own routing wins), with a warning, and the router interface
   * that asked still applies.
   */
  syncNodeRoutes(spec: HostInterfaceConfig, prefixes: string[]): void {
    const dev = nodeIfname(spec.router);
    for (const family of [4, 6] as const) {
      const address = spec.addresses.find((a) => familyOf(a) === family);
      this.syncFamily(spec, dev, family, address && ipOf(address), address ? prefixes.filter((p) => familyOf(p) === family) : []);
    }
  }

  /** One family of syncNodeRoutes; `via` undefined: the link no longer carries it, and an earlier run's routes of it go. */
  private syncFamily(spec: HostInterfaceConfig, dev: string, family: Family, via: string | undefined, prefixes: string[]): void {
    let shown: { dst: string; gateway?: string }[];
    try {
      shown = JSON.parse(ip(['-j', `-${family}`, 'route', 'show', 'dev', dev])) as typeof shown;
    } catch (err) {
      // A node without IPv6 cannot list its routes either: no matter for an IPv4 link.
      if (via !== undefined) this.log.warn({ routerInterface: spec.name, dev, family, err: stderrOf(err) }, 'cannot read the node routes of a host interface');
      return;
    }
    const prefixOf = (dst: string): string => (dst === 'default' ? DEFAULT_ROUTE[family] : dst.includes('/') ? dst : `${dst}/${MAX_LEN[family]}`);
    // The link is memswitchd's alone: any route through a gateway there is one we made,
    // in this run or an earlier one (via an address the router's end had then).
    const have = new Map(shown.filter((r) => r.gateway !== undefined).map((r) => [prefixOf(r.dst), r.gateway!]));
    const want = new Set(prefixes);
    const change = (verb: 'add' | 'del', prefix: string, gateway: string): void => {
      try {
        ip([`-${family}`, 'route', verb, prefix, 'via', gateway, 'dev', dev]);
      } catch (err) {
        const why = stderrOf(err);
        this.log.warn({ routerInterface: spec.name, dev, prefix, err: why }, verb === 'add' ? 'the node keeps its own route to a subnet behind a host interface' : 'cannot remove a node route of a host interface');
      }
    };
    for (const [p, gateway] of have) if (!want.has(p) || gateway !== via) change('del', p, gateway);
    for (const p of want) if (have.get(p) !== via) change('add', p, via!);
  }
}
