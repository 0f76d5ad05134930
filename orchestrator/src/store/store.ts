// Durable desired state: what was created over the API (the config file holds the rest).
// Every write is one transaction committed before the dataplane is touched and before
// the RPC answers, so a kill -9 at any moment loses nothing that was acknowledged.
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { interfaceSchema, type InterfaceConfig } from '../config/schema.js';
import { ACL_DDL, AclStore } from './acl-store.js';
import { POLICY_DDL, PolicyStore } from './policy-store.js';
import { ROUTING_DDL, RoutingStore } from './routing-store.js';

export interface StoredStaticMac {
  network: string;
  vlan: number;
  mac: string;
  interface: string;
}

const SCHEMA_VERSION = 1;

// Specs are stored as JSON and re-validated on load with the same schema the API
// and the config file use, so a hand-edited or older row fails loudly, not half-applied.
const DDL = `
CREATE TABLE IF NOT EXISTS networks (
  name TEXT PRIMARY KEY
) STRICT;
CREATE TABLE IF NOT EXISTS interfaces (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL
) STRICT;
-- Admin state and static MACs may refer to config-file objects too, so no foreign keys:
-- the domain removes them together with their interface.
CREATE TABLE IF NOT EXISTS admin_down (
  interface TEXT PRIMARY KEY
) STRICT;
CREATE TABLE IF NOT EXISTS static_macs (
  network TEXT NOT NULL,
  vlan INTEGER NOT NULL,
  mac TEXT NOT NULL,
  interface TEXT NOT NULL,
  PRIMARY KEY (network, vlan, mac)
) STRICT;
-- CNI attachments: the record (its interface spec, IPs, secret) as JSON, validated by the
-- attachment domain on load. Added without a schema bump: CREATE IF NOT EXISTS suffices.
CREATE TABLE IF NOT EXISTS attachments (
  cni_network TEXT NOT NULL,
  container_id TEXT NOT NULL,
  ifname TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (cni_network, container_id, ifname)
) STRICT;
-- Docker's networks, endpoints and address pools (the remote driver, domain/docker.ts):
-- one JSON record each, validated there on load.
CREATE TABLE IF NOT EXISTS docker_objects (
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (kind, id)
) STRICT;
`;

