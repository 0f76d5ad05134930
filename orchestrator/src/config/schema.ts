// The daemon's config file: a strict schema (unknown keys are errors) with defaults
// written here, so a bad file fails with `path: message` before anything starts.
import { isIP } from 'node:net';
import { z } from 'zod';
import { familyOf, formatIP, formatIPv6, formatPrefix, isLinkLocal, isUnicast, isUnicastIPv4, lastOf, networkOf, parseCidr, parseIP, parseIPv4, sameIP, type Family } from '../domain/ip.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const NAME_RULE = 'must be 1-63 characters: letters, digits, "_", "." or "-"';
export const name = z.string().regex(NAME, NAME_RULE);

export const macAddress = z
  .string()
  .regex(/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/, 'must be a MAC address like 02:00:00:00:00:10')
  .refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0, 'must be a unicast MAC address')
  .transform((m) => m.toLowerCase());

// sun_path holds 108 bytes; a path needs its NUL, an abstract name its leading NUL.
const socket = z
  .string()
  .min(1)
  .max(107, 'must be at most 107 characters (the unix socket path limit)')
  .refine((s) => s.startsWith('/') || (s.startsWith('@') && s.length > 1), 'must be an absolute path or "@name" for an abstract socket');

export const memifInterface = z
  .object({
    name,
    kind: z.literal('memif'),
    network: name,
    socket: socket.default('/run/memswitch/memif.sock'),
    id: z.number().int().min(0).max(0xffffffff).default(0),
    secret: z.string().max(24, 'must be at most 24 bytes (the memif secret field)').optional(),
    // Listen inside this network namespace: an abstract socket there is reachable from the
    // pod without a hostPath mount.
    netns: z.string().refine((s) => s.startsWith('/'), 'must be a path like /var/run/netns/NAME or /proc/PID/ns/net').optional(),
    vlan: z.number().int().min(1).max(4094).optional(),
    mac: macAddress.optional(),
    // ip: frames are IP packets without an Ethernet header (VPP's and libmemif's ip mode).
    // Such an interface has its network to itself, with a router interface there.
    mode: z.enum(['ethernet', 'ip']).optional(),
  })
  .strict();
export type MemifInterface = z.infer<typeof memifInterface>;

const netdevName = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,15}$/, 'must be a network interface name of 1-15 letters, digits, "_", ".", ":" or "-"');

// An uplink: a NIC or an SR-IOV VF netdev, attached with one AF_XDP socket per queue.
export const afxdpInterface = z
  .object({
    name,
    kind: z.literal('afxdp'),
    network: name,
    netdev: netdevName,
    queues: z.array(z.number().int().min(0).max(1023)).min(1).optional(),
    mode: z.enum(['auto', 'zerocopy', 'copy']).default('auto'),
    xdp: z.enum(['auto', 'native', 'generic']).default('auto'),
    vlan: z.number().int().min(1).max(4094).optional(),
    mac: macAddress.optional(),
  })
  .strict();
export type AfxdpInterface = z.infer<typeof afxdpInterface>;

const cidr = z.string().refine((s) => {
  const [addr, len, ...rest] = s.split('/');
  const family = isIP(addr ?? '');
  const bits = Number(len);
  return rest.length === 0 && family !== 0 && len !== undefined && /^\d+$/.test(len) && bits <= (family === 4 ? 32 : 128);
}, 'must be an address with a prefix length, like 10.10.0.2/24');

// A kernel interface for an unmodified container: a veth pair, one end configured in the
// container's network namespace, the other attached to the switch with AF_XDP.
export const vethInterface = z
  .object({
    name,
    kind: z.literal('veth'),
    network: name,
    netns: z.string().refine((s) => s.startsWith('/'), 'must be a path like /var/run/netns/NAME or /proc/PID/ns/net'),
    ifname: netdevName.default('eth0'),
    addresses: z.array(cidr).default([]),
    routes: z
      .array(
        z
          .object({
            dst: z.union([cidr, z.literal('default')]),
            via: z.string().refine((s) => isIP(s) !== 0, 'must be an IP address').optional(),
          })
          .strict(),
      )
      .default([]),
    mtu: z.number().int().min(68).max(9000).default(1500),
    mac: macAddress.optional(),
    vlan: z.number().int().min(1).max(4094).optional(),
    // For a runtime that moves and configures the container end itself (Docker's remote
    // driver): the end stays in memswitchd's namespace as `ifname`, without addresses or
    // routes, and the runtime moves it into `netns`.
    handoff: z.literal(true).optional(),
  })
  .strict();
