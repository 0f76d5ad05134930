// Runs Debian's OVS-DPDK (ovs-vswitchd-dpdk: OVS 3.1 on DPDK 22.11) as a memif L2 switch for
// the benchmarks: bridge br0 (netdev datapath, default NORMAL flow = MAC learning) with two
// memif server ports m0/m1 (ids 0 and 1) on one filesystem socket, one PMD thread.
//
// Everything lives in a private directory (database, sockets, pidfiles) so a system OVS is
// never touched, and ovs-vswitchd runs in its own network namespace because the netdev
// datapath creates tap devices (ovs-netdev, br0) that would otherwise appear on the host.
//
// Peers: OVS gives its non-PMD thread tx queue 0 and the PMD tx queue 1, so memif clients
// need 2 queue pairs (testpmd --rxq=2 --txq=2); all forwarded traffic then uses ring 1.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

export interface OvsDpdkOptions {
  /** Filesystem path of the memif socket both ports listen on, e.g. /tmp/x/memif.sock. */
  socket: string;
  /** CPU the single PMD thread polls on. */
  pmdCpu: number;
  /** CPU for ovs-vswitchd's non-PMD threads and ovsdb-server. */
  mainCpu: number;
  /** ovs-vswitchd's log (ovsdb-server's goes next to it); default a file in the OS temp dir, kept after stop(). */
  logFile?: string;
  /** OpenFlow rules (ovs-ofctl add-flow syntax) that replace the default NORMAL flow; ports are m0, m1. */
  flows?: string[];
}

const VSWITCHD = '/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk';
const OVSDB_SERVER = '/usr/sbin/ovsdb-server';
const OVSDB_TOOL = '/usr/bin/ovsdb-tool';
const VSCTL = '/usr/bin/ovs-vsctl';
const OFCTL = '/usr/bin/ovs-ofctl';
const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
const UNSHARE = '/usr/bin/unshare';
const TASKSET = '/usr/bin/taskset';
// sockaddr_un.sun_path is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH = 107;
// OVS asks for a 256Ki-mbuf shared mempool and halves it on ENOMEM down to 16Ki, so without a
// cap it takes most free hugepages (56 pages with a 128 MB cap, more without). 64 MB lands it
// on 16Ki mbufs, ~25 2 MiB pages in all, which leaves room for the generator.
const SOCKET_LIMIT_MB = 64;
const START_TIMEOUT_MS = 30_000;
const VSCTL_TIMEOUT_S = 10;
const PORTS = ['m0', 'm1'] as const;

// Every live instance, so a benchmark that dies does not leave a PMD spinning on our 2 CPUs.
const live = new Set<OvsDpdk>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const o of live) o.killNow();
  });
}

let instanceCounter = 0;

// Logs are kept after stop() for post-mortems; one directory keeps them from littering /tmp.
function defaultLogFile(): string {
  const dir = join(tmpdir(), 'memswitch-ovs');
  mkdirSync(dir, { recursive: true });
  return join(dir, `ovs-${process.pid}-${++instanceCounter}.log`);
}

function quote(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function cpuMask(cpu: number): string {
  return `0x${(1n << BigInt(cpu)).toString(16)}`;
}

function checkOptions(opts: OvsDpdkOptions): void {
  const s = opts.socket;
  if (!isAbsolute(s)) throw new Error(`ovs-dpdk: socket must be an absolute filesystem path: ${s}`);
  // It goes into a comma-separated devargs list unquoted.
  if (/[,=\s]/.test(s)) throw new Error(`ovs-dpdk: invalid socket path ${JSON.stringify(s)}`);
  if (Buffer.byteLength(s) > MAX_SOCKET_PATH) throw new Error(`ovs-dpdk: socket path longer than ${MAX_SOCKET_PATH} bytes: ${s}`);
  if (!existsSync(dirname(s))) throw new Error(`ovs-dpdk: socket directory does not exist: ${dirname(s)}`);
  const cpus = availableParallelism();
  for (const [what, cpu] of [['pmdCpu', opts.pmdCpu], ['mainCpu', opts.mainCpu]] as const)
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= cpus) throw new Error(`ovs-dpdk: ${what} ${cpu} is not one of CPUs 0-${cpus - 1}`);
  // The main thread would preempt the PMD (and vice versa) on a shared CPU.
  if (opts.pmdCpu === opts.mainCpu) throw new Error(`ovs-dpdk: PMD and main threads both on CPU ${opts.pmdCpu}`);
}

// A daemon we spawned; `gone` is set once it has exited or failed to spawn.
interface Daemon {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<void>;
  gone: string | null;
}

export class OvsDpdk {
  readonly logFile: string;
  /** ovs-vswitchd's command line, for logs and reports. */
  readonly commandLine: string;

