// Talking to a real memswitchd over its unix socket: the SDK, plus the standard
// grpc.health.v1 and reflection services through plain grpc-js clients.
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { MemswitchClient } from '../../orchestrator/src/sdk/index.js';

export async function connect(socket: string): Promise<MemswitchClient> {
  const c = new MemswitchClient(socket, { deadlineMs: 10_000 });
  await c.waitForReady(5000);
  return c;
}

const require = createRequire(import.meta.url);

export async function healthCheck(socket: string, service: string): Promise<string> {
  const { service: def } = require('grpc-health-check') as { service: grpc.ServiceDefinition };
  const Health = grpc.makeClientConstructor(def, 'grpc.health.v1.Health');
  const c = new Health(`unix://${socket}`, grpc.credentials.createInsecure()) as grpc.Client & {
    check(req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string | number }) => void): void;
  };
  try {
    return await new Promise((resolve, reject) => c.check({ service }, (err, res) => (err ? reject(err) : resolve(String(res.status)))));
  } finally {
    c.close();
  }
}

/** The service names a reflection client (grpcurl, Postman, ...) would discover. */
export async function reflectedServices(socket: string): Promise<string[]> {
  const dir = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
  const def = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [dir], keepCase: true, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } };
  const c = new pkg.grpc.reflection.v1.ServerReflection(`unix://${socket}`, grpc.credentials.createInsecure());
  try {
    const call = (c as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, { list_services_response?: { service: { name: string }[] } }> }).ServerReflectionInfo();
    const res = await new Promise<{ list_services_response?: { service: { name: string }[] } }>((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
      call.write({ list_services: '' });
    });
    call.end();
    return (res.list_services_response?.service ?? []).map((s) => s.name);
  } finally {
    c.close();
  }
}
