// memswitch.v1 messages as JavaScript objects, in the shape LOADER_OPTIONS produces
// (camelCase fields, enum names as strings, uint64 as number, oneof name in `kind`).
// Keep in step with protos/memswitch/v1/*.proto. Requests are Partial: proto3 fills
// every missing field with its zero value.
import type { CaptureChunk, CaptureRequest as DomainCaptureRequest } from '../domain/capture.js';
import type { TracedPacket, TraceRequest as DomainTraceRequest } from '../domain/trace.js';
import type { WireEventKind } from '../domain/events.js';

export type Source = 'SOURCE_UNSPECIFIED' | 'SOURCE_CONFIG' | 'SOURCE_API' | 'SOURCE_CNI';
export type AdminState = 'ADMIN_STATE_UNSPECIFIED' | 'ADMIN_STATE_UP' | 'ADMIN_STATE_DOWN';
export type EventKind = 'EVENT_KIND_UNSPECIFIED' | WireEventKind;

export interface Network {
  name: string;
  source: Source;
  interfaceCount: number;
}

export interface MemifSpec {
  socket: string;
  id: number;
  secret: string;
  secretSet: boolean;
  netns: string;
  mode: string;
}

export interface AfxdpSpec {
  netdev: string;
  queues: number[];
  mode: string;
  xdp: string;
}

export interface VethRoute {
  dst: string;
  via: string;
}

export interface VethSpec {
  netns: string;
  ifname: string;
  addresses: string[];
  routes: VethRoute[];
  mtu: number;
}

export interface InterfaceSpec {
  name: string;
  network: string;
  vlan: number;
  mac: string;
  /** Which member of the `kind` oneof is set. */
  kind?: 'memif' | 'afxdp' | 'veth';
  memif?: MemifSpec | null;
  afxdp?: AfxdpSpec | null;
  veth?: VethSpec | null;
}

export interface InterfaceState {
  connected: boolean;
  peerName: string;
  peerInterface: string;
  mode: string;
  rxQueues: number;
  txQueues: number;
  connects: number;
  mac: string;
  netdev: string;
  xdpMode: string;
  xdpAttach: string;
  multiBuffer: boolean;
}

export interface Interface {
  spec: InterfaceSpec;
  adminState: AdminState;
  state: InterfaceState;
  source: Source;
}

export interface MacEntry {
  network: string;
  vlan: number;
  mac: string;
  interface: string;
  static: boolean;
  ageSeconds: number;
}

export interface StaticMac {
  network: string;
  vlan: number;
  mac: string;
  interface: string;
}

export interface InterfaceCounters {
  interface: string;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  drops: Record<string, number>;
  protocolErrors: Record<string, number>;
  connected: boolean;
  perWorker: WorkerCounters[];
}

export interface WorkerCounters {
  worker: number;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  drops: Record<string, number>;
}

export interface WorkerStats {
  index: number;
  cpu: number;
  polls: number;
  busyPolls: number;
  busyRatio: number;
  stalled: boolean;
  runtime: NodeRuntime[];
  icmpErrors: number;
  icmpRateLimited: number;
}

export interface NodeRuntime {
  node: string;
  calls: number;
  vectors: number;
  sampledVectors: number;
  sampledCycles: number;
  cyclesPerPacket: number;
  nsPerPacket: number;
}

export interface SocketErrors {
  socket: string;
  protocolErrors: Record<string, number>;
}

export interface MemoryStats {
  hugepageBytes: number;
  fallbackBytes: number;
  fallbackRegions: number;
  fallbackInUse: boolean;
}

export interface StatsSnapshot {
  timeUnixMs: number;
  interfaces: InterfaceCounters[];
  workers: WorkerStats[];
  sockets: SocketErrors[];
  memory: MemoryStats;
  tscHz: number;
}

export interface Event {
  timeUnixMs: number;
  kind: EventKind;
  interface: string;
  network: string;
  socket: string;
  detail: string;
}

export interface CreateNetworkRequest { name: string }
export interface CreateNetworkResponse { network: Network; created: boolean }
export interface GetNetworkRequest { name: string }
export interface GetNetworkResponse { network: Network }
export type ListNetworksRequest = Record<string, never>;
export interface ListNetworksResponse { networks: Network[] }
export interface DeleteNetworkRequest { name: string }
export type DeleteNetworkResponse = Record<string, never>;

