// The ACL commands over AclService: show acl, create acl and replace acl (rules from a
// YAML or JSON file: a list of rules with the API's field names), delete acl, bind acl
// and unbind acl; show conntrack and flush conntrack.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { actionOf, wireAction, type Acl, type AclRule, type AclStatus, type ConntrackSummary } from '../api/acl-handlers.js';
import type { ConntrackFlow } from '../domain/conntrack.js';
import { formatRule } from '../domain/acl-rules.js';
import { table, type Cli } from './common.js';

const lower = (wire: string, prefix: string): string => wire.replace(prefix, '').toLowerCase();
const DIRECTIONS = { in: 'ACL_DIRECTION_IN', out: 'ACL_DIRECTION_OUT' } as const;

function direction(d: string): (typeof DIRECTIONS)[keyof typeof DIRECTIONS] {
  if (d !== 'in' && d !== 'out') throw new Error(`--direction is in or out, not "${d}"`);
  return DIRECTIONS[d];
}

/** A file of rules: `- { action: permit, protocol: udp, dstPorts: "53" }`; action as permit, deny or permit+reflect. */
/** --interface or --network, exactly one. */
function target(o: { interface?: string; network?: string }): { interface?: string; network?: string; text: string } {
  if (!o.interface === !o.network) throw new Error('say --interface <name> or --network <name>');
  return o.network ? { network: o.network, text: `network ${o.network}` } : { interface: o.interface!, text: o.interface! };
}

function rulesFile(file: string): AclRule[] {
  const list: unknown = parseYaml(readFileSync(file, 'utf8'));
  if (!Array.isArray(list)) throw new Error(`${file}: a list of rules`);
  return list.map((r: Record<string, unknown>) => ({ ...r, action: wireAction(String(r.action ?? '')) })) as AclRule[];
}

function aclText(a: AclStatus): string {
  const bound = a.bindings.map((b) => `${b.network ? `network ${b.network}` : b.interface} ${lower(b.direction, 'ACL_DIRECTION_')}`).join(', ') || 'nowhere';
  const rows: (string | number)[][] = a.acl.rules.map((r, i) => [i, formatRule({ ...r, action: actionOf(r.action), src: r.src || undefined, dst: r.dst || undefined, protocol: r.protocol || undefined, srcPorts: r.srcPorts || undefined, dstPorts: r.dstPorts || undefined, icmp: r.icmp || undefined }), a.hits[i] ?? 0]);
  rows.push(['-', 'deny (no rule matched)', a.defaultDenied]);
  return `ACL ${a.acl.name}, bound to ${bound}\n${table(['RULE', 'MATCH', 'HITS'], rows)}`;
}

function flowsText(flows: ConntrackFlow[]): string {
  const rows = flows.map((f) => [
    f.router ? `router ${f.router}` : `${f.network}${f.vlan ? `.${f.vlan}` : ''}`,
    f.protocol,
    `${f.src}${f.srcPort || f.protocol === 'tcp' || f.protocol === 'udp' ? ` ${f.srcPort}` : ''}`,
    `${f.dst}${f.dstPort || f.protocol === 'tcp' || f.protocol === 'udp' ? ` ${f.dstPort}` : ''}`,
    f.state + (f.replied ? '' : ' (unreplied)'),
    f.ageSeconds,
    f.idleSeconds,
    f.expiresInSeconds,
  ]);
  return table(['ZONE', 'PROTO', 'FROM', 'TO', 'STATE', 'AGE s', 'IDLE s', 'EXPIRES s'], rows);
}

function summaryText(s: ConntrackSummary): string {
  const t = s.timeouts;
  return (
    `${s.flows} of ${s.capacity} flows tracked; ${s.created} opened since start, ${s.full} refused (table full)\n` +
    `timeouts: tcp established ${t.tcpEstablishedSeconds} s, tcp opening/closing ${t.tcpTransitorySeconds} s, udp ${t.udpSeconds} s, icmp ${t.icmpSeconds} s\n`
  );
}

