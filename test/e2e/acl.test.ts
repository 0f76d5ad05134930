// Ordered ACLs against a real memswitchd between two veth pods (network namespaces, the
// kernel's ping and ARP): created, bound, replaced and shown over the CLI and the API,
// enforced on real packets, counted per rule and per drop reason in /metrics, kept across
// a restart; bad rules and requests answered with the field they are about.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';
import { connect } from '../helpers/api.js';
import { Daemon, repoRoot } from '../helpers/daemon.js';
import { scrape, value } from '../helpers/metrics.js';
import { Netns } from '../helpers/netns.js';

const cliBin = path.join(repoRoot, 'bin/memswitch');
const net = new Netns();
const dir = mkdtempSync(path.join(tmpdir(), 'msw-acl-'));
const tag = `${process.pid % 10000}`;
const pods = { a: '10.84.0.2', b: '10.84.0.3' } as const;
const ns: Record<string, string> = {};
const env = { MEMSWITCH_API_SOCKET: path.join(dir, 'api.sock'), MEMSWITCH_STATE_DB: path.join(dir, 'state.db') };
let config = '';
let daemon: Daemon | undefined;
let client: MemswitchClient | undefined;

beforeAll(async () => {
  const veths = Object.entries(pods).map(([p, ip]) => {
    ns[p] = net.add(`acl${p}`).name;
    return `  - { name: a${p}${tag}, kind: veth, network: n1, netns: /var/run/netns/${ns[p]}, ifname: eth0, addresses: [${ip}/24] }`;
  });
  config = `networks: [{ name: n1 }]\ninterfaces:\n${veths.join('\n')}\n`;
  daemon = await Daemon.start(config, { ...env, MEMSWITCH_METRICS_LISTEN: '127.0.0.1:0' });
  client = await connect(daemon.apiSocket);
}, 60_000);

afterAll(async () => {
  client?.close();
  await daemon?.stop('SIGKILL');
  net.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const ping = (to: string): boolean => spawnSync('ip', ['netns', 'exec', ns.a!, 'ping', '-c', '1', '-W', '1', to]).status === 0;
function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(cliBin, ['--api', daemon!.apiSocket, ...args], { encoding: 'utf8', timeout: 20_000 });
}
function rules(name: string, yaml: string): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  return value(await scrape(daemon!.metricsPort!), name, labels) ?? 0;
}

