// Durable network policies and the labels they select by, in the state database: what a
// Kubernetes controller (or an operator) told memswitchd. The ACLs they compile to are not
// stored: they are derived again from these and the attachments on every start.
import type Database from 'better-sqlite3';

export const POLICY_DDL = `
CREATE TABLE IF NOT EXISTS network_policies (
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  spec TEXT NOT NULL,
  PRIMARY KEY (namespace, name)
) STRICT;
CREATE TABLE IF NOT EXISTS pod_labels (
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  labels TEXT NOT NULL,
  ports TEXT NOT NULL,
  PRIMARY KEY (namespace, name)
) STRICT;
CREATE TABLE IF NOT EXISTS namespace_labels (
  namespace TEXT PRIMARY KEY,
  labels TEXT NOT NULL
) STRICT;
`;

export class PolicyStore {
  constructor(private readonly db: Database.Database) {}

  policies(): { namespace: string; name: string; spec: string }[] {
    return this.db.prepare<[], { namespace: string; name: string; spec: string }>('SELECT namespace, name, spec FROM network_policies ORDER BY rowid').all();
  }

  putPolicy(namespace: string, name: string, spec: unknown): void {
    this.db.prepare('INSERT OR REPLACE INTO network_policies (namespace, name, spec) VALUES (?, ?, ?)').run(namespace, name, JSON.stringify(spec));
  }

  deletePolicy(namespace: string, name: string): void {
    this.db.prepare('DELETE FROM network_policies WHERE namespace = ? AND name = ?').run(namespace, name);
  }

  podLabels(): { namespace: string; name: string; labels: string; ports: string }[] {
    return this.db.prepare<[], { namespace: string; name: string; labels: string; ports: string }>('SELECT namespace, name, labels, ports FROM pod_labels ORDER BY rowid').all();
  }

  putPodLabels(namespace: string, name: string, labels: unknown, ports: unknown): void {
    this.db.prepare('INSERT OR REPLACE INTO pod_labels (namespace, name, labels, ports) VALUES (?, ?, ?, ?)').run(namespace, name, JSON.stringify(labels), JSON.stringify(ports));
  }

  deletePodLabels(namespace: string, name: string): void {
    this.db.prepare('DELETE FROM pod_labels WHERE namespace = ? AND name = ?').run(namespace, name);
  }

  namespaceLabels(): { namespace: string; labels: string }[] {
    return this.db.prepare<[], { namespace: string; labels: string }>('SELECT namespace, labels FROM namespace_labels ORDER BY rowid').all();
  }

  putNamespaceLabels(namespace: string, labels: unknown): void {
    this.db.prepare('INSERT OR REPLACE INTO namespace_labels (namespace, labels) VALUES (?, ?)').run(namespace, JSON.stringify(labels));
  }

  deleteNamespaceLabels(namespace: string): void {
    this.db.prepare('DELETE FROM namespace_labels WHERE namespace = ?').run(namespace);
  }
}
