// Container images built offline: a rootfs of busybox-static and its applet links,
// packaged as an image archive that `ctr images import`, `docker load` (25+) and
// `podman load` accept. The archive is an OCI image layout (oci-layout, index.json,
// blobs/sha256/...) plus the manifest.json of a `docker save`, both pointing at the
// same blobs, which is what Docker 25 writes. No registry, no network.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const BUSYBOX = '/bin/busybox'; // busybox-static: runs in an empty rootfs

const PLATFORM = { architecture: process.arch === 'x64' ? 'amd64' : process.arch, os: 'linux' };
const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/**
 * A busybox rootfs in `dir`: /bin/busybox (copied from busybox-static) and a relative
 * symlink for every applet where `busybox --list-full` puts it (bin/sh, sbin/ip,
 * usr/bin/..., ...), plus the empty mount points and a root user.
 */
export function busyboxRootfs(dir: string): void {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: run scripts/setup.sh (apt-get install busybox-static)`);
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, path.join(dir, 'bin/busybox'));
  for (const applet of run(path.join(dir, 'bin/busybox'), ['--list-full']).split('\n').filter(Boolean)) {
    if (applet === 'linuxrc' || applet === 'bin/busybox') continue;
    const link = path.join(dir, applet);
    mkdirSync(path.dirname(link), { recursive: true });
    if (!existsSync(link)) symlinkSync(path.relative(path.dirname(link), path.join(dir, 'bin/busybox')), link);
  }
  for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp', 'run', 'root']) mkdirSync(path.join(dir, d), { recursive: true });
  writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\n');
}

export interface ImageOptions {
  /** Full reference, e.g. memswitch.test/busybox:latest (kept as is by containerd and Docker). */
  name: string;
  cmd?: string[];
  env?: string[];
}

export interface ImageArchive {
  /** The .tar to import. */
  file: string;
  name: string;
  /** The image manifest's digest (sha256:...), as `ctr images ls` shows it. */
  manifestDigest: string;
}

/** Packs `rootfs` as a one-layer image archive `file` (uncompressed, reproducible). */
export function imageArchive(rootfs: string, file: string, opts: ImageOptions): ImageArchive {
  const stage = `${file}.d`;
  rmSync(stage, { recursive: true, force: true });
  const blobs = path.join(stage, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  const addBlob = (mediaType: string, data: Buffer): { mediaType: string; digest: string; size: number } => {
    const hex = createHash('sha256').update(data).digest('hex');
    writeFileSync(path.join(blobs, hex), data);
    return { mediaType, digest: `sha256:${hex}`, size: data.length };
  };
  const blobPath = (d: { digest: string }) => `blobs/sha256/${d.digest.slice('sha256:'.length)}`;

  // The layer: uid/gid 0, mtime 0, sorted, so the same rootfs gives the same digest.
  const layerTmp = path.join(stage, 'layer.tar');
  run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=ustar', '-C', rootfs, '-cf', layerTmp, '.']);
  const layer = addBlob(MEDIA.layer, readFileSync(layerTmp));
  rmSync(layerTmp);
  const config = addBlob(
    MEDIA.config,
    Buffer.from(
      JSON.stringify({
        ...PLATFORM,
        created: '1970-01-01T00:00:00Z',
        config: { Env: opts.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: opts.cmd ?? ['/bin/sh'] },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
        history: [{ created: '1970-01-01T00:00:00Z', created_by: 'memswitch test/helpers/image.ts' }],
      }),
    ),
  );
  const manifest = addBlob(MEDIA.manifest, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, config, layers: [layer] })));
  const tag = opts.name.slice(opts.name.lastIndexOf(':') + 1);
  writeFileSync(path.join(stage, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    path.join(stage, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.index,
      // containerd names the image after io.containerd.image.name; Docker/OCI tools read ref.name.
      manifests: [{ ...manifest, platform: PLATFORM, annotations: { 'io.containerd.image.name': opts.name, 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  // docker save's own index, for `docker load` before Docker 25 (which ignores index.json).
  writeFileSync(path.join(stage, 'manifest.json'), JSON.stringify([{ Config: blobPath(config), RepoTags: [opts.name], Layers: [blobPath(layer)] }]));

  const tmp = `${file}.tmp`;
  run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=ustar', '-C', stage, '-cf', tmp, 'oci-layout', 'index.json', 'manifest.json', 'blobs']);
  renameSync(tmp, file);
  rmSync(stage, { recursive: true, force: true });
  return { file, name: opts.name, manifestDigest: manifest.digest };
}

/** busyboxRootfs + imageArchive in `dir` (rootfs/ and busybox.tar). */
export function busyboxImage(dir: string, name = 'memswitch.test/busybox:latest'): ImageArchive {
  const rootfs = path.join(dir, 'rootfs');
  busyboxRootfs(rootfs);
  return imageArchive(rootfs, path.join(dir, 'busybox.tar'), { name, cmd: ['/bin/sh'] });
}