describe('ACLs', () => {
  it('permits and denies real traffic as the rules say, counted per rule and per drop reason', async () => {
    expect(ping(pods.b)).toBe(true);
    const pingOnly = rules('ping-only', '- { action: permit, protocol: icmp, icmp: "8" }\n');
    expect(cli('create', 'acl', 'from-a', '--rules-file', pingOnly)).toMatchObject({ status: 0, stdout: 'ACL from-a created (1 rules)\n' });
    expect(cli('create', 'acl', 'from-a', '--rules-file', pingOnly).stdout).toBe('ACL from-a unchanged (1 rules)\n');
    expect(cli('bind', 'acl', 'from-a', '--interface', `aa${tag}`, '--direction', 'in')).toMatchObject({ status: 0 });
    expect(ping(pods.b)).toBe(true); // echo requests permitted; ARP is no rule's business

    // A UDP datagram from a: no rule for it, denied (and the echo replies towards a are not this ACL's).
    spawnSync('ip', ['netns', 'exec', ns.a!, 'bash', '-c', `echo x > /dev/udp/${pods.b}/5353`]);
    const shown = cli('show', 'acl', 'from-a');
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^ACL from-a, bound to aa${tag} in\\n`));
    expect(shown.stdout).toMatch(/^0\s+permit icmp from any to any icmp 8\s+[12]$/m);
    expect(shown.stdout).toMatch(/^-\s+deny \(no rule matched\)\s+[1-9]\d*$/m);

    // Replaced under the running binding: now echo requests are what it denies.
    const noPing = rules('no-ping', '- { action: deny, protocol: icmp, icmp: "8" }\n- { action: permit }\n');
    expect(cli('replace', 'acl', 'from-a', '--rules-file', noPing).status).toBe(0);
    expect(ping(pods.b)).toBe(false);
    const { acl } = await client!.getAcl({ name: 'from-a' });
    expect(acl.hits[0]).toBeGreaterThanOrEqual(1);
    expect(acl.bindings).toEqual([{ interface: `aa${tag}`, network: '', direction: 'ACL_DIRECTION_IN', acl: 'from-a' }]);
    expect(await metric('memswitch_acl_rule_hits_total', { acl: 'from-a', rule: '0', action: 'deny' })).toBeGreaterThanOrEqual(1);
    expect(await metric('memswitch_interface_drops_total', { interface: `aa${tag}`, reason: 'acl_denied' })).toBeGreaterThanOrEqual(2);

    // Out on b: what the switch sends to b. With a's ACL gone, b's own decides.
    expect(cli('unbind', 'acl', '--interface', `aa${tag}`, '--direction', 'in').status).toBe(0);
    expect(ping(pods.b)).toBe(true);
    expect(cli('bind', 'acl', 'from-a', '--interface', `ab${tag}`, '--direction', 'out').status).toBe(0);
    expect(ping(pods.b)).toBe(false);
    expect(await metric('memswitch_interface_drops_total', { interface: `ab${tag}`, reason: 'acl_denied' })).toBeGreaterThanOrEqual(1);
  });

  it('keeps ACLs and bindings across a restart', async () => {
    client!.close();
    await daemon!.stop('SIGTERM');
    daemon = await Daemon.start(config, { ...env, MEMSWITCH_METRICS_LISTEN: '127.0.0.1:0' });
    client = await connect(daemon.apiSocket);
    const { acls } = await client.listAcls();
    expect(acls.map((a) => [a.acl.name, a.acl.rules.length, a.bindings.map((b) => b.interface)])).toEqual([['from-a', 2, [`ab${tag}`]]]);
    expect(ping(pods.b)).toBe(false); // still denied, before any API call
    await client.unbindAcl({ interface: `ab${tag}`, direction: 'ACL_DIRECTION_OUT' });
    expect(ping(pods.b)).toBe(true);
  });

  it('answers bad rules and requests with the field they are about', async () => {
    const bad = async (p: Promise<unknown>, code: string, message: RegExp): Promise<void> => {
      await expect(p).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    };
    const rule = { action: 'ACL_ACTION_PERMIT' as const, src: '', dst: '', protocol: '', srcPorts: '', dstPorts: '', icmp: '' };
    await bad(client!.createAcl({ acl: { name: 'x', rules: [rule, { ...rule, dstPorts: '80' }] } }), 'INVALID_ARGUMENT', /rules\[1\]: ports need protocol/);
    await bad(client!.createAcl({ acl: { name: 'x', rules: [{ ...rule, protocol: 'tcpp' }] } }), 'INVALID_ARGUMENT', /rules\[0\]\.protocol: tcp, udp/);
    await bad(client!.createAcl({ acl: { name: 'x', rules: [{ ...rule, src: '10.0.0.1/8' }] } }), 'INVALID_ARGUMENT', /rules\[0\]\.src/);
    await bad(client!.createAcl({ acl: { name: 'x', rules: [{ ...rule, action: 'ACL_ACTION_UNSPECIFIED' }] } }), 'INVALID_ARGUMENT', /rules\[0\]\.action/);
    await bad(client!.createAcl({ acl: { name: 'from-a', rules: [rule] } }), 'ALREADY_EXISTS', /other rules/);
    await bad(client!.bindAcl({ binding: { acl: 'from-a', interface: 'nope', direction: 'ACL_DIRECTION_IN' } }), 'NOT_FOUND', /no interface nope/);
    await bad(client!.bindAcl({ binding: { acl: 'nope', interface: `aa${tag}`, direction: 'ACL_DIRECTION_IN' } }), 'NOT_FOUND', /no ACL nope/);
    await bad(client!.bindAcl({ binding: { acl: 'from-a', interface: `aa${tag}`, direction: 'ACL_DIRECTION_UNSPECIFIED' } }), 'INVALID_ARGUMENT', /direction/);
    await client!.bindAcl({ binding: { acl: 'from-a', interface: `aa${tag}`, direction: 'ACL_DIRECTION_IN' } });
    await bad(client!.deleteAcl({ name: 'from-a' }), 'FAILED_PRECONDITION', /bound to aa\d+ \(in\)/);
    await client!.unbindAcl({ interface: `aa${tag}`, direction: 'ACL_DIRECTION_IN' });
    await client!.deleteAcl({ name: 'from-a' });
    expect((await client!.listAcls()).acls).toEqual([]);
    expect(ping(pods.b)).toBe(true);
  });

  it('binds an ACL to a network: to each of its interfaces, one added later too, but not over one of its own', async () => {
    const noPing = rules('net-no-ping', '- { action: deny, protocol: icmp, icmp: "8" }\n- { action: permit }\n');
    expect(cli('create', 'acl', 'net-no-ping', '--rules-file', noPing).status).toBe(0);
    expect(cli('create', 'acl', 'all', '--rules-file', rules('all', '- { action: permit }\n')).status).toBe(0);
    expect(ping(pods.b)).toBe(true);
    expect(cli('bind', 'acl', 'net-no-ping', '--network', 'n1', '--direction', 'in')).toMatchObject({ status: 0, stdout: 'ACL net-no-ping bound to network n1 (in)\n' });
    expect(ping(pods.b)).toBe(false);
    // An interface's own binding comes first; without it, the network's applies again.
    expect(cli('bind', 'acl', 'all', '--interface', `aa${tag}`, '--direction', 'in').status).toBe(0);
    expect(ping(pods.b)).toBe(true);
    expect(cli('unbind', 'acl', '--interface', `aa${tag}`, '--direction', 'in').status).toBe(0);
    expect(ping(pods.b)).toBe(false);
    // An interface added to the network later takes the network's ACL.
    const c = net.add('aclc');
    await client!.createInterface({ spec: { name: `ac${tag}`, network: 'n1', kind: 'veth', veth: { netns: c.path, ifname: 'eth0', addresses: ['10.84.0.4/24'], routes: [], mtu: 1500 } } });
    const pingFromC = (): boolean => spawnSync('ip', ['netns', 'exec', c.name, 'ping', '-c', '1', '-W', '1', pods.b]).status === 0;
    expect(pingFromC()).toBe(false);
    expect(cli('show', 'acl', 'net-no-ping').stdout).toMatch(/^ACL net-no-ping, bound to network n1 in\n/);
    expect(cli('delete', 'acl', 'net-no-ping')).toMatchObject({ status: 1, stderr: expect.stringMatching(/bound to network n1 \(in\)/) });
    expect(cli('bind', 'acl', 'all', '--direction', 'in')).toMatchObject({ status: 1, stderr: expect.stringMatching(/--interface <name> or --network <name>/) });
    expect(cli('unbind', 'acl', '--network', 'n1', '--direction', 'in')).toMatchObject({ status: 0, stdout: 'no ACL on network n1 (in) now\n' });
    expect(ping(pods.b)).toBe(true);
    expect(pingFromC()).toBe(true);
  });
});
