// IPv4 route lookups: memswitch's table (native/testing/lpm_bench over pipeline/ip4_fib.h)
// against DPDK's rte_fib DIR-24-8 (dpdk-test-fib from Debian's dpdk package) on the same
// CPU, with the same route and address files, runs alternating. dpdk-test-fib writes the
// files itself (-w/-u: its random routes in an Internet-like spread of prefix lengths,
// 1M addresses that all match some route) and reports TSC cycles per lookup over bursts
// of 64; lpm_bench times lookup_n the same way. Both use 4 KiB pages (--no-huge; ours
// asks for transparent huge pages, as it does in memswitchd).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fmt, median } from './common.js';

// Shares of prefix lengths, roughly those of today's Internet table (mostly /24s).
const DISTRIBUTION = '16:5%,18:3%,19:4%,20:6%,21:6%,22:13%,23:10%,24:53%';
const LOOKUPS = 1_000_000;

export interface LpmRow {
  routes: number;
  memswitchCycles: number;
  dpdkCycles: number;
  ratio: number; // rte_fib cycles / ours: above 1, ours is faster
  memswitchTableMiB: number;
  runs: number;
}

function dpdkFib(cpu: number, args: string[]): string {
  return execFileSync('dpdk-test-fib', ['--no-huge', '-m', '2048', '-l', String(cpu), '--no-pci', '--log-level=lib.eal:error', '--', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function files(dir: string, routes: number, cpu: number): { routes: string; ips: string } {
  const r = path.join(dir, `routes-${routes}.txt`);
  const ips = path.join(dir, `ips-${routes}.txt`);
  if (routes === 1) {
    // One route: dpdk-test-fib cannot spread one route over lengths, so write it here.
    writeFileSync(r, '11.0.0.0/8 1\n');
    writeFileSync(ips, Array.from({ length: LOOKUPS }, () => `11.${(Math.random() * 256) | 0}.${(Math.random() * 256) | 0}.${(Math.random() * 256) | 0}`).join('\n') + '\n');
  } else {
    dpdkFib(cpu, ['-n', String(routes), '-l', String(LOOKUPS), '-d', DISTRIBUTION, '-w', r, '-u', ips]);
  }
  return { routes: r, ips };
}

export async function runLpmBench(opts: { lpmBench: string; cpu: number; sizes: number[]; runs: number }): Promise<{ rows: LpmRow[]; table: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'msw-lpm-'));
  const rows: LpmRow[] = [];
  try {
    for (const n of opts.sizes) {
      const f = files(dir, n, opts.cpu);
      const ours: number[] = [];
      const theirs: number[] = [];
      let tableBytes = 0;
      for (let run = 0; run < opts.runs; run++) {
        // Alternate who goes first: a slow stretch of this VM then hits both.
        const order = run % 2 ? ['dpdk', 'ours'] : ['ours', 'dpdk'];
        for (const who of order) {
          if (who === 'ours') {
            const out = JSON.parse(execFileSync('taskset', ['-c', String(opts.cpu), opts.lpmBench, f.routes, f.ips], { encoding: 'utf8' })) as { cyclesPerLookup: number; tableBytes: number };
            ours.push(out.cyclesPerLookup);
            tableBytes = out.tableBytes;
          } else {
            const m = /AVG FIB lookup ([\d.]+)/.exec(dpdkFib(opts.cpu, ['-f', f.routes, '-t', f.ips]));
            if (!m) throw new Error('dpdk-test-fib printed no lookup figure');
            theirs.push(Number(m[1]));
          }
        }
      }
      const row = { routes: n, memswitchCycles: median(ours), dpdkCycles: median(theirs), ratio: median(theirs) / median(ours), memswitchTableMiB: tableBytes / 2 ** 20, runs: opts.runs };
      rows.push(row);
      console.error(`lpm ${n} routes: memswitch ${fmt(row.memswitchCycles, 1)} cycles/lookup, rte_fib ${fmt(row.dpdkCycles, 1)}, ratio ${fmt(row.ratio)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const table = [
    '',
    `IPv4 lookups, memswitch's 16-8-8 trie against DPDK rte_fib DIR-24-8 (dpdk-test-fib), same files, same CPU, ${LOOKUPS / 1e6}M lookups in bursts of 64 (medians of ${opts.runs} alternating runs)`,
    '',
    '| routes | memswitch cycles/lookup | rte_fib cycles/lookup | ratio (rte_fib / memswitch) | memswitch table |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.routes} | ${fmt(r.memswitchCycles, 1)} | ${fmt(r.dpdkCycles, 1)} | **${fmt(r.ratio)}x** | ${fmt(r.memswitchTableMiB, 1)} MiB |`),
  ].join('\n');
  return { rows, table };
}
