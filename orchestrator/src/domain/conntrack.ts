// Connection tracking as operators read it (`conntrack -L`, VPP's `show acl-plugin
// sessions`): the flows permit+reflect rules opened, with their router or network named,
// a page at a time and filtered by address or protocol; the table's figures; and a flush.
import { z } from 'zod';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { ConntrackStats, NativeConntrackFlow } from '../dataplane/native.js';
import { protocolName } from './acl-rules.js';
import { validate } from './routing-rules.js';

export interface ConntrackFlow {
  /** The router of a flow on a routed network; else empty, and the network and VLAN. */
  router: string;
  network: string;
  vlan: number;
  protocol: string;
  /** As the flow's first packet had them. ICMP echo: the identifier in both ports. */
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  state: NativeConntrackFlow['state'];
  replied: boolean;
  ageSeconds: number;
  idleSeconds: number;
  expiresInSeconds: number;
}

export const MAX_CONNTRACK_PAGE = 10_000;
const listSchema = z
  .object({
    pageSize: z.number().int().min(0).max(MAX_CONNTRACK_PAGE).default(0),
    pageToken: z.string().regex(/^\d*$/, 'a token from next_page_token').default(''),
    address: z.string().ip().or(z.literal('')).default(''),
    protocol: z.string().default(''),
  })
  .strict();

export class Conntrack {
  constructor(private readonly dp: Dataplane) {}

  /** A page of flows matching the filter (either end's address; protocol by name or number); nextPageToken empty at the end. */
  list(req: unknown): { flows: ConntrackFlow[]; nextPageToken: string } {
    const q = validate(listSchema, req);
    const want = q.pageSize || 100;
    const flows: ConntrackFlow[] = [];
    const zone = this.dp.zoneNamer();
    let cursor = Number(q.pageToken || '0');
    do {
      const page = this.dp.conntrackFlows(cursor, want - flows.length);
      for (const f of page.flows) {
        const flow = this.named(f, zone);
        if (q.address && f.src !== q.address && f.dst !== q.address) continue;
        if (q.protocol && flow.protocol !== q.protocol && String(f.proto) !== q.protocol) continue;
        flows.push(flow);
      }
      cursor = page.next;
    } while (cursor !== 0 && flows.length < want);
    return { flows, nextPageToken: cursor === 0 ? '' : String(cursor) };
  }

  stats(): ConntrackStats {
    return this.dp.conntrackStats();
  }

  /** Forgets every flow (their next packets are judged by the rules again); how many there were. */
  clear(): number {
    const before = this.dp.conntrackStats().flows;
    this.dp.clearConntrack();
    return before;
  }

  private named(f: NativeConntrackFlow, zone: ReturnType<Dataplane['zoneNamer']>): ConntrackFlow {
    return {
      ...zone(f.router, f.network),
      vlan: f.vlan,
      protocol: protocolName(f.proto),
      src: f.src,
      dst: f.dst,
      srcPort: f.sport,
      dstPort: f.dport,
      state: f.state,
      replied: f.replied,
      ageSeconds: f.ageS,
      idleSeconds: f.idleS,
      expiresInSeconds: f.expiresInS,
    };
  }
}
