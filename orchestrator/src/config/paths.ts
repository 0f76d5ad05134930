// The directories memswitchd writes, made when it starts. /run is a tmpfs: after a reboot
// none of the run directories exist, and nothing else (no package, no tmpfiles.d entry)
// makes them, so a node must come back with no hand work. Who reads a directory decides
// its mode; what is made gets exactly that mode, whatever the umask.
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './schema.js';

/** Pods, runtimes and the CLI reach sockets and files in here (which have their own modes). */
export const SHARED_DIR_MODE = 0o755;

/** The planned-restart socket: `handover.socket`, else next to the API socket. */
export function handoverSocketPath(config: Config): string {
  return config.handover.socket ?? path.join(path.dirname(config.api.socket), 'handover.sock');
}

/**
 * In creation order: a parent listed before its children keeps its own mode. A memif
 * interface's socket directory is made when the interface is (config, API or CNI alike).
 */
export function daemonDirs(config: Config): { dir: string; mode: number }[] {
  return [
    { dir: path.dirname(config.api.socket), mode: SHARED_DIR_MODE }, // the plugin, the CLI and probes connect here
    { dir: path.dirname(handoverSocketPath(config)), mode: SHARED_DIR_MODE }, // the API socket's by default; the socket itself is 0600
    { dir: path.dirname(config.store.path), mode: 0o750 }, // the state database holds the memif secrets
    { dir: config.cni.infoDir, mode: SHARED_DIR_MODE }, // mounted into pods; each attachment file is 0600
    { dir: config.cni.socketDir, mode: SHARED_DIR_MODE }, // file-mode memif sockets, mounted into pods
    { dir: config.cni.spoolDir, mode: 0o700 }, // DELs the plugin (root) spooled while we were down
  ];
}

/**
 * mkdir -p, with `mode` on every directory it makes (chmod: mkdir's mode goes through the
 * umask, and a 0700 run directory would lock pods out). An existing directory keeps the
 * mode it has: an operator (or a DaemonSet's hostPath) may have chosen it.
 */
export function makeDir(dir: string, mode: number): void {
  const target = path.resolve(dir);
  // Made 0700 first, opened up after: never wider than meant, not even for a moment.
  const first = mkdirSync(target, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  for (let d = target; d.length >= first.length; d = path.dirname(d)) chmodSync(d, mode);
}
