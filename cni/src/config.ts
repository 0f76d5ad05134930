// The plugin's network config (stdin): the runtime's fields, our own, strict otherwise.
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { checkVersion, CniError, ErrorCode, type CniVersion } from './skel.js';

const cniName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$');
const memswitchName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be a memswitch name: 1-63 letters, digits, "_", "." or "-"');

/** The router of a network with "gateway": true and no "router". */
export const DEFAULT_ROUTER = 'cni';
const absPath = z.string().refine((s) => isAbsolute(s), 'must be an absolute path');
const attachmentList = z.array(z.object({ containerID: z.string(), ifname: z.string() }).passthrough());

const netConf = z
  .object({
    cniVersion: z.string(),
    name: cniName,
    type: z.string(),
    // ours
    apiSocket: absPath.default('/run/memswitch/api.sock'),
    timeoutMs: z.number().int().min(100).max(60_000).default(8000),
    interface: z.enum(['memif', 'veth']).default('memif'),
    vswitchNetwork: memswitchName.optional(),
    // A routed network: the router (DEFAULT_ROUTER unless named) is the containers' gateway.
    gateway: z.boolean().optional(),
    router: memswitchName.optional(),
    socketMode: z.enum(['abstract', 'file']).default('abstract'),
    socketName: z.string().min(1).optional(),
    socketDir: absPath.optional(),
    // The workload's memif side: client role, ethernet mode (the switch serves only those).
    role: z.literal('client').default('client'),
    mode: z.literal('ethernet').default('ethernet'),
    mac: z.string().optional(),
    mtu: z.number().int().min(68).max(9000).optional(),
    vlan: z.number().int().min(1).max(4094).optional(),
    logFile: absPath.optional(),
    spoolDir: absPath.default('/var/lib/memswitch/cni-spool'),
    // the spec's
    ipam: z.object({ type: z.string().regex(/^[^/]+$/, 'must be a plugin name without "/"') }).passthrough().optional(),
    dns: z.record(z.unknown()).optional(),
    capabilities: z.record(z.unknown()).optional(),
    runtimeConfig: z
      .object({ mac: z.string().optional(), CNIDeviceInfoFile: absPath.optional() })
      .passthrough()
      .optional(),
    // Checked as far as we read it; the rest passes through to the result unchanged.
    prevResult: z
      .object({
        cniVersion: z.string().optional(),
        interfaces: z.array(z.object({ name: z.string() }).passthrough()).optional(),
        ips: z.array(z.object({ address: z.string(), interface: z.number().int().min(0).optional() }).passthrough()).optional(),
        routes: z.array(z.object({ dst: z.string() }).passthrough()).optional(),
      })
      .passthrough()
      .optional(),
    args: z.record(z.unknown()).optional(),
    'cni.dev/valid-attachments': attachmentList.optional(),
    'cni.dev/attachments': attachmentList.optional(),
  })
  .strict();

export type NetConf = z.infer<typeof netConf> & { cniVersion: CniVersion; vswitchNetwork: string; routedBy?: string };

/** Code 1 for the version, 2 for an unknown key (named), 7 for a bad value (field named). */
export function parseNetConf(raw: Record<string, unknown>): NetConf {
  const cniVersion = checkVersion(raw.cniVersion);
  const r = netConf.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    if (issue.code === 'unrecognized_keys')
      throw new CniError(ErrorCode.unsupportedField, `unsupported field(s) in network config: ${issue.keys.join(', ')}`, issue.keys.map((k) => `${k}=${JSON.stringify(raw[k])}`).join(' '));
    throw new CniError(ErrorCode.invalidConfig, `invalid network config: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  const vswitchNetwork = r.data.vswitchNetwork ?? r.data.name;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(vswitchNetwork))
    throw new CniError(ErrorCode.invalidConfig, 'invalid network config: vswitchNetwork: required when name is not a memswitch network name');
  if (r.data.gateway === false && r.data.router !== undefined)
    throw new CniError(ErrorCode.invalidConfig, 'invalid network config: router: names the router of a routed network, but gateway is false');
  const routedBy = r.data.router ?? (r.data.gateway ? DEFAULT_ROUTER : undefined);
  if (routedBy !== undefined && r.data.ipam === undefined)
    throw new CniError(ErrorCode.invalidConfig, 'invalid network config: ipam: a routed network (gateway, router) needs IPAM for its addresses and gateway');
  return { ...r.data, cniVersion, vswitchNetwork, routedBy };
}
