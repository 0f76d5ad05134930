// The memswitch.v1 client: a promise per RPC, async iterables for the streams, and
// errors that say which status came back. The CLI, the tests and the CNI plugin use it.
//
//   const c = new MemswitchClient('/run/memswitch/api.sock');
//   await c.createNetwork({ name: 'blue' });
//   for await (const s of c.watchStats({ intervalMs: 1000 })) console.log(s.interfaces);
//   await c.streamRoutes(batchesOf10000); // a large table, one transaction per batch
//   for await (const r of c.routes({ router: 'core' })) console.log(r.prefix);
import * as grpc from '@grpc/grpc-js';
import { grpcTarget, loadProtos, type ServiceName } from '../api/proto.js';
import type * as a from '../api/acl-handlers.js';
import type * as p from '../api/policy-handlers.js';
import type { IsolatedInterfaceView } from '../domain/policies.js';
import type { ConntrackFlow } from '../domain/conntrack.js';
import type * as m from '../api/messages.js';

export type * from '../api/messages.js';

export const DEFAULT_API_SOCKET = '/run/memswitch/api.sock';

export type StatusName = keyof typeof grpc.status;

/** A non-OK answer from memswitchd. `details` is the daemon's message, naming the field. */
export class MemswitchError extends Error {
  constructor(
    readonly code: StatusName,
    readonly details: string,
  ) {
    super(`${code}: ${details}`);
    this.name = 'MemswitchError';
  }
}
export class InvalidArgumentError extends MemswitchError {}
export class NotFoundError extends MemswitchError {}
export class AlreadyExistsError extends MemswitchError {}
export class FailedPreconditionError extends MemswitchError {}
export class UnavailableError extends MemswitchError {}

function toClientError(err: unknown): Error {
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e.code !== 'number') return err instanceof Error ? err : new Error(String(err));
  const name = (grpc.status[e.code] ?? 'UNKNOWN') as StatusName;
  const details = e.details ?? '';
  switch (e.code) {
    case grpc.status.INVALID_ARGUMENT: return new InvalidArgumentError(name, details);
    case grpc.status.NOT_FOUND: return new NotFoundError(name, details);
    case grpc.status.ALREADY_EXISTS: return new AlreadyExistsError(name, details);
    case grpc.status.FAILED_PRECONDITION: return new FailedPreconditionError(name, details);
    case grpc.status.UNAVAILABLE: return new UnavailableError(name, details);
    default: return new MemswitchError(name, details);
  }
}

/** A server stream: iterate it; cancel() (or leaving the loop) ends it. */
export interface Watch<T> extends AsyncIterable<T> {
  cancel(): void;
}

export interface ClientOptions {
  /** Per-call deadline for unary RPCs. */
  deadlineMs?: number;
}

type UnaryMethod = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;
type StreamMethod = (req: unknown) => grpc.ClientReadableStream<unknown>;
type ClientStreamMethod = (md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: unknown) => void) => grpc.ClientWritableStream<unknown>;

export class MemswitchClient {
  private readonly clients: Record<ServiceName, grpc.Client>;
  private readonly deadlineMs: number;

  /** `address`: a unix socket path (the default), or host:port for the optional TCP listener. */
  constructor(
    readonly address: string = DEFAULT_API_SOCKET,
    opts: ClientOptions = {},
  ) {
    const { services } = loadProtos();
    this.deadlineMs = opts.deadlineMs ?? 10_000;
    const first = new services.NetworkService(grpcTarget(address), grpc.credentials.createInsecure());
    const shared = { channelOverride: first.getChannel() as grpc.Channel };
    this.clients = {
      NetworkService: first,
      InterfaceService: new services.InterfaceService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
      MacService: new services.MacService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
      StatsService: new services.StatsService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
      EventService: new services.EventService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
      DaemonService: new services.DaemonService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
      AttachmentService: new services.AttachmentService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
      RouterService: new services.RouterService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
      CaptureService: new services.CaptureService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
      TraceService: new services.TraceService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
      AclService: new services.AclService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
      PolicyService: new services.PolicyService(grpcTarget(address), grpc.credentials.createInsecure(), shared),
    };
  }