export type VethInterface = z.infer<typeof vethInterface>;

// Every interface kind, told apart by `kind`: the config file and the API share it.
export const interfaceSchema = z.discriminatedUnion('kind', [memifInterface, afxdpInterface, vethInterface]);
export type InterfaceConfig = z.infer<typeof interfaceSchema>;

// ---- IP routing: routers (VRFs) with interfaces on networks, and static routes ----
// IPv4 and IPv6 alike, except where a rule says which. An IPv6 address is written as
// inet_ntop prints it (ip.ts) just as IPv4 has no leading zeros: one spelling each, since
// prefixes key tables, the addon answers that spelling, and equal addresses compare equal.

const PREFIX_RULE = 'must be an IPv4 or IPv6 prefix like 10.1.0.0/24 or fd00:1::/64';
const HOST_RULE = { 4: 'must be a unicast IPv4 address like 10.1.0.1', 6: 'must be a unicast IPv6 address like fd00:1::1' } as const;

function prefixProblem(s: string, family?: Family): string | undefined {
  const c = parseCidr(s);
  if (!c || (family !== undefined && c.family !== family)) return family === 4 ? 'must be an IPv4 prefix like 10.1.0.0/24' : PREFIX_RULE;
  const canonical = formatPrefix(c);
  if (canonical === s) return undefined;
  return sameIP(c, networkOf(c)) ? `must be written ${canonical} (the canonical form)` : `has host bits set: the prefix is ${canonical}`;
}

/** Why `s` is not a unicast address (of `family`, when given: a route's next hop). */
function hostProblem(s: string, family?: Family): string | undefined {
  // The common case first, with no object made: this runs per next hop on a load (a
  // dotted quad that parses is canonical, too).
  const v4 = family === 4 ? parseIPv4(s) : undefined;
  if (v4 !== undefined && isUnicastIPv4(v4)) return undefined;
  const ip = parseIP(s);
  if (ip && family !== undefined && ip.family !== family) return `is an IPv${ip.family} address: a route to an IPv${family} prefix needs an IPv${family} next hop`;
  if (!ip || !isUnicast(ip)) return family ? HOST_RULE[family] : 'must be a unicast IPv4 or IPv6 address like 10.1.0.1 or fd00:1::1';
  if (ip.family === 4 || formatIPv6(ip.addr) === s) return undefined;
  return `must be written ${formatIPv6(ip.addr)} (the canonical form)`;
}

const refined = (problem: (s: string) => string | undefined) =>
  z.string().superRefine((s, ctx) => {
    const p = problem(s);
    if (p) ctx.addIssue({ code: 'custom', message: p });
  });

/** A next hop, a neighbour: one host on some subnet. */
export const ipHost = refined((s) => hostProblem(s));

// A route's destination in its one canonical spelling, so (router, prefix) can key a table.
export const ipPrefix = refined((s) => prefixProblem(s));

/**
 * The router's address on a network (its pods' gateway) with the subnet's length: the
 * subnet becomes a connected route, the address a local one. Of one family when `family` says so.
 */
function routerAddressProblem(s: string, family?: Family): string | undefined {
  const c = parseCidr(s);
  if (!c || c.len === 0 || !isUnicast(c) || (family !== undefined && c.family !== family))
    return family === 4
      ? 'must be a unicast IPv4 address with a prefix length 1-32, like 10.1.0.1/24'
      : family === 6
        ? 'must be a unicast IPv6 address with a prefix length 1-128, like fd00:1::1/64'
        : 'must be a unicast IPv4 or IPv6 address with a prefix length, like 10.1.0.1/24 or fd00:1::1/64';
  const canonical = `${formatIP(c)}/${c.len}`;
  if (canonical !== s) return `must be written ${canonical} (the canonical form)`;
  // IPv6 has no broadcast address, and its subnet-router anycast address is a router's to
  // hold; an IPv4 /31 (RFC 3021) or /32 has no network or broadcast address to avoid.
  if (c.family === 6 || c.len > 30) return undefined;
  if (sameIP(c, networkOf(c))) return `is the network address of ${formatPrefix(c)}`;
  if (sameIP(c, lastOf(c))) return `is the broadcast address of ${formatPrefix(c)}`;
  return undefined;
}
const routerAddress = refined((s) => routerAddressProblem(s));

