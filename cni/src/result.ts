// CNI results in the shape of each spec version: ips[].version below 1.0.0; interface
// mtu/socketPath only from 1.1.0; a chained plugin's prevResult is kept and extended.
import { isIP } from 'node:net';
import type { IpamResult } from './ipam.js';
import { versionAtLeast, type CniVersion } from './skel.js';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
}
export interface CniIp {
  version?: '4' | '6';
  address: string;
  gateway?: string;
  interface?: number;
}
export interface CniResult {
  cniVersion: CniVersion;
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}

export interface OurInterface {
  name: string;
  mac: string;
  sandbox: string;
  mtu?: number;
  socketPath?: string;
}

export function buildResult(version: CniVersion, ours: OurInterface, ipam: IpamResult | undefined, prev: Record<string, unknown> | undefined, dns?: Record<string, unknown>): CniResult {
  const modern = versionAtLeast(version, '1.1.0');
  const legacy = !versionAtLeast(version, '1.0.0');
  const prevInterfaces = Array.isArray(prev?.interfaces) ? (prev.interfaces as CniInterface[]) : [];
  const prevIps = Array.isArray(prev?.ips) ? (prev.ips as CniIp[]) : [];
  const prevRoutes = Array.isArray(prev?.routes) ? (prev.routes as { dst: string; gw?: string }[]) : [];
  const index = prevInterfaces.length;
  const itf: CniInterface = {
    name: ours.name,
    mac: ours.mac,
    sandbox: ours.sandbox,
    ...(modern && ours.mtu ? { mtu: ours.mtu } : {}),
    ...(modern && ours.socketPath ? { socketPath: ours.socketPath } : {}),
  };
  const ips: CniIp[] = (ipam?.ips ?? []).map((i) => ({
    ...(legacy ? { version: isIP(i.address.split('/')[0]!) === 6 ? ('6' as const) : ('4' as const) } : {}),
    address: i.address,
    ...(i.gateway ? { gateway: i.gateway } : {}),
    interface: index,
  }));
  const routes = [...prevRoutes, ...(ipam?.routes ?? [])];
  const dnsOut = (prev?.dns as Record<string, unknown> | undefined) ?? ipam?.dns ?? dns;
  return {
    cniVersion: version,
    interfaces: [...prevInterfaces, itf],
    ips: [...prevIps, ...ips],
    ...(routes.length ? { routes } : {}),
    ...(dnsOut && Object.keys(dnsOut).length ? { dns: dnsOut } : {}),
  };
}
