// An ACL rule as the API, the store and the CLI spell it, and what the core takes. The
// spelling is the one operators know from iptables and VPP: a protocol by name or number,
// ports as "80" or "8000-8080", ICMP as "TYPE" or "TYPE/CODE". What a rule means as a
// whole (ports need TCP, UDP or SCTP; one family) the core checks, naming the rule.
import { z } from 'zod';
import { ipPrefix, name as nameSchema } from '../config/schema.js';
import type { NativeAclRule } from '../dataplane/native.js';

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58 };

// Proto3 sends "" for what is not set: the same as absent.
const optional = <T extends z.ZodTypeAny>(t: T) => z.preprocess((v) => (v === '' ? undefined : v), t.optional());

const protocol = z.string().refine((s) => s in PROTOCOLS || (/^\d{1,3}$/.test(s) && Number(s) <= 255), 'tcp, udp, sctp, icmp, icmpv6 or a protocol number 0-255');
const portRange = z
  .string()
  .regex(/^\d{1,5}(-\d{1,5})?$/, 'a port or a range like 8000-8080')
  .refine((s) => s.split('-').every((p) => Number(p) <= 65535), 'ports are 0-65535');
const icmp = z
  .string()
  .regex(/^\d{1,3}(\/\d{1,3})?$/, 'an ICMP type, or TYPE/CODE')
  .refine((s) => s.split('/').every((p) => Number(p) <= 255), 'ICMP types and codes are 0-255');

export const aclRuleSchema = z
  .object({
    action: z.enum(['permit', 'deny', 'permit+reflect']),
    src: optional(ipPrefix),
    dst: optional(ipPrefix),
    protocol: optional(protocol),
    srcPorts: optional(portRange),
    dstPorts: optional(portRange),
    icmp: optional(icmp),
  })
  .strict();
export type AclRuleSpec = z.infer<typeof aclRuleSchema>;

/** Thousands of rules go in one call; this many at most per ACL. */
export const MAX_ACL_RULES = 65_536;
export const aclSchema = z.object({ name: nameSchema, rules: z.array(aclRuleSchema).max(MAX_ACL_RULES) }).strict();
export type AclSpec = z.infer<typeof aclSchema>;

/** A protocol number by the name rules use for it, or the number. */
export const protocolName = (proto: number): string => Object.keys(PROTOCOLS).find((k) => PROTOCOLS[k] === proto) ?? String(proto);

const range = (s: string | undefined): [number, number] | undefined => {
  if (s === undefined) return undefined;
  const [lo, hi] = s.split('-').map(Number) as [number, number?];
  return [lo, hi ?? lo];
};

export function toNativeRule(r: AclRuleSpec): NativeAclRule {
  const [type, code] = r.icmp === undefined ? [-1, -1] : (r.icmp.split('/').map(Number) as [number, number?]);
  return {
    action: r.action,
    src: r.src,
    dst: r.dst,
    proto: r.protocol === undefined ? 0 : (PROTOCOLS[r.protocol] ?? Number(r.protocol)),
    srcPorts: range(r.srcPorts),
    dstPorts: range(r.dstPorts),
    icmpType: type,
    icmpCode: code ?? -1,
  };
}

/** One line, as `show acl` prints a rule. */
export function formatRule(r: AclRuleSpec): string {
  const parts: string[] = [r.action];
  if (r.protocol) parts.push(r.protocol);
  parts.push(`from ${r.src ?? 'any'}${r.srcPorts ? ` port ${r.srcPorts}` : ''}`);
  parts.push(`to ${r.dst ?? 'any'}${r.dstPorts ? ` port ${r.dstPorts}` : ''}`);
  if (r.icmp) parts.push(`icmp ${r.icmp}`);
  return parts.join(' ');
}
