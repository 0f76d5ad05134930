// `memswitch install-cni`, as the DaemonSet's init container runs it: the plugin (with a
// copy of node next to it, for hosts without Node.js) and the conflist, into temp dirs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { repoRoot } from '../helpers/daemon.js';

const dir = mkdtempSync(path.join(tmpdir(), 'msw-install-'));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const install = (args: string[]) => spawnSync(path.join(repoRoot, 'bin/memswitch'), ['install-cni', ...args], { encoding: 'utf8' });

it('installs the plugin with its own node and the shipped conflist; refuses a broken conflist', () => {
  const bin = path.join(dir, 'opt/cni/bin');
  const conf = path.join(dir, 'etc/cni/net.d');
  const r = install(['--dir', bin, '--copy-node', '--conflist', path.join(repoRoot, 'deploy/memswitch-memif.conflist'), '--conf-dir', conf]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const plugin = path.join(bin, 'memswitch');
  expect(statSync(plugin).mode & 0o777).toBe(0o755);
  expect(readFileSync(plugin, 'utf8').split('\n')[0]).toBe(`#!${path.join(bin, 'memswitch-node')}`);
  // The installed file runs by itself, with the copied node, from an empty environment.
  const v = spawnSync(plugin, [], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}', encoding: 'utf8' });
  expect(v.status).toBe(0);
  expect(JSON.parse(v.stdout)).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  const list = JSON.parse(readFileSync(path.join(conf, 'memswitch-memif.conflist'), 'utf8')) as { cniVersion: string; cniVersions: string[] };
  expect(list).toMatchObject({ cniVersion: '1.0.0', cniVersions: ['0.4.0', '1.0.0', '1.1.0'] });

  const broken = path.join(dir, 'broken.conflist');
  writeFileSync(broken, '{"cniVersion": ');
  const bad = install(['--dir', bin, '--conflist', broken, '--conf-dir', conf]);
  expect(bad.status).toBe(1);
  expect(bad.stderr).toMatch(/^memswitch: .*broken\.conflist: not valid JSON/);
  expect(() => statSync(path.join(conf, 'broken.conflist'))).toThrow();
});
