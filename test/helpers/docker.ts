// A private dockerd (Debian's docker.io 20.10) for tests: its own data root, exec root,
// pidfile, API socket and config file, no iptables and no bridge, with the containerd it
// manages under its exec root (the containers' netns files too). Some paths cannot be
// made private: Docker finds plugins only in /run/docker/plugins (by file name), so the
// test's plugin socket there has a unique name, and containerd 1.6 puts its shims'
// sockets in /run/containerd/s; the directories this instance had to create there are
// removed afterwards. A private mount namespace (as in containerd.ts) would hide the netns
// files from memswitchd, which must see them, so dockerd runs in the machine's.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { killMatching, terminate } from './processes.js';

export const DOCKERD = '/usr/sbin/dockerd';
export const DOCKER = '/usr/bin/docker'; // Debian's client, not whatever else is on PATH
export const PLUGIN_DIR = '/run/docker/plugins';

/** What the test needs on the machine, or why not (for a clear failure, never a skip). */
export function dockerMissing(): string | undefined {
  for (const bin of [DOCKERD, DOCKER]) if (!existsSync(bin)) return `${bin} is missing: run scripts/setup.sh (apt-get install docker.io)`;
  for (const bin of ['containerd', 'containerd-shim-runc-v2', 'runc'])
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is not installed: run scripts/setup.sh (apt-get install docker.io)`;
  return undefined;
}

export interface DockerResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class Dockerd {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'msw-docker-'));
  readonly socket = path.join(this.dir, 'docker.sock');
  readonly execRoot = path.join(this.dir, 'exec');
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  /** Machine directories that did not exist before this instance: removeMachineDirs() removes them. */
  private readonly made: string[] = [];
  log = '';

  /** A plugin socket path for `name` (the driver name): what memswitchd should listen on. */
  static pluginSocket(name: string): string {
    return path.join(PLUGIN_DIR, `${name}.sock`);
  }

  static async start(): Promise<Dockerd> {
    const d = new Dockerd();
    try {
      await d.boot();
    } catch (err) {
      await d.stop();
      throw err;
    }
    return d;
  }

  private async boot(): Promise<void> {
    for (const dir of ['/run/docker', PLUGIN_DIR, '/run/containerd'])
      if (!existsSync(dir)) {
        mkdirSync(dir, { recursive: true });
        this.made.unshift(dir);
      }
    const config = path.join(this.dir, 'daemon.json');
    // Not the machine's /etc/docker/daemon.json; and its trust key, which 20.10 still makes,
    // not in /etc/docker/key.json.
    writeFileSync(config, `${JSON.stringify({ 'deprecated-key-path': path.join(this.dir, 'key.json') })}\n`);
    const args = [
      '--data-root', path.join(this.dir, 'root'),
      '--exec-root', this.execRoot,
      '--pidfile', path.join(this.dir, 'docker.pid'),
      '--host', `unix://${this.socket}`,
      '--config-file', config,
      '--iptables=false',
      '--ip6tables=false',
      '--ip-masq=false',
      '--bridge=none',
      '--userland-proxy=false',
    ];
    const proc = spawn(DOCKERD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.exited = new Promise((resolve) => proc.on('exit', () => resolve()));
    const end = Date.now() + 30_000;
    while (!this.log.includes('API listen on')) {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`dockerd did not start (exit ${proc.exitCode}):\n${this.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** `docker ARGS` against this dockerd, with a private client config. */
  docker(args: string[], timeoutMs = 60_000): DockerResult {
    const r = spawnSync(DOCKER, ['--host', `unix://${this.socket}`, ...args], {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { ...process.env, DOCKER_CONFIG: path.join(this.dir, 'cli') },
    });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
  }

  /** `docker ARGS`, which must succeed; its stdout, trimmed. */
  dockerOk(args: string[], timeoutMs?: number): string {
    const r = this.docker(args, timeoutMs);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout.trim();
  }

  /** Removes every container (their endpoints with them) and every network but Docker's own. */
  removeAll(): void {
    if (this.proc?.exitCode !== null) return;
    const ids = this.docker(['ps', '--all', '--quiet']).stdout.split('\n').filter(Boolean);
    if (ids.length) this.docker(['rm', '--force', ...ids]);
    const nets = this.docker(['network', 'ls', '--quiet', '--filter', 'type=custom']).stdout.split('\n').filter(Boolean);
    if (nets.length) this.docker(['network', 'rm', ...nets]);
  }

  /** Containers, dockerd and its containerd and shims, mounts under the exec root, the directory
   * (not the machine directories: the plugin may still be listening in one). */
  async stop(): Promise<void> {
    try {
      this.removeAll();
    } finally {
      await terminate(this.proc, this.exited, 15_000);
      // Shims outlive dockerd by design; ours name our exec root.
      killMatching((cmdline) => (cmdline.includes('containerd') || cmdline.includes('docker')) && cmdline.includes(this.dir));
      // Netns files and the data root's overlay mounts, deepest first.
      const mounts = readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m.startsWith(`${this.dir}/`))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) spawnSync('umount', ['--lazy', m]);
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** /run/docker/plugins and the like, if this instance made them and they hold nothing but
   * empty directories now (containerd leaves /run/containerd/s behind). */
  removeMachineDirs(): void {
    const empty = (dir: string): boolean => readdirSync(dir, { withFileTypes: true }).every((e) => e.isDirectory() && empty(path.join(dir, e.name)));
    for (const dir of this.made) {
      try {
        if (empty(dir)) rmSync(dir, { recursive: true });
      } catch {
        // another user of the directory removed it already
      }
    }
  }
}
