// The plugin's log: JSON lines to the netconf's logFile, or to stderr (never stdout,
// which carries only the CNI result).
import { appendFileSync } from 'node:fs';

export type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export function createLog(base: Record<string, unknown>, file?: string): Log {
  return (level, msg, fields = {}) => {
    const line = `${JSON.stringify({ time: new Date().toISOString(), level, component: 'memswitch-cni', ...base, ...fields, msg })}\n`;
    try {
      if (file) appendFileSync(file, line, { mode: 0o600 });
      else process.stderr.write(line);
    } catch {
      process.stderr.write(line); // an unwritable log file must not fail the operation
    }
  };
}
