// One line about a frame from its first bytes, as tcpdump -e prints it: the Ethernet
// addresses, then ARP, IPv4 or IPv6 with TTL or hop limit, then TCP, UDP or ICMP. The
// trace shows it for each step, so a rewrite (TTL, MACs, an echo turned reply) is seen.

const ETHERTYPE: Record<number, string> = { 0x0800: 'IPv4', 0x0806: 'ARP', 0x86dd: 'IPv6', 0x8100: '802.1Q', 0x88a8: '802.1ad' };
const PROTO: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP', 0: 'hop-by-hop', 43: 'routing', 44: 'fragment' };
const ICMP: Record<number, string> = { 0: 'echo reply', 3: 'unreachable', 8: 'echo request', 11: 'time exceeded', 12: 'parameter problem' };
const ICMP6: Record<number, string> = { 1: 'unreachable', 2: 'packet too big', 3: 'time exceeded', 4: 'parameter problem', 128: 'echo request', 129: 'echo reply', 133: 'router solicitation', 134: 'router advertisement', 135: 'neighbor solicitation', 136: 'neighbor advertisement' };
const TCP_FLAGS = ['F', 'S', 'R', 'P', '.', 'U'];

const mac = (b: Buffer, at: number): string => [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ip4 = (b: Buffer, at: number): string => [...b.subarray(at, at + 4)].join('.');
function ip6(b: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(at + 2 * i).toString(16));
  // RFC 5952: the longest run of two or more zero groups becomes ::
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) (best = i), (bestLen = j - i);
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function transport(proto: number, b: Buffer, at: number): string {
  const name = PROTO[proto] ?? `proto ${proto}`;
  if ((proto === 6 || proto === 17 || proto === 132) && b.length >= at + 4) {
    let s = `${name} ${b.readUInt16BE(at)} > ${b.readUInt16BE(at + 2)}`;
    if (proto === 6 && b.length >= at + 14) s += ` [${TCP_FLAGS.filter((_, i) => b[at + 13]! & (1 << i)).join('') || 'none'}]`;
    return s;
  }
  if ((proto === 1 || proto === 58) && b.length >= at + 2) {
    const type = b[at]!;
    const names = proto === 1 ? ICMP : ICMP6;
    return `${name} ${names[type] ?? `type ${type}`}${b[at + 1] ? ` code ${b[at + 1]}` : ''}`;
  }
  return name;
}

function ip(b: Buffer, at: number): string {
  if (b.length < at + 1) return 'truncated';
  const version = b[at]! >> 4;
  if (version === 4 && b.length >= at + 20) {
    const ihl = (b[at]! & 0xf) * 4;
    const frag = b.readUInt16BE(at + 6);
    const fragment = frag & 0x3fff ? `, fragment offset ${(frag & 0x1fff) * 8}${frag & 0x2000 ? '+' : ''}` : '';
    return `IPv4 ${ip4(b, at + 12)} > ${ip4(b, at + 16)}, ttl ${b[at + 8]}${fragment}, ${frag & 0x1fff ? PROTO[b[at + 9]!] ?? `proto ${b[at + 9]}` : transport(b[at + 9]!, b, at + ihl)}`;
  }
  if (version === 6 && b.length >= at + 40) return `IPv6 ${ip6(b, at + 8)} > ${ip6(b, at + 24)}, hop limit ${b[at + 7]}, ${transport(b[at + 6]!, b, at + 40)}`;
  return `IP version ${version}, truncated`;
}

/** `bytes` are the frame's first bytes of `length`; `ethernet` false: they start at the IP header. */
export function describeFrame(bytes: Buffer, length: number, ethernet: boolean): string {
  if (bytes.length === 0) return `${length} bytes (not read: refused at receive)`;
  if (!ethernet) return `${ip(bytes, 0)}, length ${length}`;
  if (bytes.length < 14) return `runt, length ${length}`;
  let at = 12;
  let vlan = '';
  let type = bytes.readUInt16BE(at);
  while ((type === 0x8100 || type === 0x88a8) && bytes.length >= at + 6) {
    vlan += `, vlan ${bytes.readUInt16BE(at + 2) & 0xfff}`;
    at += 4;
    type = bytes.readUInt16BE(at);
  }
  const head = `${mac(bytes, 6)} > ${mac(bytes, 0)}${vlan}`;
  at += 2;
  let rest: string;
  if (type === 0x0806 && bytes.length >= at + 28) {
    const op = bytes.readUInt16BE(at + 6);
    rest = op === 1 ? `ARP who-has ${ip4(bytes, at + 24)} tell ${ip4(bytes, at + 14)}` : op === 2 ? `ARP ${ip4(bytes, at + 14)} is-at ${mac(bytes, at + 8)}` : `ARP op ${op}`;
  } else if (type === 0x0800 || type === 0x86dd) {
    rest = ip(bytes, at);
  } else {
    rest = `ethertype ${ETHERTYPE[type] ?? `0x${type.toString(16).padStart(4, '0')}`}`;
  }
  return `${head}, ${rest}, length ${length}`;
}
