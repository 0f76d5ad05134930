// CNI ADD and DEL latency (p50/p99, one container at a time) and attachments per second
// (ADDs with several in flight), for memswitch-cni's two kinds and, in the same run,
// Debian's bridge + host-local plugins doing the same job (a veth into each namespace with
// an address). Every plugin is exec'd the way a runtime does it: CNI_* env + stdin JSON.
//
//   import { runCniBench } from './cni.js';
//   const { rows, table } = await runCniBench({ containers: 200 });
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemswitchClient } from '../orchestrator/src/sdk/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), fileURLToPath(import.meta.url).includes('/dist/') ? '../..' : '..');
const REFERENCE_PLUGINS = '/usr/lib/cni';

export type CniSystem = 'memswitch memif' | 'memswitch veth' | 'bridge + host-local';
export const CNI_SYSTEMS: CniSystem[] = ['memswitch memif', 'memswitch veth', 'bridge + host-local'];

export interface CniBenchRow {
  system: CniSystem;
  containers: number;
  addP50Ms: number;
  addP99Ms: number;
  delP50Ms: number;
  delP99Ms: number;
  /** Completed ADDs per second with `concurrency` in flight. */
  addsPerSecond: number;
  delsPerSecond: number;
}

export interface CniBenchOptions {
  /** Containers (network namespaces) per system. */
  containers?: number;
  /** ADDs/DELs in flight for the attachments/s figure. */
  concurrency?: number;
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};

function execPlugin(bin: string, env: NodeJS.ProcessEnv, stdin: string): number {
  const t0 = performance.now();
  const r = spawnSync(bin, [], { env, input: stdin, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${path.basename(bin)} ${env.CNI_COMMAND} failed (${r.status}): ${r.stdout} ${r.stderr}`);
  return performance.now() - t0;
}

function execPluginAsync(bin: string, env: NodeJS.ProcessEnv, stdin: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(bin)} ${env.CNI_COMMAND} failed (${code}): ${out}`))));
    p.stdin.end(stdin);
  });
}

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

