// Routed CNI networks: a network whose containers' gateway is a memswitch router. An
// attachment that names a router gets the gateway of its first IPv4 address (IPAM's, else
// the subnet's first host, as the bridge plugin picks it) and a default route via it; the
// router (made if missing) gets an interface on the network holding that address, made by
// the first ADD that needs it. CNI DEL leaves router and interface alone: they serve the
// network, not one container, and the next ADD would only make them again.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Logger } from '../log.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidConfigError } from './errors.js';
import { contains, formatIPv4, formatPrefix, mask, networkOf, parseCidr, parseIPv4 } from './ipv4.js';
import type { Routing } from './routing.js';

/** The attachment parameters this concerns. */
interface Routed {
  router?: string;
  network: string;
  vlan?: number;
  ips: { address: string; gateway?: string }[];
  routes: { dst: string; gw?: string }[];
}

const DEFAULT_ROUTE = '0.0.0.0/0';
const firstIPv4 = (ips: Routed['ips']): number => ips.findIndex((i) => isIP(i.address.slice(0, i.address.indexOf('/'))) === 4);

/**
 * `p` with a routed network's gateway and default route filled in (unchanged when it is
 * not routed). Idempotent: a retried ADD sends what the first one answered, and must be
 * the same request.
 */
export function withGateway<P extends Routed>(p: P): P {
  if (!p.router) return p;
  const i = firstIPv4(p.ips);
  if (i < 0) throw new InvalidConfigError(`ips: a routed attachment (router ${p.router}) needs an IPv4 address`, 'ips');
  const ip = p.ips[i]!;
  const c = parseCidr(ip.address)!;
  // A /31 or /32 has no address to spare for the gateway.
  if (c.len > 30) throw new InvalidConfigError(`ips[${i}].address: ${ip.address} leaves no address for a gateway (a routed attachment needs /30 or shorter)`, `ips[${i}].address`);
  const net = networkOf(c);
  const gateway = ip.gateway ?? formatIPv4(net + 1);
  const g = parseIPv4(gateway);
  if (g === undefined || !contains(c, g) || g === net || g === (net | ~mask(c.len)) >>> 0 || g === c.addr)
    throw new InvalidConfigError(`ips[${i}].gateway: ${gateway} must be another host address of ${formatPrefix(c.addr, c.len)}`, `ips[${i}].gateway`);
  const def = p.routes.findIndex((r) => r.dst === DEFAULT_ROUTE);
  // A default route IPAM gave keeps its next hop, if it names one.
  const routes = def < 0 ? [...p.routes, { dst: DEFAULT_ROUTE, gw: gateway }] : p.routes.map((r, k) => (k === def && !r.gw ? { ...r, gw: gateway } : r));
  return { ...p, ips: p.ips.map((x, k) => (k === i ? { ...x, gateway } : x)), routes };
}

/** The gateway withGateway gave a routed attachment; undefined for a bridged one. */
export const gatewayOf = (p: Routed): string | undefined => (p.router ? p.ips[firstIPv4(p.ips)]?.gateway : undefined);

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
   * gateway: made if missing, else left as it is. An interface there of another router,
   * or without the gateway, is the operator's set-up: refused, not changed.
   */
  ensure(p: Routed): void {
    const gateway = gatewayOf(p);
    if (!p.router || !gateway) return;
    const address = `${gateway}/${parseCidr(p.ips[firstIPv4(p.ips)]!.address)!.len}`;
    if (this.routing.createRouter({ name: p.router }).created) this.log.info({ router: p.router }, 'created the router of a routed CNI network');
    const on = this.routing.routerInterfaceOn(p.network, p.vlan);
    if (on) {
      if (this.serves(on, p.router, gateway)) return;
      const where = `network ${p.network}${p.vlan ? ` vlan ${p.vlan}` : ''}`;
      throw new FailedPreconditionError(`router: ${where} has router interface ${on.name} of router ${on.router} (${on.addresses.join(', ')}), not ${address} of router ${p.router}`, 'router');
    }
    const name = gatewayInterfaceName(p.router, p.network, p.vlan);
    try {
      this.routing.createRouterInterface({ name, router: p.router, network: p.network, vlan: p.vlan, addresses: [address] });
    } catch (err) {
      // Another interface of the router overlaps the subnet, or holds the name.
      if (err instanceof AlreadyExistsError) throw new FailedPreconditionError(`router: cannot make ${name} the gateway ${address} of network ${p.network}: ${err.message}`, 'router');
      throw err;
    }
    this.log.info({ router: p.router, routerInterface: name, network: p.network, vlan: p.vlan, address }, 'made the gateway of a routed CNI network');
  }

  /** The router has an interface on the attachment's network holding its gateway. */
  present(p: Routed): boolean {
    const gateway = gatewayOf(p);
    const on = gateway && this.routing.routerInterfaceOn(p.network, p.vlan);
    return !!on && this.serves(on, p.router!, gateway);
  }

  private serves(on: { router: string; addresses: string[] }, router: string, gateway: string): boolean {
    return on.router === router && on.addresses.some((a) => a.startsWith(`${gateway}/`));
  }
}