export class Store {
  /** Routers, their interfaces, static routes and neighbours, in this same database. */
  readonly routing: RoutingStore;
  /** ACLs and their bindings. */
  readonly acls: AclStore;
  /** Network policies and the pod and namespace labels they select by. */
  readonly policies: PolicyStore;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.routing = new RoutingStore(db, path);
    this.acls = new AclStore(db);
    this.policies = new PolicyStore(db);
  }

  static open(file: string): Store {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
    const db = new Database(file);
    try {
      // WAL: readers never block the writer; FULL: the WAL is fsynced at every commit,
      // which is what "acknowledged means durable" needs even across a power cut.
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      // The memif secrets live in here: owner only, whatever the umask (or the mode of a
      // state directory a hostPath made 0755) would have given.
      for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
      db.pragma('busy_timeout = 5000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new Error(`${file}: state database schema ${version} is newer than this memswitchd (${SCHEMA_VERSION})`);
      // The routing, ACL and policy tables came later, also without a schema bump.
      db.exec(DDL + ROUTING_DDL + ACL_DDL + POLICY_DDL);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (err) {
      db.close();
      throw err;
    }
    return new Store(db, file);
  }

  close(): void {
    this.db.close();
  }

  /** What this connection runs with (synchronous: 2 = FULL). */
  durability(): { journalMode: string; synchronous: number } {
    return {
      journalMode: this.db.pragma('journal_mode', { simple: true }) as string,
      synchronous: this.db.pragma('synchronous', { simple: true }) as number,
    };
  }

  /** Runs fn in one transaction: all of its writes commit together or not at all. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  networks(): string[] {
    return this.db.prepare<[], { name: string }>('SELECT name FROM networks ORDER BY rowid').all().map((r) => r.name);
  }

  interfaces(): InterfaceConfig[] {
    return this.db
      .prepare<[], { name: string; spec: string }>('SELECT name, spec FROM interfaces ORDER BY rowid')
      .all()
      .map((r) => {
        const parsed = interfaceSchema.safeParse(JSON.parse(r.spec));
        if (!parsed.success) throw new Error(`${this.path}: stored interface ${r.name} is invalid: ${parsed.error.issues[0]?.message}`);
        return parsed.data;
      });
  }

  adminDown(): string[] {
    return this.db.prepare<[], { interface: string }>('SELECT interface FROM admin_down').all().map((r) => r.interface);
  }

  staticMacs(): StoredStaticMac[] {
    return this.db.prepare<[], StoredStaticMac>('SELECT network, vlan, mac, interface FROM static_macs ORDER BY rowid').all();
  }

  putNetwork(name: string): void {
    this.db.prepare('INSERT OR REPLACE INTO networks (name) VALUES (?)').run(name);
  }

  deleteNetwork(name: string): void {
    this.db.prepare('DELETE FROM networks WHERE name = ?').run(name);
  }

  putInterface(spec: InterfaceConfig): void {
    this.db.prepare('INSERT OR REPLACE INTO interfaces (name, spec) VALUES (?, ?)').run(spec.name, JSON.stringify(spec));
  }

  /** Forgets the interface's spec only: the config file now defines one of that name. */
  deleteInterfaceSpec(name: string): void {
    this.db.prepare('DELETE FROM interfaces WHERE name = ?').run(name);
  }

  /** Forgets the interface and everything that hangs off it (admin state, static MACs). */
  deleteInterface(name: string): void {
    this.transaction(() => {
      this.deleteInterfaceSpec(name);
      this.db.prepare('DELETE FROM admin_down WHERE interface = ?').run(name);
      this.db.prepare('DELETE FROM static_macs WHERE interface = ?').run(name);
    });
  }

  setAdminUp(name: string, up: boolean): void {
    if (up) this.db.prepare('DELETE FROM admin_down WHERE interface = ?').run(name);
    else this.db.prepare('INSERT OR IGNORE INTO admin_down (interface) VALUES (?)').run(name);
  }

  putStaticMac(e: StoredStaticMac): void {
    this.db.prepare('INSERT OR REPLACE INTO static_macs (network, vlan, mac, interface) VALUES (?, ?, ?, ?)').run(e.network, e.vlan, e.mac, e.interface);
  }

  /** Attachment records as stored (JSON), in creation order. */
  attachments(): { cniNetwork: string; containerId: string; ifname: string; record: string }[] {
    return this.db
      .prepare<[], { cniNetwork: string; containerId: string; ifname: string; record: string }>(
        'SELECT cni_network AS cniNetwork, container_id AS containerId, ifname, record FROM attachments ORDER BY rowid',
      )
      .all();
  }

  putAttachment(key: { cniNetwork: string; containerId: string; ifname: string }, record: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO attachments (cni_network, container_id, ifname, record) VALUES (?, ?, ?, ?)')
      .run(key.cniNetwork, key.containerId, key.ifname, record);
  }

  deleteAttachment(key: { cniNetwork: string; containerId: string; ifname: string }): void {
    this.db.prepare('DELETE FROM attachments WHERE cni_network = ? AND container_id = ? AND ifname = ?').run(key.cniNetwork, key.containerId, key.ifname);
  }

  /** Docker driver records of one kind (network, endpoint, pool), in creation order. */
  dockerObjects(kind: string): { id: string; record: string }[] {
    return this.db.prepare<[string], { id: string; record: string }>('SELECT id, record FROM docker_objects WHERE kind = ? ORDER BY rowid').all(kind);
  }

  putDockerObject(kind: string, id: string, record: string): void {
    this.db.prepare('INSERT OR REPLACE INTO docker_objects (kind, id, record) VALUES (?, ?, ?)').run(kind, id, record);
  }

  deleteDockerObject(kind: string, id: string): void {
    this.db.prepare('DELETE FROM docker_objects WHERE kind = ? AND id = ?').run(kind, id);
  }

  deleteStaticMac(network: string, vlan: number, mac: string): void {
    this.db.prepare('DELETE FROM static_macs WHERE network = ? AND vlan = ? AND mac = ?').run(network, vlan, mac);
  }
}
