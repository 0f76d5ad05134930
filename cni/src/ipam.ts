// IPAM delegation exactly as SPEC.md section 4 says: find ipam.type in CNI_PATH, exec it
// with the same environment and the complete same stdin, forward its stderr, parse its
// stdout. A delegate older than our cniVersion (Debian's host-local speaks up to 1.0.0)
// gets the highest version both speak; STATUS and GC go only to delegates that know them.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { NetConf } from './config.js';
import { CniError, ErrorCode, SUPPORTED_VERSIONS, versionAtLeast, type CniArgs, type Command } from './skel.js';

export interface IpamResult {
  ips: { address: string; gateway?: string }[];
  routes: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}

function findPlugin(type: string, dirs: string[]): string {
  for (const d of dirs) {
    const p = path.join(d, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next directory
    }
  }
  throw new CniError(ErrorCode.invalidConfig, `failed to find IPAM plugin "${type}" in path [${dirs.join(' ')}]`);
}

function exec(bin: string, args: CniArgs, command: Command, stdin: Buffer): string {
  const r = spawnSync(bin, [], { input: stdin, env: { ...args.env, CNI_COMMAND: command }, stdio: ['pipe', 'pipe', 'inherit'], timeout: 30_000 });
  // A plugin may exit without reading all of stdin (VERSION does): EPIPE then is no failure.
  if (r.error && !((r.error as NodeJS.ErrnoException).code === 'EPIPE' && r.status !== null)) throw new CniError(ErrorCode.ioFailure, `cannot run IPAM plugin ${bin}`, r.error.message);
  const out = r.stdout.toString();
  if (r.status !== 0) {
    let e: { code?: number; msg?: string; details?: string } = {};
    try {
      e = JSON.parse(out) as typeof e;
    } catch {
      // a plugin that printed no error document
    }
    throw new CniError(e.code ?? 999, `IPAM plugin ${path.basename(bin)} failed (${command.toLowerCase()}): ${e.msg ?? `exit ${r.status}`}`, e.details ?? '');
  }
  return out;
}

export class Ipam {
  private readonly bin: string;
  private version: string;
  private supported: string[] | undefined;

  constructor(
    private readonly conf: NetConf & { ipam: { type: string } },
    private readonly args: CniArgs,
  ) {
    this.bin = findPlugin(conf.ipam.type, args.path);
    this.version = conf.cniVersion;
  }

  private versions(): string[] {
    if (!this.supported) {
      const out = exec(this.bin, this.args, 'VERSION', Buffer.from(JSON.stringify({ cniVersion: this.conf.cniVersion })));
      this.supported = (JSON.parse(out) as { supportedVersions?: string[] }).supportedVersions ?? [];
    }
    return this.supported;
  }

  /** The stdin for the delegate: ours, unless it needs an older cniVersion. */
  private stdin(): Buffer {
    if (!versionAtLeast(this.conf.cniVersion, '1.1.0')) return this.args.stdin;
    const theirs = this.versions();
    if (theirs.includes(this.conf.cniVersion)) return this.args.stdin;
    const best = [...SUPPORTED_VERSIONS].reverse().find((v) => theirs.includes(v));
    if (!best) throw new CniError(ErrorCode.incompatibleVersion, `IPAM plugin ${this.conf.ipam.type} supports none of our versions`, theirs.join(' '));
    this.version = best;
    const doc = JSON.parse(this.args.stdin.toString()) as Record<string, unknown>;
    return Buffer.from(JSON.stringify({ ...doc, cniVersion: best }));
  }

  add(): IpamResult {
    const r = JSON.parse(exec(this.bin, this.args, 'ADD', this.stdin())) as {
      ips?: { address: string; gateway?: string }[];
      routes?: { dst: string; gw?: string }[];
      dns?: Record<string, unknown>;
    };
    return {
      ips: (r.ips ?? []).map((i) => ({ address: i.address, ...(i.gateway ? { gateway: i.gateway } : {}) })),
      routes: (r.routes ?? []).map((x) => ({ dst: x.dst, ...(x.gw ? { gw: x.gw } : {}) })),
      ...(r.dns && Object.keys(r.dns).length ? { dns: r.dns } : {}),
    };
  }

  del(): void {
    exec(this.bin, this.args, 'DEL', this.stdin());
  }

  check(): void {
    exec(this.bin, this.args, 'CHECK', this.stdin());
  }

  /** STATUS and GC exist since 1.1.0: a delegate that does not speak it is skipped. */
  forward(command: 'STATUS' | 'GC'): boolean {
    if (!this.versions().includes('1.1.0')) return false;
    exec(this.bin, this.args, command, this.args.stdin);
    return true;
  }

  get speaks(): string {
    return this.version;
  }
}
