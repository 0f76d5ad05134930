// ACL rules as the API spells them, and what the core gets.
import { describe, expect, it } from 'vitest';
import { aclSchema, formatRule, toNativeRule } from '../../orchestrator/src/domain/acl-rules.js';
import { InvalidConfigError } from '../../orchestrator/src/domain/errors.js';
import { validate } from '../../orchestrator/src/domain/routing-rules.js';

describe('ACL rules', () => {
  it('turns names, ranges and TYPE/CODE into what the core matches', () => {
    const { rules } = validate(aclSchema, {
      name: 'web',
      rules: [
        { action: 'permit', protocol: 'tcp', src: '10.1.0.0/16', dstPorts: '8000-8080' },
        { action: 'deny', protocol: 'icmpv6', icmp: '128/0', dst: 'fd00::/8', src: '' },
        { action: 'permit', protocol: '47', srcPorts: '' },
        { action: 'permit+reflect', protocol: 'udp' },
      ],
    });
    expect(rules.map(toNativeRule)).toEqual([
      { action: 'permit', src: '10.1.0.0/16', dst: undefined, proto: 6, srcPorts: undefined, dstPorts: [8000, 8080], icmpType: -1, icmpCode: -1 },
      { action: 'deny', src: undefined, dst: 'fd00::/8', proto: 58, srcPorts: undefined, dstPorts: undefined, icmpType: 128, icmpCode: 0 },
      { action: 'permit', src: undefined, dst: undefined, proto: 47, srcPorts: undefined, dstPorts: undefined, icmpType: -1, icmpCode: -1 },
      { action: 'permit+reflect', src: undefined, dst: undefined, proto: 17, srcPorts: undefined, dstPorts: undefined, icmpType: -1, icmpCode: -1 },
    ]);
    expect(rules.map(formatRule)).toEqual(['permit tcp from 10.1.0.0/16 to any port 8000-8080', 'deny icmpv6 from any to fd00::/8 icmp 128/0', 'permit 47 from any to any', 'permit+reflect udp from any to any']);
  });

  it('names the field of a rule it cannot read', () => {
    const bad = (rule: object): string => {
      try {
        validate(aclSchema, { name: 'x', rules: [{ action: 'permit' }, rule] });
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ action: 'allow' })).toMatch(/^rules\[1\]\.action: /);
    expect(bad({ action: 'permit', protocol: '256' })).toMatch(/^rules\[1\]\.protocol: tcp, udp, sctp, icmp, icmpv6 or a protocol number 0-255/);
    expect(bad({ action: 'permit', dstPorts: '70000' })).toMatch(/^rules\[1\]\.dst_ports: ports are 0-65535/);
    expect(bad({ action: 'permit', dstPorts: '80-' })).toMatch(/^rules\[1\]\.dst_ports: a port or a range/);
    expect(bad({ action: 'permit', icmp: '8/300' })).toMatch(/^rules\[1\]\.icmp: ICMP types and codes are 0-255/);
    expect(bad({ action: 'permit', dst: '10.0.0.0/33' })).toMatch(/^rules\[1\]\.dst: /);
    expect(bad({ action: 'permit', port: '80' })).toMatch(/unknown field\(s\) port/);
  });
});
