// What the command files share: the global options, the context main() hands every
// command (its action wrapper, output and client), table output and integer options.
import type { MemswitchClient } from '../sdk/index.js';

export interface Globals {
  api: string;
  json?: boolean;
}

/** From main(): `run` passes the global options in and errors out through one path. */
export interface Cli {
  run: <A extends unknown[]>(fn: (g: Globals, ...args: A) => Promise<void>) => (...args: A) => Promise<void>;
  /** JSON with --json, else the text. */
  emit: (g: Globals, data: unknown, text: () => string) => void;
  api: (g: Globals) => MemswitchClient;
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function table(headers: string[], rows: (string | number | boolean)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((r) => typeof r[c] === 'number'));
  return `${cells.map((r) => r.map((v, c) => (numeric[c] ? v.padStart(widths[c]!) : v.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n')}\n`;
}

export function parseIntArg(what: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new Error(`${what} must be an integer ${min}-${max}, not "${v}"`);
    return n;
  };
}
