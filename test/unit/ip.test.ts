// Addresses and prefixes of both families (domain/ip.ts): strict parsing, the one
// canonical spelling (for IPv6 what glibc's inet_ntop prints: the expected strings below
// are its output), masks, containment, overlap, and which addresses may be a host's.
import { describe, expect, it } from 'vitest';
import {
  contains,
  familyOf,
  formatIPv6,
  formatPrefix,
  hostPrefix,
  isLinkLocal,
  isUnicast,
  lastOf,
  mask,
  mask6,
  networkOf,
  nextOf,
  overlaps,
  parseCidr,
  parseIP,
  parseIPv4,
  parseIPv6,
  type IP,
} from '../../orchestrator/src/domain/ip.js';

const v6 = (s: string): bigint => {
  const a = parseIPv6(s);
  if (a === undefined) throw new Error(`${s} does not parse`);
  return a;
};
const cidr = (s: string) => parseCidr(s)!;
const ip = (s: string): IP => parseIP(s)!;

describe('IPv4', () => {
  it('parses dotted quads strictly and prefixes canonically', () => {
    for (const [s, want] of [['10.1.0.255', 0x0a0100ff], ['255.255.255.255', 0xffffffff]] as const) expect(parseIPv4(s), s).toBe(want);
    for (const bad of ['010.1.0.1', '10.1.0', '10.1.0.256', ' 10.1.0.1', '10.1.0.1/24', '']) expect(parseIPv4(bad), bad).toBeUndefined();
    expect(parseCidr('10.1.0.7/24')).toEqual({ family: 4, addr: 0x0a010007, len: 24 });
    for (const bad of ['10.1.0.7/33', '10.1.0.7/024', '10.1.0.7', '10.1.0.7/', '10.1.0.7/-1']) expect(parseCidr(bad), bad).toBeUndefined();
    for (const [s, want] of [['10.1.0.7/24', '10.1.0.0/24'], ['10.1.0.7/0', '0.0.0.0/0'], ['10.1.0.7/32', '10.1.0.7/32']] as const) expect(formatPrefix(cidr(s)), s).toBe(want);
    for (const [len, want] of [[0, 0], [32, 0xffffffff]] as const) expect(mask(len), `/${len}`).toBe(want);
    expect(lastOf(cidr('10.1.0.7/24'))).toEqual(ip('10.1.0.255'));
    expect(nextOf(networkOf(cidr('10.1.0.7/24')))).toEqual(ip('10.1.0.1'));
  });

  it.each([
    ['10.1.0.1/24', '10.1.0.200/25', true],
    ['10.1.0.1/25', '10.1.0.200/25', false],
    ['0.0.0.0/0', '192.0.2.1/32', true],
    ['10.1.0.1/24', '10.2.0.1/24', false],
  ])('knows when subnets overlap: %s and %s, %s', (a, b, want) => {
    expect(overlaps(cidr(a), cidr(b))).toBe(want);
  });
});