// A host link carries IPv4, IPv6 or both, with one address of each at each end: the
// node's routes of a family go via the router's end of that family, the router's default
// route of a family (0.0.0.0/0, ::/0) via the node's. Not link-local: these are next
// hops, and a link-local one would need its interface named (the node's kernel gives its
// end an fe80:: address of its own anyway).
function hostLinkAddressProblem(s: string, family: Family, otherField?: string): string | undefined {
  const c = parseCidr(s);
  if (c && otherField && c.family !== family) return `is an IPv${c.family} address: the link's IPv${c.family} end is ${otherField}`;
  const p = routerAddressProblem(s, family);
  if (p) return p;
  if (isLinkLocal(c!)) return 'must not be link-local (fe80::/10): the node and the router route via it, so it must be global or unique-local, like fd00:70::1/64';
  return undefined;
}
const hostLinkAddress = (family: Family, otherField: string) => refined((s) => hostLinkAddressProblem(s, family, otherField));

const routerInterfaceFields = {
  network: name,
  vlan: z.number().int().min(1).max(4094).optional(),
  addresses: z.array(routerAddress).min(1, "needs the router's address on the network").max(16),
  // The IP MTU (the Ethernet header not counted).
  mtu: z.number().int().min(68).max(9000).default(1500),
  mac: macAddress.optional(),
};

/** Why nodeAddress cannot be the node's end of a host link whose router end is `address`. */
function hostLinkProblem(address: string, nodeAddress: string): string | undefined {
  const a = parseCidr(address);
  const n = parseCidr(nodeAddress);
  if (!a || !n) return undefined; // their own checks say why
  if (n.len !== a.len || !sameIP(networkOf(n), networkOf(a))) return `must be in ${formatPrefix(a)}, the subnet of the router's address ${address}`;
  if (sameIP(n, a)) return `must not be the router's own address ${address}`;
  return undefined;
}

type Issue = (path: (string | number)[], message: string) => void;

/** One family's ends of a host link, with the fields that hold them (the API's or the file's). */
interface HostLinkEnd {
  address?: string;
  addressField: string;
  node?: string;
  nodeAt: (string | number)[];
}

/** Each family the link carries has both ends on one subnet, and the node's routes are of those families. */
function hostLinkIssues(ends: Record<Family, HostLinkEnd>, routes: string[], routesAt: (string | number)[], issue: Issue): void {
  for (const f of [4, 6] as const) {
    const { address, node, addressField, nodeAt } = ends[f];
    // One that is wrong in itself has its own check say why; how it pairs means nothing then.
    if ([address, node].some((x) => x !== undefined && hostLinkAddressProblem(x, f))) continue;
    if (address !== undefined && node === undefined) issue(nodeAt, `is required with the router's IPv${f} address ${address}: the node's end of the link`);
    else if (address === undefined && node !== undefined) issue(nodeAt, `needs the router's IPv${f} end of the link in ${addressField}`);
    else if (address !== undefined && node !== undefined) {
      const p = hostLinkProblem(address, node);
      if (p) issue(nodeAt, p);
    }
  }
  routes.forEach((r, k) => {
    const c = parseCidr(r);
    if (c && ends[c.family].address === undefined) issue([...routesAt, k], `is an IPv${c.family} prefix, but the link to the node has no IPv${c.family} addresses`);
  });
}