  private readonly opts: OvsDpdkOptions;
  private readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly ovsdbLog: string;
  private readonly vswitchdArgv: string[];
  private readonly daemons: Daemon[] = [];
  private stopping: Promise<void> | null = null;

  private constructor(opts: OvsDpdkOptions) {
    checkOptions(opts);
    this.opts = opts;
    this.logFile = opts.logFile ?? defaultLogFile();
    this.ovsdbLog = this.logFile.replace(/(\.log)?$/, '.ovsdb-server.log');
    this.dir = mkdtempSync(join(tmpdir(), 'msw-ovs-'));
    // The OVS tools put their run, database and log files in these directories by default.
    this.env = { ...process.env, OVS_RUNDIR: this.dir, OVS_DBDIR: this.dir, OVS_LOGDIR: this.dir };
    // unshare and taskset exec their command, so the child's pid is ovs-vswitchd's own.
    this.vswitchdArgv = [
      UNSHARE, '--net', '--', TASKSET, '-c', String(opts.mainCpu), VSWITCHD, `unix:${this.db}`,
      `--pidfile=${this.path('ovs-vswitchd.pid')}`, `--unixctl=${this.path('ovs-vswitchd.ctl')}`,
      `--log-file=${this.logFile}`, '-vconsole:off',
    ];
    this.commandLine = quote(this.vswitchdArgv);
  }

  /**
   * Starts ovsdb-server and ovs-vswitchd and resolves once both memif ports are in the
   * datapath without errors. They are servers: a port's link comes up when a client connects.
   */
  static async start(opts: OvsDpdkOptions): Promise<OvsDpdk> {
    const o = new OvsDpdk(opts);
    live.add(o);
    installExitHook();
    try {
      await o.doStart();
    } catch (err) {
      await o.stop();
      throw err;
    }
    return o;
  }

  /**
   * SIGKILL for both daemons (ovs-vswitchd may ignore SIGTERM once a memif peer is gone), then
   * removes the memif socket and the private directory; the logs stay.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** Synchronous last resort for process exit: no waiting, just make sure nothing keeps polling. */
  killNow(): void {
    for (const d of this.daemons) if (d.gone === null) d.child.kill('SIGKILL');
    this.removeFiles();
  }

