// Ordered ACLs programmed directly (VPP style): named rule lists, each bound to
// interfaces per direction (in: what the switch receives from the interface; out: what
// it sends to it), or to a network: then to each of its interfaces, those added later
// too, unless the interface has a binding of its own there. Stored before applied, restored on start once the interfaces are back;
// a binding goes with its interface. Rules are replaced whole: the dataplane swaps them
// at once, so a packet meets the old rules or the new ones, never neither.
import { z } from 'zod';
import { name as nameSchema } from '../config/schema.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { Logger } from '../log.js';
import type { AclStore, StoredAclBinding, StoredNetworkAclBinding } from '../store/acl-store.js';
import { Conntrack } from './conntrack.js';
import { aclSchema, toNativeRule, type AclRuleSpec, type AclSpec } from './acl-rules.js';
import { AlreadyExistsError, BusyError, FailedPreconditionError, NotFoundError } from './errors.js';
import { validate } from './routing-rules.js';
import type { Switch } from './switch.js';

export type AclDirection = 'in' | 'out';

export interface AclView {
  name: string;
  rules: AclRuleSpec[];
  /** Per rule, since the rules were last set (summed over workers). */
  hits: number[];
  /** Packets no rule matched. */
  defaultDenied: number;
  bindings: { interface?: string; network?: string; direction: AclDirection }[];
}

const bindingSchema = z.object({ interface: nameSchema, direction: z.enum(['in', 'out']), acl: nameSchema }).strict();
const unbindSchema = bindingSchema.omit({ acl: true });
const networkBindingSchema = z.object({ network: nameSchema, direction: z.enum(['in', 'out']), acl: nameSchema }).strict();
const networkUnbindSchema = networkBindingSchema.omit({ acl: true });
const namesNetwork = (input: unknown): boolean => typeof (input as { network?: unknown } | null)?.network === 'string' && (input as { network: string }).network !== '';
const keyOf = (iface: string, direction: AclDirection): string => `${iface}\u0000${direction}`;
const sameRules = (a: AclRuleSpec[], b: AclRuleSpec[]): boolean => JSON.stringify(a) === JSON.stringify(b);

export class Acls {
  private readonly specs = new Map<string, AclSpec>();
  private readonly bindings = new Map<string, StoredAclBinding>();
  private readonly networkBindings = new Map<string, StoredNetworkAclBinding>();
  private policyGoverns: (iface: string, direction: AclDirection) => boolean = () => false;
  /** The flows permit+reflect rules opened. */
  readonly conntrack: Conntrack;

  constructor(
    sw: Switch,
    private readonly dp: Dataplane,
    private readonly store: AclStore,
    private readonly hasInterface: (name: string) => boolean,
    private readonly log: Logger,
  ) {
    this.conntrack = new Conntrack(dp);
    // The dataplane unbinds a removed interface itself; the desired state follows. A new
    // interface takes its network's ACLs.
    sw.subscribe((e) => {
      if (!e.interface) return;
      // (Only where a network binding applies: unbinding what was never bound would cost
      // every new interface two snapshot publishes.)
      if (e.kind === 'interface_created') for (const direction of ['in', 'out'] as const) if (this.effective(e.interface, direction)) this.reapply(e.interface, direction);
      if (e.kind !== 'interface_deleted') return;
      for (const direction of ['in', 'out'] as const) {
        if (!this.bindings.delete(keyOf(e.interface, direction))) continue;
        this.store.deleteBinding(e.interface, direction);
      }
    });
  }

