// The CNI protocol itself: environment, stdin, errors with the spec's codes, and the
// one JSON document a plugin may print on stdout. No memswitch logic here.
import { readFileSync } from 'node:fs';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof COMMANDS)[number];

// Spec codes (SPEC.md "Error codes") and ours (100+), see cni-notes §4.12.
export const ErrorCode = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  statusNotAvailable: 50,
  statusDegraded: 51,
  attachmentExists: 100,
  daemonRejected: 101,
  daemonFailed: 102,
  checkFailed: 103,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly details = '',
  ) {
    super(details ? `${msg}: ${details}` : msg);
    this.name = 'CniError';
  }
}

export interface CniArgs {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  path: string[];
  args: Record<string, string>;
  /** The raw stdin, forwarded unchanged to delegated plugins. */
  stdin: Buffer;
  env: NodeJS.ProcessEnv;
}

// libcni's skel rules for the two identifiers a runtime chooses.
const containerIdRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const ifnameOk = (s: string): boolean => s.length > 0 && s.length <= 15 && s !== '.' && s !== '..' && !/[/:\s]/.test(s);

/** Reads and checks what the runtime gave: env vars as the spec requires them per command. */
export function readArgs(env: NodeJS.ProcessEnv, readStdin: () => Buffer = () => readFileSync(0)): CniArgs {
  const command = env.CNI_COMMAND ?? '';
  if (!command) throw new CniError(ErrorCode.invalidEnv, 'required env variables [CNI_COMMAND] missing');
  if (!(COMMANDS as readonly string[]).includes(command)) throw new CniError(ErrorCode.invalidEnv, `unknown CNI_COMMAND: ${command}`);
  const cmd = command as Command;
  const required: Record<Command, string[]> = {
    ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
    CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
    DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
    VERSION: [],
    STATUS: [],
    GC: [],
  };
  const missing = required[cmd].filter((v) => !env[v]);
  if (missing.length) throw new CniError(ErrorCode.invalidEnv, `required env variables [${missing.join(',')}] missing`);
  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId && !containerIdRe.test(containerId))
    throw new CniError(ErrorCode.invalidEnv, 'invalid characters in CNI_CONTAINERID', `"${containerId}" must match ${containerIdRe.source}`);
  const ifname = env.CNI_IFNAME ?? '';
  if (ifname && !ifnameOk(ifname))
    throw new CniError(ErrorCode.invalidEnv, 'invalid CNI_IFNAME', `"${ifname}" must be 1-15 characters without "/", ":" or whitespace`);

  let stdin: Buffer;
  try {
    stdin = readStdin();
  } catch (err) {
    throw new CniError(ErrorCode.ioFailure, 'error reading from stdin', (err as Error).message);
  }
  return {
    command: cmd,
    containerId,
    netns: env.CNI_NETNS ?? '',
    ifname,
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    stdin,
    env,
  };
}

/** CNI_ARGS "K=V;K2=V2"; keys we do not know are ignored (runtimes add their own). */
export function parseCniArgs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of s.split(';')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(ErrorCode.invalidEnv, 'invalid CNI_ARGS', `"${pair}" is not KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** The stdin document as an object (code 6 otherwise). */
export function decodeJson(stdin: Buffer): Record<string, unknown> {
  const text = stdin.toString('utf8');
  if (!text.trim()) throw new CniError(ErrorCode.decodeFailure, 'error decoding network config', 'stdin is empty');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new CniError(ErrorCode.decodeFailure, 'error decoding network config', (err as Error).message);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CniError(ErrorCode.decodeFailure, 'error decoding network config', 'must be a JSON object');
  return v as Record<string, unknown>;
}

export function checkVersion(v: unknown): CniVersion {
  if (typeof v !== 'string' || !(SUPPORTED_VERSIONS as readonly string[]).includes(v))
    throw new CniError(ErrorCode.incompatibleVersion, 'incompatible CNI versions', `config is ${JSON.stringify(v ?? '')}, plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`);
  return v as CniVersion;
}

export const versionAtLeast = (v: string, min: string): boolean => {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
};

/** The error document: on stdout, where libcni looks first (stderr is for logs). */
export function errorJson(err: CniError, cniVersion?: string): string {
  const known = cniVersion !== undefined && (SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion);
  return JSON.stringify({ ...(known ? { cniVersion } : {}), code: err.code, msg: err.msg, ...(err.details ? { details: err.details } : {}) });
}