// A host interface: the router's port into the node's own network namespace (the one
// memswitchd runs in), a veth pair whose node end holds nodeAddress (IPv4) and
// nodeAddress6 (IPv6), one for each family of the router's addresses there. The node
// routes `routes` through it (none given: every connected subnet of the router of a
// family the link carries, following its interfaces as they come and go); the router
// routes 0.0.0.0/0 and ::/0 to the node, where it has that family's node address, unless
// it has a static default route of that family.
export const routerHostSchema = z
  .object({
    nodeAddress: hostLinkAddress(4, 'nodeAddress6').optional(),
    nodeAddress6: hostLinkAddress(6, 'nodeAddress').optional(),
    routes: z.array(ipPrefix).max(256).default([]),
  })
  .strict();

// What the API and the state database hold: an interface on a network, or (with host,
// and no network or vlan) into the node. In the config file the router is the enclosing
// entry, and a host interface is the router's `host`.
export const routerInterfaceSchema = z
  .object({ name, router: name, ...routerInterfaceFields, network: name.optional(), host: routerHostSchema.optional() })
  .strict()
  .superRefine((s, ctx) => {
    const issue = (path: (string | number)[], message: string): void => ctx.addIssue({ code: 'custom', path, message });
    if (s.host === undefined) {
      if (s.network === undefined) issue(['network'], 'is required (or host, for an interface into the node)');
      return;
    }
    if (s.network !== undefined) issue(['network'], 'must be empty for a host interface (it is on a network of its own)');
    if (s.vlan !== undefined) issue(['vlan'], 'must be empty for a host interface');
    const at: Partial<Record<Family, number>> = {};
    s.addresses.forEach((a, j) => {
      const c = parseCidr(a);
      if (!c) return; // its own check says why
      if (at[c.family] !== undefined) return issue(['addresses', j], `a host interface has one IPv${c.family} address: the router's end of the link to the node`);
      at[c.family] = j;
      // What routerAddress did not refuse already.
      const p = routerAddressProblem(a) ? undefined : hostLinkAddressProblem(a, c.family);
      if (p) issue(['addresses', j], p);
    });
    const end = (f: Family, node: string | undefined, field: string): HostLinkEnd => ({
      address: s.addresses[at[f] ?? -1],
      addressField: 'addresses',
      node,
      nodeAt: ['host', field],
    });
    hostLinkIssues({ 4: end(4, s.host.nodeAddress, 'nodeAddress'), 6: end(6, s.host.nodeAddress6, 'nodeAddress6') }, s.host.routes, ['host', 'routes'], issue);
  });
export type RouterInterfaceConfig = z.infer<typeof routerInterfaceSchema>;

const ROUTE_KINDS = ['forward', 'blackhole', 'unreachable'] as const;

/** A static route. via alone: resolved through the router's connected subnets at
 * forwarding time; interface alone: the destination is on-link there; several = ECMP. */
export interface RouteConfig {
  prefix: string;
  kind: (typeof ROUTE_KINDS)[number];
  nextHops: { via?: string; interface?: string }[];
}

