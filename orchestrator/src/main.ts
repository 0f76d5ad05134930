// memswitchd: load the config, build the switch, run until SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { ConfigError, defaultConfigYaml, loadConfig } from './config/load.js';
import { daemonDirs, handoverSocketPath, makeDir } from './config/paths.js';
import { preflight } from './config/preflight.js';
import type { Config } from './config/schema.js';
import { Dataplane, type InterfaceStatus } from './dataplane/dataplane.js';
import { loadAddon } from './dataplane/native.js';
import { startDockerPlugin, type DockerPluginServer } from './api/docker-plugin.js';
import { startApiServer, type ApiServer } from './api/server.js';
import { Acls } from './domain/acls.js';
import { Policies } from './domain/policies.js';
import { Attachments } from './domain/attachments.js';
import { DockerNetworks } from './domain/docker.js';
import { NetworkGateways } from './domain/routed-networks.js';
import { Routing } from './domain/routing.js';
import { Switch } from './domain/switch.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, startMetricsServer, type MetricsServer } from './metrics/metrics.js';
import { Store } from './store/store.js';

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

function createDataplane(config: Config, version: string): Dataplane {
  return Dataplane.create({
    workers: config.dataplane.workers,
    cpus: config.dataplane.cpus,
    fibCapacity: config.dataplane.macTableSize,
    macAgeSeconds: config.dataplane.macAgeSeconds,
    handshakeTimeoutMs: config.dataplane.handshakeTimeoutMs,
    poll: config.dataplane.poll,
    idleBeforeSleepUs: config.dataplane.idleBeforeSleepUs,
    neighborAgeS: config.dataplane.neighborAgeSeconds,
    conntrack: config.dataplane.conntrack,
    appName: `memswitch ${version}`,
  });
}

function logEvents(sw: Switch, log: Logger): void {
  const memifLog = log.child({ component: 'memif' });
  sw.subscribe((e) => {
    const fields = { interface: e.interface, socket: e.socket, detail: e.detail };
    if (e.kind === 'peer_connected') memifLog.info({ ...fields, peer: e.detail }, 'peer connected');
    else if (e.kind === 'peer_disconnected') memifLog.info(fields, 'peer disconnected');
    else if (e.kind === 'protocol_error') memifLog.warn(fields, 'peer protocol error');
    else if (e.kind === 'worker_stalled') log.error(fields, 'worker stalled');
    else if (e.kind === 'handed_over') log.info({ detail: e.detail }, 'handed over to a new memswitchd');
    else log.info({ interface: e.interface, network: e.network, event: e.kind }, 'desired state changed');
  });
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
    .option('--takeover', 'planned restart: take the live memif sessions of the memswitchd running now, which then exits')
    .option('--idle-after-handover', 'after handing the sessions to a successor, stay idle until SIGTERM instead of exiting (a Kubernetes container that exits is restarted)')
    .version(version);
  program.parse(argv);
  const opts = program.opts<{ config?: string; printDefaultConfig?: boolean; check?: boolean; takeover?: boolean; idleAfterHandover?: boolean }>();
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

  if (opts.takeover) {
    const problems = preflight(config);
    for (const p of problems) process.stderr.write(`memswitchd: config: ${p} (not taking over: the running memswitchd keeps serving)\n`);
    if (problems.length) process.exit(EXIT_CONFIG);
  }
  void run(config, version, { takeover: opts.takeover ?? false, idleAfterHandover: opts.idleAfterHandover ?? false });
}

