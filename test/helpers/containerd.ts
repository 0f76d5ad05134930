// A private containerd (Debian's 1.6) for tests, and `ctr` pointed at it, with nothing
// shared with the machine's own containerd, CNI config or CNI cache.
//
// containerd takes --root, --state and the socket from its config, but 1.6 still puts
// some things under /run/containerd whatever the config says: shim sockets
// (/run/containerd/s), runc's state (/run/containerd/runc) and ctr's I/O fifos
// (/run/containerd/fifo). And `ctr run --cni` is go-cni inside ctr, not containerd: it
// reads neither containerd's config nor the environment, only go-cni's defaults, which
// are fixed: the first config in /etc/cni/net.d, plugins from /opt/cni/bin and then
// /usr/lib/cni (Debian's patch), results cached in /var/lib/cni. So containerd and every
// ctr run in a private mount namespace (unshare) in which /run/containerd is this
// instance's own directory, and ctr's /etc/cni/net.d, /opt/cni/bin and /var/lib/cni are
// the test's (where such a path does not exist on the machine, its nearest existing parent
// is replaced by a skeleton directory holding just that path: /run, /opt, /var/lib here).
// Nothing is mounted or written outside the test's directories on the host.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { killMatching, terminate } from './processes.js';

export interface CtrCni {
  /** Becomes /etc/cni/net.d: go-cni takes the first (sorted) config in it, so one network per dir. */
  confDir: string;
  /** Becomes /opt/cni/bin; Debian's reference plugins stay on /usr/lib/cni. */
  binDir: string;
}

export interface CtrResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A long-running `ctr ...` (e.g. a foreground `ctr run`): its output so far and its exit. */
export interface CtrProcess {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

/** What the test needs on the machine, or why not (for a clear failure, never a skip). */
export function containerdMissing(): string | undefined {
  for (const [bin, pkg] of [['containerd', 'containerd'], ['ctr', 'containerd'], ['containerd-shim-runc-v2', 'containerd'], ['runc', 'runc'], ['unshare', 'util-linux']] as const)
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is not installed: run scripts/setup.sh (apt-get install ${pkg})`;
  if (!existsSync('/usr/lib/cni/host-local')) return '/usr/lib/cni/host-local is missing: run scripts/setup.sh (apt-get install containernetworking-plugins)';
  return undefined;
}

/**
 * argv that runs `cmd` in a new private mount namespace with each [source, target]
 * bind-mounted in order (targets must exist there; later ones may lie inside earlier ones).
 */
export function withPrivateMounts(binds: [string, string][], cmd: string[]): string[] {
  const script = [...binds.map((_, i) => `mount --bind "\${${2 * i + 1}}" "\${${2 * i + 2}}"`), `shift ${2 * binds.length}`, 'exec "$@"'].join(' && ');
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', ...binds.flat(), ...cmd];
}

/**
 * Binds that make `target` show `source` in a private mount namespace. A target missing
 * on the machine cannot be a mount point: its nearest existing parent is replaced by a
 * skeleton (under `dir`) that holds only the path down to the target.
 */
export function shadow(dir: string, target: string, source: string): [string, string][] {
  let parent = target;
  while (!existsSync(parent)) parent = path.dirname(parent);
  if (parent === target) return [[source, target]];
  if (['/', '/etc', '/usr', '/proc', '/sys', '/dev'].includes(parent)) throw new Error(`cannot give ${target} a private copy: ${parent} would have to be replaced; create ${target}`);
  const skeleton = path.join(dir, `skeleton${parent.replaceAll('/', '-')}`);
  mkdirSync(path.join(skeleton, path.relative(parent, target)), { recursive: true });
  return [
    [skeleton, parent],
    [source, target],
  ];
}

export class Containerd {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'msw-ctrd-'));
  readonly socket = path.join(this.dir, 'containerd.sock');
  /** /run/containerd inside the namespaces: {s,runc,fifo} land here. */
  readonly runDir = path.join(this.dir, 'run-containerd');
  /** /var/lib/cni for ctr: libcni's cache. */
  private readonly cniCacheDir = path.join(this.dir, 'var-lib-cni');
  private readonly binds: [string, string][] = [...shadow(this.dir, '/run/containerd', this.runDir), ...shadow(this.dir, '/var/lib/cni', this.cniCacheDir)];
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private readonly ctrs: CtrProcess[] = [];
  log = '';

  /** Starts containerd on its own root, state, socket and /run; CRI and /opt plugins off. */
  static async start(): Promise<Containerd> {
    const c = new Containerd();
    try {
      await c.boot();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private async boot(): Promise<void> {
    for (const d of [this.runDir, this.cniCacheDir]) mkdirSync(d, { recursive: true });
    const config = path.join(this.dir, 'config.toml');
    // CRI would watch its own CNI dirs and serve kubelet: not what ctr uses, so off; the
    // "opt" plugin would create /opt/containerd on the host.
    writeFileSync(
      config,
      `version = 2
root = "${this.dir}/root"
state = "${this.dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]
[grpc]
  address = "${this.socket}"
[ttrpc]
  address = "${this.socket}.ttrpc"
`,
    );
    const argv = withPrivateMounts(this.binds, ['containerd', '--config', config]);
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.exited = new Promise((resolve) => proc.on('exit', () => resolve()));
    const end = Date.now() + 15_000;
    while (!this.log.includes('containerd successfully booted')) {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`containerd did not start (exit ${proc.exitCode}):\n${this.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private argv(args: string[], cni?: CtrCni): string[] {
    const binds = [...this.binds];
    if (cni) binds.push(...shadow(this.dir, '/etc/cni/net.d', cni.confDir), ...shadow(this.dir, '/opt/cni/bin', cni.binDir));
    return withPrivateMounts(binds, ['ctr', '--address', this.socket, ...args]);
  }

  /** `ctr ARGS` to completion. */
  ctr(args: string[], opts: { cni?: CtrCni; timeoutMs?: number } = {}): CtrResult {
    const argv = this.argv(args, opts.cni);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000 });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
  }

