// The pure part of IPv4 routing: validation that names fields as the API spells them,
// the connected and local routes that follow from interface addresses, what may be a
// static neighbour, and the ListRoutes page token. No state; routing.ts holds that.
import type { ZodType, ZodTypeDef } from 'zod';
import { checkRoute, type RouteConfig, type RouterInterfaceConfig } from '../config/schema.js';
import { InvalidConfigError } from './errors.js';
import { contains, formatIPv4, formatPrefix, parseCidr, parseIPv4 } from './ipv4.js';
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
      // A /32's subnet is its address: the local route says all there is.
      if (c.len < 32) out.push({ router, prefix: formatPrefix(c.addr, c.len), kind: 'forward', nextHops, origin: 'connected', source });
      out.push({ router, prefix: `${formatIPv4(c.addr)}/32`, kind: 'receive', nextHops, origin: 'local', source });
    }
  }
  return out;
}

/** A router's connected and local routes by prefix, and its own addresses (never a next hop). */
export interface OwnRoutes {
  prefixes: Map<string, RouteView>;
  addresses: Set<string>;
}

export function ownRoutes(derived: RouteView[]): OwnRoutes {
  return {
    prefixes: new Map(derived.map((r) => [r.prefix, r])),
    addresses: new Set(derived.filter((r) => r.origin === 'local').map((r) => r.prefix.slice(0, -'/32'.length))),
  };
}

/** Why `ip` cannot be a static neighbour on `spec`, or undefined. */
export function neighborProblem(spec: RouterInterfaceConfig, ip: string): string | undefined {
  const addr = parseIPv4(ip)!;
  const subnets = spec.addresses.map((a) => parseCidr(a)!);
  if (subnets.some((c) => c.addr === addr)) return `${ip} is an address of router interface ${spec.name} itself`;
  if (!subnets.some((c) => contains(c, addr))) return `${ip} is not in a subnet of router interface ${spec.name} (${spec.addresses.join(', ')})`;
  return undefined;
}

export const byPrefix = (a: { prefix: string }, b: { prefix: string }): number => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0);

// The page token: the router filter it belongs to and the last (router, prefix) shown.
export const encodeToken = (filter: string, last: RouteView): string =>
  Buffer.from(JSON.stringify([filter, last.router, last.prefix])).toString('base64url');

export function decodeToken(token: string, filter: string): { router: string; prefix: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString());
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every((p) => typeof p === 'string'))
    throw new InvalidConfigError('page_token: is not a next_page_token of ListRoutes', 'page_token');
  if (parsed[0] !== filter) throw new InvalidConfigError('page_token: belongs to a listing with another router filter', 'page_token');
  return { router: parsed[1] as string, prefix: parsed[2] as string };
}