export interface CreateInterfaceRequest {
  spec: Partial<Omit<InterfaceSpec, 'memif' | 'afxdp' | 'veth'>> & {
    memif?: Partial<MemifSpec> | null;
    afxdp?: Partial<AfxdpSpec> | null;
    veth?: (Partial<Omit<VethSpec, 'routes'>> & { routes?: Partial<VethRoute>[] }) | null;
  };
  adminState?: AdminState;
}
export interface CreateInterfaceResponse { interface: Interface; created: boolean }
export interface GetInterfaceRequest { name: string }
export interface GetInterfaceResponse { interface: Interface }
export interface ListInterfacesRequest { network?: string }
export interface ListInterfacesResponse { interfaces: Interface[] }
export interface DeleteInterfaceRequest { name: string }
export type DeleteInterfaceResponse = Record<string, never>;
export interface SetInterfaceAdminStateRequest { name: string; adminState: AdminState }
export interface SetInterfaceAdminStateResponse { interface: Interface }

export interface AddStaticMacRequest { network: string; mac: string; interface: string }
export interface AddStaticMacResponse { entry: StaticMac; created: boolean }
export interface RemoveStaticMacRequest { network: string; mac: string; vlan?: number }
export type RemoveStaticMacResponse = Record<string, never>;
export interface ListStaticMacsRequest { network?: string }
export interface ListStaticMacsResponse { entries: StaticMac[] }
export interface ListMacTableRequest { network?: string }
export interface ListMacTableResponse { entries: MacEntry[] }
export interface FlushMacTableRequest { network: string }
export interface FlushMacTableResponse { flushed: number }

export type GetStatsRequest = Record<string, never>;
export interface GetStatsResponse { snapshot: StatsSnapshot }
export interface WatchStatsRequest { intervalMs?: number }
export interface WatchStatsResponse { snapshot: StatsSnapshot }

export interface WatchEventsRequest { kinds?: EventKind[]; interface?: string }
export interface WatchEventsResponse { event: Event }

export type GetDaemonInfoRequest = Record<string, never>;
export interface GetDaemonInfoResponse {
  version: string;
  startedUnixMs: number;
  uptimeSeconds: number;
  workers: WorkerStats[];
  memory: MemoryStats;
  apiSocket: string;
  storePath: string;
  networks: number;
  interfaces: number;
  captures: number;
  traces: number;
}

export type AttachmentKind = 'ATTACHMENT_KIND_UNSPECIFIED' | 'ATTACHMENT_KIND_MEMIF' | 'ATTACHMENT_KIND_VETH';
export type SocketMode = 'SOCKET_MODE_UNSPECIFIED' | 'SOCKET_MODE_ABSTRACT' | 'SOCKET_MODE_FILE';

export interface AttachmentKey {
  cniNetwork: string;
  containerId: string;
  ifname: string;
}
export interface AttachmentIp {
  address: string;
  gateway: string;
}
export interface AttachmentRoute {
  dst: string;
  gw: string;
}
export interface Attachment {
  key: AttachmentKey;
  netns: string;
  network: string;
  kind: AttachmentKind;
  mac: string;
  ips: AttachmentIp[];
  routes: AttachmentRoute[];
  mtu: number;
  vlan: number;
  interface: string;
  socket: string;
  memifId: number;
  infoFile: string;
  createdUnixMs: number;
  podNamespace: string;
  podName: string;
  podUid: string;
  connected: boolean;
  present: boolean;
  router: string;
  gateway: string;
  gateway6: string;
  gatewayPresent: boolean;
}

export interface AttachRequest {
  key: AttachmentKey;
  netns: string;
  network: string;
  kind: AttachmentKind;
  mac?: string;
  ips?: Partial<AttachmentIp>[];
  routes?: Partial<AttachmentRoute>[];
  mtu?: number;
  vlan?: number;
  socketMode?: SocketMode;
  socketName?: string;
  socketDir?: string;
  podNamespace?: string;
  podName?: string;
  podUid?: string;
  router?: string;
  podLabels?: Record<string, string>;
}
export interface AttachResponse { attachment: Attachment; created: boolean }
export interface DetachRequest { key: AttachmentKey }
export interface DetachResponse { detached: boolean }
export interface GetAttachmentRequest { key: AttachmentKey }
export interface GetAttachmentResponse { attachment: Attachment }
export interface ListAttachmentsRequest { cniNetwork?: string }
export interface ListAttachmentsResponse { attachments: Attachment[] }
export interface GcAttachmentsRequest { cniNetwork: string; valid: { containerId: string; ifname: string }[] }
export interface GcAttachmentsResponse { removed: AttachmentKey[] }

