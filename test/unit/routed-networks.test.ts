// Routed CNI attachments: the gateway and default route of each family, filled in once
// (a retried ADD is the same request), and what is refused, naming the field.
import { describe, expect, it } from 'vitest';
import { gatewaysOf, withGateway } from '../../orchestrator/src/domain/routed-networks.js';

const routed = (ips: { address: string; gateway?: string }[], routes: { dst: string; gw?: string }[] = []) => ({ router: 'cni', network: 'blue', ips, routes });
const refusal = (p: ReturnType<typeof routed>): string => {
  try {
    withGateway(p);
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
};

describe('withGateway', () => {
  it('gives an IPv4 attachment the first host and 0.0.0.0/0 via it, as before', () => {
    const p = withGateway(routed([{ address: '10.71.1.5/24' }]));
    expect(p.ips).toEqual([{ address: '10.71.1.5/24', gateway: '10.71.1.1' }]);
    expect(p.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.71.1.1' }]);
    expect(gatewaysOf(p)).toEqual({ 4: '10.71.1.1' });
  });

  it('gives an IPv6 attachment prefix::1 and ::/0 via it', () => {
    const p = withGateway(routed([{ address: 'fd00:71:1::5/64' }]));
    expect(p.ips).toEqual([{ address: 'fd00:71:1::5/64', gateway: 'fd00:71:1::1' }]);
    expect(p.routes).toEqual([{ dst: '::/0', gw: 'fd00:71:1::1' }]);
    expect(gatewaysOf(p)).toEqual({ 6: 'fd00:71:1::1' });
  });

  it('dual-stack: a gateway per family (IPAM\'s kept, in its canonical spelling), a default route per family, only the first address of each', () => {
    const p = withGateway(
      routed(
        [{ address: 'fd00:71:1::5/64', gateway: 'FD00:71:1:0::FE' }, { address: '10.71.1.5/24', gateway: '10.71.1.254' }, { address: 'fd00:72::5/64' }],
        [{ dst: '::/0' }, { dst: '192.0.2.0/24', gw: '10.71.1.9' }],
      ),
    );
    expect(p.ips).toEqual([
      { address: 'fd00:71:1::5/64', gateway: 'fd00:71:1::fe' },
      { address: '10.71.1.5/24', gateway: '10.71.1.254' },
      { address: 'fd00:72::5/64' },
    ]);
    expect(p.routes).toEqual([
      { dst: '::/0', gw: 'fd00:71:1::fe' },
      { dst: '192.0.2.0/24', gw: '10.71.1.9' },
      { dst: '0.0.0.0/0', gw: '10.71.1.254' },
    ]);
    expect(gatewaysOf(p)).toEqual({ 4: '10.71.1.254', 6: 'fd00:71:1::fe' });
    expect(withGateway(p)).toEqual(p); // idempotent: a retry sends what the first ADD answered
    expect(gatewaysOf({ ...p, router: undefined })).toEqual({});
  });

  it('keeps a next hop IPAM gave the default route', () => {
    const p = withGateway(routed([{ address: 'fd00:71:1::5/64' }], [{ dst: '::/0', gw: 'fd00:71:1::99' }]));
    expect(p.routes).toEqual([{ dst: '::/0', gw: 'fd00:71:1::99' }]);
  });

  it('refuses what leaves no gateway, naming the field', () => {
    expect(refusal(routed([]))).toBe('ips: a routed attachment (router cni) needs an IPv4 or IPv6 address');
    expect(refusal(routed([{ address: '10.71.1.5/31' }]))).toBe('ips[0].address: 10.71.1.5/31 leaves no address for a gateway (a routed attachment needs /30 or shorter)');
    expect(refusal(routed([{ address: '10.71.1.5/24' }, { address: 'fd00:71::5/128' }]))).toBe(
      'ips[1].address: fd00:71::5/128 leaves no address for a gateway (a routed attachment needs /127 or shorter)',
    );
    expect(refusal(routed([{ address: 'fd00:71::/127' }]))).toBe('ok'); // the other address of the /127
    expect(refusal(routed([{ address: 'fd00:71::1/127' }]))).toBe('ips[0].gateway: fd00:71::1 must be another host address of fd00:71::/127');
    expect(refusal(routed([{ address: 'fd00:71::5/64', gateway: 'fd00:72::1' }]))).toBe('ips[0].gateway: fd00:72::1 must be another host address of fd00:71::/64');
    expect(refusal(routed([{ address: 'fd00:71::5/64', gateway: 'fd00:71::5' }]))).toBe('ips[0].gateway: fd00:71::5 must be another host address of fd00:71::/64');
    expect(refusal(routed([{ address: '10.71.1.5/24', gateway: '10.71.1.255' }]))).toBe('ips[0].gateway: 10.71.1.255 must be another host address of 10.71.1.0/24');
    expect(refusal(routed([{ address: '10.71.1.5/24', gateway: 'fd00::1' }]))).toBe('ips[0].gateway: fd00::1 must be another host address of 10.71.1.0/24');
    expect(refusal(routed([{ address: '10.71.1.5/024' }]))).toMatch(/^ips\[0\]\.address: 10\.71\.1\.5\/024 must be an address with a prefix length/);
  });
});
