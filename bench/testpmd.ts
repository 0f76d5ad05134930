// Runs Debian's dpdk-testpmd (DPDK 22.11) as a memif peer for tests and benchmarks.
// Behaviour this relies on is documented in /work/shared/docs/memif-protocol.md §5, §7, §8.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

export interface MemifVdev {
  role: 'server' | 'client';
  id?: number;
  /** Filesystem path, or '@name' for an abstract socket. */
  socket: string;
  secret?: string;
  mac?: string;
  bsize?: number;
  /** log2 of the ring size. */
  rsize?: number;
  /** Client only; adds --single-file-segments (doc §4.7). */
  zeroCopy?: boolean;
}

export interface TestpmdOptions {
  /** One memif port per entry: port i = vdevs[i]. */
  vdevs: MemifVdev[];
  // icmpecho answers ARP requests for any address and ICMP echo requests: a ping target.
  forwardMode: 'io' | 'mac' | 'txonly' | 'rxonly' | 'icmpecho' | '5tswap';
  txFirst?: boolean;
  /** ethPeers[i] is the destination MAC used on port i (--eth-peer=i,MAC). */
  ethPeers?: string[];
  /** Frame size for txonly (--txpkts). */
  txPkts?: number;
  burst?: number;
  /** CPU of the forwarding lcore. */
  forwardingCpu: number;
  /** CPU of the main lcore (which mostly sleeps); defaults to the "other" of CPUs 0/1. */
  mainCpu?: number;
  /** hugepages => --in-memory (needs free 2 MiB pages, no mount); nohuge => --no-huge -m 256. */
  memory?: 'hugepages' | 'nohuge';
  filePrefix?: string;
  /** --total-num-mbufs; 16384 keeps one instance at ~26 hugepages (doc §8.1). */
  totalNumMbufs?: number;
  extraEal?: string[];
  /** Extra testpmd application arguments (after "--"), e.g. ['--rxq=2', '--txq=2']. */
  extraArgs?: string[];
  /** Where stdout/stderr go; default a file in the OS temp dir. */
  logFile?: string;
  binary?: string;
  /** How long start() waits for forwarding to begin. */
  startTimeoutMs?: number;
}

export interface TestpmdExit {
  code: number | null;
  signal: string | null;
  /** SIGSEGV/SIGBUS or exit 139: the known DPDK 22.11 memif teardown race (doc §8.3). */
  crashed: boolean;
}

interface PortStats {
  rxPps: number[];
  txPps: number[];
  rxPackets: number;
  txPackets: number;
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

const DEFAULT_BINARY = '/usr/bin/dpdk-testpmd';
const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';
// sockaddr_un.sun_path is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH = 107;
// testpmd clears the screen before every stats block; keep logs readable.
const ANSI_ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]/g;

// Every live instance, so a test process that dies does not leave pollers spinning on our 2 CPUs.
const live = new Set<Testpmd>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const t of live) t.killNow();
  });
}

let prefixCounter = 0;

