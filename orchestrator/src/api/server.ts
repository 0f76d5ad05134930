// memswitch.v1 over grpc-js: thin handlers (convert, call the domain, convert back),
// grpc.health.v1 and reflection, on a unix socket and optionally on TCP.
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { InvalidConfigError } from '../domain/errors.js';
import type { Acls } from '../domain/acls.js';
import type { Policies } from '../domain/policies.js';
import type { Attachments } from '../domain/attachments.js';
import type { Routing } from '../domain/routing.js';
import type { Switch } from '../domain/switch.js';
import type { Logger } from '../log.js';
import {
  fromAdminState,
  fromAttachRequest,
  fromEventKinds,
  fromFamily,
  fromInterfaceSpec,
  fromRouterInterfaceSpec,
  fromRoutes,
  toAttachment,
  toEvent,
  toInterface,
  toNeighbor,
  toNetwork,
  toRoute,
  toRouter,
  toRouterInterface,
  toSnapshot,
  toWorker,
} from './convert.js';
import { aclHandlers } from './acl-handlers.js';
import { policyHandlers } from './policy-handlers.js';
import type * as m from './messages.js';
import { LOADER_OPTIONS, loadProtos, SERVICE_NAMES, type ServiceName } from './proto.js';
import { toStatus } from './status.js';

export interface ApiServerOptions {
  socket: string;
  tcp?: string;
  version: string;
  startedUnixMs: number;
  storePath: string;
  log: Logger;
  /** Called once per finished RPC, for the request metrics. */
  observe?: (method: string, code: string, seconds: number) => void;
}

export interface ApiServer {
  /** The bound TCP port, when a TCP address was configured (":0" picks one). */
  tcpPort?: number;
  close(): void;
}

const codeName = (code: number): string => grpc.status[code] ?? String(code);
const STREAM_MIN_MS = 100;
const STREAM_MAX_MS = 60_000;

type Handlers = Record<string, grpc.UntypedHandleCall>;

/** The domain objects the API serves. */
export interface Domains {
  sw: Switch;
  attachments: Attachments;
  routing: Routing;
  acls: Acls;
  policies: Policies;
}

