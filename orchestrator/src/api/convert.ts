// Domain views to memswitch.v1 messages and back. Shape only: the domain validates.
import type { InterfaceStatus, NeighborStatus } from '../dataplane/dataplane.js';
import type { AttachInput, AttachmentView } from '../domain/attachments.js';
import { InvalidConfigError } from '../domain/errors.js';
import { EVENT_KINDS, wireEventKind } from '../domain/events.js';
import type { Family } from '../domain/ip.js';
import type { RouteInput, RouterInterfaceView, RouterView } from '../domain/routing.js';
import type { RouteView } from '../domain/routing-rules.js';
import type { InterfaceView, NetworkView, Source as DomainSource, StatsView, SwitchEvent, WorkerView } from '../domain/switch.js';
import type * as m from './messages.js';

const source = (s: DomainSource): m.Source => (s === 'config' ? 'SOURCE_CONFIG' : s === 'cni' ? 'SOURCE_CNI' : 'SOURCE_API');

export const toNetwork = (n: NetworkView): m.Network => ({ name: n.name, source: source(n.source), interfaceCount: n.interfaceCount });

export function toInterface(v: InterfaceView): m.Interface {
  const s = v.status;
  return {
    spec: {
      name: v.spec.name,
      network: v.spec.network,
      vlan: v.spec.vlan ?? 0,
      mac: v.spec.mac ?? '',
      ...kindOf(v.spec),
    },
    // What the dataplane reports, not what was asked: a client sees what is applied.
    adminState: s.adminUp ? 'ADMIN_STATE_UP' : 'ADMIN_STATE_DOWN',
    state: {
      connected: s.connected,
      peerName: s.peerName,
      peerInterface: s.peerInterface,
      // The switch accepts only ethernet mode (ip and punt/inject are refused at handshake).
      mode: s.connected && v.spec.kind === 'memif' ? s.mode : '',
      rxQueues: s.rxQueues,
      txQueues: s.txQueues,
      connects: s.connects,
      mac: s.mac,
      netdev: s.netdev ?? '',
      xdpMode: s.xdpMode ?? '',
      xdpAttach: s.xdpAttach ?? '',
      multiBuffer: s.multiBuffer ?? false,
    },
    source: source(v.source),
  };
}

function kindOf(spec: InterfaceView['spec']): Pick<m.InterfaceSpec, 'kind' | 'memif' | 'afxdp' | 'veth'> {
  switch (spec.kind) {
    case 'memif':
      return { kind: 'memif', memif: { socket: spec.socket, id: spec.id, secret: '', secretSet: spec.secret !== undefined, netns: spec.netns ?? '', mode: spec.mode ?? '' } };
    case 'afxdp':
      return { kind: 'afxdp', afxdp: { netdev: spec.netdev, queues: spec.queues ?? [], mode: spec.mode, xdp: spec.xdp } };
    case 'veth':
      return {
        kind: 'veth',
        veth: {
          netns: spec.netns,
          ifname: spec.ifname,
          addresses: spec.addresses,
          routes: spec.routes.map((r) => ({ dst: r.dst, via: r.via ?? '' })),
          mtu: spec.mtu,
        },
      };
  }
}

/** The request's oneof to the domain's discriminated union (the config file's shape). */
export function fromInterfaceSpec(spec: m.CreateInterfaceRequest['spec'] | null | undefined): unknown {
  if (!spec) throw new InvalidConfigError('spec: is required', 'spec');
  switch (spec.kind) {
    case 'memif': {
      const memif = spec.memif ?? {};
      return {
        name: spec.name,
        kind: 'memif',
        network: spec.network,
        // proto3 cannot tell "unset" from zero values: those mean "use the default".
        socket: memif.socket || undefined,
        id: memif.id ?? 0,
        secret: memif.secret || undefined,
        netns: memif.netns || undefined,
        mode: memif.mode || undefined,
        vlan: spec.vlan || undefined,
        mac: spec.mac || undefined,
      };
    }
    case 'afxdp': {
      const x = spec.afxdp ?? {};
      return {
        name: spec.name,
        kind: 'afxdp',
        network: spec.network,
        netdev: x.netdev,
        queues: x.queues?.length ? x.queues : undefined,
        mode: x.mode || undefined,
        xdp: x.xdp || undefined,
        vlan: spec.vlan || undefined,
        mac: spec.mac || undefined,
      };
    }
    case 'veth': {
      const v = spec.veth ?? {};
      return {
        name: spec.name,
        kind: 'veth',
        network: spec.network,
        netns: v.netns,
        ifname: v.ifname || undefined,
        addresses: v.addresses ?? [],
        routes: (v.routes ?? []).map((r) => ({ dst: r.dst, via: r.via || undefined })),
        mtu: v.mtu || undefined,
        vlan: spec.vlan || undefined,
        mac: spec.mac || undefined,
      };
    }
    default:
      throw new InvalidConfigError('spec.kind: set exactly one interface kind (memif, afxdp or veth)', 'spec.kind');
  }
}

