// What a config needs from this node that can be checked without touching anything: the
// netdevs it attaches and the namespaces it enters. A planned restart runs it before
// taking the sessions over, so a config that cannot start never stops the running switch.
import { existsSync } from 'node:fs';
import type { Config } from './schema.js';

export function preflight(config: Config): string[] {
  const problems: string[] = [];
  config.interfaces.forEach((itf, i) => {
    if (itf.kind === 'afxdp' && !existsSync(`/sys/class/net/${itf.netdev}`)) problems.push(`interfaces.${i}.netdev: ${itf.netdev} does not exist`);
    const netns = itf.kind === 'afxdp' ? undefined : itf.netns;
    if (netns && !existsSync(netns)) problems.push(`interfaces.${i}.netns: ${netns} does not exist`);
  });
  return problems;
}
