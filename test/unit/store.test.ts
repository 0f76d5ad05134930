// The state database on its own: durability settings, round trips, cascades, and a
// stored row that no longer validates failing loudly instead of being half-applied.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../orchestrator/src/store/store.js';

const dirs: string[] = [];
function dbPath(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'msw-store-'));
  dirs.push(dir);
  return path.join(dir, 'nested/state.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const memif = (name: string, id: number) => ({ name, kind: 'memif' as const, network: 'blue', socket: '/run/x.sock', id });

describe('Store', () => {
  it('opens in WAL mode with synchronous=FULL, creating its directory', () => {
    const file = dbPath();
    const s = Store.open(file);
    expect(s.durability()).toEqual({ journalMode: 'wal', synchronous: 2 }); // 2 = FULL
    s.close();
    const db = new Database(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal'); // persistent in the file
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    db.close();
  });

  it('keeps the database (memif secrets) and its WAL readable by the owner only', () => {
    const file = dbPath();
    const old = process.umask(0o022);
    try {
      const s = Store.open(file);
      s.putNetwork('blue'); // a commit: the WAL exists and holds it
      for (const f of [file, `${file}-wal`]) expect((statSync(f).mode & 0o777).toString(8), f).toBe('600');
      s.close();
    } finally {
      process.umask(old);
    }
  });

  it('round-trips networks, interfaces, admin state and static MACs across reopen', () => {
    const file = dbPath();
    let s = Store.open(file);
    s.putNetwork('blue');
    s.putInterface(memif('a', 1));
    s.putInterface(memif('b', 2));
    s.setAdminUp('a', false);
    s.putStaticMac({ network: 'blue', vlan: 0, mac: '02:00:00:00:00:01', interface: 'a' });
    s.putStaticMac({ network: 'blue', vlan: 0, mac: '02:00:00:00:00:02', interface: 'b' });
    s.close();
    s = Store.open(file);
    expect(s.networks()).toEqual(['blue']);
    expect(s.interfaces().map((i) => i.name)).toEqual(['a', 'b']);
    expect(s.adminDown()).toEqual(['a']);
    s.deleteInterface('a'); // takes its admin state and static MACs with it
    expect(s.adminDown()).toEqual([]);
    expect(s.staticMacs().map((e) => e.interface)).toEqual(['b']);
    s.close();
  });

  it('rolls a failed transaction back completely', () => {
    const s = Store.open(dbPath());
    expect(() =>
      s.transaction(() => {
        s.putNetwork('red');
        throw new Error('apply failed');
      }),
    ).toThrow('apply failed');
    expect(s.networks()).toEqual([]);
    s.close();
  });

  it('refuses a stored interface that no longer validates, naming it', () => {
    const file = dbPath();
    Store.open(file).close();
    const db = new Database(file);
    db.prepare('INSERT INTO interfaces (name, spec) VALUES (?, ?)').run('bad', JSON.stringify({ ...memif('bad', 1), vlan: 5000 }));
    db.close();
    const s = Store.open(file);
    expect(() => s.interfaces()).toThrow(/stored interface bad is invalid/);
    s.close();
  });

  it('refuses a database from a newer memswitchd', () => {
    const file = dbPath();
    Store.open(file).close();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    expect(() => Store.open(file)).toThrow(/schema 99 is newer/);
  });
});