export type RouteCheck = { ok: true; route: RouteConfig } | { ok: false; path: (string | number)[]; message: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const unknownKeys = (o: Record<string, unknown>, known: readonly string[]): string[] => {
  for (const k in o) if (!known.includes(k)) return Object.keys(o).filter((x) => !known.includes(x));
  return [];
};

/**
 * Routes come by the million, so they are checked by hand rather than by a zod object:
 * about 2.5 µs a route against 55 µs (measured on this host), which would make loading a
 * million routes take a minute. Same rules and messages as the schemas around it.
 */
export function checkRoute(input: unknown): RouteCheck {
  const fail = (path: (string | number)[], message: string): RouteCheck => ({ ok: false, path, message });
  if (!isObject(input)) return fail([], 'must be an object');
  const extra = unknownKeys(input, ['prefix', 'kind', 'nextHops']);
  if (extra.length > 0) return fail([], `unknown field(s) ${extra.join(', ')}`);
  const { prefix, kind = 'forward', nextHops = [] } = input;
  if (typeof prefix !== 'string') return fail(['prefix'], PREFIX_RULE);
  const bad = prefixProblem(prefix);
  if (bad) return fail(['prefix'], bad);
  const family = familyOf(prefix);
  if (!ROUTE_KINDS.includes(kind as RouteConfig['kind'])) return fail(['kind'], `must be one of ${ROUTE_KINDS.join(', ')}`);
  if (!Array.isArray(nextHops)) return fail(['nextHops'], 'must be a list');
  if (nextHops.length > 16) return fail(['nextHops'], 'at most 16 next hops (ECMP)');
  const hops: RouteConfig['nextHops'] = [];
  for (let j = 0; j < nextHops.length; j++) {
    const h: unknown = nextHops[j];
    if (!isObject(h)) return fail(['nextHops', j], 'must be an object');
    const extraHop = unknownKeys(h, ['via', 'interface']);
    if (extraHop.length > 0) return fail(['nextHops', j], `unknown field(s) ${extraHop.join(', ')}`);
    const { via, interface: itf } = h;
    if (via !== undefined && (typeof via !== 'string' || hostProblem(via, family) !== undefined))
      return fail(['nextHops', j, 'via'], typeof via === 'string' ? hostProblem(via, family)! : HOST_RULE[family]);
    if (itf !== undefined && (typeof itf !== 'string' || !NAME.test(itf))) return fail(['nextHops', j, 'interface'], NAME_RULE);
    if (via === undefined && itf === undefined) return fail(['nextHops', j], 'needs via, interface or both');
    if (hops.some((o) => o.via === via && o.interface === itf)) return fail(['nextHops', j], 'is the same next hop twice');
    // Only the keys given: the stored JSON, and so "unchanged", must not depend on how absence was written.
    const hop: RouteConfig['nextHops'][number] = {};
    if (via !== undefined) hop.via = via;
    if (itf !== undefined) hop.interface = itf;
    hops.push(hop);
  }
  if (kind === 'forward' && hops.length === 0) return fail(['nextHops'], 'a forward route needs at least one next hop');
  if (kind !== 'forward' && hops.length > 0) return fail(['nextHops'], `kind ${String(kind)} takes no next hops`);
  return { ok: true, route: { prefix, kind: kind as RouteConfig['kind'], nextHops: hops } };
}

// In the file a route has at most one next hop, written flat; ECMP routes come over the API.
const configRoute = z
  .object({ prefix: ipPrefix, via: z.string().optional(), interface: name.optional(), kind: z.enum(ROUTE_KINDS).default('forward') })
  .strict()
  .superRefine((r, ctx) => {
    // The via's family is the prefix's: checked once the prefix is known good.
    const badVia = r.via !== undefined && !prefixProblem(r.prefix) ? hostProblem(r.via, familyOf(r.prefix)) : undefined;
    if (badVia) ctx.addIssue({ code: 'custom', path: ['via'], message: badVia });
    const hop = r.via !== undefined || r.interface !== undefined;
    if (r.kind === 'forward' && !hop) ctx.addIssue({ code: 'custom', path: ['via'], message: 'a forward route needs via, interface or both' });
    if (r.kind !== 'forward' && hop) ctx.addIssue({ code: 'custom', path: [r.via !== undefined ? 'via' : 'interface'], message: `kind ${r.kind} takes no next hop` });
  })
  .transform(
    (r): RouteConfig => ({
      prefix: r.prefix,
      kind: r.kind,
      nextHops: r.kind === 'forward' ? [{ ...(r.via !== undefined ? { via: r.via } : {}), ...(r.interface !== undefined ? { interface: r.interface } : {}) }] : [],
    }),
  );

// The file's host interface: its name defaults to <router>-host (hostInterfaceName); the
// router's end is address (IPv4) and address6 (IPv6), one of them at least.
const configHost = z
  .object({
    name: name.optional(),
    address: hostLinkAddress(4, 'address6').optional(),
    address6: hostLinkAddress(6, 'address').optional(),
    ...routerHostSchema.shape,
    mtu: routerInterfaceFields.mtu,
    mac: macAddress.optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    const issue: Issue = (path, message) => ctx.addIssue({ code: 'custom', path, message });
    if (h.address === undefined && h.address6 === undefined) return issue(['address'], "is required (or address6): the router's end of the link to the node");
    const end = (address: string | undefined, addressField: string, node: string | undefined, nodeField: string): HostLinkEnd => ({ address, addressField, node, nodeAt: [nodeField] });
    const ends = { 4: end(h.address, 'address', h.nodeAddress, 'nodeAddress'), 6: end(h.address6, 'address6', h.nodeAddress6, 'nodeAddress6') };
    hostLinkIssues(ends, h.routes, ['routes'], issue);
  });

export const hostInterfaceName = (router: string, host: { name?: string }): string => host.name ?? `${router}-host`;

const configRouter = z
  .object({
    name,
    interfaces: z.array(z.object({ name, ...routerInterfaceFields }).strict()).default([]),
    host: configHost.optional(),
    routes: z.array(configRoute).default([]),
  })
  .strict();

const hostPort = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/, 'must be host:port, like 127.0.0.1:9464')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