export function addAclCommands(cmds: { show: Command; create: Command; del: Command; flush: Command; program: Command }, { run, emit, api }: Cli): void {
  const { show, create, del, flush, program } = cmds;
  show
    .command('conntrack')
    .description('flows permit+reflect rules opened: their replies pass every ACL')
    .option('--address <ip>', 'only flows with this address at either end')
    .option('--protocol <name>', 'only flows of this protocol (tcp, udp, icmp, ... or a number)')
    .option('--summary', 'the table\'s figures and timeouts only')
    .action(
      run(async (g, o: { address?: string; protocol?: string; summary?: boolean }) => {
        const summary = await api(g).getConntrackSummary();
        if (o.summary) return emit(g, summary, () => summaryText(summary));
        const flows: ConntrackFlow[] = [];
        let pageToken = '';
        do {
          const page = await api(g).listConntrack({ pageSize: 10_000, pageToken, address: o.address ?? '', protocol: o.protocol ?? '' });
          flows.push(...page.flows);
          pageToken = page.nextPageToken;
        } while (pageToken);
        emit(g, flows, () => `${summaryText(summary)}${flowsText(flows)}`);
      }),
    );
  flush
    .command('conntrack')
    .description('forget every tracked flow: their next packets are judged by the rules again')
    .action(
      run(async (g) => {
        const r = await api(g).clearConntrack();
        emit(g, r, () => `${r.flows} flows forgotten\n`);
      }),
    );
  show
    .command('acl')
    .description('ACLs: their rules with the packets each decided, and where they are bound')
    .argument('[name]')
    .action(
      run(async (g, name?: string) => {
        const acls = name ? [(await api(g).getAcl({ name })).acl] : (await api(g).listAcls()).acls;
        emit(g, acls, () => acls.map(aclText).join('\n'));
      }),
    );
  create
    .command('acl')
    .description('an ordered ACL: the first rule a packet matches decides, no match denies')
    .argument('<name>')
    .requiredOption('--rules-file <file>', 'YAML or JSON list of rules (action, src, dst, protocol, srcPorts, dstPorts, icmp)')
    .action(
      run(async (g, name: string, o: { rulesFile: string }) => {
        const acl: Acl = { name, rules: rulesFile(o.rulesFile) };
        const r = await api(g).createAcl({ acl });
        emit(g, r, () => `ACL ${name} ${r.created ? 'created' : 'unchanged'} (${acl.rules.length} rules)\n`);
      }),
    );
  program
    .command('replace')
    .description('replace what an object holds, at once')
    .command('acl')
    .description("an ACL's rules, all at once (packets meet the old rules or the new, never neither)")
    .argument('<name>')
    .requiredOption('--rules-file <file>', 'YAML or JSON list of rules')
    .action(
      run(async (g, name: string, o: { rulesFile: string }) => {
        const r = await api(g).replaceAclRules({ acl: { name, rules: rulesFile(o.rulesFile) } });
        emit(g, r.acl, () => aclText(r.acl));
      }),
    );
  del
    .command('acl')
    .argument('<name>')
    .action(
      run(async (g, name: string) => {
        await api(g).deleteAcl({ name });
        emit(g, { deleted: name }, () => `ACL ${name} deleted\n`);
      }),
    );
  program
    .command('bind')
    .description('bind an object to another')
    .command('acl')
    .description('an ACL to an interface, for what the switch receives from it (in) or sends to it (out); or to every interface of a network')
    .argument('<name>')
    .option('--interface <name>')
    .option('--network <name>', 'every interface of the network, those added later too, but those with an ACL of their own')
    .requiredOption('--direction <in|out>')
    .action(
      run(async (g, name: string, o: { interface?: string; network?: string; direction: string }) => {
        const where = target(o);
        const r = await api(g).bindAcl({ binding: { acl: name, interface: where.interface ?? '', network: where.network ?? '', direction: direction(o.direction) } });
        emit(g, r, () => `ACL ${name} ${r.created ? 'bound to' : 'already on'} ${where.text} (${o.direction})\n`);
      }),
    );
  program
    .command('unbind')
    .description('undo a bind')
    .command('acl')
    .description('whatever ACL an interface (or a network) has in a direction')
    .option('--interface <name>')
    .option('--network <name>')
    .requiredOption('--direction <in|out>')
    .action(
      run(async (g, o: { interface?: string; network?: string; direction: string }) => {
        const where = target(o);
        await api(g).unbindAcl({ interface: where.interface ?? '', network: where.network ?? '', direction: direction(o.direction) });
        emit(g, { unbound: where.text }, () => `no ACL on ${where.text} (${o.direction}) now\n`);
      }),
    );
}
