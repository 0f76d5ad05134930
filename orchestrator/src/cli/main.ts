// memswitch: the command line over the gRPC API (no addon; only install-cni writes files
// and doctor reads /proc and /sys).
// Tables for people, --json for scripts (one JSON document per command, or one JSON
// line per update for `watch`).
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Argument, Command, Option } from 'commander';
import {
  DEFAULT_API_SOCKET,
  MemswitchClient,
  MemswitchError,
  type AdminState,
  type CreateInterfaceRequest,
  type Interface,
  type StatsSnapshot,
} from '../sdk/index.js';
import { parseIntArg, table, type Globals } from './common.js';
import { addAclCommands } from './acl.js';
import { addPolicyCommands } from './policy.js';
import { addRoutingCommands } from './routing.js';
import { addCaptureCommand } from './capture.js';
import { addRuntimeCommand } from './runtime.js';
import { addTraceCommand } from './trace.js';
import { runDoctor } from './doctor.js';

const nonZero = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '-';

function interfacesTable(list: Interface[]): string {
  return table(
    ['NAME', 'KIND', 'NETWORK', 'VLAN', 'ADMIN', 'LINK', 'PEER', 'QUEUES', 'MAC', 'ENDPOINT'],
    list.map((i) => [
      i.spec.name,
      i.spec.kind ?? '-',
      i.spec.network,
      i.spec.vlan || '-',
      i.adminState === 'ADMIN_STATE_UP' ? 'up' : 'down',
      i.state.connected ? 'connected' : 'waiting',
      i.state.peerName || '-',
      i.state.connected ? `${i.state.rxQueues}/${i.state.txQueues}` : '-',
      i.state.mac,
      i.spec.memif ? `${i.spec.memif.socket}#${i.spec.memif.id}` : i.spec.afxdp ? i.spec.afxdp.netdev : i.spec.veth ? `${i.spec.veth.netns}:${i.spec.veth.ifname}` : '-',
    ]),
  );
}

function statsTable(s: StatsSnapshot): string {
  return table(
    ['INTERFACE', 'RX PACKETS', 'RX BYTES', 'TX PACKETS', 'TX BYTES', 'DROPS'],
    s.interfaces.map((i) => [i.interface, i.rxPackets, i.rxBytes, i.txPackets, i.txBytes, nonZero(i.drops)]),
  );
}

const bundle = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../cni/memswitch-cni.cjs');

/** Write-then-rename, so a runtime exec-ing the plugin meanwhile sees the old or the new file. */
function installFile(dest: string, data: Buffer | string, mode: number): string {
  const tmp = `${dest}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, dest);
  return dest;
}

function installCni(o: { dir: string; node: string; copyNode?: boolean; conflist?: string; confDir: string }): string[] {
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run scripts/setup.sh (it bundles the plugin)`);
  // Refuse a broken conflist before touching anything.
  const conflist = o.conflist ? readFileSync(o.conflist, 'utf8') : undefined;
  if (conflist !== undefined) {
    try {
      JSON.parse(conflist);
    } catch (err) {
      throw new Error(`${o.conflist}: not valid JSON: ${(err as Error).message}`);
    }
  }
  mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  const out: string[] = [];
  let node = path.resolve(o.node);
  if (o.copyNode) {
    node = path.join(o.dir, 'memswitch-node');
    out.push(installFile(node, readFileSync(o.node), 0o755));
  }
  // An absolute interpreter: runtimes exec plugins with whatever PATH they have.
  out.push(installFile(path.join(o.dir, 'memswitch'), `#!${node}\n${readFileSync(bundle, 'utf8')}`, 0o755));
  if (o.conflist && conflist !== undefined) {
    mkdirSync(o.confDir, { recursive: true, mode: 0o755 });
    out.push(installFile(path.join(o.confDir, path.basename(o.conflist)), conflist, 0o644));
  }
  return out;
}

interface InterfaceOptions {
  network: string;
  kind: 'memif' | 'afxdp' | 'veth';
  socket?: string;
  id: number;
  secret?: string;
  netns?: string;
  netdev?: string;
  queues?: string;
  mode?: string;
  xdp?: string;
  ifname?: string;
  address: string[];
  route: string[];
  mtu?: number;
  vlan?: number;
  mac?: string;
  down?: boolean;
}

