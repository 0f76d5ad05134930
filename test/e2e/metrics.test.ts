// /metrics of a real memswitchd, parsed with a Prometheus text-format parser: counters
// rise with real traffic, and a memif disconnect shows in the connection gauge.
import { mkdirSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { NativeMemifClient } from '../../bench/testing-addon.js';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { scrape, value } from '../helpers/metrics.js';
import { Daemon, memifPairConfig } from '../helpers/daemon.js';
import { mac, runUntil, testing } from '../helpers/switch.js';

const dir = `/run/msw-metrics-test-${process.pid}`;
const sock = `${dir}/memif.sock`;
const config = memifPairConfig(sock);

let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;
const peers: NativeMemifClient[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  client?.close();
  await daemon?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('Prometheus metrics', () => {
  it('reads the dataplane counters at scrape time', async () => {
    mkdirSync(dir, { recursive: true });
    daemon = await Daemon.start(config);
    const port = daemon.metricsPort!;
    client = await connect(daemon.apiSocket);

    let m = await scrape(port);
    expect(m.get('memswitch_interface_packets_total')?.type).toBe('COUNTER');
    expect(value(m, 'memswitch_interface_packets_total', { interface: 'm0', direction: 'rx' })).toBe(0);
    expect(value(m, 'memswitch_interface_connected', { interface: 'm0' })).toBe(0);
    expect(value(m, 'memswitch_build_info')).toBe(1);
    expect(m.get('memswitch_build_info')?.metrics[0]?.labels?.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(value(m, 'memswitch_objects', { kind: 'interface' })).toBe(2);
    for (const name of ['memswitch_worker_polls_total', 'memswitch_worker_busy_polls_total', 'memswitch_memory_hugepage_bytes', 'memswitch_memory_fallback_bytes', 'memswitch_interface_drops_total', 'memswitch_interface_protocol_errors_total', 'memswitch_icmp_errors_total', 'memswitch_node_packets_total'])
      expect(m.has(name), name).toBe(true);

    const a = new testing.MemifClient({ socket: sock, id: 0, hugepages: false });
    // A deep sink ring: a descheduled test process must not turn into switch drops.
    const b = new testing.MemifClient({ socket: sock, id: 1, hugepages: false, log2RingSize: 13 });
    peers.push(a, b);
    await daemon.waitFor((l) => l.msg === 'peer connected' && l.interface === 'm1');
    const eng = new testing.TrafficEngine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), count: 5000, pps: 100_000, frameSize: 128 });
    const sink = eng.addSink(b);
    await runUntil(eng, [sink], 5000);

    m = await scrape(port);
    expect(value(m, 'memswitch_interface_packets_total', { interface: 'm0', direction: 'rx' })).toBe(5000);
    expect(value(m, 'memswitch_interface_packets_total', { interface: 'm1', direction: 'tx' })).toBe(5000);
    expect(value(m, 'memswitch_interface_bytes_total', { interface: 'm0', direction: 'rx' })).toBe(5000 * 128);
    expect(value(m, 'memswitch_interface_connected', { interface: 'm0' })).toBe(1);
    expect(value(m, 'memswitch_interface_connects_total', { interface: 'm1' })).toBe(1);
    expect(value(m, 'memswitch_worker_busy_polls_total', { worker: '0' })).toBeGreaterThan(0);
    expect(value(m, 'memswitch_interface_drops_total', { interface: 'm0', reason: 'no_destination' })).toBe(0);

    // API requests are counted per method and code, with a latency histogram.
    await client.getNetwork({ name: 'nope' }).catch(() => undefined);
    await client.listNetworks();
    m = await scrape(port);
    expect(value(m, 'memswitch_api_requests_total', { method: 'GetNetwork', code: 'NOT_FOUND' })).toBe(1);
    expect(value(m, 'memswitch_api_requests_total', { method: 'ListNetworks', code: 'OK' })).toBe(1);
    expect(m.get('memswitch_api_request_duration_seconds')?.type).toBe('HISTOGRAM');

    // A peer that goes away: the gauge drops to 0 at the next scrape.
    b.close();
    await daemon.waitFor((l) => l.msg === 'peer disconnected' && l.interface === 'm1');
    m = await scrape(port);
    expect(value(m, 'memswitch_interface_connected', { interface: 'm1' })).toBe(0);
    expect(value(m, 'memswitch_interface_connected', { interface: 'm0' })).toBe(1);

    // An interface created over the API appears; admin down shows.
    await client.createInterface({ spec: { name: 'm2', network: 'blue', kind: 'memif', memif: { socket: sock, id: 2 } }, adminState: 'ADMIN_STATE_DOWN' });
    m = await scrape(port);
    expect(value(m, 'memswitch_interface_admin_up', { interface: 'm2' })).toBe(0);
    expect(value(m, 'memswitch_interface_admin_up', { interface: 'm0' })).toBe(1);

    const notFound = await fetch(`http://127.0.0.1:${port}/other`);
    expect(notFound.status).toBe(404);
  });
});
