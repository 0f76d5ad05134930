// Docker's networks as memswitch objects: the domain behind the remote network and IPAM
// driver (api/docker-plugin.ts speaks libnetwork's protocol). A Docker network is a
// memswitch network (made for it, or an existing one named with -o memswitch.network), an
// endpoint that joined a container is an attachment (attachments.ts) keyed by the
// endpoint: a veth whose container end Docker moves into the sandbox itself, or a memif
// listener inside the sandbox's namespace. The IPAM side hands out addresses of the
// subnets Docker was given (--subnet). Every record is committed before it is answered,
// so a memswitchd restart keeps Docker's networks, endpoints and leases (Docker does not
// replay them).
import { statfsSync } from 'node:fs';
import { z } from 'zod';
import { name as nameSchema } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { AttachmentKey, Attachments } from './attachments.js';
import type { Switch } from './switch.js';
import { AlreadyExistsError, InvalidConfigError, NotFoundError, ResourceExhaustedError } from './errors.js';
import { contains, formatIP, formatPrefix, lastOf, nextOf, networkOf, overlaps, parseCidr, parseIP, sameIP, type Cidr, type IP } from './ip.js';

/** A request's `-o key=value` options (libnetwork's "com.docker.network.generic"). */
const GENERIC = 'com.docker.network.generic';
const GATEWAY_REQUEST = 'com.docker.network.gateway';
// Docker's sandbox key becomes a bind mount of the container's netns (nsfs) only when the
// container starts, after Join (runc's prestart hook); a memif listener must wait for it.
const NSFS_MAGIC = 0x6e736673;
const NETNS_POLL_MS = 50;
const NETNS_WAIT_MS = 60_000;
const isNetns = (file: string): boolean => {
  try {
    return statfsSync(file).type === NSFS_MAGIC;
  } catch {
    return false;
  }
};

// What `docker network create -o` may set; anything else is refused with this list.
const networkOptions = z
  .object({
    'memswitch.network': nameSchema.optional(),
    'memswitch.interface': z.enum(['veth', 'memif']).default('veth'),
  })
  .strict();

const poolRecord = z.object({ pool: z.string(), range: z.string(), allocated: z.array(z.string()) }).strict();
const networkRecord = z.object({ network: nameSchema, created: z.boolean(), kind: z.enum(['veth', 'memif']) }).strict();
const endpointRecord = z.object({ networkId: z.string(), ips: z.array(z.string()), mac: z.string().optional(), sandboxKey: z.string().optional() }).strict();
type PoolRecord = z.infer<typeof poolRecord>;
type NetworkRecord = z.infer<typeof networkRecord>;
type EndpointRecord = z.infer<typeof endpointRecord>;

export interface JoinResult {
  /** The link Docker moves into the sandbox and renames `${dstPrefix}N`; none for memif. */
  srcName?: string;
  dstPrefix?: string;
}

const cidrOf = (s: string, field: string): Cidr => {
  const c = parseCidr(s);
  if (!c) throw new InvalidConfigError(`${field}: ${s} is not an address with a prefix length`, field);
  return c;
};

export class DockerNetworks {
  private readonly pools = new Map<string, PoolRecord>();
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly endpoints = new Map<string, EndpointRecord>();
  /** memif endpoints that joined a sandbox whose netns is not there yet. */
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly log: Logger;

  constructor(
    private readonly sw: Switch,
    private readonly attachments: Attachments,
    private readonly store: Store,
    log: Logger,
  ) {
    this.log = log.child({ component: 'docker' });
  }

