// STATUS (1.1.0): 0 when memswitchd answers (ready for ADD), 50 when it does not; then
// the delegated IPAM's STATUS, when it speaks 1.1.0.
import { DaemonClient } from './client.js';
import type { Context } from './context.js';
import { CniError, ErrorCode } from './skel.js';

// STATUS is cheap to ask often: do not wait the whole ADD deadline for an answer.
const STATUS_TIMEOUT_MS = 2000;

export async function cmdStatus(ctx: Context): Promise<void> {
  const c = new DaemonClient(ctx.conf.apiSocket, Math.min(ctx.conf.timeoutMs, STATUS_TIMEOUT_MS));
  try {
    await c.info();
  } catch (err) {
    throw new CniError(ErrorCode.statusNotAvailable, `memswitchd is not available on ${ctx.conf.apiSocket}`, (err as Error).message);
  } finally {
    c.close();
  }
  ctx.ipam()?.forward('STATUS');
}
