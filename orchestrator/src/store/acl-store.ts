// Durable ACLs and their bindings to interfaces, in the state database, with the rules
// Store keeps: committed before the dataplane is touched and before the answer. Rules are
// JSON re-validated on load (domain/acl-rules.ts). Bindings name interfaces, which may be
// config-file, API or CNI ones: no foreign keys; the ACL domain drops a binding with its
// interface.
import type Database from 'better-sqlite3';

export const ACL_DDL = `
CREATE TABLE IF NOT EXISTS acls (
  name TEXT PRIMARY KEY,
  rules TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS acl_bindings (
  interface TEXT NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  acl TEXT NOT NULL,
  PRIMARY KEY (interface, direction)
) STRICT;
CREATE TABLE IF NOT EXISTS acl_network_bindings (
  network TEXT NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  acl TEXT NOT NULL,
  PRIMARY KEY (network, direction)
) STRICT;
`;

export interface StoredAclBinding {
  interface: string;
  direction: 'in' | 'out';
  acl: string;
}

/** An ACL for every interface of a network (those with their own binding keep theirs). */
export interface StoredNetworkAclBinding {
  network: string;
  direction: 'in' | 'out';
  acl: string;
}

export class AclStore {
  constructor(private readonly db: Database.Database) {}

  acls(): { name: string; rules: string }[] {
    return this.db.prepare<[], { name: string; rules: string }>('SELECT name, rules FROM acls ORDER BY rowid').all();
  }

  putAcl(name: string, rules: unknown): void {
    this.db.prepare('INSERT OR REPLACE INTO acls (name, rules) VALUES (?, ?)').run(name, JSON.stringify(rules));
  }

  deleteAcl(name: string): void {
    this.db.prepare('DELETE FROM acls WHERE name = ?').run(name);
  }

  bindings(): StoredAclBinding[] {
    return this.db.prepare<[], StoredAclBinding>('SELECT interface, direction, acl FROM acl_bindings ORDER BY rowid').all();
  }

  putBinding(b: StoredAclBinding): void {
    this.db.prepare('INSERT OR REPLACE INTO acl_bindings (interface, direction, acl) VALUES (?, ?, ?)').run(b.interface, b.direction, b.acl);
  }

  deleteBinding(iface: string, direction: 'in' | 'out'): void {
    this.db.prepare('DELETE FROM acl_bindings WHERE interface = ? AND direction = ?').run(iface, direction);
  }

  networkBindings(): StoredNetworkAclBinding[] {
    return this.db.prepare<[], StoredNetworkAclBinding>('SELECT network, direction, acl FROM acl_network_bindings ORDER BY rowid').all();
  }

  putNetworkBinding(b: StoredNetworkAclBinding): void {
    this.db.prepare('INSERT OR REPLACE INTO acl_network_bindings (network, direction, acl) VALUES (?, ?, ?)').run(b.network, b.direction, b.acl);
  }

  deleteNetworkBinding(network: string, direction: 'in' | 'out'): void {
    this.db.prepare('DELETE FROM acl_network_bindings WHERE network = ? AND direction = ?').run(network, direction);
  }
}