function handlers({ sw, attachments: att, routing, acls, policies }: Domains, opts: ApiServerOptions): Record<ServiceName, Handlers> {
  const log = opts.log;
  const finish = (method: string, started: bigint, code: number): void =>
    opts.observe?.(method, codeName(code), Number(process.hrtime.bigint() - started) / 1e9);

  // Every unary RPC: run the domain call, answer, count it; errors go through toStatus().
  const unary =
    <Req, Res>(method: string, fn: (req: Req) => Res): grpc.handleUnaryCall<Req, Res> =>
    (call, cb) => {
      const started = process.hrtime.bigint();
      try {
        const res = fn(call.request);
        finish(method, started, grpc.status.OK);
        cb(null, res);
      } catch (err) {
        const st = toStatus(err, log);
        finish(method, started, st.code);
        cb(st);
      }
    };

  // A server stream that writes while the client keeps up: when grpc-js buffers, the
  // stream skips (stats) or drops (events) rather than queueing without bound.
  const stream =
    <Req, Res>(method: string, fn: (req: Req, write: (res: Res) => void) => () => void): grpc.handleServerStreamingCall<Req, Res> =>
    (call) => {
      const started = process.hrtime.bigint();
      let blocked = false;
      call.on('drain', () => (blocked = false));
      const write = (res: Res): void => {
        if (!blocked && !call.cancelled) blocked = !call.write(res);
      };
      let stop: () => void;
      try {
        stop = fn(call.request, write);
      } catch (err) {
        const st = toStatus(err, log);
        finish(method, started, st.code);
        call.emit('error', st);
        return;
      }
      call.on('cancelled', () => {
        stop();
        finish(method, started, grpc.status.CANCELLED);
      });
    };

  // A stream the domain ends itself (capture, trace): written while the call lasts,
  // ended with the domain's error or OK, stopped (its rings freed) when the client goes.
  const finite =
    <Req, Res>(method: string, open: (req: Req, write: (res: Res) => void, end: (err?: Error) => void) => () => void): grpc.handleServerStreamingCall<Req, Res> =>
    (call) => {
      const started = process.hrtime.bigint();
      const done = (err?: Error): void => {
        const st = err ? toStatus(err, log) : { code: grpc.status.OK };
        finish(method, started, st.code);
        if (err) call.emit('error', st);
        else call.end();
      };
      try {
        const stop = open(
          call.request,
          (res) => {
            if (!call.cancelled) call.write(res);
          },
          done,
        );
        call.on('cancelled', () => {
          stop();
          finish(method, started, grpc.status.CANCELLED);
        });
      } catch (err) {
        done(err as Error);
      }
    };
  const podInterfaces = (req: { interfaces?: string[]; pod: string }): string[] => [...(req.interfaces ?? []), ...(req.pod ? att.interfacesOfPod(req.pod) : [])];

  // Capture: pcapng chunks as the workers record them; ends on cancel or max_frames.
  const capture = finite<m.CaptureRequest, m.CaptureResponse>('Capture', (req, write, end) => {
    const none = !req.rx && !req.tx && !req.drops;
    return sw.capture({ ...req, interfaces: podInterfaces(req), rx: none || req.rx, tx: none || req.tx }, write, end);
  });
  // Trace: a packet at a time once its steps are in; ends when all were taken, or on cancel.
  const trace = finite<m.TraceRequest, m.TraceResponse>('Trace', (req, write, end) =>
    sw.trace({ interfaces: podInterfaces(req), filter: req.filter, packets: req.packets }, (packet, stepsLost) => write({ packet, stepsLost }), end),
  );

  // StreamRoutes: each batch is committed as it arrives (synchronously, so batches never
  // interleave with each other or with other calls); the first error ends the call.
  const streamRoutes: grpc.handleClientStreamingCall<m.StreamRoutesRequest, m.StreamRoutesResponse> = (call, cb) => {
    const started = process.hrtime.bigint();
    const totals: m.StreamRoutesResponse = { batches: 0, counts: { added: 0, replaced: 0, unchanged: 0 } };
    let done = false;
    call.on('data', (req: m.StreamRoutesRequest) => {
      if (done) return;
      try {
        const c = routing.addRoutes(fromRoutes(req.routes));
        totals.batches++;
        totals.counts.added += c.added;
        totals.counts.replaced += c.replaced;
        totals.counts.unchanged += c.unchanged;
      } catch (err) {
        done = true;
        const st = toStatus(err, log);
        finish('StreamRoutes', started, st.code);
        cb({ ...st, details: `${st.details} (in batch ${totals.batches}; the ${totals.batches} before it are committed)` });
      }
    });
    call.on('end', () => {
      if (done) return;
      done = true;
      finish('StreamRoutes', started, grpc.status.OK);
      cb(null, totals);
    });
    call.on('cancelled', () => {
      if (done) return;
      done = true;
      finish('StreamRoutes', started, grpc.status.CANCELLED);
    });
  };

  return {
    NetworkService: {
      CreateNetwork: unary<m.CreateNetworkRequest, m.CreateNetworkResponse>('CreateNetwork', (req) => {
        const r = sw.createNetwork({ name: req.name });
        return { network: toNetwork(r.network), created: r.created };
      }),
      GetNetwork: unary<m.GetNetworkRequest, m.GetNetworkResponse>('GetNetwork', (req) => ({ network: toNetwork(sw.getNetwork(req.name)) })),
      ListNetworks: unary<m.ListNetworksRequest, m.ListNetworksResponse>('ListNetworks', () => ({ networks: sw.listNetworks().map(toNetwork) })),
      DeleteNetwork: unary<m.DeleteNetworkRequest, m.DeleteNetworkResponse>('DeleteNetwork', (req) => {
        sw.deleteNetwork(req.name);
        return {};
      }),
    },
    InterfaceService: {
      CreateInterface: unary<m.CreateInterfaceRequest, m.CreateInterfaceResponse>('CreateInterface', (req) => {
        const adminUp = fromAdminState(req.adminState, true);
        const r = sw.createInterface(fromInterfaceSpec(req.spec), adminUp);
        return { interface: toInterface(r.interface), created: r.created };
      }),
      GetInterface: unary<m.GetInterfaceRequest, m.GetInterfaceResponse>('GetInterface', (req) => ({ interface: toInterface(sw.getInterface(req.name)) })),
      ListInterfaces: unary<m.ListInterfacesRequest, m.ListInterfacesResponse>('ListInterfaces', (req) => ({
        interfaces: sw.listInterfaces(req.network || undefined).map(toInterface),
      })),
      DeleteInterface: unary<m.DeleteInterfaceRequest, m.DeleteInterfaceResponse>('DeleteInterface', (req) => {
        sw.deleteInterface(req.name);
        return {};
      }),
      SetInterfaceAdminState: unary<m.SetInterfaceAdminStateRequest, m.SetInterfaceAdminStateResponse>('SetInterfaceAdminState', (req) => ({
        interface: toInterface(sw.setAdminState(req.name, fromAdminState(req.adminState))),
      })),
    },
    MacService: {
      AddStaticMac: unary<m.AddStaticMacRequest, m.AddStaticMacResponse>('AddStaticMac', (req) =>
        sw.addStaticMac({ network: req.network, mac: req.mac, interface: req.interface }),
      ),
      RemoveStaticMac: unary<m.RemoveStaticMacRequest, m.RemoveStaticMacResponse>('RemoveStaticMac', (req) => {
        sw.removeStaticMac({ network: req.network, mac: req.mac, vlan: req.vlan ?? 0 });
        return {};
      }),
      ListStaticMacs: unary<m.ListStaticMacsRequest, m.ListStaticMacsResponse>('ListStaticMacs', (req) => ({
        entries: sw.listStaticMacs(req.network || undefined),
      })),
      ListMacTable: unary<m.ListMacTableRequest, m.ListMacTableResponse>('ListMacTable', (req) => ({ entries: sw.macTable(req.network || undefined) })),
      FlushMacTable: unary<m.FlushMacTableRequest, m.FlushMacTableResponse>('FlushMacTable', (req) => ({ flushed: sw.flushMacTable(req.network) })),
    },
    CaptureService: { Capture: capture },
    TraceService: { Trace: trace },
    AclService: aclHandlers(acls, unary),
    PolicyService: policyHandlers(policies, unary),
    StatsService: {
      GetStats: unary<m.GetStatsRequest, m.GetStatsResponse>('GetStats', () => ({ snapshot: toSnapshot(sw.stats()) })),
      WatchStats: stream<m.WatchStatsRequest, m.WatchStatsResponse>('WatchStats', (req, write) => {
        const ms = req.intervalMs || 1000;
        if (ms < STREAM_MIN_MS || ms > STREAM_MAX_MS)
          throw new InvalidConfigError(`interval_ms: must be ${STREAM_MIN_MS}-${STREAM_MAX_MS} (or 0 for 1000), not ${ms}`, 'interval_ms');
        const send = (): void => write({ snapshot: toSnapshot(sw.stats()) });
        send();
        const timer = setInterval(send, ms);
        return () => clearInterval(timer);
      }),
    },
    EventService: {
      WatchEvents: stream<m.WatchEventsRequest, m.WatchEventsResponse>('WatchEvents', (req, write) => {
        const kinds = fromEventKinds(req.kinds);
        const only = req.interface || undefined;
        return sw.subscribe((e) => {
          const event = toEvent(e);
          if ((kinds.size === 0 || kinds.has(event.kind)) && (!only || event.interface === only)) write({ event });
        });
      }),
    },
    DaemonService: {
      GetDaemonInfo: unary<m.GetDaemonInfoRequest, m.GetDaemonInfoResponse>('GetDaemonInfo', () => {
        const stats = sw.stats();
        return {
          version: opts.version,
          startedUnixMs: opts.startedUnixMs,
          uptimeSeconds: (Date.now() - opts.startedUnixMs) / 1000,
          workers: stats.workers.map(toWorker),
          memory: stats.memory,
          apiSocket: opts.socket,
          storePath: opts.storePath,
          ...sw.counts(),
        };
      }),
    },
    AttachmentService: {
      Attach: unary<m.AttachRequest, m.AttachResponse>('Attach', (req) => {
        const r = att.attach(fromAttachRequest(req));
        return { attachment: toAttachment(r.attachment), created: r.created };
      }),
      Detach: unary<m.DetachRequest, m.DetachResponse>('Detach', (req) => ({ detached: att.detach(req.key) })),
      GetAttachment: unary<m.GetAttachmentRequest, m.GetAttachmentResponse>('GetAttachment', (req) => ({ attachment: toAttachment(att.get(req.key)) })),
      ListAttachments: unary<m.ListAttachmentsRequest, m.ListAttachmentsResponse>('ListAttachments', (req) => ({
        attachments: att.list(req.cniNetwork || undefined).map(toAttachment),
      })),
      GcAttachments: unary<m.GcAttachmentsRequest, m.GcAttachmentsResponse>('GcAttachments', (req) => ({
        removed: att.gc(req.cniNetwork, req.valid ?? []),
      })),
    },
    RouterService: {
      CreateRouter: unary<m.CreateRouterRequest, m.CreateRouterResponse>('CreateRouter', (req) => {
        const r = routing.createRouter({ name: req.name });
        return { router: toRouter(r.router), created: r.created };
      }),
      GetRouter: unary<m.GetRouterRequest, m.GetRouterResponse>('GetRouter', (req) => ({ router: toRouter(routing.getRouter(req.name)) })),
      ListRouters: unary<m.ListRoutersRequest, m.ListRoutersResponse>('ListRouters', () => ({ routers: routing.listRouters().map(toRouter) })),
      DeleteRouter: unary<m.DeleteRouterRequest, m.DeleteRouterResponse>('DeleteRouter', (req) => ({ routesDeleted: routing.deleteRouter(req.name) })),
      CreateRouterInterface: unary<m.CreateRouterInterfaceRequest, m.CreateRouterInterfaceResponse>('CreateRouterInterface', (req) => {
        const r = routing.createRouterInterface(fromRouterInterfaceSpec(req.spec));
        return { routerInterface: toRouterInterface(r.routerInterface), created: r.created };
      }),
      ListRouterInterfaces: unary<m.ListRouterInterfacesRequest, m.ListRouterInterfacesResponse>('ListRouterInterfaces', (req) => ({
        routerInterfaces: routing.listRouterInterfaces(req.router || undefined).map(toRouterInterface),
      })),
      DeleteRouterInterface: unary<m.DeleteRouterInterfaceRequest, m.DeleteRouterInterfaceResponse>('DeleteRouterInterface', (req) => {
        routing.deleteRouterInterface(req.name);
        return {};
      }),
      AddRoutes: unary<m.AddRoutesRequest, m.AddRoutesResponse>('AddRoutes', (req) => ({ counts: routing.addRoutes(fromRoutes(req.routes)) })),
      StreamRoutes: streamRoutes,
      DeleteRoutes: unary<m.DeleteRoutesRequest, m.DeleteRoutesResponse>('DeleteRoutes', (req) => ({
        deleted: routing.deleteRoutes({ router: req.router, prefixes: req.prefixes ?? [] }),
      })),
      ListRoutes: unary<m.ListRoutesRequest, m.ListRoutesResponse>('ListRoutes', (req) => {
        const page = routing.listRoutes({ router: req.router || undefined, family: fromFamily(req.family), pageSize: req.pageSize, pageToken: req.pageToken || undefined });
        return { routes: page.routes.map(toRoute), nextPageToken: page.nextPageToken };
      }),
      AddNeighbor: unary<m.AddNeighborRequest, m.AddNeighborResponse>('AddNeighbor', (req) =>
        routing.addNeighbor({ routerInterface: req.routerInterface, ip: req.ip, mac: req.mac }),
      ),
      DeleteNeighbor: unary<m.DeleteNeighborRequest, m.DeleteNeighborResponse>('DeleteNeighbor', (req) => {
        routing.deleteNeighbor({ routerInterface: req.routerInterface, ip: req.ip });
        return {};
      }),
      ListNeighbors: unary<m.ListNeighborsRequest, m.ListNeighborsResponse>('ListNeighbors', (req) => ({
        neighbors: routing.listNeighbors({ router: req.router || undefined, routerInterface: req.routerInterface || undefined, family: fromFamily(req.family) }).map(toNeighbor),
      })),
    },
  };
}

