// IPv4 addresses and prefixes as unsigned 32-bit numbers: parsing (strict dotted quads,
// no leading zeros, so a prefix has exactly one spelling and can key a table), masks and
// containment. Pure; the config schema and the routing domain share it.

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const DOTTED = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export interface Cidr {
  addr: number;
  len: number;
}

export function parseIPv4(s: string): number | undefined {
  const m = DOTTED.exec(s);
  if (!m) return undefined;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

export const formatIPv4 = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

/** "a.b.c.d/len" with len 0-32; host bits may be set (an interface address). */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIPv4(s.slice(0, slash));
  const len = s.slice(slash + 1);
  if (addr === undefined || !/^(3[0-2]|[12]?[0-9])$/.test(len)) return undefined;
  return { addr, len: Number(len) };
}

// `<< 32` is `<< 0` in JavaScript, hence the special case.
export const mask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

export const networkOf = (c: Cidr): number => (c.addr & mask(c.len)) >>> 0;

/** The canonical prefix of a subnet: host bits cleared. */
export const formatPrefix = (addr: number, len: number): string => `${formatIPv4((addr & mask(len)) >>> 0)}/${len}`;

export const contains = (c: Cidr, addr: number): boolean => ((addr & mask(c.len)) >>> 0) === networkOf(c);

/** Two subnets overlap when one contains the other's network. */
export const overlaps = (a: Cidr, b: Cidr): boolean => contains(a.len <= b.len ? a : b, networkOf(a.len <= b.len ? b : a));
