// IP addresses and prefixes of both families: IPv4 as unsigned 32-bit numbers (a million
// routes are checked on a load, and numbers keep that fast), IPv6 as 128-bit bigints.
// Parsing is strict and formatting canonical, so an address or a prefix has exactly one
// spelling and can key a table: IPv4 as dotted quads without leading zeros, IPv6 as glibc's
// inet_ntop prints it (RFC 5952, and the dotted quad in the last 32 bits for ::a.b.c.d and
// ::ffff:a.b.c.d), which is what the addon answers. Pure; the config schema and the routing
// domain share it.

export type Family = 4 | 6;
export type IP = { family: 4; addr: number } | { family: 6; addr: bigint };
/** An address with a prefix length; host bits may be set (an interface address). */
export type Cidr = IP & { len: number };

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const DOTTED = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

export function parseIPv4(s: string): number | undefined {
  const m = DOTTED.exec(s);
  if (!m) return undefined;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

export const formatIPv4 = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

// Between bigints and 16-bit words 32 bits at a time: bigint operations are what an
// IPv6 route's check costs (a million of them are a load), so as few as can be.
const SHIFTS = [96n, 64n, 32n, 0n];

/** RFC 4291 text forms, as glibc's inet_pton takes them: "::" for one or more zero groups, a dotted quad for the last 32 bits. */
export function parseIPv6(s: string): bigint | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const w: number[] = [];
  let gap = -1; // where "::" stands, in words
  for (let h = 0; h < halves.length; h++) {
    if (h === 1) gap = w.length;
    if (halves[h] === '') continue;
    const parts = halves[h]!.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      const quad = h === halves.length - 1 && i === parts.length - 1 ? parseIPv4(p) : undefined;
      if (HEX_GROUP.test(p)) w.push(parseInt(p, 16));
      else if (quad !== undefined) w.push(quad >>> 16, quad & 0xffff);
      else return undefined;
    }
  }
  if (gap < 0 ? w.length !== 8 : w.length > 7) return undefined;
  if (gap >= 0) w.splice(gap, 0, ...Array<number>(8 - w.length).fill(0));
  let a = 0n;
  for (let i = 0; i < 8; i += 2) a = (a << 32n) | BigInt(((w[i]! << 16) | w[i + 1]!) >>> 0);
  return a;
}

/** glibc's inet_ntop: the longest run of two or more zero groups (the first on a tie) as "::". */
export function formatIPv6(a: bigint): string {
  const w: number[] = [];
  for (const k of SHIFTS) {
    const d = Number(BigInt.asUintN(32, a >> k));
    w.push(d >>> 16, d & 0xffff);
  }
  let base = -1;
  let len = 0;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > len) [base, len] = [i, j - i];
    i = j + 1;
  }
  if (len < 2) [base, len] = [-1, 0];
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i >= base && i < base + len) {
      if (i === base) out += ':';
      continue;
    }
    if (i > 0) out += ':';
    if (i === 6 && base === 0 && (len === 6 || (len === 5 && w[5] === 0xffff))) return out + formatIPv4(((w[6]! << 16) | w[7]!) >>> 0);
    out += w[i]!.toString(16);
  }
  return base + len === 8 ? `${out}:` : out;
}

/** The family of an address or prefix: no IPv4 spelling has a ":", every IPv6 one does. */
export const familyOf = (s: string): Family => (s.includes(':') ? 6 : 4);

export function parseIP(s: string): IP | undefined {
  if (familyOf(s) === 4) {
    const addr = parseIPv4(s);
    return addr === undefined ? undefined : { family: 4, addr };
  }
  const addr = parseIPv6(s);
  return addr === undefined ? undefined : { family: 6, addr };
}

export const formatIP = (ip: IP): string => (ip.family === 4 ? formatIPv4(ip.addr) : formatIPv6(ip.addr));

export const maxLen = (f: Family): number => (f === 4 ? 32 : 128);

const LEN = /^(0|[1-9][0-9]{0,2})$/;

/** "address/len" with len 0-32 (IPv4) or 0-128 (IPv6), no leading zeros. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const a = s.slice(0, slash);
  const l = s.slice(slash + 1);
  if (!LEN.test(l)) return undefined;
  const len = Number(l);
  // Written out per family rather than through parseIP: one object per route on a load.
  if (familyOf(a) === 4) {
    const addr = parseIPv4(a);
    return addr === undefined || len > 32 ? undefined : { family: 4, addr, len };
  }
  const addr = parseIPv6(a);
  return addr === undefined || len > 128 ? undefined : { family: 6, addr, len };
}

// `<< 32` is `<< 0` in JavaScript, hence the special case.
export const mask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
const ALL6 = (1n << 128n) - 1n;
export const mask6 = (len: number): bigint => (ALL6 << BigInt(128 - len)) & ALL6;

/** The subnet's first address (host bits cleared). */
export const networkOf = (c: Cidr): IP => (c.family === 4 ? { family: 4, addr: (c.addr & mask(c.len)) >>> 0 } : { family: 6, addr: c.addr & mask6(c.len) });

/** The subnet's last address (host bits set): IPv4's broadcast address. */
export const lastOf = (c: Cidr): IP =>
  c.family === 4 ? { family: 4, addr: (c.addr | ~mask(c.len)) >>> 0 } : { family: 6, addr: c.addr | (ALL6 ^ mask6(c.len)) };

/** The address after `ip` (wrapping at the family's end). */
export const nextOf = (ip: IP): IP => (ip.family === 4 ? { family: 4, addr: (ip.addr + 1) >>> 0 } : { family: 6, addr: (ip.addr + 1n) & ALL6 });

export const sameIP = (a: IP, b: IP): boolean => a.family === b.family && a.addr === b.addr;

/** The canonical prefix of a subnet: host bits cleared. */
export const formatPrefix = (c: Cidr): string =>
  `${c.family === 4 ? formatIPv4((c.addr & mask(c.len)) >>> 0) : formatIPv6(c.addr & mask6(c.len))}/${c.len}`;

/** An address's own prefix: /32 or /128 (its local route). */
export const hostPrefix = (ip: IP): string => `${formatIP(ip)}/${maxLen(ip.family)}`;

export const contains = (c: Cidr, ip: IP): boolean => ip.family === c.family && sameIP(networkOf({ ...ip, len: c.len }), networkOf(c));

/** Two subnets overlap when one contains the other's network; subnets of two families never do. */
export const overlaps = (a: Cidr, b: Cidr): boolean => contains(a.len <= b.len ? a : b, networkOf(a.len <= b.len ? b : a));

const LINK_LOCAL: Cidr = { family: 6, addr: 0xfe80n << 112n, len: 10 };

/** fe80::/10: valid on every link, so in no one subnet. */
export const isLinkLocal = (ip: IP): boolean => contains(LINK_LOCAL, ip);

export const isUnicastIPv4 = (a: number): boolean => a >>> 24 !== 0 && a >>> 24 !== 127 && a >>> 24 < 224;

/**
 * May be a host's address: not IPv4 0/8, 127/8 or 224/3; not IPv6 ::, ::1, multicast
 * (ff00::/8) or IPv4-mapped (::ffff:0:0/96, an IPv4 host).
 */
export function isUnicast(ip: IP): boolean {
  if (ip.family === 4) return isUnicastIPv4(ip.addr);
  return ip.addr > 1n && ip.addr >> 120n !== 0xffn && ip.addr >> 32n !== 0xffffn;
}
