// STATUS (1.1.0): 0 when memswitchd answers and every attachment of this network is in
// the dataplane and up; 50 when memswitchd does not answer (it cannot serve ADD); 51 when
// it answers but some existing containers have no forwarding (an attachment's interface
// is missing or admin down). Then the delegated IPAM's STATUS, when it speaks 1.1.0.
import { DaemonClient } from './client.js';
import type { Context } from './context.js';
import { CniError, ErrorCode } from './skel.js';

// STATUS is cheap to ask often: do not wait the whole ADD deadline for an answer.
const STATUS_TIMEOUT_MS = 2000;

export async function cmdStatus(ctx: Context): Promise<void> {
  const c = new DaemonClient(ctx.conf.apiSocket, Math.min(ctx.conf.timeoutMs, STATUS_TIMEOUT_MS));
  let down: string[];
  try {
    const { attachments } = await c.list({ cniNetwork: ctx.conf.name });
    down = attachments.filter((a) => !a.present).map((a) => `${a.key.containerId}/${a.key.ifname} (${a.interface})`);
  } catch (err) {
    throw new CniError(ErrorCode.statusNotAvailable, `memswitchd is not available on ${ctx.conf.apiSocket}`, (err as Error).message);
  } finally {
    c.close();
  }
  if (down.length > 0) {
    throw new CniError(ErrorCode.statusDegraded, `${down.length} attachment(s) of ${ctx.conf.name} are not forwarding (interface missing or admin down)`, down.join(', '));
  }
  ctx.ipam()?.forward('STATUS');
}
