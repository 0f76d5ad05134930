// ADD: IPAM first, then one Attach call; IPAM is released again if the attach fails. The
// result carries the addresses and routes as memswitchd applied them: IPAM's, with a
// routed network's gateways and default routes (IPv4, IPv6) filled in.
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type * as m from '../../orchestrator/src/api/messages.js';
import type { Context } from './context.js';
import { DaemonError, toCniError } from './client.js';
import { detachOrSpool } from './del.js';
import { Status } from './grpc.js';
import type { IpamResult } from './ipam.js';
import { buildResult, type CniResult } from './result.js';
import { CniError, ErrorCode } from './skel.js';

/**
 * The pod's labels as the runtime passed them, by the CNI conventions' args.cni.labels
 * ([{ key, value }]); anything else there is ignored.
 */
export function cniLabels(args: Record<string, unknown> | undefined): Record<string, string> {
  const list = (args?.cni as { labels?: unknown } | undefined)?.labels;
  if (!Array.isArray(list)) return {};
  const out: Record<string, string> = {};
  for (const l of list as { key?: unknown; value?: unknown }[]) if (typeof l?.key === 'string' && l.key && typeof l.value === 'string') out[l.key] = l.value;
  return out;
}

export async function cmdAdd(ctx: Context): Promise<CniResult> {
  const { args, conf, log } = ctx;
  try {
    statSync(args.netns);
  } catch {
    throw new CniError(ErrorCode.invalidEnv, `CNI_NETNS: ${args.netns} does not exist`);
  }
  // The MAC: the runtime's capability, then podman's CNI_ARGS MAC=, then the config.
  const mac = conf.runtimeConfig?.mac ?? args.args.MAC ?? conf.mac;
  if (mac !== undefined && !/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(mac))
    throw new CniError(ErrorCode.invalidConfig, `invalid network config: mac: "${mac}" is not a MAC address`);

  // A retry of an ADD that already happened (after a runtime timeout, say): IPAM must not
  // allocate again, and a failure must not release what the first ADD got. memswitchd
  // compares the rest of the parameters: the same answers the stored result, others 100.
  const existing = await ctx
    .daemon()
    .get({ key: ctx.key })
    .then((r) => r.attachment)
    .catch((err: unknown) => {
      if (err instanceof DaemonError && err.status === Status.NOT_FOUND) return undefined;
      throw toCniError(err, 'attachment');
    });
  const ipam = existing ? undefined : ctx.ipam();
  const ip: IpamResult | undefined = existing ? applied(existing) : ipam?.add();
  let attached = false; // by this ADD: a later failure must take it back with the IPs
  try {
    const r = await ctx.daemon().attach({
      key: ctx.key,
      netns: args.netns,
      network: conf.vswitchNetwork,
      kind: conf.interface === 'veth' ? 'ATTACHMENT_KIND_VETH' : 'ATTACHMENT_KIND_MEMIF',
      mac,
      ips: ip?.ips.map((i) => ({ address: i.address, gateway: i.gateway ?? '' })) ?? [],
      routes: ip?.routes.map((x) => ({ dst: x.dst, gw: x.gw ?? '' })) ?? [],
      mtu: conf.mtu,
      vlan: conf.vlan,
      socketMode: conf.socketMode === 'file' ? 'SOCKET_MODE_FILE' : 'SOCKET_MODE_ABSTRACT',
      socketName: conf.socketName,
      socketDir: conf.socketDir,
      podNamespace: args.args.K8S_POD_NAMESPACE ?? '',
      podName: args.args.K8S_POD_NAME ?? '',
      podUid: args.args.K8S_POD_UID ?? '',
      router: conf.routedBy ?? '',
      podLabels: cniLabels(conf.args),
    }).catch((err: unknown) => {
      throw toCniError(err, 'attachment');
    });
    const a = r.attachment;
    attached = !existing;
    log('info', r.created ? 'attached' : 'attachment already present', { interface: a.interface, mac: a.mac, socket: a.socket || undefined, gateway: a.gateway || undefined, gateway6: a.gateway6 || undefined });
    const deviceInfo = conf.runtimeConfig?.CNIDeviceInfoFile;
    if (deviceInfo && a.socket) writeDeviceInfo(deviceInfo, a.socket);
    return buildResult(
      conf.cniVersion,
      { name: args.ifname, mac: a.mac, sandbox: args.netns, mtu: a.mtu, socketPath: a.socket || undefined },
      ip && { ...applied(a), ...(ip.dns ? { dns: ip.dns } : {}) },
      conf.prevResult,
      conf.dns,
    );
  } catch (err) {
    // memswitchd may have made the attachment and then failed to answer (killed, or past
    // our deadline), or this ADD failed after it (the device-info file): take it back (or
    // spool that) before its IPs go back to IPAM, which would give them out again.
    if (attached || (!existing && err instanceof CniError && err.code === ErrorCode.tryAgainLater)) {
      await detachOrSpool(ctx).catch((e: unknown) => log('warn', 'undoing a failed ADD failed', { err: (e as Error).message }));
    }
    if (ipam) {
      try {
        ipam.del();
      } catch (e) {
        log('warn', 'IPAM DEL after a failed ADD failed', { err: (e as Error).message });
      }
    }
    throw err;
  }
}

/** An attachment's addresses and routes in IPAM's shape (proto3 answers "" for none). */
function applied(a: m.Attachment): IpamResult {
  return {
    ips: a.ips.map((i) => ({ address: i.address, ...(i.gateway ? { gateway: i.gateway } : {}) })),
    routes: a.routes.map((x) => ({ dst: x.dst, ...(x.gw ? { gw: x.gw } : {}) })),
  };
}

/**
 * NPWG device-info, so Multus' network-status tells the pod where its memif is. Its
 * directory may not exist yet (Multus makes it on first use; /run is empty after a boot).
 */
function writeDeviceInfo(file: string, socket: string): void {
  const info = { type: 'memif', version: '1.1.0', memif: { role: 'client', path: socket, mode: 'ethernet' } };
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    writeFileSync(tmp, JSON.stringify(info), { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was written (the directory is not one)
    }
    throw new CniError(ErrorCode.ioFailure, `CNIDeviceInfoFile ${file}: ${(err as Error).message}`);
  }
}
