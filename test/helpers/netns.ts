// Network namespaces and veth pairs for tests, removed again even when a test fails.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

export class Netns {
  private readonly namespaces: string[] = [];
  private readonly links: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private seq = 0;

  /** A fresh namespace (loopback up); returns its path for `netns:` config fields. */
  add(tag: string): { name: string; path: string } {
    const name = `msw-${tag}-${process.pid}-${this.seq++}`;
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return { name, path: `/var/run/netns/${name}` };
  }

  /** A veth pair in the host namespace (both ends up), e.g. an uplink and its "wire". */
  vethPair(a: string, b: string, mtu = 1500): void {
    sh('ip', ['link', 'add', a, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', b, 'mtu', String(mtu)]);
    this.links.push(a);
    sh('ip', ['link', 'set', a, 'up']);
    sh('ip', ['link', 'set', b, 'up']);
  }

  exec(ns: string, cmd: string[]): string {
    return sh('ip', ['netns', 'exec', ns, ...cmd]);
  }

  spawn(ns: string, cmd: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    return p;
  }

  cleanup(): void {
    for (const p of this.procs) p.kill('SIGKILL');
    for (const l of this.links) if (existsSync(`/sys/class/net/${l}`)) sh('ip', ['link', 'del', l]);
    for (const n of this.namespaces) sh('ip', ['netns', 'del', n]);
    this.procs.length = this.links.length = this.namespaces.length = 0;
  }
}

/** The XDP program id attached to a netdev, or undefined. */
export function xdpProgram(ifname: string): string | undefined {
  return /prog\/xdp id (\d+)/.exec(sh('ip', ['link', 'show', ifname]))?.[1];
}

export function linkExists(ifname: string): boolean {
  return existsSync(`/sys/class/net/${ifname}`);
}