  /** Loads the records (after the switch and the attachments restored theirs). */
  restore(): void {
    const load = <T>(kind: string, schema: z.ZodType<T>, into: Map<string, T>): void => {
      for (const row of this.store.dockerObjects(kind)) {
        const r = schema.safeParse(JSON.parse(row.record));
        if (!r.success) throw new Error(`${this.store.path}: stored Docker ${kind} ${row.id} is invalid: ${r.error.issues[0]?.message}`);
        into.set(row.id, r.data);
      }
    };
    load('pool', poolRecord, this.pools);
    load('network', networkRecord, this.networks);
    load('endpoint', endpointRecord, this.endpoints);
    // A memif endpoint whose sandbox had not started when we went down.
    for (const [endpointId, ep] of this.endpoints) {
      const net = this.networks.get(ep.networkId);
      if (net?.kind !== 'memif' || !ep.sandboxKey) continue;
      const key = this.keyOf(ep.networkId, endpointId, 'memif');
      if (!this.attachments.list(key.cniNetwork).some((a) => a.params.key.containerId === endpointId)) this.attachWhenReady(endpointId);
    }
  }

  counts(): { dockerNetworks: number; dockerEndpoints: number } {
    return { dockerNetworks: this.networks.size, dockerEndpoints: this.endpoints.size };
  }

  // ---- IPAM ----

  /** --subnet is the pool, --ip-range the part handed out; the pool ID is the subnet. */
  requestPool(pool: string, subPool: string): { poolId: string; pool: string } {
    if (!pool) throw new InvalidConfigError('Pool: the memswitch IPAM driver needs a subnet: docker network create --subnet ...', 'Pool');
    const c = cidrOf(pool, 'Pool');
    if (formatPrefix(c) !== pool) throw new InvalidConfigError(`Pool: must be written ${formatPrefix(c)}`, 'Pool');
    const range = subPool ? cidrOf(subPool, 'SubPool') : c;
    if (subPool && (range.len < c.len || !contains(c, range))) throw new InvalidConfigError(`SubPool: ${subPool} is not within ${pool}`, 'SubPool');
    for (const [id, p] of this.pools)
      if (overlaps(cidrOf(p.pool, 'Pool'), c)) throw new AlreadyExistsError(`Pool: ${pool} overlaps ${id}, which another network uses`, 'Pool');
    const rec = { pool, range: formatPrefix(range), allocated: [] };
    this.store.putDockerObject('pool', pool, JSON.stringify(rec));
    this.pools.set(pool, rec);
    this.log.info({ pool, range: rec.range }, 'address pool made');
    return { poolId: pool, pool };
  }

  releasePool(poolId: string): void {
    if (!this.pools.delete(poolId)) return;
    this.store.deleteDockerObject('pool', poolId);
    this.log.info({ pool: poolId }, 'address pool released');
  }

  /**
   * `address` if given (and free), else the lowest free one of the range; the gateway Docker
   * asks for without an address is the subnet's first host. Answers address/len.
   */
  requestAddress(poolId: string, address: string, options: Record<string, string>): string {
    const p = this.pool(poolId);
    const pool = cidrOf(p.pool, 'PoolID');
    // Not the network address (IPv6: the subnet-router anycast) nor IPv4's broadcast.
    const usable = (ip: IP): boolean =>
      contains(pool, ip) && !sameIP(ip, networkOf(pool)) && (pool.family === 6 || pool.len > 30 || !sameIP(ip, lastOf(pool)));
    const free = (ip: IP): boolean => !p.allocated.includes(formatIP(ip));
    let ip: IP | undefined;
    if (address) {
      ip = parseIP(address);
      if (!ip || !usable(ip)) throw new InvalidConfigError(`Address: ${address} is not a host address of ${p.pool}`, 'Address');
      if (!free(ip)) throw new AlreadyExistsError(`Address: ${address} is already in use in ${p.pool}`, 'Address');
    } else {
      const from = cidrOf(options.RequestAddressType === GATEWAY_REQUEST ? p.pool : p.range, 'PoolID');
      for (let cur = networkOf(from); contains(from, cur); cur = nextOf(cur))
        if (usable(cur) && free(cur)) {
          ip = cur;
          break;
        }
      if (!ip) throw new ResourceExhaustedError(`PoolID: no free address left in ${p.range}`, 'PoolID');
    }
    const rec = { ...p, allocated: [...p.allocated, formatIP(ip)] };
    this.store.putDockerObject('pool', poolId, JSON.stringify(rec));
    this.pools.set(poolId, rec);
    return `${formatIP(ip)}/${pool.len}`;
  }

