// Static neighbours (ARP and IPv6 neighbour-discovery entries) of router interfaces:
// what may be one, stored before applied, merged on start. Routing owns the router
// interfaces and says what they are.
import { z } from 'zod';
import { ipHost, macAddress, name as nameSchema, type RouterInterfaceConfig } from '../config/schema.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { Logger } from '../log.js';
import type { RoutingStore, StoredNeighbor } from '../store/routing-store.js';
import { AlreadyExistsError, InvalidConfigError, NotFoundError } from './errors.js';
import { neighborProblem, validate } from './routing-rules.js';

const neighborInput = z.object({ routerInterface: nameSchema, ip: ipHost, mac: macAddress }).strict();
const neighborKey = z.object({ routerInterface: nameSchema, ip: ipHost }).strict();
const keyOf = (n: { routerInterface: string; ip: string }): string => `${n.routerInterface}\u0000${n.ip}`;

export class StaticNeighbors {
  private readonly entries = new Map<string, StoredNeighbor>();

  constructor(
    private readonly dp: Dataplane,
    private readonly store: RoutingStore,
    /** A router interface's spec, or undefined when there is none of that name. */
    private readonly routerInterface: (name: string) => RouterInterfaceConfig | undefined,
    private readonly log: Logger,
  ) {}

  /** The stored ones, once the router interfaces are back; those that no longer fit are dropped. */
  restore(): void {
    for (const n of this.store.neighbors()) {
      const spec = this.routerInterface(n.routerInterface);
      const why = spec ? neighborProblem(spec, n.ip) : `router interface ${n.routerInterface} no longer exists`;
      if (why) {
        this.log.warn({ routerInterface: n.routerInterface, ip: n.ip, reason: why }, 'dropping a stored static neighbour');
        this.store.deleteNeighbor(n.routerInterface, n.ip);
        continue;
      }
      this.dp.addStaticNeighbor(n.routerInterface, n.ip, n.mac);
      this.entries.set(keyOf(n), n);
    }
  }

  add(input: { routerInterface: string; ip: string; mac: string }): { neighbor: StoredNeighbor; created: boolean } {
    const req = validate(neighborInput, input);
    const spec = this.routerInterface(req.routerInterface);
    if (!spec) throw new NotFoundError(`no router interface ${req.routerInterface}`, 'router_interface');
    const why = neighborProblem(spec, req.ip);
    if (why) throw new InvalidConfigError(`ip: ${why}`, 'ip');
    const existing = this.entries.get(keyOf(req));
    if (existing) {
      if (existing.mac === req.mac) return { neighbor: existing, created: false };
      throw new AlreadyExistsError(`${req.ip} is already a static neighbour on ${req.routerInterface}, with MAC ${existing.mac}`, 'ip');
    }
    this.store.putNeighbor(req);
    try {
      this.dp.addStaticNeighbor(req.routerInterface, req.ip, req.mac);
    } catch (err) {
      this.store.deleteNeighbor(req.routerInterface, req.ip);
      throw err;
    }
    this.entries.set(keyOf(req), req);
    return { neighbor: req, created: true };
  }

  /** A static entry, or a resolved one (flushed, as `ip neigh del` does). */
  delete(input: { routerInterface: string; ip: string }): void {
    const req = validate(neighborKey, input);
    if (!this.routerInterface(req.routerInterface)) throw new NotFoundError(`no router interface ${req.routerInterface}`, 'router_interface');
    const stored = this.entries.get(keyOf(req));
    if (stored) {
      this.store.deleteNeighbor(req.routerInterface, req.ip);
      this.entries.delete(keyOf(req));
    }
    const removed = this.dp.removeNeighbor(req.routerInterface, req.ip);
    if (!stored && !removed) throw new NotFoundError(`no neighbour ${req.ip} on router interface ${req.routerInterface}`, 'ip');
  }

  /** A router interface went, its entries with it (the store and the dataplane drop them themselves). */
  forget(routerInterface: string): void {
    for (const [k, n] of this.entries) if (n.routerInterface === routerInterface) this.entries.delete(k);
  }
}