export const configSchema = z
  .object({
    dataplane: z
      .object({
        workers: z.number().int().min(1).max(64).default(1),
        cpus: z.array(z.number().int().min(0).max(1023)).min(1).optional(),
        macAgeSeconds: z.number().int().min(1).max(86400).default(300),
        macTableSize: z.number().int().min(64).max(16777216).default(65536),
        handshakeTimeoutMs: z.number().int().min(100).max(600000).default(5000),
        // adaptive: a worker idle this long sleeps on its queues' fds; busy: always polls.
        poll: z.enum(['adaptive', 'busy']).default('adaptive'),
        idleBeforeSleepUs: z.number().int().min(10).max(10_000_000).default(1000),
        // Resolved (ARP) neighbours of the routers not heard from this long are forgotten.
        neighborAgeSeconds: z.number().int().min(1).max(86400).default(300),
        // Connection tracking for permit+reflect ACL rules: flows tracked at once (64-byte
        // slots for 1.5-3 times as many are reserved, committed as used) and idle timeouts.
        conntrack: z
          .object({
            maxFlows: z.number().int().min(16).max(16_777_216).default(262_144),
            timeouts: z
              .object({
                tcpEstablishedS: z.number().int().min(1).max(2_000_000).default(86_400),
                tcpTransitoryS: z.number().int().min(1).max(86_400).default(120),
                udpS: z.number().int().min(1).max(86_400).default(120),
                icmpS: z.number().int().min(1).max(86_400).default(30),
              })
              .strict()
              .default({}),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    networks: z.array(z.object({ name }).strict()).default([]),
    interfaces: z.array(interfaceSchema).default([]),
    routers: z.array(configRouter).default([]),
    api: z
      .object({
        // grpc-js serves filesystem unix sockets; the path limit is the same as memif's.
        socket: z
          .string()
          .max(107, 'must be at most 107 characters (the unix socket path limit)')
          .refine((s) => s.startsWith('/'), 'must be an absolute path')
          .default('/run/memswitch/api.sock'),
        tcp: hostPort.optional(),
      })
      .strict()
      .default({}),
    metrics: z
      .object({ enabled: z.boolean().default(true), listen: hostPort.default('127.0.0.1:9464') })
      .strict()
      .default({}),
    // Planned restarts: `memswitchd --takeover` takes the memif sessions of the running
    // daemon over this socket (default: handover.sock next to the API socket).
    handover: z
      .object({
        socket: z
          .string()
          .max(107, 'must be at most 107 characters (the unix socket path limit)')
          .refine((s) => s.startsWith('/'), 'must be an absolute path')
          .optional(),
        timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
      })
      .strict()
      .default({}),
    store: z
      .object({
        path: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path').default('/var/lib/memswitch/state.db'),
      })
      .strict()
      .default({}),
    // CNI attachments: where the per-attachment JSON files go (mode 0600, read by the
    // workload), where the plugin spools DELs made while memswitchd was down, and where
    // file-mode memif sockets live.
    cni: z
      .object({
        infoDir: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path').default('/run/memswitch/attachments'),
        spoolDir: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path').default('/var/lib/memswitch/cni-spool'),
        socketDir: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path').default('/run/memswitch/m'),
      })
      .strict()
      .default({}),
    // Docker's remote network and IPAM driver (libnetwork's plugin protocol), off unless
    // a socket is named: Docker finds plugins in /run/docker/plugins, by file name
    // (memswitch.sock: `docker network create -d memswitch --ipam-driver memswitch`).
    docker: z
      .object({
        pluginSocket: z
          .string()
          .max(107, 'must be at most 107 characters (the unix socket path limit)')
          .refine((s) => s.startsWith('/') && s.endsWith('.sock'), 'must be an absolute path ending in .sock, like /run/docker/plugins/memswitch.sock')
          .optional(),
      })
      .strict()
      .default({}),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const networks = new Set<string>();
    cfg.networks.forEach((n, i) => {
      if (networks.has(n.name)) ctx.addIssue({ code: 'custom', path: ['networks', i, 'name'], message: `duplicate network "${n.name}"` });
      networks.add(n.name);
    });
    const names = new Set<string>();
    const endpoints = new Set<string>();
    const netdevs = new Set<string>();
    cfg.interfaces.forEach((itf, i) => {
      if (names.has(itf.name)) ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'name'], message: `duplicate interface "${itf.name}"` });
      names.add(itf.name);
      if (!networks.has(itf.network))
        ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'network'], message: `no network named "${itf.network}"` });
      if (itf.kind === 'memif') {
        const endpoint = `${itf.socket}#${itf.id}`;
        if (endpoints.has(endpoint))
          ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'id'], message: `id ${itf.id} is already used on socket ${itf.socket}` });
        endpoints.add(endpoint);
      } else if (itf.kind === 'afxdp') {
        if (netdevs.has(itf.netdev))
          ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'netdev'], message: `netdev ${itf.netdev} is already attached` });
        netdevs.add(itf.netdev);
      }
    });
    // Routers: what can be checked without the state database (overlapping subnets and
    // the like are checked by the routing domain on start).
    const routers = new Set<string>();
    const routerInterfaces = new Set<string>();
    const attached = new Set<string>();
    cfg.routers.forEach((r, i) => {
      if (routers.has(r.name)) ctx.addIssue({ code: 'custom', path: ['routers', i, 'name'], message: `duplicate router "${r.name}"` });
      routers.add(r.name);
      const own = new Set<string>();
      if (r.host) {
        const hostName = hostInterfaceName(r.name, r.host);
        if (!NAME.test(hostName))
          ctx.addIssue({ code: 'custom', path: ['routers', i, 'host', 'name'], message: `is required: the default ${hostName} is not a valid name (${NAME_RULE})` });
        else if (routerInterfaces.has(hostName)) ctx.addIssue({ code: 'custom', path: ['routers', i, 'host', 'name'], message: `duplicate router interface "${hostName}"` });
        routerInterfaces.add(hostName);
        own.add(hostName);
      }
      r.interfaces.forEach((ri, j) => {
        const at = ['routers', i, 'interfaces', j];
        if (routerInterfaces.has(ri.name)) ctx.addIssue({ code: 'custom', path: [...at, 'name'], message: `duplicate router interface "${ri.name}"` });
        routerInterfaces.add(ri.name);
        own.add(ri.name);
        if (!networks.has(ri.network)) ctx.addIssue({ code: 'custom', path: [...at, 'network'], message: `no network named "${ri.network}"` });
        const where = `${ri.network}#${ri.vlan ?? 0}`;
        if (attached.has(where)) ctx.addIssue({ code: 'custom', path: [...at, 'network'], message: `network ${ri.network}${ri.vlan ? ` vlan ${ri.vlan}` : ''} already has a router interface` });
        attached.add(where);
      });
      const prefixes = new Set<string>();
      r.routes.forEach((rt, k) => {
        if (prefixes.has(rt.prefix)) ctx.addIssue({ code: 'custom', path: ['routers', i, 'routes', k, 'prefix'], message: `duplicate route ${rt.prefix}` });
        prefixes.add(rt.prefix);
        const itf = rt.nextHops[0]?.interface;
        if (itf !== undefined && !own.has(itf))
          ctx.addIssue({ code: 'custom', path: ['routers', i, 'routes', k, 'interface'], message: `router ${r.name} has no interface "${itf}"` });
      });
    });
  });
export type Config = z.infer<typeof configSchema>;
