#!/usr/bin/env node
// Bundles the CNI plugin (cni/src) into one CommonJS file, dist/cni/memswitch-cni.cjs,
// with the memswitch.v1 protos compiled in as JSON: the runtime execs it for every
// container, so start-up is one file read and no TypeScript, no .proto parsing.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import protobuf from 'protobufjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const protos = path.join(root, 'protos');
const pb = new protobuf.Root();
pb.resolvePath = (_origin, target) => path.join(protos, target);
pb.loadSync(['memswitch/v1/attachment_service.proto', 'memswitch/v1/daemon_service.proto'], { keepCase: false });

const outfile = path.join(root, 'dist/cni/memswitch-cni.cjs');
mkdirSync(path.dirname(outfile), { recursive: true });
await build({
  entryPoints: [path.join(root, 'cni/src/main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  define: { __MEMSWITCH_PROTO_JSON__: JSON.stringify(JSON.stringify(pb.toJSON())) },
  logLevel: 'warning',
});
console.error(`build-cni: ${path.relative(root, outfile)}`);
