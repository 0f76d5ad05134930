// DEL: best effort and idempotent. Succeeds for anything already gone, with an empty or
// missing netns, and while memswitchd is down: then the request is spooled to spoolDir
// and memswitchd replays it when it starts.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { toCniError, DaemonError } from './client.js';
import { spoolName, type Context } from './context.js';

export async function cmdDel(ctx: Context): Promise<void> {
  ctx.ipam()?.del(); // host-local (and every reference IPAM) treats a missing lease as success
  await detachOrSpool(ctx);
  const deviceInfo = ctx.conf.runtimeConfig?.CNIDeviceInfoFile;
  if (deviceInfo) rmSync(deviceInfo, { force: true });
}

/** Detach in memswitchd; if it cannot be reached, spool the request for its next start. */
export async function detachOrSpool(ctx: Context): Promise<void> {
  const { conf, log } = ctx;
  try {
    const r = await ctx.daemon().detach({ key: ctx.key });
    log('info', r.detached ? 'detached' : 'nothing to detach');
  } catch (err) {
    if (!(err instanceof DaemonError) || !err.transient) throw toCniError(err, 'detach');
    mkdirSync(conf.spoolDir, { recursive: true, mode: 0o700 });
    const file = path.join(conf.spoolDir, spoolName(ctx.key));
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ key: ctx.key, spooledUnixMs: Date.now() }), { mode: 0o600 });
    renameSync(tmp, file);
    log('warn', 'memswitchd unreachable: DEL spooled for replay at its start', { spool: file, err: err.details });
  }
}
