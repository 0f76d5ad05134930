// Runs the real bin/memswitchd as a child process and reads its JSON log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const daemonBin = path.join(repoRoot, 'bin/memswitchd');

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** The config most daemon tests start from: network blue with memif m0 and m1 on `sock`. */
export const memifPairConfig = (sock: string): string => `
dataplane: { workers: 1 }
networks: [{ name: blue }]
interfaces:
  - { name: m0, kind: memif, network: blue, socket: ${sock}, id: 0 }
  - { name: m1, kind: memif, network: blue, socket: ${sock}, id: 1 }
`;

export class Daemon {
  readonly lines: LogLine[] = [];
  stderr = '';
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly proc: ChildProcess) {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ level: 0, msg: line });
        }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /**
   * The API socket, state database and metrics port default to ones private to this
   * daemon (a temp dir, an ephemeral port), so parallel runs never share them; pass
   * MEMSWITCH_API_SOCKET / _STATE_DB / _METRICS_LISTEN in `env` to choose.
   */
  static async start(configYaml: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<Daemon> {
    const dir = mkdtempSync(path.join(tmpdir(), 'msw-daemon-'));
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, configYaml);
    const defaults = {
      MEMSWITCH_API_SOCKET: path.join(dir, 'api.sock'),
      MEMSWITCH_STATE_DB: path.join(dir, 'state.db'),
      MEMSWITCH_METRICS_LISTEN: '127.0.0.1:0',
    };
    const d = new Daemon(spawn(daemonBin, ['--config', file, ...args], { env: { ...process.env, ...defaults, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    d.proc.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const running = await d.waitFor((l) => l.msg === 'memswitchd running', 10_000);
    d.apiSocket = running.api as string;
    d.metricsPort = running.metricsPort as number | undefined;
    return d;
  }

  /** Where this daemon serves the gRPC API and /metrics (from its "running" log line). */
  apiSocket = '';
  metricsPort: number | undefined;

  async waitFor(pred: (l: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (this.proc.exitCode !== null || Date.now() > end)
        throw new Error(`memswitchd: expected log line not seen (exit ${this.proc.exitCode}); stderr: ${this.stderr}\nlog: ${this.lines.map((l) => l.msg).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null) this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
