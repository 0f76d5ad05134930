// memswitchd: load the config, build the switch, run until SIGTERM/SIGINT.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { ConfigError, defaultConfigYaml, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { Dataplane, type InterfaceStatus } from './dataplane/dataplane.js';
import { loadAddon } from './dataplane/native.js';
import { createLogger, type Logger } from './log.js';

const EXIT_CONFIG = 2;
const SUMMARY_INTERVAL_MS = 30_000;

function packageVersion(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const rel of ['../..', '../../..']) {
    try {
      return (JSON.parse(readFileSync(path.join(here, rel, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      // compiled (dist/) and source layouts sit at different depths
    }
  }
  return '0.0.0';
}

function buildDataplane(config: Config, log: Logger, version: string): Dataplane {
  const dp = Dataplane.create({
    workers: config.dataplane.workers,
    cpus: config.dataplane.cpus,
    fibCapacity: config.dataplane.macTableSize,
    macAgeSeconds: config.dataplane.macAgeSeconds,
    handshakeTimeoutMs: config.dataplane.handshakeTimeoutMs,
    poll: config.dataplane.poll,
    idleBeforeSleepUs: config.dataplane.idleBeforeSleepUs,
    appName: `memswitch ${version}`,
  });
  const memifLog = log.child({ component: 'memif' });
  dp.onEvent((e) => {
    const fields = { interface: e.interface || undefined, socket: e.socket, detail: e.detail };
    if (e.kind === 'connected') memifLog.info({ ...fields, peer: e.detail }, 'peer connected');
    else if (e.kind === 'disconnected') memifLog.info(fields, 'peer disconnected');
    else if (e.kind === 'protocol_error') memifLog.warn(fields, 'peer protocol error');
    else log.error(fields, 'worker stalled');
  });
  for (const n of config.networks) dp.addNetwork(n.name);
  for (const itf of config.interfaces) {
    if (itf.kind === 'memif' && !itf.socket.startsWith('@')) mkdirSync(path.dirname(itf.socket), { recursive: true, mode: 0o755 });
    const s = dp.addInterface(itf);
    const where = s.kind === 'memif' ? { socket: s.socket, id: s.id } : { netdev: s.netdev, xdpMode: s.xdpMode, xdpAttach: s.xdpAttach };
    log.info({ interface: s.name, kind: s.kind, network: itf.network, ...where, mac: s.mac, vlan: s.vlan || undefined }, 'interface ready');
  }
  return dp;
}

// One line per interface that moved since the last summary: counts, never packets.
function summarize(dp: Dataplane, log: Logger, last: Map<string, string>): void {
  for (const s of dp.listInterfaces()) {
    const drops = Object.fromEntries(Object.entries(s.drops).filter(([, v]) => v > 0));
    const line = JSON.stringify([s.rxPackets, s.txPackets, drops, s.connected]);
    if (last.get(s.name) === line) continue;
    last.set(s.name, line);
    log.info(summaryFields(s, drops), 'interface counters');
  }
}
function summaryFields(s: InterfaceStatus, drops: Record<string, number>): Record<string, unknown> {
  return { interface: s.name, connected: s.connected, rxPackets: s.rxPackets, txPackets: s.txPackets, drops };
}

export function main(argv: string[]): void {
  const version = packageVersion();
  const program = new Command('memswitchd')
    .description('memswitch daemon: a polling vSwitch over memif shared-memory rings')
    .option('-c, --config <file>', 'YAML config file (default: the embedded default; env MEMSWITCH_CONFIG)')
    .option('--print-default-config', 'print the embedded default config and exit')
    .option('--check', 'validate the config and exit')
    .version(version);
  program.parse(argv);
  const opts = program.opts<{ config?: string; printDefaultConfig?: boolean; check?: boolean }>();
  if (opts.printDefaultConfig) {
    process.stdout.write(defaultConfigYaml.trimStart());
    return;
  }

  let config: Config;
  try {
    config = loadConfig(opts.config ?? process.env.MEMSWITCH_CONFIG, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`memswitchd: config: ${p}\n`);
    process.exit(EXIT_CONFIG);
  }
  if (opts.check) {
    process.stdout.write('config ok\n');
    return;
  }

  const log = createLogger(config.log.level);
  let dp: Dataplane;
  try {
    dp = buildDataplane(config, log, version);
    dp.start();
  } catch (err) {
    const e = err as Error & { field?: string };
    log.fatal({ err: { message: e.message, field: e.field } }, 'cannot start the dataplane');
    process.exit(1);
  }
  const memory = loadAddon().memoryCounters();
  log.info(
    { version, workers: config.dataplane.workers, cpus: config.dataplane.cpus, networks: config.networks.length, interfaces: config.interfaces.length, memory },
    'memswitchd running',
  );

  const last = new Map<string, string>();
  const timer = setInterval(() => summarize(dp, log, last), SUMMARY_INTERVAL_MS);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    log.info({ signal }, 'shutting down');
    summarize(dp, log, last);
    dp.stop(); // DISCONNECT to every peer, socket files removed, threads joined
    log.info('stopped');
    log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
