// CHECK: the attachment exists in memswitchd, its switch port is present, the netns is
// there, what the runtime cached (prevResult) still matches, the veth carries its
// addresses (and a routed network's default routes), a routed network's router still
// holds the gateways; then IPAM CHECK.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DaemonError, toCniError } from './client.js';
import { Status } from './grpc.js';
import type { Context } from './context.js';
import type { CniInterface, CniIp } from './result.js';
import { CniError, ErrorCode } from './skel.js';

const fail = (msg: string, details = ''): CniError => new CniError(ErrorCode.checkFailed, msg, details);

export async function cmdCheck(ctx: Context): Promise<void> {
  const { args, conf } = ctx;
  const prev = conf.prevResult;
  if (!prev) throw new CniError(ErrorCode.invalidConfig, 'invalid network config: prevResult: required for CHECK');
  if (!existsSync(args.netns)) throw fail(`CNI_NETNS: ${args.netns} does not exist`);
  const a = (
    await ctx.daemon().get({ key: ctx.key }).catch((err: unknown) => {
      if (err instanceof DaemonError && err.status === Status.NOT_FOUND) throw fail(`no attachment ${args.containerId}/${args.ifname} in memswitchd`);
      throw toCniError(err, 'check');
    })
  ).attachment;
  if (!a.present) throw fail(`the switch port ${a.interface} of ${args.ifname} is missing or admin down`);
  if (a.netns !== args.netns) throw fail(`attached in ${a.netns}, not in ${args.netns}`);

  const interfaces = Array.isArray(prev.interfaces) ? (prev.interfaces as CniInterface[]) : [];
  const index = interfaces.findIndex((i) => i.name === args.ifname && (i.sandbox ?? '') === args.netns);
  if (index < 0) throw fail(`prevResult has no interface ${args.ifname} in ${args.netns}`);
  if (interfaces[index]!.mac && interfaces[index]!.mac!.toLowerCase() !== a.mac) throw fail(`MAC of ${args.ifname} is ${a.mac}, prevResult says ${interfaces[index]!.mac}`);
  const want = (Array.isArray(prev.ips) ? (prev.ips as CniIp[]) : []).filter((i) => i.interface === index).map((i) => i.address).sort();
  const have = a.ips.map((i) => i.address).sort();
  if (JSON.stringify(want) !== JSON.stringify(have)) throw fail(`addresses of ${args.ifname} are [${have.join(' ')}], prevResult says [${want.join(' ')}]`);
  if (a.router && !a.gatewayPresent)
    throw fail(`router ${a.router} has no interface on network ${a.network} holding the gateway ${[a.gateway, a.gateway6].filter(Boolean).join(' and ')}`);

  if (a.kind === 'ATTACHMENT_KIND_VETH') {
    if (!a.connected) throw fail(`the switch port ${a.interface} of ${args.ifname} is not attached (AF_XDP)`);
    const ip = (what: string[]): string => execFileSync('nsenter', [`--net=${args.netns}`, 'ip', '-o', ...what, 'dev', args.ifname], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    let shown: string;
    try {
      shown = ip(['addr', 'show']);
    } catch {
      throw fail(`no interface ${args.ifname} in ${args.netns}`);
    }
    for (const addr of want) if (!shown.includes(` ${addr} `)) throw fail(`${args.ifname} in ${args.netns} lacks ${addr}`);
    for (const [family, dst] of [['-4', '0.0.0.0/0'], ['-6', '::/0']] as const) {
      const via = a.router ? a.routes.find((r) => r.dst === dst)?.gw : undefined;
      if (via && !ip([family, 'route', 'show', 'default']).includes(`via ${via} `)) throw fail(`${args.ifname} in ${args.netns} has no default route via ${via}`);
    }
  }
  ctx.ipam()?.check();
}