/** Command-line options to the request's oneof; the daemon validates the values. */
function interfaceSpec(name: string, o: InterfaceOptions): CreateInterfaceRequest['spec'] {
  const common = { name, network: o.network, vlan: o.vlan, mac: o.mac };
  switch (o.kind) {
    case 'memif':
      return { ...common, kind: 'memif', memif: { socket: o.socket, id: o.id, secret: o.secret, netns: o.netns } };
    case 'afxdp':
      return {
        ...common,
        kind: 'afxdp',
        afxdp: { netdev: o.netdev, queues: o.queues ? o.queues.split(',').map(parseIntArg('--queues', 0, 1023)) : [], mode: o.mode, xdp: o.xdp },
      };
    case 'veth':
      return {
        ...common,
        kind: 'veth',
        veth: {
          netns: o.netns,
          ifname: o.ifname,
          addresses: o.address,
          routes: o.route.map((r) => {
            const [dst, via] = r.split(',');
            return { dst, via };
          }),
          mtu: o.mtu,
        },
      };
  }
}

export async function main(argv: string[]): Promise<number> {
  let client: MemswitchClient | undefined;
  const out = (s: string): void => void process.stdout.write(s);
  const emit = (g: Globals, data: unknown, text: () => string): void => out(g.json ? `${JSON.stringify(data, null, 2)}\n` : text());
  const api = (g: Globals): MemswitchClient => (client ??= new MemswitchClient(g.api));

  const program = new Command('memswitch')
    .description('memswitch command line: talks to memswitchd over its gRPC API')
    .addOption(new Option('--api <socket>', 'memswitchd API: a unix socket path or host:port').env('MEMSWITCH_API_SOCKET').default(DEFAULT_API_SOCKET))
    .option('--json', 'print JSON instead of tables')
    .showHelpAfterError()
    .exitOverride();
  // Every action: the global options in, errors out through one path.
  const run =
    <A extends unknown[]>(fn: (g: Globals, ...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> =>
      fn(program.opts<Globals>(), ...args);

  const show = program.command('show').description('show state (tables, or JSON with --json)');
  show
    .command('interfaces')
    .argument('[name]', 'one interface')
    .option('--network <name>', 'only this network')
    .description('interfaces with their live state')
    .action(
      run(async (g, name: string | undefined, o: { network?: string }) => {
        if (name) {
          const r = await api(g).getInterface({ name });
          return emit(g, r.interface, () => interfacesTable([r.interface]));
        }
        const r = await api(g).listInterfaces({ network: o.network });
        emit(g, r.interfaces, () => interfacesTable(r.interfaces));
      }),
    );
  show
    .command('attachments')
    .description('CNI attachments (container interfaces made by the memswitch CNI plugin)')
    .option('--cni-network <name>', 'only this CNI network')
    .action(
      run(async (g, o: { cniNetwork?: string }) => {
        const r = await api(g).listAttachments({ cniNetwork: o.cniNetwork });
        emit(g, r.attachments, () =>
          table(
            ['CNI NETWORK', 'CONTAINER', 'IFNAME', 'KIND', 'NETWORK', 'INTERFACE', 'MAC', 'IPS', 'ENDPOINT', 'LINK'],
            r.attachments.map((a) => [
              a.key.cniNetwork,
              a.key.containerId.slice(0, 12),
              a.key.ifname,
              a.kind === 'ATTACHMENT_KIND_MEMIF' ? 'memif' : 'veth',
              a.network,
              a.interface,
              a.mac,
              a.ips.map((i) => i.address).join(',') || '-',
              a.socket ? `${a.socket}#${a.memifId}` : a.netns,
              !a.present ? 'missing' : a.connected ? 'connected' : 'waiting',
            ]),
          ),
        );
      }),
    );
  show
    .command('networks')
    .description('networks (L2 bridge domains)')
    .action(
      run(async (g) => {
        const r = await api(g).listNetworks();
        emit(g, r.networks, () => table(['NAME', 'SOURCE', 'INTERFACES'], r.networks.map((n) => [n.name, n.source.replace('SOURCE_', '').toLowerCase(), n.interfaceCount])));
      }),
    );
  show
    .command('fib')
    .description('the MAC table: learned and static entries')
    .option('--network <name>', 'only this network')
    .action(
      run(async (g, o: { network?: string }) => {
        const r = await api(g).listMacTable({ network: o.network });
        emit(g, r.entries, () =>
          table(['NETWORK', 'VLAN', 'MAC', 'INTERFACE', 'TYPE', 'AGE'], r.entries.map((e) => [e.network, e.vlan || '-', e.mac, e.interface, e.static ? 'static' : 'learned', e.static ? '-' : `${e.ageSeconds}s`])),
        );
      }),
    );
  show
    .command('stats')
    .description('per-interface counters')
    .action(
      run(async (g) => {
        const r = await api(g).getStats();
        emit(g, r.snapshot, () => statsTable(r.snapshot));
      }),
    );
  show
    .command('errors')
    .description('drops by reason and memif protocol errors, per interface and socket')
    .action(
      run(async (g) => {
        const s = (await api(g).getStats()).snapshot;
        const rows = [
          ...s.interfaces.map((i) => ({ interface: i.interface, socket: '', drops: i.drops, protocolErrors: i.protocolErrors })),
          ...s.sockets.map((k) => ({ interface: '', socket: k.socket, drops: {}, protocolErrors: k.protocolErrors })),
        ];
        emit(g, rows, () => table(['INTERFACE', 'SOCKET', 'DROPS', 'PROTOCOL ERRORS'], rows.map((r) => [r.interface || '-', r.socket || '-', nonZero(r.drops), nonZero(r.protocolErrors)])));
      }),
    );
  show
    .command('workers')
    .description('polling workers and how busy they are')
    .action(
      run(async (g) => {
        const r = await api(g).getDaemonInfo();
        emit(g, r.workers, () =>
          table(['WORKER', 'CPU', 'POLLS', 'BUSY POLLS', 'BUSY', 'STATE'], r.workers.map((w) => [w.index, w.cpu < 0 ? '-' : w.cpu, w.polls, w.busyPolls, `${(w.busyRatio * 100).toFixed(1)}%`, w.stalled ? 'STALLED' : 'ok'])),
        );
      }),
    );
  show
    .command('daemon')
    .description('version, uptime, memory')
    .action(
      run(async (g) => {
        const r = await api(g).getDaemonInfo();
        emit(g, r, () =>
          table(['VERSION', 'UPTIME', 'NETWORKS', 'INTERFACES', 'HUGEPAGE BYTES', 'FALLBACK BYTES'], [[r.version, `${Math.round(r.uptimeSeconds)}s`, r.networks, r.interfaces, r.memory.hugepageBytes, r.memory.fallbackBytes]]),
        );
      }),
    );

  const create = program
    .command('create')
    .description('create a network, an interface, a static MAC entry, a router, a router interface, a route or a static neighbour (idempotent)');
  create
    .command('network')
    .argument('<name>')
    .action(
      run(async (g, name: string) => {
        const r = await api(g).createNetwork({ name });
        emit(g, r, () => `network ${name} ${r.created ? 'created' : 'already exists'}\n`);
      }),
    );
  create
    .command('interface')
    .argument('<name>')
    .requiredOption('--network <name>', 'the network to attach to')
    .addOption(new Option('--kind <kind>', 'interface kind').choices(['memif', 'afxdp', 'veth']).default('memif'))
    .option('--socket <path>', 'memif: a socket path or @abstract (default /run/memswitch/memif.sock)')
    .option('--id <n>', 'memif: interface id on the socket', parseIntArg('--id', 0, 0xffffffff), 0)
    .option('--secret <secret>', 'memif: secret (at most 24 bytes)')
    .option('--netns <path>', 'memif: listen inside this netns; veth: the container netns')
    .option('--netdev <name>', 'afxdp: the uplink netdev')
    .option('--queues <list>', 'afxdp: rx queues, comma separated (default all)')
    .option('--mode <mode>', 'afxdp: auto | zerocopy | copy')
    .option('--xdp <mode>', 'afxdp: auto | native | generic')
    .option('--ifname <name>', 'veth: the name inside the netns (default eth0)')
    .option('--address <cidr>', 'veth: an address like 10.0.0.2/24 (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--route <dst[,via]>', 'veth: a route (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--mtu <mtu>', 'veth: MTU', parseIntArg('--mtu', 68, 9000))
    .option('--vlan <vlan>', 'access VLAN', parseIntArg('--vlan', 1, 4094))
    .option('--mac <mac>', 'the port MAC (default: derived from the name)')
    .option('--down', 'create it administratively down')
    .action(run(async (g, name: string, o: InterfaceOptions) => {
      const r = await api(g).createInterface({ spec: interfaceSpec(name, o), adminState: o.down ? 'ADMIN_STATE_DOWN' : 'ADMIN_STATE_UP' });
      emit(g, r, () => `interface ${name} ${r.created ? 'created' : 'already exists'}\n`);
    }));
  create
    .command('mac')
    .description('a static MAC entry')
    .argument('<mac>')
    .requiredOption('--network <name>')
    .requiredOption('--interface <name>')
    .action(
      run(async (g, mac: string, o: { network: string; interface: string }) => {
        const r = await api(g).addStaticMac({ network: o.network, mac, interface: o.interface });
        emit(g, r, () => `static MAC ${r.entry.mac} -> ${r.entry.interface} ${r.created ? 'created' : 'already exists'}\n`);
      }),
    );

  const del = program.command('delete').description('delete a network, an interface, a static MAC entry, a router, a router interface, routes or a neighbour');
  del
    .command('network')
    .argument('<name>')
    .action(
      run(async (g, name: string) => {
        await api(g).deleteNetwork({ name });
        emit(g, { deleted: name }, () => `network ${name} deleted\n`);
      }),
    );
  del
    .command('interface')
    .argument('<name>')
    .action(
      run(async (g, name: string) => {
        await api(g).deleteInterface({ name });
        emit(g, { deleted: name }, () => `interface ${name} deleted\n`);
      }),
    );
  del
    .command('mac')
    .argument('<mac>')
    .requiredOption('--network <name>')
    .option('--vlan <vlan>', 'VLAN of the entry (default untagged)', parseIntArg('--vlan', 0, 4094), 0)
    .action(
      run(async (g, mac: string, o: { network: string; vlan: number }) => {
        await api(g).removeStaticMac({ network: o.network, mac, vlan: o.vlan });
        emit(g, { deleted: mac }, () => `static MAC ${mac} deleted\n`);
      }),
    );

  addRoutingCommands({ show, create, del }, { run, emit, api });
  const flush = program.command('flush').description('clear state');
  addAclCommands({ show, create, del, flush, program }, { run, emit, api });
  addPolicyCommands({ show, del, program }, { run, emit, api });
  addRuntimeCommand(show, { run, emit, api });
  addCaptureCommand(program, { run, emit, api });
  addTraceCommand(program, { run, emit, api });

  program
    .command('set')
    .description('change an object')
    .command('interface')
    .description('set an interface administratively up or down')
    .argument('<name>')
    .addArgument(new Argument('<state>', 'up or down').choices(['up', 'down']))
    .action(
      run(async (g, name: string, state: string) => {
        const adminState: AdminState = state === 'up' ? 'ADMIN_STATE_UP' : 'ADMIN_STATE_DOWN';
        const r = await api(g).setInterfaceAdminState({ name, adminState });
        emit(g, r.interface, () => interfacesTable([r.interface]));
      }),
    );
  flush
    .command('fib')
    .description('flush the learned MAC entries of a network (static ones stay)')
    .argument('<network>')
    .action(
      run(async (g, network: string) => {
        const r = await api(g).flushMacTable({ network });
        emit(g, r, () => `${r.flushed} learned entries flushed\n`);
      }),
    );

  program
    .command('install-cni')
    .description('install the CNI plugin as <dir>/memswitch (and optionally a conflist), atomically')
    .option('--dir <dir>', 'CNI plugin directory', '/opt/cni/bin')
    .option('--node <path>', 'the node binary the plugin runs with', process.execPath)
    .option('--copy-node', 'copy that node binary next to the plugin (hosts without node, e.g. a DaemonSet init step)')
    .option('--conflist <file>', 'also install this conflist')
    .option('--conf-dir <dir>', 'where the conflist goes', '/etc/cni/net.d')
    .action(
      run(async (g, o: { dir: string; node: string; copyNode?: boolean; conflist?: string; confDir: string }) => {
        const installed = installCni(o);
        emit(g, installed, () => installed.map((f) => `installed ${f}\n`).join(''));
      }),
    );

  let exitCode = 0;
  program
    .command('doctor')
    .description('check this node for what memswitchd needs (hugepages, bpffs, capabilities, ...) and say how to fix what is missing; run it as the user memswitchd runs as; exit 1 on a failure')
    .option('--cni-dir <dir>', 'CNI plugin directory', '/opt/cni/bin')
    .option('--conf-dir <dir>', 'CNI network config directory', '/etc/cni/net.d')
    .action(
      run(async (g, o: { cniDir: string; confDir: string }) => {
        const checks = await runDoctor(api(g), g.api, { binDir: o.cniDir, confDir: o.confDir });
        emit(g, checks, () =>
          table(['CHECK', 'RESULT', 'DETAIL'], checks.map((c) => [c.name, c.verdict, c.detail])) +
          checks.filter((c) => c.fix).map((c) => `\n${c.name}: ${c.fix}`).join('') +
          (checks.some((c) => c.fix) ? '\n' : ''),
        );
        if (checks.some((c) => c.verdict === 'fail')) exitCode = 1;
      }),
    );

  const watch = program.command('watch').description('follow counters or events until interrupted');
  const follow = async <T>(stream: { cancel(): void } & AsyncIterable<T>, count: number | undefined, print: (t: T) => void): Promise<void> => {
    const stop = (): void => stream.cancel();
    process.once('SIGINT', stop);
    try {
      let n = 0;
      for await (const item of stream) {
        print(item);
        if (count !== undefined && ++n >= count) break;
      }
    } finally {
      process.off('SIGINT', stop);
    }
  };
  watch
    .command('stats')
    .option('--interval <ms>', 'milliseconds between updates', parseIntArg('--interval', 100, 60000), 1000)
    .option('--count <n>', 'stop after n updates', parseIntArg('--count', 1, 1e9))
    .action(
      run(async (g, o: { interval: number; count?: number }) =>
        follow(api(g).watchStats({ intervalMs: o.interval }), o.count, (s) =>
          out(g.json ? `${JSON.stringify(s)}\n` : `${new Date(s.timeUnixMs).toISOString()}\n${statsTable(s)}\n`),
        ),
      ),
    );
  watch
    .command('events')
    .option('--interface <name>', 'only this interface')
    .option('--count <n>', 'stop after n events', parseIntArg('--count', 1, 1e9))
    .action(
      run(async (g, o: { interface?: string; count?: number }) =>
        follow(api(g).watchEvents({ interface: o.interface }), o.count, (e) =>
          out(
            g.json
              ? `${JSON.stringify(e)}\n`
              : `${new Date(e.timeUnixMs).toISOString()} ${e.kind.replace('EVENT_KIND_', '').toLowerCase()} ${[e.interface, e.network, e.detail].filter(Boolean).join(' ')}\n`,
          ),
        ),
      ),
    );

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return e.exitCode ?? 2; // commander printed it
    const message =
      err instanceof MemswitchError
        ? err.code === 'UNAVAILABLE'
          ? `cannot reach memswitchd at ${program.opts<Globals>().api} (${err.details.split('. Resolution')[0]})`
          : `${err.code}: ${err.details}`
        : (err as Error).message;
    process.stderr.write(`memswitch: ${message}\n`);
    return 1;
  } finally {
    client?.close();
  }
}