  /** Resolves once connected; rejects with UnavailableError after `deadlineMs`. */
  waitForReady(deadlineMs = 5000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.clients.NetworkService.waitForReady(Date.now() + deadlineMs, (err) =>
        err ? reject(new UnavailableError('UNAVAILABLE', `memswitchd is not answering on ${this.address}: ${err.message}`)) : resolve(),
      ),
    );
  }

  close(): void {
    this.clients.NetworkService.close();
  }

  // networks
  createNetwork = (req: m.CreateNetworkRequest): Promise<m.CreateNetworkResponse> => this.unary('NetworkService', 'CreateNetwork', req);
  getNetwork = (req: m.GetNetworkRequest): Promise<m.GetNetworkResponse> => this.unary('NetworkService', 'GetNetwork', req);
  listNetworks = (req: m.ListNetworksRequest = {}): Promise<m.ListNetworksResponse> => this.unary('NetworkService', 'ListNetworks', req);
  deleteNetwork = (req: m.DeleteNetworkRequest): Promise<m.DeleteNetworkResponse> => this.unary('NetworkService', 'DeleteNetwork', req);

  // interfaces
  createInterface = (req: m.CreateInterfaceRequest): Promise<m.CreateInterfaceResponse> => this.unary('InterfaceService', 'CreateInterface', req);
  getInterface = (req: m.GetInterfaceRequest): Promise<m.GetInterfaceResponse> => this.unary('InterfaceService', 'GetInterface', req);
  listInterfaces = (req: m.ListInterfacesRequest = {}): Promise<m.ListInterfacesResponse> => this.unary('InterfaceService', 'ListInterfaces', req);
  deleteInterface = (req: m.DeleteInterfaceRequest): Promise<m.DeleteInterfaceResponse> => this.unary('InterfaceService', 'DeleteInterface', req);
  setInterfaceAdminState = (req: m.SetInterfaceAdminStateRequest): Promise<m.SetInterfaceAdminStateResponse> =>
    this.unary('InterfaceService', 'SetInterfaceAdminState', req);

  // MAC table
  addStaticMac = (req: m.AddStaticMacRequest): Promise<m.AddStaticMacResponse> => this.unary('MacService', 'AddStaticMac', req);
  removeStaticMac = (req: m.RemoveStaticMacRequest): Promise<m.RemoveStaticMacResponse> => this.unary('MacService', 'RemoveStaticMac', req);
  listStaticMacs = (req: m.ListStaticMacsRequest = {}): Promise<m.ListStaticMacsResponse> => this.unary('MacService', 'ListStaticMacs', req);
  listMacTable = (req: m.ListMacTableRequest = {}): Promise<m.ListMacTableResponse> => this.unary('MacService', 'ListMacTable', req);
  flushMacTable = (req: m.FlushMacTableRequest): Promise<m.FlushMacTableResponse> => this.unary('MacService', 'FlushMacTable', req);

  // counters, events, the daemon
  getStats = (req: m.GetStatsRequest = {}): Promise<m.GetStatsResponse> => this.unary('StatsService', 'GetStats', req);
  watchStats = (req: m.WatchStatsRequest = {}): Watch<m.StatsSnapshot> =>
    this.stream('StatsService', 'WatchStats', req, (r: m.WatchStatsResponse) => r.snapshot);
  watchEvents = (req: m.WatchEventsRequest = {}): Watch<m.Event> => this.stream('EventService', 'WatchEvents', req, (r: m.WatchEventsResponse) => r.event);
  /** pcapng chunks; concatenated they are one file. Ends at max_frames, or cancel(). */
  capture = (req: Partial<m.CaptureRequest>): Watch<m.CaptureResponse> => this.stream('CaptureService', 'Capture', req, (r: m.CaptureResponse) => r);
  trace = (req: Partial<m.TraceRequest>): Watch<m.TraceResponse> => this.stream('TraceService', 'Trace', req, (r: m.TraceResponse) => r);
  getDaemonInfo = (req: m.GetDaemonInfoRequest = {}): Promise<m.GetDaemonInfoResponse> => this.unary('DaemonService', 'GetDaemonInfo', req);

  // ACLs
  createAcl = (req: { acl: a.Acl }): Promise<{ acl: a.AclStatus; created: boolean }> => this.unary('AclService', 'CreateAcl', req);
  replaceAclRules = (req: { acl: a.Acl }): Promise<{ acl: a.AclStatus }> => this.unary('AclService', 'ReplaceAclRules', req);
  getAcl = (req: { name: string }): Promise<{ acl: a.AclStatus }> => this.unary('AclService', 'GetAcl', req);
  listAcls = (req: Record<string, never> = {}): Promise<{ acls: a.AclStatus[] }> => this.unary('AclService', 'ListAcls', req);
  deleteAcl = (req: { name: string }): Promise<Record<string, never>> => this.unary('AclService', 'DeleteAcl', req);
  bindAcl = (req: { binding: a.AclBinding }): Promise<{ binding: a.AclBinding; created: boolean }> => this.unary('AclService', 'BindAcl', req);
  listConntrack = (req: a.ListConntrackRequest = {}): Promise<{ flows: ConntrackFlow[]; nextPageToken: string }> => this.unary('AclService', 'ListConntrack', req);
  getConntrackSummary = (req: Record<string, never> = {}): Promise<a.ConntrackSummary> => this.unary('AclService', 'GetConntrackSummary', req);
  clearConntrack = (req: Record<string, never> = {}): Promise<{ flows: number }> => this.unary('AclService', 'ClearConntrack', req);
  applyNetworkPolicy = (req: { policy: p.NetworkPolicy }): Promise<{ policy: p.NetworkPolicyStatus; changed: boolean }> => this.unary('PolicyService', 'ApplyNetworkPolicy', req);
  deleteNetworkPolicy = (req: { namespace: string; name: string }): Promise<Record<string, never>> => this.unary('PolicyService', 'DeleteNetworkPolicy', req);
  listNetworkPolicies = (req: { namespace?: string } = {}): Promise<{ policies: p.NetworkPolicyStatus[] }> => this.unary('PolicyService', 'ListNetworkPolicies', req);
  setPodLabels = (req: { namespace: string; name: string; labels: Record<string, string>; ports?: { name: string; protocol: string; port: number }[] }): Promise<{ interfaces: string[] }> =>
    this.unary('PolicyService', 'SetPodLabels', req);
  deletePodLabels = (req: { namespace: string; name: string }): Promise<Record<string, never>> => this.unary('PolicyService', 'DeletePodLabels', req);
  setNamespaceLabels = (req: { namespace: string; labels: Record<string, string> }): Promise<Record<string, never>> => this.unary('PolicyService', 'SetNamespaceLabels', req);
  getPolicyStatus = (req: Record<string, never> = {}): Promise<{ interfaces: IsolatedInterfaceView[] }> => this.unary('PolicyService', 'GetPolicyStatus', req);
  unbindAcl = (req: { interface: string; network?: string; direction: a.AclBinding['direction'] }): Promise<Record<string, never>> => this.unary('AclService', 'UnbindAcl', req);

  // CNI attachments
  attach = (req: m.AttachRequest): Promise<m.AttachResponse> => this.unary('AttachmentService', 'Attach', req);
  detach = (req: m.DetachRequest): Promise<m.DetachResponse> => this.unary('AttachmentService', 'Detach', req);
  getAttachment = (req: m.GetAttachmentRequest): Promise<m.GetAttachmentResponse> => this.unary('AttachmentService', 'GetAttachment', req);
  listAttachments = (req: m.ListAttachmentsRequest = {}): Promise<m.ListAttachmentsResponse> => this.unary('AttachmentService', 'ListAttachments', req);
  gcAttachments = (req: m.GcAttachmentsRequest): Promise<m.GcAttachmentsResponse> => this.unary('AttachmentService', 'GcAttachments', req);

  // IP routing (IPv4 and IPv6)
  createRouter = (req: m.CreateRouterRequest): Promise<m.CreateRouterResponse> => this.unary('RouterService', 'CreateRouter', req);
  getRouter = (req: m.GetRouterRequest): Promise<m.GetRouterResponse> => this.unary('RouterService', 'GetRouter', req);
  listRouters = (req: m.ListRoutersRequest = {}): Promise<m.ListRoutersResponse> => this.unary('RouterService', 'ListRouters', req);
  deleteRouter = (req: m.DeleteRouterRequest): Promise<m.DeleteRouterResponse> => this.unary('RouterService', 'DeleteRouter', req);
  createRouterInterface = (req: m.CreateRouterInterfaceRequest): Promise<m.CreateRouterInterfaceResponse> =>
    this.unary('RouterService', 'CreateRouterInterface', req);
  listRouterInterfaces = (req: m.ListRouterInterfacesRequest = {}): Promise<m.ListRouterInterfacesResponse> =>
    this.unary('RouterService', 'ListRouterInterfaces', req);
  deleteRouterInterface = (req: m.DeleteRouterInterfaceRequest): Promise<m.DeleteRouterInterfaceResponse> =>
    this.unary('RouterService', 'DeleteRouterInterface', req);
  addRoutes = (req: m.AddRoutesRequest): Promise<m.AddRoutesResponse> => this.unary('RouterService', 'AddRoutes', req);
  /** Sends each batch as one StreamRoutes message, waiting while the stream is full; no deadline. */
  streamRoutes = (batches: Iterable<m.RouteInput[]> | AsyncIterable<m.RouteInput[]>): Promise<m.StreamRoutesResponse> =>
    this.clientStream('RouterService', 'StreamRoutes', batches, (routes): m.StreamRoutesRequest => ({ routes }));
  deleteRoutes = (req: m.DeleteRoutesRequest): Promise<m.DeleteRoutesResponse> => this.unary('RouterService', 'DeleteRoutes', req);
  listRoutes = (req: m.ListRoutesRequest = {}): Promise<m.ListRoutesResponse> => this.unary('RouterService', 'ListRoutes', req);
  addNeighbor = (req: m.AddNeighborRequest): Promise<m.AddNeighborResponse> => this.unary('RouterService', 'AddNeighbor', req);
  deleteNeighbor = (req: m.DeleteNeighborRequest): Promise<m.DeleteNeighborResponse> => this.unary('RouterService', 'DeleteNeighbor', req);
  listNeighbors = (req: m.ListNeighborsRequest = {}): Promise<m.ListNeighborsResponse> => this.unary('RouterService', 'ListNeighbors', req);

  /** Every route of the listing, fetching page after page. */
  async *routes(req: Omit<m.ListRoutesRequest, 'pageToken'> = {}): AsyncIterable<m.Route> {
    let pageToken = '';
    do {
      const page = await this.listRoutes({ ...req, pageToken });
      yield* page.routes;
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  private unary<Res>(service: ServiceName, method: string, req: unknown): Promise<Res> {
    const fn = (this.clients[service] as unknown as Record<string, UnaryMethod>)[method]!;
    return new Promise((resolve, reject) =>
      fn.call(this.clients[service], req, new grpc.Metadata(), { deadline: Date.now() + this.deadlineMs }, (err, res) =>
        err ? reject(toClientError(err)) : resolve(res as Res),
      ),
    );
  }

  private clientStream<T, Res>(service: ServiceName, method: string, items: Iterable<T> | AsyncIterable<T>, wrap: (t: T) => unknown): Promise<Res> {
    const fn = (this.clients[service] as unknown as Record<string, ClientStreamMethod>)[method]!;
    return new Promise((resolve, reject) => {
      // The answer can come before the last write (the server refused a batch): stop then.
      let answered = false;
      let wake = (): void => {};
      const call = fn.call(this.clients[service], new grpc.Metadata(), (err, res) => {
        answered = true;
        wake();
        if (err) reject(toClientError(err));
        else resolve(res as Res);
      });
      void (async () => {
        try {
          for await (const item of items) {
            if (answered) return;
            if (!call.write(wrap(item)))
              await new Promise<void>((resume) => {
                wake = resume;
                call.once('drain', resume);
              });
          }
          call.end();
        } catch (err) {
          // The batches themselves failed (a throwing generator): end the call unanswered.
          call.cancel();
          reject(err);
        }
      })();
    });
  }

  private stream<R, T>(service: ServiceName, method: string, req: unknown, pick: (r: R) => T): Watch<T> {
    const fn = (this.clients[service] as unknown as Record<string, StreamMethod>)[method]!;
    const call = fn.call(this.clients[service], req);
    let cancelled = false;
    const cancel = (): void => {
      if (cancelled) return;
      cancelled = true;
      call.cancel();
    };
    return {
      cancel,
      async *[Symbol.asyncIterator]() {
        try {
          for await (const r of call) yield pick(r as R);
        } catch (err) {
          if (cancelled && (err as grpc.ServiceError).code === grpc.status.CANCELLED) return;
          throw toClientError(err);
        } finally {
          cancel();
        }
      },
    };
  }
}