  /** One not allocated is fine: Docker releases on every error path. */
  releaseAddress(poolId: string, address: string): void {
    const p = this.pools.get(poolId);
    const ip = parseIP(address);
    if (!p || !ip || !p.allocated.includes(formatIP(ip))) return;
    const rec = { ...p, allocated: p.allocated.filter((a) => a !== formatIP(ip)) };
    this.store.putDockerObject('pool', poolId, JSON.stringify(rec));
    this.pools.set(poolId, rec);
  }

  /** Addresses handed out from the pool (for tests and troubleshooting). */
  allocated(poolId: string): string[] {
    return [...this.pool(poolId).allocated];
  }

  // ---- the network driver ----

  createNetwork(networkId: string, options: Record<string, unknown>): void {
    if (this.networks.has(networkId)) return;
    const parsed = networkOptions.safeParse(options[GENERIC] ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const what = issue.code === 'unrecognized_keys' ? `unknown option(s) ${issue.keys.join(', ')} (memswitch takes memswitch.network, memswitch.interface)` : `${issue.path.join('.')}: ${issue.message}`;
      throw new InvalidConfigError(`Options: ${what}`, 'Options');
    }
    const opts = parsed.data;
    let rec: NetworkRecord;
    if (opts['memswitch.network']) {
      this.sw.getNetwork(opts['memswitch.network']); // NotFoundError naming it
      rec = { network: opts['memswitch.network'], created: false, kind: opts['memswitch.interface'] };
    } else {
      rec = { network: `docker-${networkId.slice(0, 12)}`, created: true, kind: opts['memswitch.interface'] };
      this.sw.createNetwork({ name: rec.network });
    }
    this.store.putDockerObject('network', networkId, JSON.stringify(rec));
    this.networks.set(networkId, rec);
    this.log.info({ networkId, network: rec.network, kind: rec.kind, created: rec.created }, 'Docker network created');
  }

