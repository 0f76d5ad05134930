// STATUS (1.1.0), cni-notes §10:
//   0   memswitchd answers, its workers make progress, and every attachment of this
//       network is in the dataplane and up;
//   50  memswitchd does not answer, or its datapath is stalled and no container of this
//       network is attached yet: it cannot serve ADD;
//   51  memswitchd answers, but existing containers have no forwarding: a worker is stalled,
//       or an attachment's interface is missing or admin down.
// Then the delegated IPAM's STATUS, when it speaks 1.1.0.
import { DaemonClient } from './client.js';
import type { Context } from './context.js';
import { CniError, ErrorCode } from './skel.js';

// STATUS is cheap to ask often: do not wait the whole ADD deadline for an answer.
const STATUS_TIMEOUT_MS = 2000;

export async function cmdStatus(ctx: Context): Promise<void> {
  const c = new DaemonClient(ctx.conf.apiSocket, Math.min(ctx.conf.timeoutMs, STATUS_TIMEOUT_MS));
  let stalled: number[];
  let down: string[];
  let attached: number;
  try {
    const [info, { attachments }] = await Promise.all([c.info(), c.list({ cniNetwork: ctx.conf.name })]);
    stalled = info.workers.filter((w) => w.stalled).map((w) => w.index);
    down = attachments.filter((a) => !a.present).map((a) => `${a.key.containerId}/${a.key.ifname} (${a.interface})`);
    attached = attachments.length;
  } catch (err) {
    throw new CniError(ErrorCode.statusNotAvailable, `memswitchd is not available on ${ctx.conf.apiSocket}`, (err as Error).message);
  } finally {
    c.close();
  }
  if (stalled.length > 0) {
    const what = `the datapath is stalled: worker ${stalled.join(', ')} makes no progress`;
    throw attached > 0 ? new CniError(ErrorCode.statusDegraded, `${what}; ${attached} attachment(s) of ${ctx.conf.name} are not forwarding`) : new CniError(ErrorCode.statusNotAvailable, what);
  }
  if (down.length > 0) {
    throw new CniError(ErrorCode.statusDegraded, `${down.length} attachment(s) of ${ctx.conf.name} are not forwarding (interface missing or admin down)`, down.join(', '));
  }
  ctx.ipam()?.forward('STATUS');
}