async function startDaemon(dir: string): Promise<ChildProcess> {
  const config = path.join(dir, 'config.yaml');
  writeFileSync(
    config,
    `dataplane: { workers: 1 }
networks: [{ name: bench }]
api: { socket: ${dir}/api.sock }
metrics: { enabled: false }
store: { path: ${dir}/state.db }
cni: { infoDir: ${dir}/info, spoolDir: ${dir}/spool, socketDir: ${dir}/m }
log: { level: warn }
`,
  );
  const proc = spawn(path.join(repoRoot, 'bin/memswitchd'), ['--config', config], { stdio: ['ignore', 'inherit', 'inherit'] });
  const client = new MemswitchClient(`${dir}/api.sock`);
  try {
    for (let i = 0; ; i++) {
      try {
        await client.getDaemonInfo();
        return proc;
      } catch (err) {
        if (i > 100 || proc.exitCode !== null) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    client.close();
  }
}

export async function runCniBench(opts: CniBenchOptions = {}): Promise<{ rows: CniBenchRow[]; table: string }> {
  const n = opts.containers ?? 200;
  const concurrency = opts.concurrency ?? 4;
  const dir = mkdtempSync(path.join(tmpdir(), 'msw-bench-cni-'));
  const binDir = path.join(dir, 'bin');
  const bridge = `mswbr${process.pid % 100000}`;
  const namespaces = Array.from({ length: n }, (_, i) => `msw-bcni-${process.pid}-${i}`);
  let daemon: ChildProcess | undefined;
  try {
    const inst = spawnSync(path.join(repoRoot, 'bin/memswitch'), ['install-cni', '--dir', binDir], { encoding: 'utf8' });
    if (inst.status !== 0) throw new Error(`install-cni failed: ${inst.stderr}`);
    for (const ns of namespaces) execFileSync('ip', ['netns', 'add', ns]);
    daemon = await startDaemon(dir);

    const ipam = (sys: string) => ({ type: 'host-local', ranges: [[{ subnet: '10.200.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(dir, `ipam-${sys}`) });
    const configs: Record<CniSystem, { bin: string; conf: object }> = {
      'memswitch memif': { bin: path.join(binDir, 'memswitch'), conf: { type: 'memswitch', interface: 'memif', vswitchNetwork: 'bench', apiSocket: `${dir}/api.sock`, spoolDir: `${dir}/spool`, ipam: ipam('memif') } },
      'memswitch veth': { bin: path.join(binDir, 'memswitch'), conf: { type: 'memswitch', interface: 'veth', vswitchNetwork: 'bench', apiSocket: `${dir}/api.sock`, spoolDir: `${dir}/spool`, ipam: ipam('veth') } },
      'bridge + host-local': { bin: path.join(REFERENCE_PLUGINS, 'bridge'), conf: { type: 'bridge', bridge, isGateway: true, ipMasq: false, ipam: ipam('bridge') } },
    };
    const rows: CniBenchRow[] = [];
    for (const system of CNI_SYSTEMS) {
      const { bin, conf } = configs[system];
      const stdin = JSON.stringify({ cniVersion: '1.0.0', name: 'msw-bench', ...conf });
      const env = (command: string, i: number, pass: string): NodeJS.ProcessEnv => ({
        PATH: process.env.PATH,
        CNI_COMMAND: command,
        CNI_CONTAINERID: `bench-${pass}-${i}`,
        CNI_NETNS: `/var/run/netns/${namespaces[i]}`,
        CNI_IFNAME: 'eth0',
        CNI_PATH: `${binDir}:${REFERENCE_PLUGINS}`,
      });
      // Latency: one operation at a time, as a node starting pods one by one sees it.
      const add = namespaces.map((_, i) => execPlugin(bin, env('ADD', i, 'seq'), stdin));
      const del = namespaces.map((_, i) => execPlugin(bin, env('DEL', i, 'seq'), stdin));
      // Throughput: several in flight, as a node starting many pods at once sees it.
      const addsPerSecond = await pool(n, concurrency, (i) => execPluginAsync(bin, env('ADD', i, 'par'), stdin));
      const delsPerSecond = await pool(n, concurrency, (i) => execPluginAsync(bin, env('DEL', i, 'par'), stdin));
      const row = {
        system,
        containers: n,
        addP50Ms: percentile(add, 50),
        addP99Ms: percentile(add, 99),
        delP50Ms: percentile(del, 50),
        delP99Ms: percentile(del, 99),
        addsPerSecond,
        delsPerSecond,
      };
      rows.push(row);
      console.error(`cni ${system}: ADD p50 ${row.addP50Ms.toFixed(1)} ms p99 ${row.addP99Ms.toFixed(1)} ms, DEL p50 ${row.delP50Ms.toFixed(1)} ms, ${addsPerSecond.toFixed(1)} ADDs/s`);
    }
    const header = ['system', 'ADD p50 ms', 'ADD p99 ms', 'DEL p50 ms', 'DEL p99 ms', `ADDs/s (${concurrency} in flight)`, 'DELs/s'];
    const body = rows.map((r) => [r.system, r.addP50Ms.toFixed(1), r.addP99Ms.toFixed(1), r.delP50Ms.toFixed(1), r.delP99Ms.toFixed(1), r.addsPerSecond.toFixed(1), r.delsPerSecond.toFixed(1)]);
    const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => r[c]!.length)));
    const table = [header, ...body].map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ')).join('\n');
    return { rows, table: `CNI ADD/DEL, ${n} containers per system\n${table}\n` };
  } finally {
    daemon?.kill('SIGTERM');
    if (daemon && daemon.exitCode === null) await new Promise((r) => daemon!.once('exit', r));
    for (const ns of namespaces) if (existsSync(`/var/run/netns/${ns}`)) execFileSync('ip', ['netns', 'del', ns]);
    if (existsSync(`/sys/class/net/${bridge}`)) execFileSync('ip', ['link', 'del', bridge]);
    rmSync(dir, { recursive: true, force: true });
  }
}
