// Frames out of a capture file, pcapng (ours) or classic pcap (what tcpdump -w writes),
// so tests compare what was captured byte for byte. Little-endian files only: both
// writers here run on x86.
import { readFileSync } from 'node:fs';

export interface CapturedFrame {
  interfaceId: number;
  wireLength: number;
  data: Buffer;
  comment?: string;
  /** pcapng epb_flags direction: 1 inbound, 2 outbound. */
  direction?: number;
}

export function readCaptureFile(path: string): CapturedFrame[] {
  const buf = readFileSync(path);
  const magic = buf.readUInt32LE(0);
  if (magic === 0x0a0d0d0a) return readPcapng(buf);
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) return readPcap(buf);
  throw new Error(`${path}: neither pcapng nor pcap (magic ${magic.toString(16)})`);
}

function readPcap(buf: Buffer): CapturedFrame[] {
  const out: CapturedFrame[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const capLen = buf.readUInt32LE(off + 8);
    out.push({ interfaceId: 0, wireLength: buf.readUInt32LE(off + 12), data: buf.subarray(off + 16, off + 16 + capLen) });
    off += 16 + capLen;
  }
  return out;
}

function readPcapng(buf: Buffer): CapturedFrame[] {
  const out: CapturedFrame[] = [];
  for (let off = 0; off + 12 <= buf.length; ) {
    const type = buf.readUInt32LE(off);
    const total = buf.readUInt32LE(off + 4);
    if (total < 12 || off + total > buf.length) throw new Error(`pcapng block at ${off}: bad length ${total}`);
    if (buf.readUInt32LE(off + total - 4) !== total) throw new Error(`pcapng block at ${off}: trailing length differs`);
    if (type === 6) {
      const capLen = buf.readUInt32LE(off + 20);
      const frame: CapturedFrame = {
        interfaceId: buf.readUInt32LE(off + 8),
        wireLength: buf.readUInt32LE(off + 24),
        data: buf.subarray(off + 28, off + 28 + capLen),
      };
      for (let o = off + 28 + Math.ceil(capLen / 4) * 4; o + 4 <= off + total - 4; ) {
        const code = buf.readUInt16LE(o);
        const len = buf.readUInt16LE(o + 2);
        if (code === 0) break;
        if (code === 1) frame.comment = buf.toString('utf8', o + 4, o + 4 + len);
        if (code === 2) frame.direction = buf.readUInt32LE(o + 4) & 3;
        o += 4 + Math.ceil(len / 4) * 4;
      }
      out.push(frame);
    }
    off += total;
  }
  return out;
}
