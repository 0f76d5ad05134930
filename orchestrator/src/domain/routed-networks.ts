// Routed CNI networks: a network whose containers' gateway is a memswitch router. An
// attachment that names a router gets, for each family it has an address of, the gateway
// of its first address of that family (IPAM's, else the subnet's first host, as the bridge
// plugin picks it) and a default route (0.0.0.0/0, ::/0) via it; the router (made if
// missing) gets an interface on the network holding those gateways, made by the first ADD
// that needs it. CNI DEL leaves router and interface alone: they serve the network, not
// one container, and the next ADD would only make them again.
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidConfigError } from './errors.js';
import { contains, familyOf, formatIP, formatPrefix, isUnicast, lastOf, networkOf, nextOf, parseCidr, parseIP, sameIP, type Family } from './ip.js';
import type { Routing } from './routing.js';

/** The attachment parameters this concerns. */
interface Routed {
  router?: string;
  network: string;
  vlan?: number;
  ips: { address: string; gateway?: string }[];
  routes: { dst: string; gw?: string }[];
}

const DEFAULT_ROUTE = { 4: '0.0.0.0/0', 6: '::/0' } as const;

/** The first address of each family, IPv4's first: those a routed attachment's gateways serve. */
function routedIps(p: Routed): { i: number; family: Family; address: string; gateway?: string }[] {
  return ([4, 6] as const).flatMap((family) => {
    const i = p.ips.findIndex((x) => familyOf(x.address) === family);
    return i < 0 ? [] : [{ i, family, ...p.ips[i]! }];
  });
}

/**
 * `p` with a routed network's gateways and default routes filled in (unchanged when it is
 * not routed). Idempotent: a retried ADD sends what the first one answered, and must be
 * the same request.
 */
export function withGateway<P extends Routed>(p: P): P {
  if (!p.router) return p;
  const routed = routedIps(p);
  if (routed.length === 0) throw new InvalidConfigError(`ips: a routed attachment (router ${p.router}) needs an IPv4 or IPv6 address`, 'ips');
  let { ips, routes } = p;
  for (const { i, family, address, gateway: given } of routed) {
    const c = parseCidr(address);
    if (!c) throw new InvalidConfigError(`ips[${i}].address: ${address} must be an address with a prefix length, like 10.20.0.5/24 or fd00:20::5/64`, `ips[${i}].address`);
    // IPv4 keeps a subnet's first and last addresses (network, broadcast) from its hosts; IPv6 none.
    const longest = family === 4 ? 30 : 127;
    if (c.len > longest)
      throw new InvalidConfigError(`ips[${i}].address: ${address} leaves no address for a gateway (a routed attachment needs /${longest} or shorter)`, `ips[${i}].address`);
    const g = given === undefined ? nextOf(networkOf(c)) : parseIP(given);
    const host = g !== undefined && contains(c, g) && isUnicast(g) && !sameIP(g, c) && (family === 6 || (!sameIP(g, networkOf(c)) && !sameIP(g, lastOf(c))));
    if (!host) throw new InvalidConfigError(`ips[${i}].gateway: ${given ?? formatIP(g!)} must be another host address of ${formatPrefix(c)}`, `ips[${i}].gateway`);
    // In its one spelling: the router interface holds it so, and an equal retry compares equal.
    const gateway = formatIP(g);
    ips = ips.map((x, k) => (k === i ? { ...x, gateway } : x));
    const dst = DEFAULT_ROUTE[family];
    const def = routes.findIndex((r) => r.dst === dst);
    // A default route IPAM gave keeps its next hop, if it names one.
    routes = def < 0 ? [...routes, { dst, gw: gateway }] : routes.map((r, k) => (k === def && !r.gw ? { ...r, gw: gateway } : r));
  }
  return { ...p, ips, routes };
}

/** The gateways withGateway gave a routed attachment, by family; none for a bridged one. */
export function gatewaysOf(p: Routed): Partial<Record<Family, string>> {
  if (!p.router) return {};
  return Object.fromEntries(routedIps(p).flatMap((r) => (r.gateway ? [[r.family, r.gateway]] : [])));
}

/** The router interface a routed network gets: <router>-<network>[.<vlan>], hashed when longer than a name may be. */
function gatewayInterfaceName(router: string, network: string, vlan: number | undefined): string {
  const name = `${router}-${network}${vlan ? `.${vlan}` : ''}`;
  return name.length <= 63 ? name : `gw-${createHash('sha1').update(name).digest('hex').slice(0, 16)}`;
}

export class NetworkGateways {
  private readonly log: Logger;

  constructor(
    private readonly routing: Routing,
    log: Logger,
  ) {
    this.log = log.child({ component: 'attachments' });
  }

  /**
   * The router with an interface on the attachment's network (and vlan) holding its
   * gateways: made if missing, else left as it is. An interface there of another router,
   * or without one of the gateways, is the operator's set-up (or an earlier attachment's,
   * of fewer families): refused, not changed.
   */
  ensure(p: Routed): void {
    // Each gateway with its subnet's length: the router's address on the network.
    const addresses = routedIps(p).flatMap((r) => (r.gateway ? [`${r.gateway}/${parseCidr(r.address)!.len}`] : []));
    if (!p.router || addresses.length === 0) return;
    if (this.routing.createRouter({ name: p.router }).created) this.log.info({ router: p.router }, 'created the router of a routed CNI network');
    const on = this.routing.routerInterfaceOn(p.network, p.vlan);
    if (on) {
      if (this.serves(on, p)) return;
      const where = `network ${p.network}${p.vlan ? ` vlan ${p.vlan}` : ''}`;
      throw new FailedPreconditionError(
        `router: ${where} has router interface ${on.name} of router ${on.router} (${on.addresses.join(', ')}), not ${addresses.join(' and ')} of router ${p.router}`,
        'router',
      );
    }
    const name = gatewayInterfaceName(p.router, p.network, p.vlan);
    try {
      this.routing.createRouterInterface({ name, router: p.router, network: p.network, vlan: p.vlan, addresses });
    } catch (err) {
      // Another interface of the router overlaps a subnet, or holds the name.
      if (err instanceof AlreadyExistsError) throw new FailedPreconditionError(`router: cannot make ${name} the gateway ${addresses.join(' and ')} of network ${p.network}: ${err.message}`, 'router');
      throw err;
    }
    this.log.info({ router: p.router, routerInterface: name, network: p.network, vlan: p.vlan, addresses }, 'made the gateway of a routed CNI network');
  }

  /** The router has an interface on the attachment's network holding its gateways. */
  present(p: Routed): boolean {
    const on = p.router && this.routing.routerInterfaceOn(p.network, p.vlan);
    return !!on && this.serves(on, p);
  }

  private serves(on: { router: string; addresses: string[] }, p: Routed): boolean {
    const gateways = Object.values(gatewaysOf(p));
    return gateways.length > 0 && on.router === p.router && gateways.every((g) => on.addresses.some((a) => a.startsWith(`${g}/`)));
  }
}
