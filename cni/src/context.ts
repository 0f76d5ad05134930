// What every command gets: the runtime's arguments, the parsed config, a log, and the
// daemon client and IPAM delegate made on first use.
import { createHash } from 'node:crypto';
import type { NetConf } from './config.js';
import { DaemonClient } from './client.js';
import { Ipam } from './ipam.js';
import type { Log } from './log.js';
import type { CniArgs } from './skel.js';

export interface Context {
  args: CniArgs;
  conf: NetConf;
  log: Log;
  daemon(): DaemonClient;
  /** undefined when the config has no ipam section (pure L2 memif). */
  ipam(): Ipam | undefined;
  key: { cniNetwork: string; containerId: string; ifname: string };
}

export function createContext(args: CniArgs, conf: NetConf, log: Log): Context & { close(): void } {
  let client: DaemonClient | undefined;
  let ipam: Ipam | undefined;
  return {
    args,
    conf,
    log,
    key: { cniNetwork: conf.name, containerId: args.containerId, ifname: args.ifname },
    daemon: () => (client ??= new DaemonClient(conf.apiSocket, conf.timeoutMs)),
    ipam: () => (conf.ipam ? (ipam ??= new Ipam(conf as NetConf & { ipam: { type: string } }, args)) : undefined),
    close: () => client?.close(),
  };
}

export const spoolName = (k: Context['key']): string => `${createHash('sha1').update(`${k.cniNetwork}/${k.containerId}/${k.ifname}`).digest('hex')}.json`;
