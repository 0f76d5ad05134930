// The ACL commands over AclService: show acl, create acl and replace acl (rules from a
// YAML or JSON file: a list of rules with the API's field names), delete acl, bind acl
// and unbind acl.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { Acl, AclRule, AclStatus } from '../api/acl-handlers.js';
import { formatRule } from '../domain/acl-rules.js';
import { table, type Cli } from './common.js';

const lower = (wire: string, prefix: string): string => wire.replace(prefix, '').toLowerCase();
const DIRECTIONS = { in: 'ACL_DIRECTION_IN', out: 'ACL_DIRECTION_OUT' } as const;

function direction(d: string): (typeof DIRECTIONS)[keyof typeof DIRECTIONS] {
  if (d !== 'in' && d !== 'out') throw new Error(`--direction is in or out, not "${d}"`);
  return DIRECTIONS[d];
}

/** A file of rules: `- { action: permit, protocol: udp, dstPorts: "53" }`; action as permit or deny. */
function rulesFile(file: string): AclRule[] {
  const list: unknown = parseYaml(readFileSync(file, 'utf8'));
  if (!Array.isArray(list)) throw new Error(`${file}: a list of rules`);
  return list.map((r: Record<string, unknown>) => ({
    ...r,
    action: r.action === 'permit' ? 'ACL_ACTION_PERMIT' : r.action === 'deny' ? 'ACL_ACTION_DENY' : (r.action as AclRule['action']),
  })) as AclRule[];
}

function aclText(a: AclStatus): string {
  const bound = a.bindings.map((b) => `${b.interface} ${lower(b.direction, 'ACL_DIRECTION_')}`).join(', ') || 'nowhere';
  const rows: (string | number)[][] = a.acl.rules.map((r, i) => [i, formatRule({ ...r, action: r.action === 'ACL_ACTION_PERMIT' ? 'permit' : 'deny', src: r.src || undefined, dst: r.dst || undefined, protocol: r.protocol || undefined, srcPorts: r.srcPorts || undefined, dstPorts: r.dstPorts || undefined, icmp: r.icmp || undefined }), a.hits[i] ?? 0]);
  rows.push(['-', 'deny (no rule matched)', a.defaultDenied]);
  return `ACL ${a.acl.name}, bound to ${bound}\n${table(['RULE', 'MATCH', 'HITS'], rows)}`;
}

export function addAclCommands(cmds: { show: Command; create: Command; del: Command; program: Command }, { run, emit, api }: Cli): void {
  const { show, create, del, program } = cmds;
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
    .description('an ACL to an interface, for what the switch receives from it (in) or sends to it (out)')
    .argument('<name>')
    .requiredOption('--interface <name>')
    .requiredOption('--direction <in|out>')
    .action(
      run(async (g, name: string, o: { interface: string; direction: string }) => {
        const r = await api(g).bindAcl({ binding: { acl: name, interface: o.interface, direction: direction(o.direction) } });
        emit(g, r, () => `ACL ${name} ${r.created ? 'bound to' : 'already on'} ${o.interface} (${o.direction})\n`);
      }),
    );
  program
    .command('unbind')
    .description('undo a bind')
    .command('acl')
    .description('whatever ACL an interface has in a direction')
    .requiredOption('--interface <name>')
    .requiredOption('--direction <in|out>')
    .action(
      run(async (g, o: { interface: string; direction: string }) => {
        await api(g).unbindAcl({ interface: o.interface, direction: direction(o.direction) });
        emit(g, { unbound: o.interface }, () => `no ACL on ${o.interface} (${o.direction}) now\n`);
      }),
    );
}