  /** The stored ACLs, then their bindings to interfaces that are back; what no longer fits is dropped, said in the log. */
  restore(): void {
    for (const row of this.store.acls()) {
      try {
        const spec = validate(aclSchema, { name: row.name, rules: JSON.parse(row.rules) });
        this.dp.addAcl(spec.name, spec.rules.map(toNativeRule));
        this.specs.set(spec.name, spec);
      } catch (err) {
        this.log.warn({ acl: row.name, reason: (err as Error).message }, 'dropping a stored ACL');
        this.store.deleteAcl(row.name);
      }
    }
    for (const b of this.store.bindings()) {
      const why = !this.specs.has(b.acl) ? `ACL ${b.acl} no longer exists` : !this.hasInterface(b.interface) ? `interface ${b.interface} no longer exists` : undefined;
      if (why) {
        this.log.warn({ interface: b.interface, direction: b.direction, acl: b.acl, reason: why }, 'dropping a stored ACL binding');
        this.store.deleteBinding(b.interface, b.direction);
        continue;
      }
      this.dp.bindAcl(b.interface, b.direction, b.acl);
      this.bindings.set(keyOf(b.interface, b.direction), b);
    }
    const networks = new Set(this.dp.listNetworks());
    for (const b of this.store.networkBindings()) {
      const why = !this.specs.has(b.acl) ? `ACL ${b.acl} no longer exists` : !networks.has(b.network) ? `network ${b.network} no longer exists` : undefined;
      if (why) {
        this.log.warn({ network: b.network, direction: b.direction, acl: b.acl, reason: why }, 'dropping a stored ACL binding');
        this.store.deleteNetworkBinding(b.network, b.direction);
        continue;
      }
      this.networkBindings.set(keyOf(b.network, b.direction), b);
      this.applyNetwork(b.network, b.direction);
    }
  }

  /** Idempotent: the same rules again answer created false; other rules under the name are ALREADY_EXISTS. */
  create(input: unknown): { acl: AclView; created: boolean } {
    const spec = validate(aclSchema, input);
    const existing = this.specs.get(spec.name);
    if (existing) {
      if (sameRules(existing.rules, spec.rules)) return { acl: this.view(spec.name), created: false };
      throw new AlreadyExistsError(`ACL ${spec.name} exists with other rules (replace its rules instead)`, 'name');
    }
    this.store.putAcl(spec.name, spec.rules);
    try {
      this.dp.addAcl(spec.name, spec.rules.map(toNativeRule));
    } catch (err) {
      this.store.deleteAcl(spec.name);
      throw err;
    }
    this.specs.set(spec.name, spec);
    return { acl: this.view(spec.name), created: true };
  }

  /** All rules at once; the hit counters restart. */
  replaceRules(input: unknown): AclView {
    const spec = validate(aclSchema, input);
    const existing = this.specs.get(spec.name);
    if (!existing) throw new NotFoundError(`no ACL ${spec.name}`, 'name');
    if (sameRules(existing.rules, spec.rules)) return this.view(spec.name);
    this.store.putAcl(spec.name, spec.rules);
    try {
      this.dp.setAclRules(spec.name, spec.rules.map(toNativeRule));
    } catch (err) {
      this.store.putAcl(spec.name, existing.rules);
      throw err;
    }
    this.specs.set(spec.name, spec);
    return this.view(spec.name);
  }

  delete(name: string): void {
    this.get(name);
    const bound = [...this.bindings.values()].find((b) => b.acl === name);
    if (bound) throw new BusyError(`ACL ${name} is bound to ${bound.interface} (${bound.direction}); unbind it first`, 'name');
    const onNetwork = [...this.networkBindings.values()].find((b) => b.acl === name);
    if (onNetwork) throw new BusyError(`ACL ${name} is bound to network ${onNetwork.network} (${onNetwork.direction}); unbind it first`, 'name');
    this.store.deleteAcl(name);
    this.dp.removeAcl(name);
    this.specs.delete(name);
  }

  /** Whether an operator's ACL is bound there, itself or by its network (network policy then leaves it alone). */
  isBound(iface: string, direction: AclDirection): boolean {
    return this.effective(iface, direction) !== undefined;
  }

  /** The dataplane's binding for the interface brought to what it should be: its own ACL, else its network's, else none. */
  reapply(iface: string, direction: AclDirection): void {
    if (!this.hasInterface(iface) || this.policyGoverns(iface, direction)) return; // policy holds it
    this.dp.bindAcl(iface, direction, this.effective(iface, direction));
  }

  private effective(iface: string, direction: AclDirection): string | undefined {
    const own = this.bindings.get(keyOf(iface, direction));
    if (own) return own.acl;
    if (this.networkBindings.size === 0 || !this.hasInterface(iface)) return undefined;
    return this.networkBindings.get(keyOf(this.dp.interface(iface).network, direction))?.acl;
  }

