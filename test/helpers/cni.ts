// Running the CNI plugin the way a runtime does: exec the installed binary with the CNI_*
// environment and the network config on stdin, against a real memswitchd, with Debian's
// reference plugins (host-local) next to it on CNI_PATH. Everything lives in one temp
// directory that cleanup() removes.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './daemon.js';

export const REFERENCE_PLUGINS = '/usr/lib/cni';

export interface CniRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed: exactly one JSON document, or undefined when stdout is empty. */
  json: Record<string, unknown> | undefined;
  ms: number;
}

export interface CniCall {
  command: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  /** Overrides or removals (undefined) of the environment. */
  env?: Record<string, string | undefined>;
}

function parse(stdout: string): Record<string, unknown> | undefined {
  return stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
}

export class CniEnv {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'msw-cni-'));
  readonly binDir = path.join(this.dir, 'bin');
  readonly infoDir = path.join(this.dir, 'info');
  readonly spoolDir = path.join(this.dir, 'spool');
  readonly ipamDir = path.join(this.dir, 'ipam');
  readonly apiSocket = path.join(this.dir, 'api.sock');
  readonly stateDb = path.join(this.dir, 'state.db');
  readonly plugin = path.join(this.binDir, 'memswitch');

  constructor() {
    // Installed the way an operator does it, into a private CNI_PATH directory.
    const r = spawnSync(path.join(repoRoot, 'bin/memswitch'), ['install-cni', '--dir', this.binDir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`memswitch install-cni failed: ${r.stderr}`);
  }

  /** memswitchd config pointing its CNI directories into this environment. */
  daemonConfig(networks: string[]): string {
    return `
dataplane: { workers: 1 }
networks: [${networks.map((n) => `{ name: ${n} }`).join(', ')}]
cni: { infoDir: ${this.infoDir}, spoolDir: ${this.spoolDir}, socketDir: ${this.dir}/m }
`;
  }

  daemonEnv(): NodeJS.ProcessEnv {
    return { MEMSWITCH_API_SOCKET: this.apiSocket, MEMSWITCH_STATE_DB: this.stateDb };
  }

  /** A plugin config as the runtime hands it over (name and cniVersion from the list). */
  conf(extra: Record<string, unknown> = {}, ipam: Record<string, unknown> | null = { subnet: '10.66.0.0/24' }): Record<string, unknown> {
    return {
      cniVersion: '1.0.0',
      name: 'msw-net',
      type: 'memswitch',
      apiSocket: this.apiSocket,
      spoolDir: this.spoolDir,
      timeoutMs: 5000,
      ...(ipam ? { ipam: { type: 'host-local', ranges: [[{ subnet: ipam.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: this.ipamDir } } : {}),
      ...extra,
    };
  }

  /** A conflist as the shipped one is written: 1.0.0, accepted by 0.4.0 to 1.1.0 runtimes. */
  conflist(name: string, plugins: object[]): string {
    return JSON.stringify({ cniVersion: '1.0.0', cniVersions: ['0.4.0', '1.0.0', '1.1.0'], name, plugins });
  }

  private env(c: CniCall): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      CNI_COMMAND: c.command,
      CNI_CONTAINERID: c.containerId,
      CNI_NETNS: c.netns,
      CNI_IFNAME: c.ifname,
      CNI_ARGS: c.args,
      CNI_PATH: `${this.binDir}:${REFERENCE_PLUGINS}`,
    };
    for (const [k, v] of Object.entries(c.env ?? {})) env[k] = v;
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    return env;
  }

  run(c: CniCall, stdin: Record<string, unknown> | string): CniRun {
    const started = performance.now();
    const r = spawnSync(this.plugin, [], {
      input: typeof stdin === 'string' ? stdin : JSON.stringify(stdin),
      env: this.env(c),
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: parse(r.stdout), ms: performance.now() - started };
  }

  /** The same, without blocking the event loop: for parallel runs. `killAfterMs` SIGKILLs it. */
  runAsync(c: CniCall, stdin: Record<string, unknown>, killAfterMs?: number): Promise<CniRun> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const p = spawn(this.plugin, [], { env: this.env(c), stdio: ['pipe', 'pipe', 'pipe'] });
      if (killAfterMs !== undefined) setTimeout(() => p.kill('SIGKILL'), killAfterMs);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => {
        if (code === null) return resolve({ code, stdout, stderr, json: undefined, ms: performance.now() - started });
        try {
          resolve({ code, stdout, stderr, json: parse(stdout), ms: performance.now() - started });
        } catch (err) {
          reject(new Error(`stdout is not one JSON document: ${stdout}\n${String(err)}`));
        }
      });
      p.stdin.end(JSON.stringify(stdin));
    });
  }

  /** Addresses host-local still holds (its lease files), for leak checks. */
  leases(network = 'msw-net'): string[] {
    try {
      return readdirSync(path.join(this.ipamDir, network)).filter((f) => /^[0-9a-f.:]+$/.test(f));
    } catch {
      return [];
    }
  }

  spooled(): string[] {
    try {
      return readdirSync(this.spoolDir);
    } catch {
      return [];
    }
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