async function run(config: Config, version: string, restart: { takeover: boolean; idleAfterHandover: boolean }): Promise<void> {
  const startedUnixMs = Date.now();
  const log = createLogger(config.log.level);
  const fatal = (what: string, err: unknown): never => {
    const e = err as Error & { field?: string };
    log.fatal({ err: { message: e.message, field: e.field } }, what);
    log.flush();
    process.exit(1);
  };

  let dp: Dataplane;
  let store: Store;
  let sw: Switch;
  let attachments: Attachments;
  let routing: Routing;
  let docker: DockerNetworks;
  let acls: Acls;
  let policies: Policies;
  const handoverSocket = handoverSocketPath(config);
  try {
    // Before anything binds or opens a file in them: after a reboot /run is empty.
    for (const { dir, mode } of daemonDirs(config)) makeDir(dir, mode);
  } catch (err) {
    return fatal('cannot create the run and state directories', err);
  }
  try {
    // The store first: what the API created must be back before any peer connects.
    store = Store.open(config.store.path);
    dp = createDataplane(config, version);
    // A planned restart: the running daemon hands over its memif sessions, then exits
    // (freeing the API socket and our netdevs); re-created interfaces adopt them.
    const taken = restart.takeover ? await dp.takeOver(handoverSocket, config.handover.timeoutMs) : undefined;
    if (restart.takeover) log.info({ from: handoverSocket, ...(taken ?? { sessions: 0, listeners: 0 }) }, taken ? 'took over from the previous memswitchd' : 'no memswitchd to take over from');
    sw = new Switch(dp, store, log);
    logEvents(sw, log);
    routing = new Routing(sw, dp, store.routing, log);
    const att = new Attachments(sw, new NetworkGateways(routing, log), store, config.cni, log);
    sw.restore(config, () => att.restore()); // CNI attachments, then DELs spooled while we were down
    attachments = att;
    docker = new DockerNetworks(sw, att, store, log);
    docker.restore(); // Docker's networks and endpoints, whose attachments are back now
    routing.restore(config); // routers on the networks just restored; routes and neighbours before forwarding starts
    acls = new Acls(sw, dp, store.acls, (name) => sw.hasInterface(name), log.child({ component: 'acl' }));
    acls.restore(); // on the interfaces just restored, before forwarding starts
    policies = new Policies(dp, att, acls, store.policies, log.child({ component: 'policy' }));
    policies.restore(); // compiled against the attachments just restored, before forwarding starts
    const orphans = taken ? dp.finishTakeover() : 0;
    if (orphans > 0) log.warn({ sessions: orphans }, 'disconnected taken-over sessions whose interface is no longer configured');
    dp.listenForHandover(handoverSocket);
    dp.start();
  } catch (err) {
    return fatal('cannot start the dataplane', err);
  }

  const metrics = createMetrics(sw, routing, acls, policies, version);
  let api: ApiServer;
  let metricsServer: MetricsServer | undefined;
  let dockerPlugin: DockerPluginServer | undefined;
  try {
    api = await startApiServer({ sw, attachments, routing, acls, policies }, {
      socket: config.api.socket,
      tcp: config.api.tcp,
      version,
      startedUnixMs,
      storePath: store.path,
      log: log.child({ component: 'api' }),
      observe: (method, code, seconds) => metrics.observeApi(method, code, seconds),
    });
    if (config.metrics.enabled) metricsServer = await startMetricsServer(metrics, config.metrics.listen);
    if (config.docker.pluginSocket) dockerPlugin = await startDockerPlugin(docker, config.docker.pluginSocket, log.child({ component: 'docker-plugin' }));
  } catch (err) {
    dp.stop();
    return fatal('cannot start the API', err);
  }

  const memory = loadAddon().memoryCounters();
  const counts = { ...sw.counts(), ...routing.counts(), ...docker.counts(), ...acls.counts(), ...policies.counts() };
  log.info(
    {
      version,
      workers: config.dataplane.workers,
      cpus: config.dataplane.cpus,
      ...counts,
      memory,
      api: config.api.socket,
      apiTcpPort: api.tcpPort,
      metricsPort: metricsServer?.port,
      dockerPlugin: config.docker.pluginSocket,
      store: store.path,
    },
    'memswitchd running',
  );

  const stopWatch = sw.watchWorkers();
  const last = new Map<string, string>();
  const timer = setInterval(() => {
    summarize(dp, log, last);
    // A DEL spooled by a plugin that timed out while we were up (busy, not down) waits here.
    attachments.replaySpool();
  }, SUMMARY_INTERVAL_MS);
  let stopping = false;
  let idle: NodeJS.Timeout | undefined;
  const shutdown = (signal: string): void => {
    if (idle) process.exit(0); // idle after a handover: SIGTERM ends it
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    stopWatch();
    log.info({ signal }, 'shutting down');
    api.close();
    metricsServer?.close();
    dockerPlugin?.close();
    summarize(dp, log, last);
    dp.stop(); // DISCONNECT to every peer, socket files removed, threads joined (not after a handover)
    store.close();
    if (signal === 'handover' && restart.idleAfterHandover) {
      log.info('handed over; idle until SIGTERM');
      idle = setInterval(() => {}, 1 << 30); // nothing else keeps the process alive now
      return;
    }
    log.info('stopped');
    log.flush();
    process.exit(0);
  };
  sw.subscribe((e) => {
    if (e.kind === 'handed_over') shutdown('handover'); // the successor owns the peers now
  });
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