  private applyNetwork(network: string, direction: AclDirection): void {
    for (const i of this.dp.listInterfaces()) if (i.network === network) this.reapply(i.name, direction);
  }

  /** Set once network policy runs: where it holds the binding, an operator's ACL cannot go. */
  setPolicyBinding(governs: (iface: string, direction: AclDirection) => boolean): void {
    this.policyGoverns = governs;
  }

  /** One ACL per interface (or network) and direction: binding another replaces it. */
  bind(input: unknown): { binding: StoredAclBinding | StoredNetworkAclBinding; created: boolean } {
    if (namesNetwork(input)) return this.bindNetwork(input);
    const req = validate(bindingSchema, input);
    this.get(req.acl);
    if (!this.hasInterface(req.interface)) throw new NotFoundError(`no interface ${req.interface}`, 'interface');
    if (this.policyGoverns(req.interface, req.direction))
      throw new FailedPreconditionError(`${req.interface} (${req.direction}) is isolated by network policy: its ACL is the policy's`, 'interface');
    const key = keyOf(req.interface, req.direction);
    const previous = this.bindings.get(key);
    if (previous?.acl === req.acl) return { binding: previous, created: false };
    this.store.putBinding(req);
    try {
      this.dp.bindAcl(req.interface, req.direction, req.acl);
    } catch (err) {
      if (previous) this.store.putBinding(previous);
      else this.store.deleteBinding(req.interface, req.direction);
      throw err;
    }
    this.bindings.set(key, req);
    return { binding: req, created: true };
  }

  unbind(input: unknown): void {
    if (namesNetwork(input)) return this.unbindNetwork(input);
    const req = validate(unbindSchema, input);
    const key = keyOf(req.interface, req.direction);
    if (!this.bindings.has(key)) throw new NotFoundError(`no ACL bound to ${req.interface} (${req.direction})`, 'interface');
    this.store.deleteBinding(req.interface, req.direction);
    this.bindings.delete(key);
    this.reapply(req.interface, req.direction); // its network's, if any
  }

  private bindNetwork(input: unknown): { binding: StoredNetworkAclBinding; created: boolean } {
    const req = validate(networkBindingSchema, input);
    this.get(req.acl);
    if (!this.dp.listNetworks().includes(req.network)) throw new NotFoundError(`no network ${req.network}`, 'network');
    const key = keyOf(req.network, req.direction);
    if (this.networkBindings.get(key)?.acl === req.acl) return { binding: this.networkBindings.get(key)!, created: false };
    this.store.putNetworkBinding(req);
    this.networkBindings.set(key, req);
    this.applyNetwork(req.network, req.direction);
    return { binding: req, created: true };
  }

  private unbindNetwork(input: unknown): void {
    const req = validate(networkUnbindSchema, input);
    const key = keyOf(req.network, req.direction);
    if (!this.networkBindings.has(key)) throw new NotFoundError(`no ACL bound to network ${req.network} (${req.direction})`, 'network');
    this.store.deleteNetworkBinding(req.network, req.direction);
    this.networkBindings.delete(key);
    this.applyNetwork(req.network, req.direction);
  }

  get(name: string): AclView {
    validate(nameSchema, name, 'name');
    if (!this.specs.has(name)) throw new NotFoundError(`no ACL ${name}`, 'name');
    return this.view(name);
  }

  list(): AclView[] {
    return [...this.specs.keys()].map((n) => this.view(n));
  }

  counts(): { acls: number; aclBindings: number } {
    return { acls: this.specs.size, aclBindings: this.bindings.size + this.networkBindings.size };
  }

  private view(name: string): AclView {
    const spec = this.specs.get(name)!;
    const stats = this.dp.aclStats(name);
    const bindings = [
      ...[...this.bindings.values()].filter((b) => b.acl === name).map(({ interface: i, direction }) => ({ interface: i, direction })),
      ...[...this.networkBindings.values()].filter((b) => b.acl === name).map(({ network, direction }) => ({ network, direction })),
    ];
    return { name, rules: spec.rules, hits: stats.hits, defaultDenied: stats.defaultDenied, bindings };
  }
}
