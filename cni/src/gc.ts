// GC (1.1.0): memswitchd removes this network's attachments that are not in the valid
// list (cni.dev/valid-attachments; cni.dev/attachments as the spec-1.1.0 tag spelled
// it); then GC goes to IPAM. Both run even if one fails; every error is reported.
import { toCniError } from './client.js';
import type { Context } from './context.js';
import { CniError, ErrorCode } from './skel.js';

export async function cmdGc(ctx: Context): Promise<void> {
  const { conf, log } = ctx;
  const valid = conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments'] ?? [];
  const errors: CniError[] = [];
  try {
    const r = await ctx.daemon().gc({ cniNetwork: conf.name, valid: valid.map((v) => ({ containerId: v.containerID, ifname: v.ifname })) });
    log('info', 'gc', { removed: r.removed.map((k) => `${k.containerId}/${k.ifname}`) });
  } catch (err) {
    errors.push(toCniError(err, 'gc'));
  }
  try {
    ctx.ipam()?.forward('GC');
  } catch (err) {
    errors.push(err instanceof CniError ? err : new CniError(ErrorCode.daemonFailed, (err as Error).message));
  }
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) throw new CniError(errors[0]!.code, 'gc failed', errors.map((e) => e.message).join('; '));
}