export type RouteKind = 'ROUTE_KIND_UNSPECIFIED' | 'ROUTE_KIND_FORWARD' | 'ROUTE_KIND_BLACKHOLE' | 'ROUTE_KIND_UNREACHABLE' | 'ROUTE_KIND_RECEIVE';
export type RouteOrigin = 'ROUTE_ORIGIN_UNSPECIFIED' | 'ROUTE_ORIGIN_STATIC' | 'ROUTE_ORIGIN_CONNECTED' | 'ROUTE_ORIGIN_LOCAL' | 'ROUTE_ORIGIN_HOST';
export type IpFamily = 'IP_FAMILY_UNSPECIFIED' | 'IP_FAMILY_IPV4' | 'IP_FAMILY_IPV6';
export type NeighborState = 'NEIGHBOR_STATE_UNSPECIFIED' | 'NEIGHBOR_STATE_REACHABLE' | 'NEIGHBOR_STATE_INCOMPLETE';

export interface Router {
  name: string;
  source: Source;
  interfaceCount: number;
  routeCount: number;
}
export interface RouterHostSpec {
  nodeAddress: string;
  nodeAddress6: string;
  routes: string[];
}
export interface RouterInterfaceSpec {
  name: string;
  router: string;
  network: string;
  vlan: number;
  addresses: string[];
  mtu: number;
  mac: string;
  /** null when unset (an interface on a network). */
  host: RouterHostSpec | null;
}
export interface RouterInterface {
  spec: RouterInterfaceSpec;
  source: Source;
  mac: string;
  mtu: number;
  nodeIfname: string;
}
export interface NextHop {
  via: string;
  interface: string;
}
export interface Route {
  router: string;
  prefix: string;
  kind: RouteKind;
  nextHops: NextHop[];
  origin: RouteOrigin;
  source: Source;
}
/** A route as a request gives it: the answer-only fields may be left out. */
export type RouteInput = Partial<Omit<Route, 'nextHops' | 'origin' | 'source'>> & { nextHops?: Partial<NextHop>[] };
export interface StaticNeighbor {
  routerInterface: string;
  ip: string;
  mac: string;
}
export interface Neighbor {
  router: string;
  routerInterface: string;
  ip: string;
  mac: string;
  static: boolean;
  state: NeighborState;
  ageSeconds: number;
}
export interface RouteCounts {
  added: number;
  replaced: number;
  unchanged: number;
}

export interface CreateRouterRequest { name: string }
export interface CreateRouterResponse { router: Router; created: boolean }
export interface GetRouterRequest { name: string }
export interface GetRouterResponse { router: Router }
export type ListRoutersRequest = Record<string, never>;
export interface ListRoutersResponse { routers: Router[] }
export interface DeleteRouterRequest { name: string }
export interface DeleteRouterResponse { routesDeleted: number }
export interface CreateRouterInterfaceRequest { spec: Partial<Omit<RouterInterfaceSpec, 'host'>> & { host?: Partial<RouterHostSpec> | null } }
export interface CreateRouterInterfaceResponse { routerInterface: RouterInterface; created: boolean }
export interface ListRouterInterfacesRequest { router?: string }
export interface ListRouterInterfacesResponse { routerInterfaces: RouterInterface[] }
export interface DeleteRouterInterfaceRequest { name: string }
export type DeleteRouterInterfaceResponse = Record<string, never>;
export interface AddRoutesRequest { routes: RouteInput[] }
export interface AddRoutesResponse { counts: RouteCounts }
export interface StreamRoutesRequest { routes: RouteInput[] }
export interface StreamRoutesResponse { batches: number; counts: RouteCounts }
export interface DeleteRoutesRequest { router: string; prefixes: string[] }
export interface DeleteRoutesResponse { deleted: number }
export interface ListRoutesRequest { router?: string; pageSize?: number; pageToken?: string; family?: IpFamily }
export interface ListRoutesResponse { routes: Route[]; nextPageToken: string }
export interface AddNeighborRequest { routerInterface: string; ip: string; mac: string }
export interface AddNeighborResponse { neighbor: StaticNeighbor; created: boolean }
export interface DeleteNeighborRequest { routerInterface: string; ip: string }
export type DeleteNeighborResponse = Record<string, never>;
export interface ListNeighborsRequest { router?: string; routerInterface?: string; family?: IpFamily }
export interface ListNeighborsResponse { neighbors: Neighbor[] }

// The domain's shapes: proto3 fills every field, and bytes arrive as a Buffer.
export type CaptureRequest = Required<DomainCaptureRequest> & { pod: string };
export type CaptureResponse = CaptureChunk;
export type TraceRequest = DomainTraceRequest & { pod: string };
export interface TraceResponse {
  packet: TracedPacket;
  stepsLost: number;
}