export function fromAdminState(s: unknown, unspecified?: boolean): boolean {
  if (s === 'ADMIN_STATE_UP') return true;
  if (s === 'ADMIN_STATE_DOWN') return false;
  if ((s === 'ADMIN_STATE_UNSPECIFIED' || s === undefined) && unspecified !== undefined) return unspecified;
  throw new InvalidConfigError(`admin_state: must be ADMIN_STATE_UP or ADMIN_STATE_DOWN, not ${String(s)}`, 'admin_state');
}

export const toCounters = (s: InterfaceStatus): m.InterfaceCounters => ({
  interface: s.name,
  rxPackets: s.rxPackets,
  rxBytes: s.rxBytes,
  txPackets: s.txPackets,
  txBytes: s.txBytes,
  drops: s.drops,
  protocolErrors: s.protocolErrors,
  connected: s.connected,
  perWorker: s.perWorker.map((w, worker) => ({ worker, ...w })),
});

export const toWorker = (w: WorkerView): m.WorkerStats => ({ ...w });

export const toSnapshot = (s: StatsView): m.StatsSnapshot => ({
  timeUnixMs: s.timeUnixMs,
  interfaces: s.interfaces.map(toCounters),
  workers: s.workers.map(toWorker),
  sockets: s.sockets,
  memory: s.memory,
  tscHz: s.tscHz,
});

const knownEventKinds = new Set<unknown>(EVENT_KINDS.map(wireEventKind));

export const toEvent = (e: SwitchEvent): m.Event => ({
  timeUnixMs: e.timeUnixMs,
  kind: wireEventKind(e.kind),
  interface: e.interface ?? '',
  network: e.network ?? '',
  socket: e.socket ?? '',
  detail: e.detail ?? '',
});

export function fromEventKinds(kinds: unknown[] | undefined): Set<m.EventKind> {
  const out = new Set<m.EventKind>();
  for (const [i, k] of (kinds ?? []).entries()) {
    if (!knownEventKinds.has(k)) throw new InvalidConfigError(`kinds.${i}: unknown event kind ${String(k)}`, `kinds.${i}`);
    out.add(k as m.EventKind);
  }
  return out;
}

const attachmentKinds = { ATTACHMENT_KIND_MEMIF: 'memif', ATTACHMENT_KIND_VETH: 'veth' } as const;

/** AttachRequest to the attachment domain's input; proto3 zero values mean "default". */
export function fromAttachRequest(r: m.AttachRequest): AttachInput {
  const kind = attachmentKinds[r.kind as keyof typeof attachmentKinds];
  if (!kind) throw new InvalidConfigError(`kind: must be ATTACHMENT_KIND_MEMIF or ATTACHMENT_KIND_VETH, not ${String(r.kind)}`, 'kind');
  if (!r.key) throw new InvalidConfigError('key: is required', 'key');
  return {
    key: { cniNetwork: r.key.cniNetwork, containerId: r.key.containerId, ifname: r.key.ifname },
    netns: r.netns,
    network: r.network,
    kind,
    mac: r.mac || undefined,
    ips: (r.ips ?? []).map((i) => ({ address: i.address ?? '', gateway: i.gateway || undefined })),
    routes: (r.routes ?? []).map((x) => ({ dst: x.dst ?? '', gw: x.gw || undefined })),
    mtu: r.mtu || undefined,
    vlan: r.vlan || undefined,
    socketMode: r.socketMode === 'SOCKET_MODE_FILE' ? 'file' : 'abstract',
    socketName: r.socketName || undefined,
    socketDir: r.socketDir || undefined,
    pod: { namespace: r.podNamespace ?? '', name: r.podName ?? '', uid: r.podUid ?? '', labels: r.podLabels ?? {} },
    router: r.router || undefined,
  };
}

export const toAttachment = (a: AttachmentView): m.Attachment => ({
  key: a.params.key,
  netns: a.params.netns,
  network: a.params.network,
  kind: a.params.kind === 'memif' ? 'ATTACHMENT_KIND_MEMIF' : 'ATTACHMENT_KIND_VETH',
  mac: a.mac,
  ips: a.params.ips.map((i) => ({ address: i.address, gateway: i.gateway ?? '' })),
  routes: a.params.routes.map((r) => ({ dst: r.dst, gw: r.gw ?? '' })),
  mtu: a.params.mtu,
  vlan: a.params.vlan ?? 0,
  interface: a.interface,
  socket: a.socket ?? '',
  memifId: a.memifId ?? 0,
  infoFile: a.infoFile,
  createdUnixMs: a.createdUnixMs,
  podNamespace: a.params.pod.namespace,
  podName: a.params.pod.name,
  podUid: a.params.pod.uid,
  connected: a.connected,
  present: a.present,
  router: a.params.router ?? '',
  gateway: a.gateway ?? '',
  gateway6: a.gateway6 ?? '',
  gatewayPresent: a.gatewayPresent,
});

