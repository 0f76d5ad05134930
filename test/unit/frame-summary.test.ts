// The trace's one-line frame summaries, against frames whose bytes are spelled out here.
import { describe, expect, it } from 'vitest';
import { describeFrame } from '../../orchestrator/src/domain/frame-summary.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const eth = (type: string): string => `020000000002 020000000001 ${type}`;
// IPv4 header: 10.0.0.1 > 10.0.0.2, TTL 64, protocol `proto`, fragment field `frag`.
const ip4 = (proto: string, frag = '0000'): string => `4500 0054 1234 ${frag} 40${proto} 0000 0a000001 0a000002`;

describe('describeFrame', () => {
  it('reads Ethernet, IPv4 and the transport', () => {
    expect(describeFrame(hex(`${eth('0800')} ${ip4('11')} 03e8 07d0 0020 0000`), 74, true)).toBe(
      '02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 10.0.0.1 > 10.0.0.2, ttl 64, UDP 1000 > 2000, length 74',
    );
    expect(describeFrame(hex(`${eth('0800')} ${ip4('06')} 0050 c000 00000001 00000000 5012 ffff`), 54, true)).toMatch(/TCP 80 > 49152 \[S\.\], length 54$/);
    expect(describeFrame(hex(`${eth('0800')} ${ip4('01')} 0800 0000`), 98, true)).toMatch(/ICMP echo request, length 98$/);
    expect(describeFrame(hex(`${eth('0800')} ${ip4('01')} 0b00 0000`), 70, true)).toMatch(/ICMP time exceeded, length 70$/);
  });

  it('says a later fragment has no transport header', () => {
    expect(describeFrame(hex(`${eth('0800')} ${ip4('11', '00b9')} 0000`), 60, true)).toMatch(/IPv4 10\.0\.0\.1 > 10\.0\.0\.2, ttl 64, fragment offset 1480, UDP, length 60$/);
    expect(describeFrame(hex(`${eth('0800')} ${ip4('11', '2000')} 03e8 07d0`), 1514, true)).toMatch(/fragment offset 0\+, UDP 1000 > 2000/);
  });

  it('reads VLAN tags, ARP and unknown ethertypes', () => {
    expect(describeFrame(hex(`${eth('8100')} 0064 0806 0001 0800 0604 0001 020000000001 0a000001 000000000000 0a000002`), 46, true)).toBe(
      '02:00:00:00:00:01 > 02:00:00:00:00:02, vlan 100, ARP who-has 10.0.0.2 tell 10.0.0.1, length 46',
    );
    expect(describeFrame(hex(`${eth('88b5')} 00`), 60, true)).toBe('02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 0x88b5, length 60');
  });

  it('reads IPv6 with compressed addresses, and ip-mode frames without Ethernet', () => {
    const v6 = `6000 0000 0010 3a40 fd000000000000000000000000000001 fe800000000000000000000000000002 8000 0000`;
    expect(describeFrame(hex(v6), 56, false)).toBe('IPv6 fd00::1 > fe80::2, hop limit 64, ICMPv6 echo request, length 56');
    expect(describeFrame(hex(`${eth('86dd')} ${v6}`), 70, true)).toMatch(/, IPv6 fd00::1 > fe80::2, hop limit 64, ICMPv6 echo request, length 70$/);
  });

  it('says what it cannot read', () => {
    expect(describeFrame(Buffer.alloc(0), 1500, true)).toBe('1500 bytes (not read: refused at receive)');
    expect(describeFrame(hex('0200'), 2, true)).toBe('runt, length 2');
    expect(describeFrame(hex(`${eth('0800')} 4500`), 16, true)).toMatch(/IP version 4, truncated, length 16$/);
  });
});
