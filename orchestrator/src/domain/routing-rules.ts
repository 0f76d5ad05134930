// The pure part of IP routing (IPv4 and IPv6): validation that names fields as the API
// spells them, the connected and local routes that follow from interface addresses, which
// interface addresses clash, what may be a static neighbour. No state; routing.ts holds that.
import type { ZodType, ZodTypeDef } from 'zod';
import { checkRoute, type RouteConfig, type RouterInterfaceConfig } from '../config/schema.js';
import { AlreadyExistsError, InvalidConfigError } from './errors.js';
import { contains, formatPrefix, hostPrefix, isLinkLocal, maxLen, overlaps, parseCidr, parseIP, sameIP } from './ip.js';
import type { Source } from './switch.js';

export interface RouteView {
  router: string;
  prefix: string;
  /** receive: the router's own address (a local route). */
  kind: RouteConfig['kind'] | 'receive';
  nextHops: RouteConfig['nextHops'];
  /** host: the default route a host interface gives its router (routing.ts). */
  origin: 'static' | 'connected' | 'local' | 'host';
  source: Source;
}

/** What is wrong, as the error to throw: `field` relative to the object checked. */
export interface Problem {
  error: new (message: string, field?: string) => Error;
  field: string;
  message: string;
}

// Fields as the API spells them: routes[2].next_hops[0].via.
function fieldPath(prefix: string | undefined, path: (string | number)[]): string {
  let out = prefix ?? '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
  return out || '(request)';
}

/** zod in, a domain error naming the field out. */
export function validate<T>(schema: ZodType<T, ZodTypeDef, unknown>, input: unknown, prefix?: string): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = fieldPath(prefix, issue.path);
  const message = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
  throw new InvalidConfigError(`${field}: ${message}`, field);
}

/** checkRoute (routes are too many for zod), with the errors validate() gives. */
export function validateRoute(input: unknown, prefix: string): RouteConfig {
  const r = checkRoute(input);
  if (r.ok) return r.route;
  const field = fieldPath(prefix, r.path);
  throw new InvalidConfigError(`${field}: ${r.message}`, field);
}

/** The connected and local routes of `router`, from its interfaces' addresses. */
export function derivedRoutes(router: string, interfaces: Iterable<{ spec: RouterInterfaceConfig; source: Source }>): RouteView[] {
  const out: RouteView[] = [];
  for (const { spec, source } of interfaces) {
    if (spec.router !== router) continue;
    const nextHops = [{ interface: spec.name }];
    for (const a of spec.addresses) {
      const c = parseCidr(a)!;
      // A link-local address is its interface's own, as in the dataplane: no route (two
      // interfaces may both hold fe80::1/64).
      if (isLinkLocal(c)) continue;
      // A /32's (or /128's) subnet is its address: the local route says all there is.
      if (c.len < maxLen(c.family)) out.push({ router, prefix: formatPrefix(c), kind: 'forward', nextHops, origin: 'connected', source });
      out.push({ router, prefix: hostPrefix(c), kind: 'receive', nextHops, origin: 'local', source });
    }
  }
  return out;
}

/**
 * An address of `spec` whose subnet overlaps one of another interface of its router (or
 * an earlier one of its own), as a problem. Only subnets of one family can: the two
 * families' tables are apart. A link-local (fe80::/10) subnet is per link, so it overlaps
 * nothing, as in the dataplane: every interface may have fe80::1/64.
 */
export function addressOverlap(spec: RouterInterfaceConfig, others: RouterInterfaceConfig[]): Problem | undefined {
  const taken = others.filter((i) => i.router === spec.router).flatMap((i) => i.addresses.map((a) => ({ a, owner: `router interface ${i.name}` })));
  for (const [j, a] of spec.addresses.entries()) {
    const field = `addresses[${j}]`;
    const mine = parseCidr(a)!;
    if (isLinkLocal(mine)) continue;
    const clash = taken.find((t) => {
      const theirs = parseCidr(t.a)!;
      return !isLinkLocal(theirs) && overlaps(theirs, mine);
    });
    if (clash) return { error: AlreadyExistsError, field, message: `${field}: ${a} overlaps ${clash.a} of ${clash.owner} on router ${spec.router}` };
    taken.push({ a, owner: 'this interface' });
  }
  return undefined;
}

/** A router's connected and local routes by prefix, and its own addresses (never a next hop), link-local ones too. */
export interface OwnRoutes {
  prefixes: Map<string, RouteView>;
  addresses: Set<string>;
}

export function ownRoutes(router: string, interfaces: Iterable<{ spec: RouterInterfaceConfig; source: Source }>): OwnRoutes {
  const mine = [...interfaces].filter((i) => i.spec.router === router);
  return {
    prefixes: new Map(derivedRoutes(router, mine).map((r) => [r.prefix, r])),
    addresses: new Set(mine.flatMap((i) => i.spec.addresses.map((a) => a.slice(0, a.indexOf('/'))))),
  };
}

/**
 * Why `ip` cannot be a static neighbour on `spec`, or undefined. An IPv6 link-local
 * address is on every link, so it may be a neighbour wherever the interface speaks IPv6.
 */
export function neighborProblem(spec: RouterInterfaceConfig, ip: string): string | undefined {
  const addr = parseIP(ip)!;
  const subnets = spec.addresses.map((a) => parseCidr(a)!);
  if (subnets.some((c) => sameIP(c, addr))) return `${ip} is an address of router interface ${spec.name} itself`;
  if (isLinkLocal(addr) && subnets.some((c) => c.family === 6)) return undefined;
  if (!subnets.some((c) => contains(c, addr))) return `${ip} is not in a subnet of router interface ${spec.name} (${spec.addresses.join(', ')})`;
  return undefined;
}