export const toRouter = (r: RouterView): m.Router => ({ name: r.name, source: source(r.source), interfaceCount: r.interfaceCount, routeCount: r.routeCount });

export const toRouterInterface = (v: RouterInterfaceView): m.RouterInterface => ({
  spec: {
    name: v.spec.name,
    router: v.spec.router,
    network: v.spec.network ?? '',
    vlan: v.spec.vlan ?? 0,
    addresses: v.spec.addresses,
    mtu: v.spec.mtu,
    mac: v.spec.mac ?? '',
    host: v.spec.host ? { nodeAddress: v.spec.host.nodeAddress ?? '', nodeAddress6: v.spec.host.nodeAddress6 ?? '', routes: v.spec.host.routes } : null,
  },
  source: source(v.source),
  // What the dataplane reports: the derived MAC when none was asked for.
  mac: v.status.mac,
  mtu: v.status.mtu,
  nodeIfname: v.nodeIfname ?? '',
});

export function fromRouterInterfaceSpec(spec: m.CreateRouterInterfaceRequest['spec'] | null | undefined): unknown {
  if (!spec) throw new InvalidConfigError('spec: is required', 'spec');
  return {
    name: spec.name,
    router: spec.router,
    network: spec.network || undefined,
    vlan: spec.vlan || undefined,
    addresses: spec.addresses ?? [],
    mtu: spec.mtu || undefined,
    mac: spec.mac || undefined,
    host: spec.host ? { nodeAddress: spec.host.nodeAddress || undefined, nodeAddress6: spec.host.nodeAddress6 || undefined, routes: spec.host.routes ?? [] } : undefined,
  };
}

const routeKinds = { ROUTE_KIND_FORWARD: 'forward', ROUTE_KIND_BLACKHOLE: 'blackhole', ROUTE_KIND_UNREACHABLE: 'unreachable' } as const;
const wireRouteKinds = { forward: 'ROUTE_KIND_FORWARD', blackhole: 'ROUTE_KIND_BLACKHOLE', unreachable: 'ROUTE_KIND_UNREACHABLE', receive: 'ROUTE_KIND_RECEIVE' } as const;
const wireOrigins = { static: 'ROUTE_ORIGIN_STATIC', connected: 'ROUTE_ORIGIN_CONNECTED', local: 'ROUTE_ORIGIN_LOCAL', host: 'ROUTE_ORIGIN_HOST' } as const;

/** A request's routes to the routing domain's input; proto3 zero values mean "not given". */
export function fromRoutes(routes: m.RouteInput[] | undefined): RouteInput[] {
  return (routes ?? []).map((r, i) => {
    const kind = r.kind === undefined || r.kind === 'ROUTE_KIND_UNSPECIFIED' ? 'forward' : routeKinds[r.kind as keyof typeof routeKinds];
    if (!kind)
      throw new InvalidConfigError(`routes[${i}].kind: must be ROUTE_KIND_FORWARD, ROUTE_KIND_BLACKHOLE or ROUTE_KIND_UNREACHABLE, not ${String(r.kind)}`, `routes[${i}].kind`);
    return { router: r.router, route: { prefix: r.prefix, kind, nextHops: (r.nextHops ?? []).map((h) => ({ via: h.via || undefined, interface: h.interface || undefined })) } };
  });
}

/** A listing's family filter; UNSPECIFIED (the proto3 zero value) means both. */
export function fromFamily(f: m.IpFamily | undefined): Family | undefined {
  if (f === undefined || f === 'IP_FAMILY_UNSPECIFIED') return undefined;
  if (f === 'IP_FAMILY_IPV4') return 4;
  if (f === 'IP_FAMILY_IPV6') return 6;
  throw new InvalidConfigError(`family: must be IP_FAMILY_IPV4, IP_FAMILY_IPV6 or IP_FAMILY_UNSPECIFIED, not ${String(f)}`, 'family');
}

export const toRoute = (v: RouteView): m.Route => ({
  router: v.router,
  prefix: v.prefix,
  kind: wireRouteKinds[v.kind],
  nextHops: v.nextHops.map((h) => ({ via: h.via ?? '', interface: h.interface ?? '' })),
  origin: wireOrigins[v.origin],
  source: source(v.source),
});

export const toNeighbor = (n: NeighborStatus): m.Neighbor => ({ ...n, state: n.state === 'reachable' ? 'NEIGHBOR_STATE_REACHABLE' : 'NEIGHBOR_STATE_INCOMPLETE' });
