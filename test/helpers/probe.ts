// Real connections between pods (network namespaces) through probe.py: echo servers that
// stay up for a test file, and clients that say what happened ("ok", "refused",
// "timeout").
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { once } from 'node:events';
import { repoRoot } from './daemon.js';

const script = path.join(repoRoot, 'test/helpers/probe.py');

/** One probe.py command in netns `ns`; its one-word answer. */
export function probe(ns: string, ...args: (string | number)[]): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'python3', script, ...args.map(String)], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`probe ${args.join(' ')} in ${ns} failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Echo servers in pods, stopped together (a test's afterAll). */
export class EchoServers {
  private readonly procs: ChildProcess[] = [];

  /** Resolves once the server listens on every port. */
  async start(ns: string, proto: 'tcp' | 'udp', ports: number[]): Promise<void> {
    const p = spawn('ip', ['netns', 'exec', ns, 'python3', script, 'serve', proto, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.procs.push(p);
    const ready = new Promise<void>((resolve, reject) => {
      p.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      p.on('exit', (code) => reject(new Error(`echo server in ${ns} exited (${code}) before it was ready`)));
    });
    await ready;
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.procs.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        p.kill('SIGKILL');
        await once(p, 'exit');
      }),
    );
    this.procs.length = 0;
  }
}