  /** The memswitch network goes too when it was made for Docker. */
  deleteNetwork(networkId: string): void {
    const rec = this.networks.get(networkId);
    if (!rec) return;
    if (rec.created) {
      try {
        this.sw.deleteNetwork(rec.network);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    this.store.deleteDockerObject('network', networkId);
    this.networks.delete(networkId);
    this.log.info({ networkId, network: rec.network }, 'Docker network deleted');
  }

  /** The addresses are Docker's (from its IPAM driver, ours or another). */
  createEndpoint(networkId: string, endpointId: string, ips: string[], mac: string | undefined): void {
    this.network(networkId);
    const existing = this.endpoints.get(endpointId);
    if (existing) {
      if (JSON.stringify(existing) === JSON.stringify({ networkId, ips, mac })) return;
      throw new AlreadyExistsError(`endpoint ${endpointId} already exists with different parameters`, 'EndpointID');
    }
    const rec: EndpointRecord = { networkId, ips, mac };
    this.store.putDockerObject('endpoint', endpointId, JSON.stringify(rec));
    this.endpoints.set(endpointId, rec);
  }

  /**
   * Attaches the endpoint for the container whose namespace is (or will be) `sandboxKey`:
   * a veth at once (Docker moves its end there when the container starts), a memif
   * listener once that namespace exists (at once for `docker network connect` to a
   * running container).
   */
  join(networkId: string, endpointId: string, sandboxKey: string): JoinResult {
    const net = this.network(networkId);
    const rec = { ...this.endpoint(endpointId), sandboxKey };
    this.store.putDockerObject('endpoint', endpointId, JSON.stringify(rec));
    this.endpoints.set(endpointId, rec);
    this.log.info({ networkId, endpointId, sandboxKey, kind: net.kind }, 'endpoint joined');
    if (net.kind === 'veth') {
      this.attach(endpointId);
      return { srcName: this.keyOf(networkId, endpointId, 'veth').ifname, dstPrefix: 'eth' };
    }
    if (isNetns(sandboxKey)) this.attach(endpointId);
    else this.attachWhenReady(endpointId);
    return {};
  }

  /** Detaches (the veth pair goes, and Docker took its end back or lost it with the sandbox) and forgets. */
  deleteEndpoint(networkId: string, endpointId: string): void {
    clearTimeout(this.pending.get(endpointId));
    this.pending.delete(endpointId);
    const ep = this.endpoints.get(endpointId);
    if (!ep) return;
    const net = this.networks.get(ep.networkId);
    if (net) this.attachments.detach(this.keyOf(ep.networkId, endpointId, net.kind));
    this.store.deleteDockerObject('endpoint', endpointId);
    this.endpoints.delete(endpointId);
    this.log.info({ networkId, endpointId }, 'endpoint deleted');
  }

  // ---- internals ----

  private attach(endpointId: string): void {
    const ep = this.endpoint(endpointId);
    const net = this.network(ep.networkId);
    this.attachments.attach({
      key: this.keyOf(ep.networkId, endpointId, net.kind),
      netns: ep.sandboxKey,
      network: net.network,
      kind: net.kind,
      mac: ep.mac,
      ips: ep.ips.map((address) => ({ address })),
      ...(net.kind === 'veth' ? { handoff: true } : {}),
    });
  }

  /** Polls for the sandbox's netns, then attaches; DeleteEndpoint stops it. */
  private attachWhenReady(endpointId: string): void {
    const deadline = Date.now() + NETNS_WAIT_MS;
    const poll = (): void => {
      this.pending.delete(endpointId);
      const ep = this.endpoints.get(endpointId);
      if (!ep?.sandboxKey) return;
      if (!isNetns(ep.sandboxKey)) {
        if (Date.now() < deadline) this.pending.set(endpointId, setTimeout(poll, NETNS_POLL_MS).unref());
        else this.log.warn({ endpointId, sandboxKey: ep.sandboxKey }, 'the sandbox namespace never appeared: memif endpoint not attached');
        return;
      }
      try {
        this.attach(endpointId);
        this.log.info({ endpointId, sandboxKey: ep.sandboxKey }, 'memif endpoint attached in its sandbox');
      } catch (err) {
        this.log.warn({ endpointId, err: (err as Error).message }, 'cannot attach a memif endpoint in its sandbox');
      }
    };
    poll();
  }

  /**
   * The attachment of an endpoint: its CNI-style key names the Docker network and the
   * endpoint; a veth's ifname is the container end's name until Docker moves it.
   */
  private keyOf(networkId: string, endpointId: string, kind: 'veth' | 'memif'): AttachmentKey {
    return { cniNetwork: `docker-${networkId.slice(0, 12)}`, containerId: endpointId, ifname: kind === 'veth' ? `msc${endpointId.slice(0, 12)}` : 'memif0' };
  }

  private pool(poolId: string): PoolRecord {
    const p = this.pools.get(poolId);
    if (!p) throw new NotFoundError(`PoolID: no address pool ${poolId}`, 'PoolID');
    return p;
  }

  private network(networkId: string): NetworkRecord {
    const n = this.networks.get(networkId);
    if (!n) throw new NotFoundError(`NetworkID: no Docker network ${networkId} on this memswitchd`, 'NetworkID');
    return n;
  }

  private endpoint(endpointId: string): EndpointRecord {
    const e = this.endpoints.get(endpointId);
    if (!e) throw new NotFoundError(`EndpointID: no endpoint ${endpointId}`, 'EndpointID');
    return e;
  }
}
