// Loads protos/memswitch/v1 at run time; the server and the SDK share these options, so
// both sides agree on field names (camelCase), enums (names) and 64-bit counters (numbers).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_FILES = [
  'memswitch/v1/network_service.proto',
  'memswitch/v1/interface_service.proto',
  'memswitch/v1/mac_service.proto',
  'memswitch/v1/stats_service.proto',
  'memswitch/v1/event_service.proto',
  'memswitch/v1/daemon_service.proto',
  'memswitch/v1/attachment_service.proto',
  'memswitch/v1/router_service.proto',
  'memswitch/v1/capture_service.proto',
  'memswitch/v1/trace_service.proto',
  'memswitch/v1/acl_service.proto',
  'memswitch/v1/policy_service.proto',
];

export const SERVICE_NAMES = ['NetworkService', 'InterfaceService', 'MacService', 'StatsService', 'EventService', 'DaemonService', 'AttachmentService', 'RouterService', 'CaptureService', 'TraceService', 'AclService', 'PolicyService'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

// Counters stay below 2^53 for centuries at line rate, so numbers are exact.
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

function protoRoot(): string {
  // orchestrator/src/api (source) and dist/orchestrator/src/api (compiled) sit at different depths.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'protos');
    if (existsSync(path.join(candidate, 'memswitch/v1/types.proto'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find protos/memswitch/v1 next to the memswitch package');
}

let cached: { definition: protoLoader.PackageDefinition; services: Record<ServiceName, grpc.ServiceClientConstructor> } | undefined;

export function loadProtos(): { definition: protoLoader.PackageDefinition; services: Record<ServiceName, grpc.ServiceClientConstructor> } {
  if (!cached) {
    const definition = protoLoader.loadSync(PROTO_FILES, { ...LOADER_OPTIONS, includeDirs: [protoRoot()] });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { memswitch: { v1: Record<ServiceName, grpc.ServiceClientConstructor> } };
    const services = Object.fromEntries(SERVICE_NAMES.map((n) => [n, pkg.memswitch.v1[n]])) as Record<ServiceName, grpc.ServiceClientConstructor>;
    cached = { definition, services };
  }
  return cached;
}

/** "unix:///abs/path" for a path, else a host:port (or an explicit grpc target) as given. */
export function grpcTarget(address: string): string {
  return address.startsWith('/') ? `unix://${address}` : address;
}
