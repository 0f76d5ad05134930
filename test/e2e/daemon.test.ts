// The real memswitchd process: config validation, traffic through it, clean shutdown.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, daemonBin, repoRoot } from '../helpers/daemon.js';
import { eventually, mac, runUntil, testing } from '../helpers/switch.js';
import { hugepagesFree } from '../../bench/testpmd.js';

function runWithConfig(yaml: string): { status: number | null; stderr: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'msw-cfg-'));
  const file = path.join(dir, 'c.yaml');
  writeFileSync(file, yaml);
  const r = spawnSync(daemonBin, ['--config', file, '--check'], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  return { status: r.status, stderr: r.stderr };
}

describe('memswitchd config validation', () => {
  const net = 'networks: [{ name: blue }]\n';
  const cases: [string, string, RegExp][] = [
    ['unknown top-level key', 'bogus: 1\n', /\(top level\): unknown field\(s\) bogus/],
    ['unknown interface key', `${net}interfaces: [{ name: m0, kind: memif, network: blue, colour: red }]`, /interfaces\.0: unknown field\(s\) colour/],
    ['missing network', 'interfaces: [{ name: m0, kind: memif, network: nope }]', /interfaces\.0\.network: no network named "nope"/],
    ['bad MAC', `${net}interfaces: [{ name: m0, kind: memif, network: blue, mac: "02:00:00:00:00" }]`, /interfaces\.0\.mac: must be a MAC address/],
    ['multicast MAC', `${net}interfaces: [{ name: m0, kind: memif, network: blue, mac: "01:00:5e:00:00:01" }]`, /interfaces\.0\.mac: must be a unicast MAC/],
    ['VLAN out of range', `${net}interfaces: [{ name: m0, kind: memif, network: blue, vlan: 4095 }]`, /interfaces\.0\.vlan/],
    ['secret too long', `${net}interfaces: [{ name: m0, kind: memif, network: blue, secret: "${'x'.repeat(25)}" }]`, /interfaces\.0\.secret: must be at most 24 bytes/],
    ['relative socket', `${net}interfaces: [{ name: m0, kind: memif, network: blue, socket: memif.sock }]`, /interfaces\.0\.socket: must be an absolute path or "@name"/],
    ['duplicate socket id', `${net}interfaces: [{ name: a, kind: memif, network: blue, id: 3 }, { name: b, kind: memif, network: blue, id: 3 }]`, /interfaces\.1\.id: id 3 is already used/],
    ['duplicate interface name', `${net}interfaces: [{ name: a, kind: memif, network: blue, id: 1 }, { name: a, kind: memif, network: blue, id: 2 }]`, /interfaces\.1\.name: duplicate interface "a"/],
    ['unknown interface kind', `${net}interfaces: [{ name: a, kind: tap, network: blue }]`, /interfaces\.0\.kind/],
    ['workers zero', 'dataplane: { workers: 0 }', /dataplane\.workers/],
    ['not YAML', 'networks: [unclosed', /not valid YAML/],
    ['not a mapping', '- 1\n- 2\n', /must be a YAML mapping/],
  ];
  it.each(cases)('rejects %s with exit code 2 and the field named', (_, yaml, message) => {
    const r = runWithConfig(yaml);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('rejects a config file that does not exist', () => {
    const r = spawnSync(daemonBin, ['--config', '/nonexistent/memswitch.yaml'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot read: ENOENT/);
  });

  it('accepts the embedded default config', () => {
    const r = spawnSync(daemonBin, ['--print-default-config'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(runWithConfig(r.stdout)).toEqual({ status: 0, stderr: '' });
  });
});

describe('memswitchd running', () => {
  const dir = `/run/memswitch-test-${process.pid}`;
  const sock = `${dir}/memif.sock`;
  let daemon: Daemon | undefined;
  afterEach(async () => {
    await daemon?.stop('SIGKILL');
    daemon = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const config = `
dataplane: { workers: 1 }
networks: [{ name: blue }]
interfaces:
  - { name: m0, kind: memif, network: blue, socket: ${sock}, id: 0 }
  - { name: m1, kind: memif, network: blue, socket: ${sock}, id: 1, secret: s3cret }
`;

  it('forwards between two clients and shuts down cleanly on SIGTERM', async () => {
    daemon = await Daemon.start(config);
    expect(existsSync(sock)).toBe(true);
    const a = new testing.MemifClient({ socket: sock, id: 0, hugepages: true });
    const b = new testing.MemifClient({ socket: sock, id: 1, secret: 's3cret', hugepages: true });
    expect(a.info().serverName).toMatch(/^memswitch /);
    await daemon.waitFor((l) => l.msg === 'peer connected' && l.interface === 'm1');
    const eng = new testing.TrafficEngine();
    eng.addGenerator(a, { src: mac(1), dst: mac(2), count: 1000, pps: 200_000 });
    const s = eng.addSink(b);
    await runUntil(eng, [s], 1000);
    expect(eng.stats(s).rxPackets).toBe(1000);

    const exit = await daemon.stop('SIGTERM');
    expect(exit.code).toBe(0);
    // Peers were told, and the socket file is gone.
    expect(a.pollControl()).toBe(false);
    expect(a.info().disconnectReason).toBe('memswitch shutting down');
    expect(b.pollControl()).toBe(false);
    expect(existsSync(sock)).toBe(false);
    expect(daemon.lines.some((l) => l.msg === 'interface counters' && l.interface === 'm1' && l.txPackets === 1000)).toBe(true);
    a.close();
    b.close();
  });

  it('unmaps a killed peer\'s hugepages and leaves none behind after SIGTERM', async () => {
    const baseline = hugepagesFree();
    daemon = await Daemon.start(config);
    // A container that connects with hugepage memory and is then killed -9.
    const peer = spawn(process.execPath, ['-e', `
      const m = require(${JSON.stringify(path.join(repoRoot, 'build/addon/Release/memswitch_testing.node'))});
      const c = new m.MemifClient({ socket: ${JSON.stringify(sock)}, id: 0, hugepages: true });
      console.log(JSON.stringify(c.info()));
      setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const info = await new Promise<string>((resolve) => peer.stdout.once('data', (d: Buffer) => resolve(d.toString())));
      expect(JSON.parse(info)).toMatchObject({ connected: true, hugepages: true });
      expect(hugepagesFree()).toBeLessThan(baseline);
      peer.kill('SIGKILL');
      await daemon.waitFor((l) => l.msg === 'peer disconnected' && l.interface === 'm0');
      // >=: pages another test process released meanwhile may add to the count, never subtract.
      await eventually(() => hugepagesFree() >= baseline, 5000, "the peer's hugepages to be released");
    } finally {
      peer.kill('SIGKILL');
    }
    expect((await daemon.stop('SIGTERM')).code).toBe(0);
    expect(hugepagesFree()).toBeGreaterThanOrEqual(baseline);
    expect(existsSync(sock)).toBe(false);
  });

  it('refuses to take over a socket another live daemon is serving', async () => {
    daemon = await Daemon.start(config);
    const cfgDir = mkdtempSync(path.join(tmpdir(), 'msw-second-'));
    writeFileSync(path.join(cfgDir, 'c.yaml'), config);
    const second = spawn(daemonBin, ['--config', path.join(cfgDir, 'c.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    second.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => second.on('exit', resolve));
    rmSync(cfgDir, { recursive: true, force: true });
    expect(code).toBe(1);
    expect(out).toMatch(/is in use by another process/);
    expect(existsSync(sock)).toBe(true); // the first daemon's socket survived
    const c = new testing.MemifClient({ socket: sock, id: 0, hugepages: false });
    expect(c.info().connected).toBe(true);
    c.close();
  });
});