  /** `ctr ARGS`, which must succeed; its stdout. */
  ctrOk(args: string[], opts: { cni?: CtrCni; timeoutMs?: number } = {}): string {
    const r = this.ctr(args, opts);
    if (r.code !== 0) throw new Error(`ctr ${args.join(' ')}: exit ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** `ctr ARGS` left running (a foreground `ctr run`); stop() kills it if it is still there. */
  spawnCtr(args: string[], opts: { cni?: CtrCni } = {}): CtrProcess {
    const argv = this.argv(args, opts.cni);
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const p: CtrProcess = { proc, stdout: '', stderr: '', exited: new Promise((resolve) => proc.on('close', (code) => resolve(code))) };
    proc.stdout!.on('data', (d: Buffer) => (p.stdout += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (p.stderr += d.toString()));
    this.ctrs.push(p);
    return p;
  }

  /** The results ctr's libcni cached (/var/lib/cni/results, "<network>-<containerId>-<ifname>"): ADD writes one, DEL removes it. */
  cniCache(): string[] {
    try {
      return readdirSync(path.join(this.cniCacheDir, 'results'));
    } catch {
      return [];
    }
  }

  /** Kills every task (SIGKILL) and removes every container and its snapshot. */
  async removeAll(): Promise<void> {
    if (this.proc?.exitCode !== null) return;
    const list = (what: string) => this.ctr([what, 'ls', '--quiet']).stdout.split('\n').filter(Boolean);
    const tasks = this.ctr(['task', 'ls']).stdout.split('\n').slice(1).map((l) => l.split(/\s+/)[0]!).filter(Boolean);
    for (const t of tasks) this.ctr(['task', 'kill', '--signal', 'SIGKILL', t]);
    // A foreground `ctr run` whose task died runs its CNI DEL and deletes the task: let it.
    await Promise.race([Promise.all(this.ctrs.map((p) => p.exited)), new Promise((r) => setTimeout(r, 10_000))]);
    for (const p of this.ctrs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    this.ctrs.length = 0;
    for (const t of tasks) this.ctr(['task', 'delete', '--force', t]);
    for (const c of list('containers')) this.ctr(['containers', 'delete', c]);
  }

  /** Everything: tasks, containers, containerd, any shim of ours left over, the directory. */
  async stop(): Promise<void> {
    try {
      await this.removeAll();
    } finally {
      await terminate(this.proc, this.exited, 10_000);
      // Shims outlive containerd by design; ours are the ones that name our socket.
      killMatching((cmdline) => cmdline.includes('containerd-shim') && cmdline.includes(`\0${this.socket}\0`));
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
