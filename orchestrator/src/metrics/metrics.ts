// Prometheus metrics, read from the dataplane's counters at scrape time. A scrape takes
// one snapshot (the control thread's lock, never a worker's), so it cannot disturb
// forwarding, and every series of one scrape comes from the same instant.
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Acls } from '../domain/acls.js';
import type { Policies } from '../domain/policies.js';
import type { Routing } from '../domain/routing.js';
import type { StatsView, Switch } from '../domain/switch.js';

export interface Metrics {
  registry: Registry;
  observeApi(method: string, code: string, seconds: number): void;
  /** The exposition text, from one fresh snapshot of the dataplane. */
  scrape(): Promise<string>;
}

export function createMetrics(sw: Switch, routing: Routing, acls: Acls, policies: Policies, version: string): Metrics {
  const registry = new Registry();
  let snapshot: StatsView | undefined;
  const stats = (): StatsView => (snapshot ??= sw.stats());

  // Every metric is read from one dataplane snapshot at scrape time. Counters mirror the
  // dataplane's monotonic totals (inc from a reset), gauges take the current value.
  type Read<L extends string> = (s: StatsView, set: (labels: Record<L, string>, v: number) => void) => void;
  const collected =
    (kind: 'counter' | 'gauge') =>
    <L extends string>(name: string, help: string, labelNames: readonly L[], read: Read<L>): void => {
      const config = { name, help, labelNames, registers: [registry] };
      if (kind === 'counter')
        new Counter({ ...config, collect() { this.reset(); read(stats(), (labels, v) => this.inc(labels as never, v)); } });
      else new Gauge({ ...config, collect() { this.reset(); read(stats(), (labels, v) => this.set(labels as never, v)); } });
    };
  const mirror = collected('counter');
  const gauge = collected('gauge');

  mirror('memswitch_interface_packets_total', 'Packets received (rx) or sent (tx) on an interface, summed over workers.', ['interface', 'direction'], (s, set) => {
    for (const i of s.interfaces) {
      set({ interface: i.name, direction: 'rx' }, i.rxPackets);
      set({ interface: i.name, direction: 'tx' }, i.txPackets);
    }
  });
  mirror('memswitch_interface_bytes_total', 'Bytes received (rx) or sent (tx) on an interface, summed over workers.', ['interface', 'direction'], (s, set) => {
    for (const i of s.interfaces) {
      set({ interface: i.name, direction: 'rx' }, i.rxBytes);
      set({ interface: i.name, direction: 'tx' }, i.txBytes);
    }
  });
  mirror('memswitch_interface_drops_total', 'Frames dropped, by the interface they arrived on and the reason.', ['interface', 'reason'], (s, set) => {
    for (const i of s.interfaces) for (const [reason, v] of Object.entries(i.drops)) set({ interface: i.name, reason }, v);
  });
  mirror('memswitch_interface_protocol_errors_total', 'memif protocol faults of the peer, by kind.', ['interface', 'reason'], (s, set) => {
    for (const i of s.interfaces) for (const [reason, v] of Object.entries(i.protocolErrors)) set({ interface: i.name, reason }, v);
  });
  mirror('memswitch_interface_connects_total', 'memif peer sessions established on an interface.', ['interface'], (s, set) => {
    for (const i of s.interfaces) set({ interface: i.name }, i.connects);
  });
  gauge('memswitch_interface_connected', '1 while a memif peer is connected to the interface.', ['interface'], (s, set) => {
    for (const i of s.interfaces) set({ interface: i.name }, i.connected ? 1 : 0);
  });
  gauge('memswitch_interface_admin_up', '1 while the interface is administratively up.', ['interface'], (s, set) => {
    for (const i of s.interfaces) set({ interface: i.name }, i.adminUp ? 1 : 0);
  });
  mirror('memswitch_worker_polls_total', 'Poll iterations of a worker thread.', ['worker'], (s, set) => {
    for (const w of s.workers) set({ worker: String(w.index) }, w.polls);
  });
  mirror('memswitch_worker_busy_polls_total', 'Poll iterations that found packets; busy ratio = rate(busy) / rate(polls).', ['worker'], (s, set) => {
    for (const w of s.workers) set({ worker: String(w.index) }, w.busyPolls);
  });
  gauge('memswitch_worker_stalled', '1 while a worker has made no progress for 2 s (stuck inside a poll), else 0.', ['worker'], (s, set) => {
    for (const w of s.workers) set({ worker: String(w.index) }, w.stalled ? 1 : 0);
  });
  mirror('memswitch_worker_sleeps_total', 'Times an idle worker went to sleep on its queues (adaptive polling).', ['worker'], (s, set) => {
    for (const w of s.workers) set({ worker: String(w.index) }, w.sleeps);
  });
  // show runtime as series: cycles per packet of a node = rate(sampled_cycles) / rate(sampled_packets).
  const perNode = (field: 'calls' | 'vectors' | 'sampledVectors' | 'sampledCycles'): Read<'worker' | 'node'> => (s, set) => {
    for (const w of s.workers) for (const n of w.runtime) set({ worker: String(w.index), node: n.node }, n[field]);
  };
  mirror('memswitch_node_calls_total', 'Bursts a worker node (rx, a pipeline stage, tx) worked on.', ['worker', 'node'], perNode('calls'));
  mirror('memswitch_node_packets_total', 'Frames in the bursts a worker node worked on.', ['worker', 'node'], perNode('vectors'));
  mirror('memswitch_node_sampled_packets_total', 'Frames in the timed bursts (one busy poll in 64) of a worker node.', ['worker', 'node'], perNode('sampledVectors'));
  mirror('memswitch_node_sampled_cycles_total', 'TSC cycles a worker node spent on its timed bursts.', ['worker', 'node'], perNode('sampledCycles'));
  mirror('memswitch_icmp_errors_total', 'ICMP and ICMPv6 errors the routers of a worker sent (sent), or held back at the 100/s limit (rate_limited).', ['worker', 'result'], (s, set) => {
    for (const w of s.workers) {
      set({ worker: String(w.index), result: 'sent' }, w.icmpErrors);
      set({ worker: String(w.index), result: 'rate_limited' }, w.icmpRateLimited);
    }
  });
  gauge('memswitch_tsc_hz', 'TSC ticks per second (what the node cycles count).', [], (s, set) => set({}, s.tscHz));
  gauge('memswitch_interface_peer_memory_bytes', 'Shared memory a memif peer mapped into the switch (its regions: rings and buffers).', ['interface'], (s, set) => {
    for (const i of s.interfaces) set({ interface: i.name }, i.peerMemoryBytes);
  });
  gauge('memswitch_memory_hugepage_bytes', 'Shared memory the switch allocated on hugepages.', [], (s, set) => set({}, s.memory.hugepageBytes));
  gauge('memswitch_memory_fallback_bytes', 'Shared memory the switch allocated on 4 KiB pages because hugepages ran out.', [], (s, set) =>
    set({}, s.memory.fallbackBytes),
  );
  gauge('memswitch_memory_fallback_regions', 'Regions allocated on 4 KiB pages (0 when hugepages sufficed).', [], (s, set) =>
    set({}, s.memory.fallbackRegions),
  );
  new Gauge({
    name: 'memswitch_objects',
    help: 'Networks, interfaces, routers, router interfaces, static routes, ACLs and their bindings in the desired state.',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const c = sw.counts();
      this.set({ kind: 'network' }, c.networks);
      this.set({ kind: 'interface' }, c.interfaces);
      const r = routing.counts();
      this.set({ kind: 'router' }, r.routers);
      this.set({ kind: 'router_interface' }, r.routerInterfaces);
      this.set({ kind: 'route' }, r.routes);
      const a = acls.counts();
      this.set({ kind: 'acl' }, a.acls);
      this.set({ kind: 'acl_binding' }, a.aclBindings);
      this.set({ kind: 'network_policy' }, policies.counts().networkPolicies);
    },
  });
  // Per rule: the rules are the operator's, so their number is bounded by what they wrote.
  new Counter({
    name: 'memswitch_acl_rule_hits_total',
    help: 'Packets each ACL rule decided (rule: its index; "default": no rule matched, denied), since the rules were last set.',
    labelNames: ['acl', 'rule', 'action'],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of acls.list()) {
        a.rules.forEach((r, i) => this.inc({ acl: a.name, rule: String(i), action: r.action }, a.hits[i] ?? 0));
        this.inc({ acl: a.name, rule: 'default', action: 'deny' }, a.defaultDenied);
      }
    },
  });
  // Per policy and direction: policies are the operator's (or the cluster's), bounded.
  new Counter({
    name: 'memswitch_policy_allowed_flows_total',
    help: 'New flows each network policy allowed, by direction, since its rules last changed.',
    labelNames: ['policy', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of policies.list()) {
        const ref = `${p.policy.namespace}/${p.policy.name}`;
        this.inc({ policy: ref, direction: 'ingress' }, p.ingressAllowed);
        this.inc({ policy: ref, direction: 'egress' }, p.egressAllowed);
      }
    },
  });
  new Gauge({
    name: 'memswitch_policy_isolated_interfaces',
    help: 'Pod interfaces some network policy isolates (in either direction).',
    registers: [registry],
    collect() {
      this.set(policies.counts().isolatedInterfaces);
    },
  });
  new Gauge({
    name: 'memswitch_conntrack_flows',
    help: 'Flows connection tracking holds (opened by permit+reflect ACL rules); one past its timeout counts until swept, a few seconds.',
    registers: [registry],
    collect() {
      this.set(acls.conntrack.stats().flows);
    },
  });
  new Gauge({
    name: 'memswitch_conntrack_capacity',
    help: 'Flows connection tracking holds at most (dataplane.conntrack.maxFlows).',
    registers: [registry],
    collect() {
      this.set(acls.conntrack.stats().capacity);
    },
  });
  new Counter({
    name: 'memswitch_conntrack_flows_created_total',
    help: 'Flows connection tracking opened since start.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(acls.conntrack.stats().created);
    },
  });
  new Gauge({
    name: 'memswitch_captures',
    help: 'Packet captures running (memswitch capture); each holds a ring per worker.',
    registers: [registry],
    collect() {
      this.set(sw.counts().captures);
    },
  });
  new Gauge({
    name: 'memswitch_traces',
    help: 'Packet traces running (memswitch trace); each holds a ring per worker.',
    registers: [registry],
    collect() {
      this.set(sw.counts().traces);
    },
  });
  new Gauge({ name: 'memswitch_build_info', help: 'Always 1; the labels carry the build.', labelNames: ['version', 'node'], registers: [registry] }).set(
    { version, node: process.versions.node },
    1,
  );

  const requests = new Counter({
    name: 'memswitch_api_requests_total',
    help: 'gRPC requests answered, by method and status code.',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'memswitch_api_request_duration_seconds',
    help: 'Time to answer a unary gRPC request (for streams: how long they stayed open).',
    labelNames: ['method'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 10, 60],
    registers: [registry],
  });

  return {
    registry,
    observeApi(method, code, seconds) {
      requests.inc({ method, code });
      latency.observe({ method }, seconds);
    },
    async scrape() {
      snapshot = undefined;
      try {
        return await registry.metrics();
      } finally {
        snapshot = undefined;
      }
    },
  };
}

export interface MetricsServer {
  port: number;
  close(): void;
}

/** GET /metrics on host:port; nothing else is served. */
export function startMetricsServer(metrics: Metrics, listen: string): Promise<MetricsServer> {
  const sep = listen.lastIndexOf(':');
  const host = listen.slice(0, sep).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(sep + 1));
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
      return;
    }
    metrics.scrape().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${err.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({ port: typeof addr === 'object' && addr ? addr.port : port, close: () => server.close() });
    });
  });
}
