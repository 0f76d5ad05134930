// The plugin's log: JSON lines to the netconf's logFile (info and up, plus timings), or
// else to stderr (warnings and errors only: runtimes relay a plugin's stderr to people).
// Never stdout, which carries only the CNI result.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: Level, msg: string, fields?: Record<string, unknown>) => void;

const rank: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLog(base: Record<string, unknown>, file?: string): Log {
  // The runtime may call us before memswitchd ever ran on this node, or after a reboot
  // emptied a log directory on /run: make it (the file itself is 0600).
  if (file) {
    try {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    } catch {
      // every line then goes to stderr, below
    }
  }
  return (level, msg, fields = {}) => {
    if (rank[level] < rank[file ? 'debug' : 'warn']) return;
    const line = `${JSON.stringify({ time: new Date().toISOString(), level, component: 'memswitch-cni', ...base, ...fields, msg })}\n`;
    try {
      if (file) appendFileSync(file, line, { mode: 0o600 });
      else process.stderr.write(line);
    } catch {
      process.stderr.write(line); // an unwritable log file must not fail the operation
    }
  };
}
