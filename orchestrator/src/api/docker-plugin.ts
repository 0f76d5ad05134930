// Docker's plugin protocol (libnetwork's remote network driver and IPAM driver): JSON over
// HTTP POST on a unix socket, one path per method (/Plugin.Activate, /NetworkDriver.Join,
// /IpamDriver.RequestAddress, ...). Thin handlers: validate with zod, call the domain
// (domain/docker.ts), answer JSON; an error is {"Err": "..."}, which Docker shows the user.
// Docker finds the plugin by the socket's file name in /run/docker/plugins and activates
// it on first use.
import { existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { z } from 'zod';
import type { DockerNetworks } from '../domain/docker.js';
import { DomainError, InvalidConfigError } from '../domain/errors.js';
import type { Logger } from '../log.js';

const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';
const MAX_BODY = 1 << 20;

// Docker sends more fields than these (and newer Dockers more still): unknown ones are
// stripped, not refused. Absent strings are Docker's "none".
const id = z.string().regex(/^[0-9a-f]{64}$/, 'must be a Docker object ID (64 hex digits)');
const str = z.string().default('');
const stringMap = z.record(z.string()).nullish().transform((m) => m ?? {});
const requests = {
  'Plugin.Activate': z.object({}),
  'NetworkDriver.GetCapabilities': z.object({}),
  'NetworkDriver.CreateNetwork': z.object({ NetworkID: id, Options: z.record(z.unknown()).nullish().transform((m) => m ?? {}) }),
  'NetworkDriver.DeleteNetwork': z.object({ NetworkID: id }),
  'NetworkDriver.CreateEndpoint': z.object({
    NetworkID: id,
    EndpointID: id,
    Interface: z.object({ Address: str, AddressIPv6: str, MacAddress: str }).nullish(),
  }),
  'NetworkDriver.EndpointOperInfo': z.object({ NetworkID: id, EndpointID: id }),
  'NetworkDriver.DeleteEndpoint': z.object({ NetworkID: id, EndpointID: id }),
  'NetworkDriver.Join': z.object({ NetworkID: id, EndpointID: id, SandboxKey: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path') }),
  'NetworkDriver.Leave': z.object({ NetworkID: id, EndpointID: id }),
  'NetworkDriver.ProgramExternalConnectivity': z.object({ NetworkID: id, EndpointID: id }),
  'NetworkDriver.RevokeExternalConnectivity': z.object({ NetworkID: id, EndpointID: id }),
  'NetworkDriver.DiscoverNew': z.object({}),
  'NetworkDriver.DiscoverDelete': z.object({}),
  'IpamDriver.GetCapabilities': z.object({}),
  'IpamDriver.GetDefaultAddressSpaces': z.object({}),
  'IpamDriver.RequestPool': z.object({ AddressSpace: str, Pool: str, SubPool: str, Options: stringMap, V6: z.boolean().default(false) }),
  'IpamDriver.ReleasePool': z.object({ PoolID: z.string().min(1) }),
  'IpamDriver.RequestAddress': z.object({ PoolID: z.string().min(1), Address: str, Options: stringMap }),
  'IpamDriver.ReleaseAddress': z.object({ PoolID: z.string().min(1), Address: z.string().min(1) }),
};
type Method = keyof typeof requests;
type Handlers = { [M in Method]: (req: z.infer<(typeof requests)[M]>) => object };

function handlers(docker: DockerNetworks): Handlers {
  return {
    'Plugin.Activate': () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
    'NetworkDriver.GetCapabilities': () => ({ Scope: 'local', ConnectivityScope: 'local' }),
    'NetworkDriver.CreateNetwork': (r) => (docker.createNetwork(r.NetworkID, r.Options), {}),
    'NetworkDriver.DeleteNetwork': (r) => (docker.deleteNetwork(r.NetworkID), {}),
    // Docker keeps the addresses it gave and the MAC it may have been given: nothing to answer.
    'NetworkDriver.CreateEndpoint': (r) => {
      const ips = [r.Interface?.Address, r.Interface?.AddressIPv6].filter((a): a is string => !!a);
      docker.createEndpoint(r.NetworkID, r.EndpointID, ips, r.Interface?.MacAddress?.toLowerCase() || undefined);
      return {};
    },
    'NetworkDriver.EndpointOperInfo': () => ({ Value: {} }),
    'NetworkDriver.DeleteEndpoint': (r) => (docker.deleteEndpoint(r.NetworkID, r.EndpointID), {}),
    // A pure L2 network: no gateway, and DisableGatewayService keeps Docker from adding
    // its docker_gwbridge network to give one.
    'NetworkDriver.Join': (r) => {
      const j = docker.join(r.NetworkID, r.EndpointID, r.SandboxKey);
      return { ...(j.srcName ? { InterfaceName: { SrcName: j.srcName, DstPrefix: j.dstPrefix } } : {}), DisableGatewayService: true };
    },
    // The port goes at DeleteEndpoint, once Docker has taken its end of the veth back.
    'NetworkDriver.Leave': () => ({}),
    'NetworkDriver.ProgramExternalConnectivity': () => ({}),
    'NetworkDriver.RevokeExternalConnectivity': () => ({}),
    'NetworkDriver.DiscoverNew': () => ({}),
    'NetworkDriver.DiscoverDelete': () => ({}),
    'IpamDriver.GetCapabilities': () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
    'IpamDriver.GetDefaultAddressSpaces': () => ({ LocalDefaultAddressSpace: 'memswitch-local', GlobalDefaultAddressSpace: 'memswitch-global' }),
    'IpamDriver.RequestPool': (r) => {
      const p = docker.requestPool(r.Pool, r.SubPool);
      return { PoolID: p.poolId, Pool: p.pool, Data: {} };
    },
    'IpamDriver.ReleasePool': (r) => (docker.releasePool(r.PoolID), {}),
    'IpamDriver.RequestAddress': (r) => ({ Address: docker.requestAddress(r.PoolID, r.Address, r.Options), Data: {} }),
    'IpamDriver.ReleaseAddress': (r) => (docker.releaseAddress(r.PoolID, r.Address), {}),
  };
}

function parse<M extends Method>(method: M, body: unknown): z.infer<(typeof requests)[M]> {
  const r = requests[method].safeParse(body ?? {});
  if (r.success) return r.data as z.infer<(typeof requests)[M]>;
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.') || '(request)';
  throw new InvalidConfigError(`${field}: ${issue.message}`, field);
}

export interface DockerPluginServer {
  close(): void;
}

/** Serves the plugin on `socket` (a stale file from a crash is replaced). */
export async function startDockerPlugin(docker: DockerNetworks, socket: string, log: Logger): Promise<DockerPluginServer> {
  const h = handlers(docker);
  const server = http.createServer((req, res) => {
    const method = (req.url ?? '').slice(1);
    const answer = (status: number, doc: object): void => {
      res.writeHead(status, { 'Content-Type': CONTENT_TYPE });
      res.end(JSON.stringify(doc));
    };
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_BODY) req.destroy();
    });
    req.on('end', () => {
      if (req.method !== 'POST' || !Object.hasOwn(requests, method)) {
        // Every method of a local-scope driver is answered above; libnetwork's protocol
        // says 404 for the rest (AllocateNetwork/FreeNetwork of global-scope drivers).
        log.debug({ method }, 'unknown plugin method');
        return answer(404, { Err: `memswitch does not implement ${req.method} ${req.url}` });
      }
      const m = method as Method;
      try {
        const doc = body.trim() ? (JSON.parse(body) as unknown) : {};
        const out = (h[m] as (r: unknown) => object)(parse(m, doc));
        log.debug({ method: m }, 'plugin call');
        answer(200, out);
      } catch (err) {
        const e = err as Error;
        const bad = err instanceof SyntaxError || err instanceof InvalidConfigError;
        if (!(err instanceof DomainError) && !(err instanceof SyntaxError)) log.error({ method: m, err }, 'plugin call failed');
        else log.warn({ method: m, err: e.message }, 'plugin call refused');
        answer(bad ? 400 : 500, { Err: `memswitch: ${e.message}` });
      }
    });
  });
  mkdirSync(path.dirname(socket), { recursive: true, mode: 0o755 });
  if (existsSync(socket) && lstatSync(socket).isSocket()) unlinkSync(socket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  log.info({ socket, driver: path.basename(socket, '.sock') }, 'Docker plugin listening');
  return {
    close: () => {
      server.close();
      server.closeAllConnections();
      try {
        unlinkSync(socket);
      } catch {
        // already gone
      }
    },
  };
}
