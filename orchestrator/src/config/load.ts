import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { ZodIssue } from 'zod';
import { configSchema, type Config } from './schema.js';

// Works out of the box: one network, two memif endpoints on one socket, so two
// containers (ids 0 and 1) can talk right after `npm start`.
export const defaultConfigYaml = `
dataplane:
  workers: 1
networks:
  - name: default
interfaces:
  - name: memif0
    kind: memif
    network: default
    socket: /run/memswitch/memif.sock
    id: 0
  - name: memif1
    kind: memif
    network: default
    socket: /run/memswitch/memif.sock
    id: 1
`;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

function describe(issue: ZodIssue): string {
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') return `${where}: unknown field(s) ${issue.keys.join(', ')}`;
  return `${where}: ${issue.message}`;
}

// MEMSWITCH_WORKERS, _LOG_LEVEL, _API_SOCKET, _METRICS_LISTEN and _STATE_DB override the
// file, as a DaemonSet sets them.
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out = { ...raw };
  if (env.MEMSWITCH_WORKERS !== undefined) {
    out.dataplane = { ...(out.dataplane as object | undefined), workers: Number(env.MEMSWITCH_WORKERS) };
  }
  if (env.MEMSWITCH_LOG_LEVEL !== undefined) {
    out.log = { ...(out.log as object | undefined), level: env.MEMSWITCH_LOG_LEVEL };
  }
  if (env.MEMSWITCH_API_SOCKET !== undefined) out.api = { ...(out.api as object | undefined), socket: env.MEMSWITCH_API_SOCKET };
  if (env.MEMSWITCH_METRICS_LISTEN !== undefined)
    out.metrics = { ...(out.metrics as object | undefined), listen: env.MEMSWITCH_METRICS_LISTEN };
  if (env.MEMSWITCH_STATE_DB !== undefined) out.store = { ...(out.store as object | undefined), path: env.MEMSWITCH_STATE_DB };
  return out;
}

export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = {}): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError([`${source}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError([`${source}: must be a YAML mapping`]);
  const result = configSchema.safeParse(applyEnv(raw as Record<string, unknown>, env));
  if (!result.success) throw new ConfigError(result.error.issues.map(describe));
  return result.data;
}

export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv): Config {
  if (!file) return parseConfig(defaultConfigYaml, 'embedded default', env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return parseConfig(text, file, env);
}
