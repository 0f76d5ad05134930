// CNI attachments: one switch interface per (CNI network, container id, ifname), made
// and removed by the CNI plugin through AttachmentService. Each record (the interface
// spec it owns, the IPs IPAM gave, the memif secret) is committed before the interface
// is applied and before the answer; the workload reads its parameters from a 0600 JSON
// file in cni.infoDir. An attachment naming a router is on a routed network
// (routed-networks.ts): its gateway and default route are filled in before anything else.
//
// Every call is synchronous (SQLite, the addon and iproute2 all are), so two attachments
// never interleave between allocation, commit and apply: no per-key locks are needed.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { interfaceSchema, macAddress, name as nameSchema, type InterfaceConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidConfigError, NotFoundError } from './errors.js';
import { familyOf } from './ip.js';
import { gatewaysOf, withGateway, type NetworkGateways } from './routed-networks.js';
import type { Switch } from './switch.js';

// The CNI spec's rules for network names and container ids; ifname as Linux takes it.
const cniName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$').max(253);
const ifname = z.string().regex(/^[^/:\s]{1,15}$/, 'must be 1-15 characters without "/", ":" or whitespace').refine((s) => s !== '.' && s !== '..', 'must not be . or ..');
const absPath = z.string().refine((s) => s.startsWith('/'), 'must be an absolute path');
const cidr = z.string().refine((s) => {
  const [addr, len, ...rest] = s.split('/');
  const family = isIP(addr ?? '');
  return rest.length === 0 && family !== 0 && /^\d+$/.test(len ?? '') && Number(len) <= (family === 4 ? 32 : 128);
}, 'must be an address with a prefix length, like 10.20.0.5/24');
const ip = z.string().refine((s) => isIP(s) !== 0, 'must be an IP address');

export const attachmentKey = z.object({ cniNetwork: cniName, containerId: cniName, ifname }).strict();
export type AttachmentKey = z.infer<typeof attachmentKey>;

export const attachInput = z
  .object({
    key: attachmentKey,
    netns: absPath,
    network: nameSchema,
    kind: z.enum(['memif', 'veth']),
    mac: macAddress.optional(),
    ips: z.array(z.object({ address: cidr, gateway: ip.optional() }).strict()).default([]),
    routes: z.array(z.object({ dst: cidr, gw: ip.optional() }).strict()).default([]),
    mtu: z.number().int().min(68).max(9000).default(1500),
    vlan: z.number().int().min(1).max(4094).optional(),
    socketMode: z.enum(['abstract', 'file']).default('abstract'),
    socketName: z.string().regex(/^[A-Za-z0-9_.{}/-]{1,80}$/, 'must be 1-80 characters: letters, digits, "_", ".", "-", "/", "{ifname}", "{containerId}"').optional(),
    socketDir: absPath.optional(),
    pod: z
      .object({
        namespace: z.string().default(''),
        name: z.string().default(''),
        uid: z.string().default(''),
        // What the runtime passed (CNI's args.cni.labels convention); the API's pod labels win.
        labels: z.record(z.string().min(1).max(317), z.string().max(63)).default({}),
      })
      .strict()
      .default({}),
    router: nameSchema.optional(),
    // veth only: the runtime moves and configures the container end (Docker's remote
    // driver); it is left in memswitchd's namespace named `key.ifname`, ips are
    // informational, and netns (where it will go) need not exist yet.
    handoff: z.literal(true).optional(),
  })
  .strict();
export type AttachInput = z.input<typeof attachInput>;
type AttachParams = z.infer<typeof attachInput>;

const record = z
  .object({
    params: attachInput,
    interface: z.string(),
    spec: interfaceSchema,
    mac: z.string(),
    secret: z.string().optional(),
    infoFile: z.string(),
    createdUnixMs: z.number(),
  })
  .strict();
export type AttachmentRecord = z.infer<typeof record>;

export interface AttachmentView extends AttachmentRecord {
  socket?: string;
  memifId?: number;
  /** The switch interface exists and is admin up. */
  present: boolean;
  /** A memif peer is connected, or the veth is attached. */
  connected: boolean;
  /** A routed network's: the container's IPv4 and IPv6 gateways, and whether the router holds them on the network. */
  gateway?: string;
  gateway6?: string;
  gatewayPresent: boolean;
}

