// Kernel interfaces for unmodified containers: a veth pair whose container end is moved
// into the pod's network namespace and configured there (iproute2), and whose host end
// the switch attaches with AF_XDP. Names derive from the interface name, so a pair left
// behind by a crash is found and replaced on the next create.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { VethInterface } from '../config/schema.js';
import { InvalidConfigError } from './errors.js';
import { familyOf } from './ip.js';

export function fnv32(s: string): string {
  let h = 0x811c9dc5;
  for (const ch of Buffer.from(s)) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** The host end's name: at most 15 characters (IFNAMSIZ), stable for one interface name. */
export const hostIfname = (name: string): string => `msw${fnv32(name)}`;
const tempPeerName = (name: string): string => `mswp${fnv32(name)}`;

class CommandError extends Error {}

function run(cmd: string, args: string[], input?: string): void {
  try {
    execFileSync(cmd, args, { input, stdio: ['pipe', 'ignore', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new CommandError(stderr || (err as Error).message);
  }
}

function linkExists(ifname: string): boolean {
  return existsSync(`/sys/class/net/${ifname}`);
}

// Deleting one end removes its peer too, wherever the peer lives. The link may vanish
// between the check and the delete: a namespace being torn down takes its end, and the
// kernel removes the pair asynchronously. Gone is what we wanted, so that is no error.
function deleteLink(ifname: string): void {
  if (!linkExists(ifname)) return;
  try {
    run('ip', ['link', 'del', ifname]);
  } catch (err) {
    if (!linkExists(ifname)) return;
    // Still there: maybe on its way out with its namespace; give the kernel a moment.
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 100 && linkExists(ifname); i++) Atomics.wait(pause, 0, 0, 10);
    if (linkExists(ifname)) throw err;
  }
}

export function deleteVeth(name: string): void {
  deleteLink(hostIfname(name));
}

interface IpLink {
  ifindex: number;
  ifname: string;
  link_index?: number; // a veth's peer, in another namespace
  link?: string; // a veth's peer, in the same namespace (a host interface's pair)
  mtu: number;
  address: string;
}

const joined = (a: IpLink, b: IpLink): boolean => a.link_index === b.ifindex || a.link === b.ifname;

function ipLink(netns: string | undefined, ifname: string): IpLink | undefined {
  const cmd = netns ? ['nsenter', `--net=${netns}`, 'ip'] : ['ip'];
  try {
    const out = execFileSync(cmd[0]!, [...cmd.slice(1), '-j', 'link', 'show', 'dev', ifname], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return (JSON.parse(out.toString()) as IpLink[])[0];
  } catch {
    return undefined;
  }
}

// The pair a previous run of memswitchd made for this interface, still joined and as
// configured: it is kept, so a restart (planned or not) leaves the container's interface
// and its connections alone instead of replacing it.
function intactPair(cfg: VethInterface, host: string): boolean {
  if (!linkExists(host)) return false;
  const h = ipLink(undefined, host);
  const c = ipLink(cfg.netns, cfg.ifname);
  return (
    h !== undefined &&
    c !== undefined &&
    joined(h, c) &&
    joined(c, h) &&
    h.mtu === cfg.mtu &&
    c.mtu === cfg.mtu &&
    (!cfg.mac || c.address === cfg.mac.toLowerCase())
  );
}

// The container's stack would hand the switch frames with checksums left to the NIC (and
// TSO super-frames): XDP sees them raw, so the container end computes them.
const NO_OFFLOADS = ['tx', 'off', 'tso', 'off', 'gso', 'off'];
const addPair = (host: string, peer: string, mtu: number): void => run('ip', ['link', 'add', host, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', peer, 'mtu', String(mtu)]);
/** A failed set-up leaves no host end (its peer goes with it), and says which interface. */
function setupFailed(cfg: VethInterface, host: string, err: unknown): never {
  deleteLink(host);
  if (err instanceof CommandError) throw new InvalidConfigError(`veth ${cfg.name}: ${err.message}`, 'interfaces');
  throw err;
}

// A pair for a runtime that moves the container end into its namespace itself (Docker,
// after the remote driver's Join): that end stays here, named cfg.ifname, with the MTU,
// MAC and offloads set, which move with it. Whatever the runtime did with it since, a host
// end that still exists still has its peer (a pair dies together): it is kept as it is.
function createHandoffVeth(cfg: VethInterface, host: string): string {
  if (cfg.addresses.length || cfg.routes.length) throw new InvalidConfigError('addresses: a handed-off veth is configured by its runtime: no addresses or routes', 'addresses');
  try {
    if (!linkExists(host)) {
      deleteLink(cfg.ifname); // a peer left over from a crash between add and handoff
      addPair(host, cfg.ifname, cfg.mtu);
      if (cfg.mac) run('ip', ['link', 'set', cfg.ifname, 'address', cfg.mac]);
      run('ethtool', ['-K', cfg.ifname, ...NO_OFFLOADS]);
    }
    run('ip', ['link', 'set', host, 'up']);
  } catch (err) {
    setupFailed(cfg, host, err);
  }
  return host;
}

/** Creates and configures the pair, or keeps an intact one from a previous run; returns
 * the host end for the AF_XDP attachment. */
export function createVeth(cfg: VethInterface): string {
  const host = hostIfname(cfg.name);
  if (cfg.handoff) return createHandoffVeth(cfg, host); // netns: the runtime's business
  if (!existsSync(cfg.netns)) throw new InvalidConfigError(`netns: ${cfg.netns} does not exist`, 'netns');
  const kept = intactPair(cfg, host);
  const peer = tempPeerName(cfg.name);
  if (!kept) {
    deleteVeth(cfg.name);
    deleteLink(peer);
  }
  try {
    if (!kept) {
      addPair(host, peer, cfg.mtu);
      run('ip', ['link', 'set', peer, 'netns', cfg.netns]);
    }
    // A kept pair gets the same configuration again, idempotently ("replace"): what
    // drifted while memswitchd was down is repaired.
    const verb = kept ? 'replace' : 'add';
    const inside = [
      ...(kept ? [] : [`link set ${peer} name ${cfg.ifname}`, ...(cfg.mac ? [`link set ${cfg.ifname} address ${cfg.mac}`] : [])]),
      `link set ${cfg.ifname} up`,
      // IPv6 without duplicate address detection: IPAM made the address unique, and DAD
      // would leave it tentative (unusable) for a second or more after ADD returned.
      ...cfg.addresses.map((a) => `addr ${verb} ${a} dev ${cfg.ifname}${familyOf(a) === 6 ? ' nodad' : ''}`),
      ...cfg.routes.map((r) => `route ${verb} ${r.dst}${r.via ? ` via ${r.via}` : ''} dev ${cfg.ifname}`),
    ];
    try {
      run('nsenter', [`--net=${cfg.netns}`, 'ip', '-batch', '-'], inside.join('\n') + '\n');
    } catch (err) {
      const msg = (err as Error).message;
      const field = /File exists|already exists/.test(msg) && msg.includes('name') ? 'ifname' : /route/i.test(msg) ? 'routes' : 'addresses';
      throw new InvalidConfigError(`${field}: cannot configure ${cfg.ifname} in ${cfg.netns}: ${msg}`, field);
    }
    run('nsenter', [`--net=${cfg.netns}`, 'ethtool', '-K', cfg.ifname, ...NO_OFFLOADS]);
    run('ip', ['link', 'set', host, 'up']);
  } catch (err) {
    setupFailed(cfg, host, err);
  }
  return host;
}