/**
 * A socket file left by a daemon that died is removed; one a live process serves is not.
 * Its directory was made at start (config/paths.ts).
 */
async function claimSocketPath(file: string): Promise<void> {
  if (!existsSync(file)) return;
  if (!lstatSync(file).isSocket()) throw new Error(`api socket ${file} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(file);
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
  if (live) throw new Error(`api socket ${file} is in use by another process`);
  unlinkSync(file);
}

function bind(server: grpc.Server, target: string): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

export async function startApiServer(domains: Domains, opts: ApiServerOptions): Promise<ApiServer> {
  const { definition, services } = loadProtos();
  const server = new grpc.Server();
  const impl = handlers(domains, opts);
  for (const name of SERVICE_NAMES) server.addService(services[name].service, impl[name]);
  const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(SERVICE_NAMES.map((n) => [`memswitch.v1.${n}`, 'SERVING' as const])) });
  health.addToServer(server);
  // Reflection describes health too, so grpcurl and friends can find every service.
  new ReflectionService({ ...definition, ...protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS) }).addToServer(server);

  await claimSocketPath(opts.socket);
  await bind(server, `unix://${opts.socket}`);
  // Whoever can connect can reprogram the switch: owner and group only, not what the
  // umask left (grpc-js creates the file; a umask of 0 would make it 0777).
  chmodSync(opts.socket, 0o660);
  let tcpPort: number | undefined;
  try {
    if (opts.tcp) tcpPort = await bind(server, opts.tcp);
  } catch (err) {
    server.forceShutdown();
    throw err;
  }
  return {
    tcpPort,
    close: () => {
      for (const name of ['', ...SERVICE_NAMES.map((n) => `memswitch.v1.${n}`)]) health.setStatus(name, 'NOT_SERVING');
      server.forceShutdown(); // open streams end with CANCELLED; the socket file is removed
      if (existsSync(opts.socket)) unlinkSync(opts.socket);
    },
  };
}