const keyString = (k: AttachmentKey): string => `${k.cniNetwork}\u0000${k.containerId}\u0000${k.ifname}`;
const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');
// What makes a retry "the same request": everything but the informational pod fields.
const paramsHash = (p: AttachParams): string => JSON.stringify({ ...p, pod: undefined });

/** zod in, a domain error naming the field out (same style as the switch's). */
function validate<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, input: unknown): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.') || '(request)';
  const message = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
  throw new InvalidConfigError(`${field}: ${message}`, field);
}

/** Made when memswitchd starts (config/paths.ts). */
export interface AttachmentDirs {
  infoDir: string;
  spoolDir: string;
  socketDir: string;
}

export class Attachments {
  private readonly records = new Map<string, AttachmentRecord>();
  private readonly log: Logger;
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly sw: Switch,
    private readonly gateways: NetworkGateways,
    private readonly store: Store,
    private readonly dirs: AttachmentDirs,
    log: Logger,
  ) {
    this.log = log.child({ component: 'attachments' });
  }

  /** fn runs after every attach and detach, before the CNI call that made it returns (network policy compiles in time). */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  /**
   * Re-applies stored attachments (after the switch restored its own state), dropping those
   * whose namespace is gone (the pod died while we were down), then replays spooled DELs.
   */
  restore(): void {
    for (const row of this.store.attachments()) {
      const key = { cniNetwork: row.cniNetwork, containerId: row.containerId, ifname: row.ifname };
      let rec: AttachmentRecord;
      try {
        rec = record.parse(JSON.parse(row.record));
      } catch (err) {
        throw new Error(`${this.store.path}: stored attachment ${keyString(key).replaceAll('\u0000', '/')} is invalid: ${(err as Error).message}`);
      }
      if (!existsSync(rec.params.netns)) {
        this.log.warn({ ...key, netns: rec.params.netns }, 'dropping a stored attachment: its network namespace is gone');
        this.forget(key, rec);
        continue;
      }
      try {
        this.sw.attachInterface(rec.spec);
        this.records.set(keyString(key), rec);
      } catch (err) {
        this.log.warn({ ...key, err: (err as Error).message }, 'dropping a stored attachment that cannot be applied');
        this.forget(key, rec);
        continue;
      }
      // The record outlives infoDir (/run, a tmpfs): the workload's file comes back too.
      try {
        this.writeInfo(rec);
      } catch (err) {
        this.log.warn({ ...key, file: rec.infoFile, err: (err as Error).message }, 'cannot rewrite the attachment file');
      }
    }
    this.replaySpool();
    this.changed();
  }

  /** DELs the CNI plugin spooled while memswitchd was unreachable: detach, then forget the file. */
  replaySpool(): number {
    let replayed = 0;
    let files: string[];
    try {
      files = readdirSync(this.dirs.spoolDir).filter((f) => f.endsWith('.json'));
    } catch {
      return 0; // no spool directory: nothing was spooled
    }
    for (const f of files) {
      const file = path.join(this.dirs.spoolDir, f);
      try {
        const doc = JSON.parse(readFileSync(file, 'utf8')) as { key?: unknown; spooledUnixMs?: unknown };
        const key = attachmentKey.parse(doc.key);
        const rec = this.records.get(keyString(key));
        // An ADD of the same key after the spooled DEL (a retry) made a newer attachment.
        if (rec && typeof doc.spooledUnixMs === 'number' && rec.createdUnixMs > doc.spooledUnixMs) {
          this.log.info({ ...key }, 'ignoring a spooled CNI DEL older than its attachment');
        } else {
          this.detach(key);
          replayed++;
          this.log.info({ ...key }, 'replayed a spooled CNI DEL');
        }
      } catch (err) {
        this.log.warn({ file, err: (err as Error).message }, 'ignoring a bad spooled CNI DEL');
      }
      rmSync(file, { force: true });
    }
    return replayed;
  }

  attach(input: unknown): { attachment: AttachmentView; created: boolean } {
    const p = withGateway(validate(attachInput, input));
    const k = keyString(p.key);
    const existing = this.records.get(k);
    if (existing) {
      if (paramsHash(existing.params) === paramsHash(p)) {
        this.gateways.ensure(p); // someone may have removed it since
        return { attachment: this.view(existing), created: false };
      }
      throw new AlreadyExistsError(
        `attachment ${p.key.containerId}/${p.key.ifname} on CNI network ${p.key.cniNetwork} already exists with different parameters`,
        'key',
      );
    }
    this.sw.getNetwork(p.network); // NotFoundError naming the network
    // A handed-off veth's namespace may not exist yet: Docker makes it after Join.
    if (!p.handoff && !existsSync(p.netns)) throw new InvalidConfigError(`netns: ${p.netns} does not exist`, 'netns');
    if (p.kind === 'veth' && p.socketName !== undefined) throw new InvalidConfigError('socketName: only for memif attachments', 'socketName');
    if (p.kind === 'memif' && p.handoff) throw new InvalidConfigError('handoff: only for veth attachments', 'handoff');
    this.gateways.ensure(p);

    const rec = this.allocate(p);
    this.store.putAttachment(p.key, JSON.stringify(rec));
    try {
      this.sw.attachInterface(rec.spec);
    } catch (err) {
      this.store.deleteAttachment(p.key);
      throw err;
    }
    try {
      this.writeInfo(rec);
    } catch (err) {
      this.sw.detachInterface(rec.interface);
      this.store.deleteAttachment(p.key);
      throw err;
    }
    this.records.set(k, rec);
    this.log.info({ ...p.key, interface: rec.interface, kind: p.kind, network: p.network, mac: rec.mac }, 'attached');
    this.changed();
    return { attachment: this.view(rec), created: true };
  }

  /** False when there was nothing to detach. */
  detach(input: unknown): boolean {
    const key = validate(attachmentKey, input);
    const rec = this.records.get(keyString(key));
    if (!rec) return false;
    this.forget(key, rec);
    this.sw.detachInterface(rec.interface);
    this.records.delete(keyString(key));
    this.log.info({ ...key, interface: rec.interface }, 'detached');
    this.changed();
    return true;
  }

  get(input: unknown): AttachmentView {
    const key = validate(attachmentKey, input);
    const rec = this.records.get(keyString(key));
    if (!rec) throw new NotFoundError(`no attachment ${key.containerId}/${key.ifname} on CNI network ${key.cniNetwork}`, 'key');
    return this.view(rec);
  }

  /**
   * The switch interfaces of a pod's attachments, by "namespace/name" or by a name only
   * one namespace has (the CNI plugin records K8S_POD_NAMESPACE and K8S_POD_NAME).
   */
  interfacesOfPod(ref: string): string[] {
    const [namespace, name] = ref.includes('/') ? ref.split('/', 2) : [undefined, ref];
    const recs = [...this.records.values()].filter((r) => r.params.pod.name === name && (namespace === undefined || r.params.pod.namespace === namespace));
    if (recs.length === 0) throw new NotFoundError(`pod: no attachment of pod ${ref}`, 'pod');
    const namespaces = new Set(recs.map((r) => r.params.pod.namespace));
    if (namespaces.size > 1) throw new InvalidConfigError(`pod: ${ref} names pods in ${[...namespaces].join(', ')}: say namespace/name`, 'pod');
    return recs.map((r) => r.interface);
  }

  list(cniNetwork?: string): AttachmentView[] {
    return [...this.records.values()].filter((r) => !cniNetwork || r.params.key.cniNetwork === cniNetwork).map((r) => this.view(r));
  }

  /** Detaches every attachment of the network not in `valid`; keeps going past failures. */
  gc(cniNetwork: string, valid: { containerId: string; ifname: string }[]): AttachmentKey[] {
    validate(cniName, cniNetwork);
    const keep = new Set(valid.map((v) => keyString({ cniNetwork, containerId: v.containerId, ifname: v.ifname })));
    const removed: AttachmentKey[] = [];
    const failed: string[] = [];
    for (const rec of [...this.records.values()]) {
      const key = rec.params.key;
      if (key.cniNetwork !== cniNetwork || keep.has(keyString(key))) continue;
      try {
        this.detach(key);
        removed.push(key);
      } catch (err) {
        failed.push(`${key.containerId}/${key.ifname}: ${(err as Error).message}`);
      }
    }
    if (failed.length) throw new FailedPreconditionError(`gc: ${failed.length} attachment(s) could not be removed: ${failed.join('; ')}`);
    return removed;
  }

  // ---- internals ----

  private allocate(p: AttachParams): AttachmentRecord {
    const h = sha1(keyString(p.key));
    const name = `cni-${h.slice(0, 16)}`;
    const mac = p.mac ?? this.generateMac(h);
    const infoFile = path.join(this.dirs.infoDir, `${p.key.containerId}-${p.key.ifname}.json`);
    const common = { name, network: p.network, vlan: p.vlan, mac };
    let spec: InterfaceConfig;
    let secret: string | undefined;
    if (p.kind === 'memif') {
      const fill = (t: string): string => t.replaceAll('{ifname}', p.key.ifname).replaceAll('{containerId}', p.key.containerId);
      const socket =
        p.socketMode === 'abstract'
          ? `@${fill(p.socketName ?? 'memswitch/memif-{ifname}')}`
          : path.join(p.socketDir ?? this.dirs.socketDir, fill(p.socketName ?? `${sha1(p.key.containerId).slice(0, 12)}-{ifname}.sock`));
      if (socket.length > 107) throw new InvalidConfigError(`socketName: the socket ${socket} is longer than 107 bytes (sun_path)`, 'socketName');
      const netns = p.socketMode === 'abstract' ? p.netns : undefined;
      const used = this.sw.memifIdsOn(socket, netns);
      let id = 0;
      while (used.has(id)) id++;
      // 16 base64url characters: 96 random bits, within memif's 24-byte secret field.
      secret = randomBytes(12).toString('base64url');
      spec = { ...common, kind: 'memif', socket, id, secret, netns };
    } else {
      // CNI routes without a gw use the gateway of the first address of their family.
      const gateway = (dst: string): string | undefined => p.ips.find((i) => familyOf(i.address) === familyOf(dst))?.gateway;
      spec = {
        ...common,
        kind: 'veth',
        netns: p.netns,
        ifname: p.key.ifname,
        mtu: p.mtu,
        ...(p.handoff
          ? { handoff: true, addresses: [], routes: [] }
          : { addresses: p.ips.map((i) => i.address), routes: p.routes.map((r) => ({ dst: r.dst, via: r.gw ?? gateway(r.dst) })) }),
      };
    }
    return { params: p, interface: name, spec: interfaceSchema.parse(spec), mac, secret, infoFile, createdUnixMs: Date.now() };
  }

  /** Locally administered unicast (02:...), from the key's hash; a collision takes the next. */
  private generateMac(hash: string): string {
    const taken = new Set([...this.records.values()].map((r) => r.mac));
    for (let i = 0; ; i++) {
      const h = i === 0 ? hash : sha1(`${hash}/${i}`);
      const mac = `02:${h.slice(0, 10).match(/../g)!.join(':')}`;
      if (!taken.has(mac)) return mac;
    }
  }

  private writeInfo(rec: AttachmentRecord): void {
    const spec = rec.spec;
    const gateways = gatewaysOf(rec.params);
    const info = {
      cniNetwork: rec.params.key.cniNetwork,
      containerId: rec.params.key.containerId,
      ifname: rec.params.key.ifname,
      kind: rec.params.kind,
      network: rec.params.network,
      mac: rec.mac,
      ips: rec.params.ips,
      routes: rec.params.routes,
      mtu: rec.params.mtu,
      ...(rec.params.router ? { router: rec.params.router, gateway: gateways[4], gateway6: gateways[6] } : {}),
      ...(spec.kind === 'memif' ? { memif: { socket: spec.socket, id: spec.id, secret: spec.secret, role: 'client', mode: 'ethernet' } } : {}),
    };
    const tmp = `${rec.infoFile}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, rec.infoFile);
  }

  private forget(key: AttachmentKey, rec: AttachmentRecord): void {
    this.store.deleteAttachment(key);
    rmSync(rec.infoFile, { force: true });
  }

  private view(rec: AttachmentRecord): AttachmentView {
    let present = false;
    let connected = false;
    try {
      const itf = this.sw.getInterface(rec.interface);
      present = itf.adminUp;
      connected = itf.status.connected;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    const spec = rec.spec;
    const gateways = gatewaysOf(rec.params);
    return {
      ...rec,
      present,
      connected,
      gateway: gateways[4],
      gateway6: gateways[6],
      gatewayPresent: this.gateways.present(rec.params),
      ...(spec.kind === 'memif' ? { socket: spec.socket, memifId: spec.id } : {}),
    };
  }
}
