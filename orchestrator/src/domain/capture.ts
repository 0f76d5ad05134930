// A packet capture as a stream: the workers record into their rings, and this drains
// them every few milliseconds into pcapng chunks for one consumer (a gRPC call) until
// it goes away, a frame count is reached, or the interface it watches is removed.
import type { Dataplane } from '../dataplane/dataplane.js';
import { InvalidConfigError } from './errors.js';

export interface CaptureRequest {
  /** Interface names; none: every interface. */
  interfaces: string[];
  rx: boolean;
  tx: boolean;
  drops: boolean;
  /** pcap-filter(7); empty: every frame. */
  filter: string;
  snaplen?: number;
  /** Ring per worker. */
  ringBytes?: number;
  /** End after this many frames; 0: until cancelled. */
  maxFrames?: number;
}

export interface CaptureChunk {
  /** pcapng blocks; the first chunk starts with the section header. */
  pcapng: Buffer;
  frames: number;
  /** Totals so far: recorded by the workers, and lost to a full ring. */
  kept: number;
  lost: number;
}

const DRAIN_MS = 20;
const CHUNK_BYTES = 1 << 20;

/** Starts the capture and calls `write` with each chunk; returns the function that stops it. */
export function openCapture(dp: Dataplane, req: CaptureRequest, write: (c: CaptureChunk) => void, end: (err?: Error) => void): () => void {
  if (!req.rx && !req.tx && !req.drops) throw new InvalidConfigError('capture needs at least one of rx, tx, drops', 'rx');
  const id = dp.startCapture({ interfaces: req.interfaces, rx: req.rx, tx: req.tx, drops: req.drops, filter: req.filter, snaplen: req.snaplen || undefined, ringBytes: req.ringBytes || undefined });
  let sent = 0;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    try {
      dp.stopCapture(id);
    } catch {
      // the dataplane stopped first
    }
  };
  const drain = (): void => {
    try {
      for (;;) {
        const c = dp.readCapture(id, CHUNK_BYTES, req.maxFrames ? req.maxFrames - sent : undefined);
        if (c.data.length > 0 || sent === 0) write({ pcapng: c.data, frames: c.frames, kept: c.kept, lost: c.lost });
        sent += c.frames;
        if (req.maxFrames && sent >= req.maxFrames) {
          stop();
          end();
          return;
        }
        if (c.frames === 0) return;
      }
    } catch (err) {
      stop();
      end(err as Error);
    }
  };
  const timer = setInterval(drain, DRAIN_MS);
  drain();
  return stop;
}