// Logs are kept after stop() for post-mortems; one directory keeps them from littering /tmp.
function defaultLogFile(filePrefix: string): string {
  const dir = join(tmpdir(), 'memswitch-testpmd');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${filePrefix}.log`);
}

function isAbstract(socket: string): boolean {
  return socket.startsWith('@');
}

function checkDevargValue(what: string, value: string): void {
  // Devargs are a comma-separated key=value list; these would split or corrupt it.
  if (/[,=\s]/.test(value) || value.length === 0) throw new Error(`testpmd: invalid ${what} ${JSON.stringify(value)}`);
}

function vdevArg(v: MemifVdev, index: number): string {
  const parts = [`net_memif${index}`, `role=${v.role}`, `id=${v.id ?? 0}`];
  if (isAbstract(v.socket)) {
    const name = v.socket.slice(1);
    checkDevargValue('abstract socket name', name);
    // DPDK's default is abstract (doc §2.1); say so anyway so the command line is self-explanatory.
    parts.push(`socket=${name}`, 'socket-abstract=yes');
  } else {
    checkDevargValue('socket path', v.socket);
    if (!isAbsolute(v.socket)) throw new Error(`testpmd: socket path must be absolute or '@name': ${v.socket}`);
    if (Buffer.byteLength(v.socket) > MAX_SOCKET_PATH) throw new Error(`testpmd: socket path longer than ${MAX_SOCKET_PATH} bytes: ${v.socket}`);
    parts.push(`socket=${v.socket}`, 'socket-abstract=no');
  }
  if (v.mac !== undefined) {
    checkDevargValue('mac', v.mac);
    parts.push(`mac=${v.mac}`);
  }
  if (v.secret !== undefined) {
    checkDevargValue('secret', v.secret);
    parts.push(`secret=${v.secret}`);
  }
  if (v.bsize !== undefined) parts.push(`bsize=${v.bsize}`);
  if (v.rsize !== undefined) parts.push(`rsize=${v.rsize}`);
  if (v.zeroCopy === true) parts.push('zero-copy=yes');
  return `--vdev=${parts.join(',')}`;
}

/** Builds the full argv (without the binary). Exported for tests and for printing in reports. */
export function buildTestpmdArgs(opts: TestpmdOptions, filePrefix: string): string[] {
  if (opts.vdevs.length === 0 && !(opts.extraEal ?? []).some((a) => a.startsWith('--vdev='))) throw new Error('testpmd: at least one vdev is required');
  const fwd = opts.forwardingCpu;
  const main = opts.mainCpu ?? (fwd === 0 ? 1 : 0);
  // testpmd needs a main lcore plus a forwarding lcore (doc §8.1); they must not share a CPU
  // or the forwarding poller gets preempted by the stats printer.
  if (main === fwd) throw new Error(`testpmd: main and forwarding lcore both on CPU ${fwd}`);

  const eal = ['--lcores', `0@${main},1@${fwd}`, '--file-prefix', filePrefix, '--no-pci'];
  if ((opts.memory ?? 'hugepages') === 'hugepages') eal.push('--in-memory');
  else eal.push('--no-huge', '-m', '256');
  if (opts.vdevs.some((v) => v.zeroCopy === true)) eal.push('--single-file-segments');
  opts.vdevs.forEach((v, i) => eal.push(vdevArg(v, i)));
  eal.push(...(opts.extraEal ?? []));

  const app = [`--forward-mode=${opts.forwardMode}`];
  if (opts.txFirst === true) app.push('--tx-first');
  opts.ethPeers?.forEach((mac, i) => {
    if (mac !== '') app.push(`--eth-peer=${i},${mac}`);
  });
  if (opts.txPkts !== undefined) app.push(`--txpkts=${opts.txPkts}`);
  if (opts.burst !== undefined) app.push(`--burst=${opts.burst}`);
  // --stats-period keeps the non-interactive testpmd running (without it, "Press enter to exit"
  // reads EOF from stdin and it quits at once) and gives us the per-second samples.
  app.push(`--total-num-mbufs=${opts.totalNumMbufs ?? 16384}`, '--stats-period=1');
  app.push(...(opts.extraArgs ?? []));
  return [...eal, '--', ...app];
}

export class Testpmd {
  readonly args: readonly string[];
  readonly binary: string;
  readonly filePrefix: string;
  readonly logFile: string;

  private readonly child: ChildProcess;
  private readonly logStream: WriteStream;
  private readonly serverSockets: string[];
  private readonly nPorts: number;
  private readonly ports = new Map<number, PortStats>();
  private text = '';
  private partialLine = '';
  // Parser state for the periodic "Port statistics" blocks.
  private section: number | null = null;
  private sectionValues: Partial<Record<'rxPkts' | 'txPkts' | 'rxPps' | 'txPps', number>> = {};
  private sectionsInBlock = 0;
  private periodCount = 0;
  private waiters: Waiter[] = [];
  private exitInfo: TestpmdExit | null = null;
  private readonly closed: Promise<TestpmdExit>;
  private spawnError: Error | null = null;
  private stopping: Promise<TestpmdExit> | null = null;

  private constructor(opts: TestpmdOptions) {
    this.binary = opts.binary ?? process.env['TESTPMD'] ?? DEFAULT_BINARY;
    this.filePrefix = opts.filePrefix ?? `msw${process.pid}_${++prefixCounter}_${Math.random().toString(36).slice(2, 8)}`;
    this.args = buildTestpmdArgs(opts, this.filePrefix);
    this.logFile = opts.logFile ?? defaultLogFile(this.filePrefix);
    // memif ports from `vdevs`, then any other --vdev given raw in extraEal (e.g. net_af_xdp).
    this.nPorts = opts.vdevs.length + (opts.extraEal ?? []).filter((a) => a.startsWith('--vdev=')).length;
    this.serverSockets = opts.vdevs.filter((v) => v.role === 'server' && !isAbstract(v.socket)).map((v) => v.socket);
    for (let i = 0; i < this.nPorts; i++) this.ports.set(i, { rxPps: [], txPps: [], rxPackets: 0, txPackets: 0 });

    for (const path of this.serverSockets) {
      // DPDK does not unlink a stale file before bind; a crashed server leaves one behind
      // and the next bind fails with "Address already in use" (doc §8.2).
      rmSync(path, { force: true });
      if (!existsSync(dirname(path))) throw new Error(`testpmd: socket directory does not exist: ${dirname(path)}`);
    }

    this.logStream = createWriteStream(this.logFile, { flags: 'w' });
    this.logStream.on('error', () => {}); // the in-memory log is authoritative; a full /tmp must not crash the test
    this.child = spawn(this.binary, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    installExitHook();

    this.child.stdout?.setEncoding('utf8').on('data', (s: string) => this.onOutput(s));
    this.child.stderr?.setEncoding('utf8').on('data', (s: string) => this.onOutput(s));
    this.closed = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.spawnError = err;
        // 'close' may not follow a failed spawn; settle here too.
        this.onClosed(null, null, resolve);
      });
      this.child.once('close', (code, signal) => this.onClosed(code, signal, resolve));
    });
  }

  /**
   * Spawns testpmd and resolves once it is forwarding (its first stats block is printed, which
   * testpmd does right after starting the forwarding lcore). That is not link-up: a server port
   * comes up when a client connects, a client port once the handshake finishes.
   */
  static async start(opts: TestpmdOptions): Promise<Testpmd> {
    const t = new Testpmd(opts);
    try {
      await t.waitUntilForwarding(opts.startTimeoutMs ?? 30_000);
    } catch (err) {
      await t.stop();
      throw err;
    }
    return t;
  }

  get log(): string {
    return this.text;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Number of complete stats periods parsed so far. */
  get periods(): number {
    return this.periodCount;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  /** The command line, shell-quoted where needed, for logs and reports. */
  get commandLine(): string {
    return [this.binary, ...this.args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  }

  /** Per-second Rx-pps samples for a port. The first sample of a run is always 0 and the first non-zero one is partial. */
  rxPpsSamples(port: number): number[] {
    return [...this.portStats(port).rxPps];
  }

  txPpsSamples(port: number): number[] {
    return [...this.portStats(port).txPps];
  }

  /**
   * Latest cumulative RX-packets from the periodic stats. The final "Forward statistics" are
   * ignored because they wrap after a peer disconnect (doc §7.6). Note that memif's counters are
   * per queue and go back to 0 when the peer disconnects.
   */
  rxPackets(port: number): number {
    return this.portStats(port).rxPackets;
  }

  txPackets(port: number): number {
    return this.portStats(port).txPackets;
  }

  /** Resolves once at least n more stats periods have been printed after this call. */
  waitForSamples(n: number, timeoutMs: number): Promise<void> {
    return this.waitForPeriods(this.periodCount + n, timeoutMs, `${n} more stats periods`);
  }

  /**
   * SIGINT (testpmd stops forwarding, closes its ports and exits), SIGKILL after stopTimeoutMs.
   * A SIGSEGV during teardown is the known DPDK 22.11 race (doc §8.3): reported, never thrown.
   */
  stop(stopTimeoutMs = 5000): Promise<TestpmdExit> {
    this.stopping ??= this.doStop(stopTimeoutMs);
    return this.stopping;
  }

  /** Synchronous last resort for process exit: no waiting, just make sure nothing keeps polling. */
  killNow(): void {
    if (this.exitInfo === null) this.child.kill('SIGKILL');
    this.removeLeftovers();
  }

  private async doStop(stopTimeoutMs: number): Promise<TestpmdExit> {
    if (this.exitInfo === null) {
      this.child.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), stopTimeoutMs);
      });
      const first = await Promise.race([this.closed, timedOut]);
      clearTimeout(timer);
      if (first === 'timeout') {
        this.child.kill('SIGKILL');
      }
    }
    const result = await this.closed;
    this.removeLeftovers();
    await new Promise<void>((resolve) => this.logStream.end(resolve));
    return result;
  }

  private removeLeftovers(): void {
    // A crashed or killed server leaves its socket file behind; every testpmd leaves its
    // EAL runtime directory (/run/dpdk/<file prefix>), and a killed one its files in it.
    for (const path of this.serverSockets) rmSync(path, { force: true });
    if (this.exitInfo !== null) rmSync(join('/run/dpdk', this.filePrefix), { recursive: true, force: true });
  }

  private portStats(port: number): PortStats {
    const s = this.ports.get(port);
    if (s === undefined) throw new Error(`testpmd: no port ${port} (instance has ${this.nPorts})`);
    return s;
  }

  private onClosed(code: number | null, signal: NodeJS.Signals | null, resolve: (e: TestpmdExit) => void): void {
    if (this.exitInfo !== null) return;
    if (this.partialLine !== '') this.onLine(this.partialLine);
    this.partialLine = '';
    const crashed = signal === 'SIGSEGV' || signal === 'SIGBUS' || code === 139 || code === 135;
    this.exitInfo = { code, signal, crashed };
    live.delete(this);
    const why = this.spawnError !== null ? `failed to spawn ${this.binary}: ${this.spawnError.message}` : `exited (code ${code}, signal ${signal})`;
    for (const w of this.waiters) w.reject(this.error(`testpmd ${why}`));
    this.waiters = [];
    resolve(this.exitInfo);
  }

  private onOutput(chunk: string): void {
    const clean = chunk.replace(ANSI_ESCAPE, '');
    this.text += clean;
    this.logStream.write(clean);
    const lines = (this.partialLine + clean).split('\n');
    this.partialLine = lines.pop() ?? '';
    for (const line of lines) this.onLine(line);
  }

  private onLine(raw: string): void {
    const line = raw.trim();
    if (line.startsWith('Port statistics ===')) {
      this.sectionsInBlock = 0;
      this.section = null;
      return;
    }
    // Only "NIC statistics for port N" sections are periodic; "Forward statistics" at exit also
    // contain "RX-packets:" lines and must not be mistaken for them.
    const start = /NIC statistics for port (\d+)/.exec(line);
    if (start !== null) {
      this.section = Number(start[1]);
      this.sectionValues = {};
      return;
    }
    if (this.section === null) return;
    const num = (re: RegExp): number | undefined => {
      const m = re.exec(line);
      return m === null ? undefined : Number(m[1]);
    };
    const v = this.sectionValues;
    v.rxPkts ??= num(/^RX-packets:\s*(\d+)/);
    v.txPkts ??= num(/^TX-packets:\s*(\d+)/);
    v.rxPps ??= num(/^Rx-pps:\s*(\d+)/);
    v.txPps ??= num(/^Tx-pps:\s*(\d+)/);
    if (/^#+$/.test(line)) {
      const s = this.ports.get(this.section);
      if (s !== undefined && v.rxPps !== undefined && v.txPps !== undefined) {
        s.rxPps.push(v.rxPps);
        s.txPps.push(v.txPps);
        s.rxPackets = v.rxPkts ?? s.rxPackets;
        s.txPackets = v.txPkts ?? s.txPackets;
      }
      this.section = null;
      if (++this.sectionsInBlock === this.nPorts) {
        this.periodCount++;
        this.waiters = this.waiters.filter((w) => {
          if (this.periodCount < w.target) return true;
          w.resolve();
          return false;
        });
      }
    }
  }

  private async waitUntilForwarding(timeoutMs: number): Promise<void> {
    await this.waitForPeriods(1, timeoutMs, 'forwarding to start');
    // A client whose connect() fails does not make testpmd exit: it reports the failure and
    // forwards on a dead port forever (doc §5). Treat that as a start failure.
    const failed = /Fail to start port \d+.*|Not all ports were started/.exec(this.text);
    if (failed !== null) throw this.error(`testpmd: ${failed[0]}`);
  }

  private waitForPeriods(target: number, timeoutMs: number, what: string): Promise<void> {
    if (this.periodCount >= target) return Promise.resolve();
    if (this.exitInfo !== null) return Promise.reject(this.error(`testpmd already exited (code ${this.exitInfo.code}, signal ${this.exitInfo.signal}) while waiting for ${what}`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(this.error(`testpmd: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter: Waiter = {
        target,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private error(message: string): Error {
    const lines = this.text.split('\n').filter((l) => l.trim() !== '');
    // Periodic stats blocks push the real cause (e.g. "memif_connect_client(): Failed to connect
    // socket") out of the tail, so list error-looking lines separately.
    const suspicious = lines.filter((l) => /fail|error|cause|cannot|invalid|not all ports|segmentation/i.test(l) && !/errors: \d/i.test(l)).slice(-10);
    return new Error(
      `${message}\ncommand: ${this.commandLine}\nlog: ${this.logFile}\n--- error lines ---\n${suspicious.join('\n')}\n--- last lines ---\n${lines.slice(-25).join('\n')}`,
    );
  }
}

function meminfoField(name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

/** Free 2 MiB (default-size) hugepages. */
export function hugepagesFree(): number {
  return meminfoField('HugePages_Free');
}

/**
 * Makes sure at least minFree default-size hugepages are free by raising nr_hugepages (never
 * lowering it: the machine is shared). Returns a function that puts nr_hugepages back.
 */
export async function ensureHugepages(minFree: number): Promise<() => void> {
  const free = hugepagesFree();
  if (free >= minFree) return () => {};
  const original = Number(readFileSync(NR_HUGEPAGES, 'utf8').trim());
  const target = original + (minFree - free);
  await writeFile(NR_HUGEPAGES, String(target));
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    writeFileSync(NR_HUGEPAGES, String(original));
  };
  // The kernel grants fewer pages than asked when memory is fragmented or short.
  const got = hugepagesFree();
  if (got < minFree) {
    restore();
    throw new Error(`ensureHugepages: asked for nr_hugepages=${target} but only ${got} pages are free (need ${minFree})`);
  }
  return restore;
}

/** Whether this machine can run testpmd memif tests; use it to skip suites. */
export function dpdkAvailable(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `DPDK tests need Linux, not ${process.platform}` };
  const binary = process.env['TESTPMD'] ?? DEFAULT_BINARY;
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    return { ok: false, reason: `${binary} not found or not executable (apt-get install dpdk)` };
  }
  if (availableParallelism() < 2) return { ok: false, reason: 'testpmd needs two CPUs (main + forwarding lcore)' };
  // Debian ships the memif PMD as a plugin that testpmd loads from the pmds directory.
  const dpdkLibs = ['/usr/lib/x86_64-linux-gnu/dpdk', '/usr/lib/aarch64-linux-gnu/dpdk'].filter((d) => existsSync(d));
  if (dpdkLibs.length > 0) {
    const hasMemif = dpdkLibs.some((d) =>
      readdirSync(d).some((pmds) => pmds.startsWith('pmds-') && readdirSync(join(d, pmds)).some((f) => f.startsWith('librte_net_memif.so'))),
    );
    if (!hasMemif) return { ok: false, reason: `librte_net_memif not found under ${dpdkLibs.join(', ')}` };
  }
  return { ok: true };
}