describe('IPv6', () => {
  it('formats as glibc inet_ntop does (RFC 5952): lower case, the longest zero run as ::, the first on a tie', () => {
    const cases: [string, string][] = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group is not compressed
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longer run
      ['2001:0:0:1:0:0:1:1', '2001::1:0:0:1:1'], // a tie: the first run
      ['2001::1:0:0:1', '2001::1:0:0:1'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['fe80:0:0:0:0:0:0:0', 'fe80::'],
      ['FD00:0:0::', 'fd00::'],
      ['fd00:0001::0a', 'fd00:1::a'],
      ['1:0:0:0:0:0:0:0', '1::'],
      ['0:0:1::', '0:0:1::'],
      ['::1:0:0:0:0', '0:0:0:1::'],
      ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      // glibc writes the last 32 bits as a dotted quad after 96 zero bits (but :: and ::1
      // and ::2 ...) and after ::ffff: (IPv4-mapped).
      ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
      ['::ffff:0:0', '::ffff:0.0.0.0'],
      ['::102:304', '::1.2.3.4'],
      ['::1:0', '::0.1.0.0'],
      ['::2', '::2'],
      ['::ffff:0:102:304', '::ffff:0:102:304'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ];
    for (const [input, want] of cases) expect(formatIPv6(v6(input)), input).toBe(want);
  });

  it('round-trips: every canonical string parses back to itself, every address formats to a string that parses to it', () => {
    let seed = 42;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let n = 0; n < 2000; n++) {
      // Mostly zero groups, so that runs and ties come often.
      const a = Array.from({ length: 8 }, () => (rnd() < 0.6 ? 0n : BigInt(Math.floor(rnd() * 65536)))).reduce((x, w) => (x << 16n) | w, 0n);
      const s = formatIPv6(a);
      expect(parseIPv6(s), s).toBe(a);
      expect(formatIPv6(parseIPv6(s)!)).toBe(s);
    }
  });

  it('rejects what inet_pton rejects', () => {
    const bad = [
      '', ':', ':::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1::2::3', '1:::2', ':1::', '1::2:', '12345::', '00000::1', 'g::',
      '1:2:3:4:5:6:7::8', // "::" stands for at least one group
      '1:2:3:4:5:6::1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4::', '::1.2.3', '::01.2.3.4', '::ffff:1.2.3.4:5',
      'fe80::1%eth0', ' ::1', '::1 ', '[::1]', '10.1.0.1',
    ];
    for (const s of bad) expect(parseIPv6(s), s).toBeUndefined();
  });

  it('parses prefixes and formats them with host bits cleared', () => {
    expect(parseCidr('fd00:1::7/64')).toEqual({ family: 6, addr: v6('fd00:1::7'), len: 64 });
    for (const s of ['fd00::/129', 'fd00::/064', 'fd00::', 'fd00::/', 'fd00::%1/64']) expect(parseCidr(s), s).toBeUndefined();
    for (const [len, want] of [['64', 'fd00:1:2:3::/64'], ['0', '::/0'], ['128', 'fd00:1:2:3:4:5:6:7/128'], ['63', 'fd00:1:2:2::/63']] as const)
      expect(formatPrefix(cidr(`fd00:1:2:3:4:5:6:7/${len}`)), `/${len}`).toBe(want);
    for (const [s, want] of [['fd00:1::1', 'fd00:1::1/128'], ['10.1.0.1', '10.1.0.1/32']] as const) expect(hostPrefix(ip(s)), s).toBe(want);
    for (const [len, want] of [[0, 0n], [128, (1n << 128n) - 1n], [1, 1n << 127n]] as const) expect(mask6(len), `/${len}`).toBe(want);
    expect(lastOf(cidr('fd00:1::7/64'))).toEqual(ip('fd00:1::ffff:ffff:ffff:ffff'));
    expect(nextOf(networkOf(cidr('fd00:1::7/64')))).toEqual(ip('fd00:1::1'));
  });

  it('contains and overlaps within a family, never across', () => {
    const containing: [string, string, boolean][] = [
      ['fd00:1::1/64', 'fd00:1::ffff', true],
      ['fd00:1::1/64', 'fd00:2::1', false],
      // ::/0 holds every IPv6 address and no IPv4 one, however the numbers compare.
      ['0.0.0.0/0', '::1.2.3.4', false],
    ];
    for (const [c, a, want] of containing) expect(contains(cidr(c), ip(a)), `${c} ${a}`).toBe(want);
    const overlapping: [string, string, boolean][] = [
      ['fd00:1::1/64', 'fd00:1:0:0:8000::1/65', true],
      ['fd00:1::1/65', 'fd00:1:0:0:8000::1/65', false],
      ['::/0', '2001:db8::1/128', true],
      ['::/0', '10.1.0.1/24', false],
      ['0.0.0.0/0', '::a01:1/120', false],
    ];
    for (const [a, b, want] of overlapping) expect(overlaps(cidr(a), cidr(b)), `${a} ${b}`).toBe(want);
  });

  it('tells host addresses from others, and link-local ones', () => {
    for (const s of ['fd00:1::1', 'fe80::1', '2001:db8::1', '::2', '::1.2.3.4', '10.1.0.1', '223.255.255.254']) expect(isUnicast(ip(s)), s).toBe(true);
    for (const s of ['::', '::1', 'ff02::1', 'ff00::', '::ffff:10.1.0.1', '0.0.0.1', '127.0.0.1', '224.0.0.1', '255.255.255.255']) expect(isUnicast(ip(s)), s).toBe(false);
    for (const s of ['fe80::1', 'febf:ffff::1']) expect(isLinkLocal(ip(s)), s).toBe(true);
    for (const s of ['fec0::1', '169.254.0.1']) expect(isLinkLocal(ip(s)), s).toBe(false);
    expect([familyOf('fd00::/64'), familyOf('10.0.0.0/8'), familyOf('::ffff:1.2.3.4')]).toEqual([6, 4, 6]);
  });
});