  private get db(): string {
    return this.path('db.sock');
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  private async doStart(): Promise<void> {
    const { mainCpu, pmdCpu, socket } = this.opts;
    this.run(OVSDB_TOOL, ['create', this.path('conf.db'), SCHEMA]);
    const ovsdb = this.spawnDaemon('ovsdb-server', this.ovsdbLog, [
      TASKSET, '-c', String(mainCpu), OVSDB_SERVER, this.path('conf.db'), `--remote=punix:${this.db}`,
      `--pidfile=${this.path('ovsdb-server.pid')}`, `--unixctl=${this.path('ovsdb-server.ctl')}`,
      `--log-file=${this.ovsdbLog}`, '-vconsole:off',
    ]);
    await this.waitFor('ovsdb-server to listen', ovsdb, () => existsSync(this.db));

    // DPDK does not unlink a stale socket file before bind (as in testpmd.ts).
    rmSync(socket, { force: true });
    // All of it goes in before ovs-vswitchd starts: DPDK reads its options only at start-up.
    const ports = PORTS.flatMap((name, id) => [
      '--', 'add-port', 'br0', name, '--', 'set', 'Interface', name, 'type=dpdk',
      `options:dpdk-devargs=net_memif${id},role=server,socket=${socket},socket-abstract=no,id=${id}`,
      // Clients with 2 queue pairs spread their frames over both rings; poll both.
      'options:n_rxq=2',
    ]);
    this.vsctl(
      'init',
      '--', 'set', 'Open_vSwitch', '.',
      'other_config:dpdk-init=true',
      `other_config:pmd-cpu-mask=${cpuMask(pmdCpu)}`,
      `other_config:dpdk-lcore-mask=${cpuMask(mainCpu)}`,
      // No PCI device and no hugetlbfs mount here; --in-memory maps anonymous hugepages.
      'other_config:dpdk-extra="--in-memory --no-pci"',
      `other_config:dpdk-socket-limit=${SOCKET_LIMIT_MB}`,
      '--', 'add-br', 'br0', '--', 'set', 'Bridge', 'br0', 'datapath_type=netdev',
      ...ports,
    );

    const vswitchd = this.spawnDaemon('ovs-vswitchd', this.logFile, this.vswitchdArgv);
    await this.waitFor('both memif ports', vswitchd, () => {
      const states = PORTS.map((name) => this.portState(name));
      const failed = states.find((s) => s.error !== undefined);
      if (failed !== undefined) throw this.error(`ovs-dpdk: ${failed.error}`, this.logFile);
      return states.every((s) => s.ofport > 0);
    });
    if (this.errorLines(this.logFile).some((l) => /\bm[01]\b|memif/.test(l)))
      throw this.error('ovs-dpdk: ovs-vswitchd logged errors for the memif ports', this.logFile);
    if (this.opts.flows) {
      // ovs-ofctl finds br0's management socket in OVS_RUNDIR.
      this.run(OFCTL, ['del-flows', 'br0']);
      for (const flow of this.opts.flows) this.run(OFCTL, ['add-flow', 'br0', flow]);
    }
  }

  private portState(name: string): { ofport: number; error?: string } {
    const [ofport = '', error = ''] = this.vsctl('get', 'Interface', name, 'ofport', 'error').split('\n').map((s) => s.trim());
    // ofport is [] until vswitchd has set the port up and -1 if that failed; error is [] or a quoted string.
    if (error !== '' && error !== '[]') return { ofport: -1, error: `${name}: ${unquote(error)}` };
    if (ofport === '-1') return { ofport: -1, error: `${name}: ofport -1` };
    return { ofport: Number(ofport) || 0 };
  }

  private vsctl(...args: string[]): string {
    return this.run(VSCTL, [`--db=unix:${this.db}`, '--no-wait', `--timeout=${VSCTL_TIMEOUT_S}`, ...args]);
  }

  private run(bin: string, args: string[]): string {
    const r = spawnSync(bin, args, { env: this.env, encoding: 'utf8', timeout: (VSCTL_TIMEOUT_S + 5) * 1000 });
    if (r.status !== 0) {
      const why = r.error !== undefined ? r.error.message : `exit ${r.status}, signal ${r.signal}`;
      throw new Error(`ovs-dpdk: ${quote([bin, ...args])} failed (${why}): ${r.stderr}`);
    }
    return r.stdout;
  }

  private spawnDaemon(name: string, logFile: string, [bin, ...args]: string[]): Daemon {
    // stdout/stderr go to the log too: DPDK prints EAL failures there, not through vlog.
    const fd = openSync(logFile, 'a');
    try {
      const child = spawn(bin!, args, { env: this.env, stdio: ['ignore', fd, fd] });
      const d: Daemon = { name, child, logFile, gone: null, exited: Promise.resolve() };
      d.exited = new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          d.gone ??= `exited (code ${code}, signal ${signal})`;
          resolve();
        });
        // 'exit' may not follow a failed spawn.
        child.once('error', (err) => {
          d.gone ??= `failed to spawn: ${err.message}`;
          resolve();
        });
      });
      this.daemons.push(d);
      return d;
    } finally {
      closeSync(fd);
    }
  }

  private async waitFor(what: string, d: Daemon, ready: () => boolean): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (d.gone !== null) throw this.error(`ovs-dpdk: ${d.name} ${d.gone} while waiting for ${what}`, d.logFile);
      if (ready()) return;
      if (Date.now() > deadline) throw this.error(`ovs-dpdk: timed out after ${START_TIMEOUT_MS} ms waiting for ${what}`, d.logFile);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async doStop(): Promise<void> {
    for (const d of this.daemons) if (d.gone === null) d.child.kill('SIGKILL');
    await Promise.all(this.daemons.map((d) => d.exited));
    this.removeFiles();
    live.delete(this);
  }

  private removeFiles(): void {
    // A killed memif server leaves its socket file behind.
    rmSync(this.opts.socket, { force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }

  private errorLines(logFile: string): string[] {
    return readLines(logFile).filter((l) => /\|(ERR|EMER)\||FATAL|Cannot init/.test(l));
  }

  private error(message: string, logFile: string): Error {
    return new Error(
      `${message}\ncommand: ${this.commandLine}\nlog: ${logFile}\n--- error lines ---\n${this.errorLines(logFile).slice(-10).join('\n')}\n--- last lines ---\n${readLines(logFile).slice(-25).join('\n')}`,
    );
  }
}

// ovs-vsctl prints a string column as a JSON-style quoted string.
function unquote(s: string): string {
  try {
    return String(JSON.parse(s));
  } catch {
    return s;
  }
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  } catch {
    return []; // no log yet: the command line in the error says what ran
  }
}

/** Whether this machine can run OVS-DPDK; use it to skip the OVS comparison. */
export function ovsDpdkAvailable(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `OVS-DPDK needs Linux, not ${process.platform}` };
  for (const bin of [VSWITCHD, OVSDB_SERVER, OVSDB_TOOL, VSCTL, UNSHARE, TASKSET]) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      return { ok: false, reason: `${bin} not found or not executable (apt-get install openvswitch-switch-dpdk)` };
    }
  }
  if (!existsSync(SCHEMA)) return { ok: false, reason: `${SCHEMA} not found` };
  if (availableParallelism() < 2) return { ok: false, reason: 'OVS-DPDK needs two CPUs (PMD + main thread)' };
  return { ok: true };
}
