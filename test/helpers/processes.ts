// Stopping the daemons tests start (containerd, dockerd) and what outlives them by
// design (containerd shims), without leaving a process behind when a test fails.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** SIGTERM, SIGKILL after `graceMs`; resolves once `exited` (the process's exit) does. */
export async function terminate(proc: ChildProcess | undefined, exited: Promise<unknown> | undefined, graceMs: number): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** SIGKILL to every process whose command line (arguments NUL-separated) `match` accepts. */
export function killMatching(match: (cmdline: string) => boolean): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (match(cmdline)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}
