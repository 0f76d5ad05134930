// A packet trace as a stream of packets: the workers record each traced frame's steps
// into their rings; this drains them every few milliseconds, groups the steps by packet,
// says in words what each step decided, and hands each packet on once its steps are in
// (none came in the last drain). It ends when the trace has taken all its packets and
// every step is out, or when the consumer goes.
import type { Dataplane, TraceChunk, TraceStepNamed } from '../dataplane/dataplane.js';
import { InvalidConfigError } from './errors.js';
import { describeFrame } from './frame-summary.js';

export interface TraceRequest {
  /** Where frames enter; none: every interface. */
  interfaces: string[];
  /** pcap-filter(7); empty: every frame. */
  filter: string;
  /** Frames to follow, 1 to 100000. */
  packets: number;
}

export interface TraceStepView extends Omit<TraceStepNamed, 'packet' | 'worker' | 'startNs' | 'routerInterface' | 'nextHop'> {
  routerInterface: string;
  nextHop: string;
  /** The frame as its bytes read after this step (tcpdump -e style). */
  summary: string;
  /** What the step did with it, in words. */
  decision: string;
}

export interface TracedPacket {
  /** From 0, in the order the workers took frames. */
  number: number;
  worker: number;
  /** Where it came in. */
  interface: string;
  /** When it was taken at rx, ns since the Unix epoch. */
  startTimeUnixNano: string;
  steps: TraceStepView[];
}

export const MAX_TRACE_PACKETS = 100_000;
const DRAIN_MS = 20;
const STEPS_PER_READ = 65_536;

// What one step did, given the step before it for the same frame (none: its first).
function decision(s: TraceStepNamed, before: TraceStepNamed | undefined): string {
  if (s.node === 'rx') return s.drop ? `refused at receive: ${s.drop}` : `received on ${s.interface}`;
  if (s.node === 'tx') return s.drop ? `dropped at transmit to ${s.interface}: ${s.drop}` : `sent on ${s.interface}`;
  if (s.drop && s.drop !== before?.drop) return `dropped: ${s.drop}`;
  const said: string[] = [];
  if (!before) said.push(`made for this packet by ${s.node}`);
  if (s.nextHop && s.next === 'neighbor') said.push(`route out ${s.routerInterface} via ${s.nextHop}`);
  const planned = s.egressCount - (before?.egressCount ?? 0);
  if (planned < 0) said.push(`denied towards ${-planned} of the interfaces planned`);
  if (planned > 0) {
    const named = s.egress.slice(before?.egress.length ?? 0);
    const list = `${named.join(', ')}${s.egressCount > s.egress.length ? ', ...' : ''}`;
    said.push(planned === 1 ? `to ${list}` : `flooded to ${planned} interfaces: ${list}`);
  }
  if (s.next) said.push(`for ${s.next}`);
  if (said.length === 0 || (said.length === 1 && !before)) {
    // Nothing planned and nowhere next, not dropped.
    said.push(s.node === 'neighbor' ? `held until ${s.nextHop} answers` : s.node.startsWith('acl_') ? 'permitted' : 'taken by the router (it answers or replaces the frame)');
  }
  return said.join('; ');
}

function view(s: TraceStepNamed, before: TraceStepNamed | undefined): TraceStepView {
  const { packet: _p, worker: _w, startNs: _s, routerInterface, nextHop, ...rest } = s;
  return { ...rest, routerInterface: routerInterface ?? '', nextHop: nextHop ?? '', summary: describeFrame(s.bytes, s.length, s.ethernet), decision: decision(s, before) };
}

function packetOf(steps: TraceStepNamed[]): TracedPacket {
  const last = new Map<number, TraceStepNamed>(); // by frame
  const views = steps.map((s) => {
    const v = view(s, last.get(s.frame));
    last.set(s.frame, s);
    return v;
  });
  const first = steps[0]!;
  return { number: first.packet, worker: first.worker, interface: first.interface, startTimeUnixNano: first.startNs.toString(), steps: views };
}

/** Starts the trace and calls `write` with each packet (and the steps lost so far to a full ring); returns the function that stops it. */
export function openTrace(dp: Dataplane, req: TraceRequest, write: (p: TracedPacket, stepsLost: number) => void, end: (err?: Error) => void): () => void {
  if (!Number.isInteger(req.packets) || req.packets < 1 || req.packets > MAX_TRACE_PACKETS)
    throw new InvalidConfigError(`packets: a trace follows 1 to ${MAX_TRACE_PACKETS} packets (got ${req.packets})`, 'packets');
  const id = dp.startTrace(req);
  const pending = new Map<number, { steps: TraceStepNamed[]; fresh: boolean }>();
  let stopped = false;
  let lost = 0;
  const take = (c: TraceChunk): void => {
    lost = c.lost;
    for (const p of pending.values()) p.fresh = false;
    for (const s of c.steps) {
      const p = pending.get(s.packet) ?? { steps: [], fresh: true };
      p.steps.push(s);
      p.fresh = true;
      pending.set(s.packet, p);
    }
  };
  const flush = (all: boolean): void => {
    const ready = [...pending].filter(([, p]) => all || !p.fresh).sort(([a], [b]) => a - b);
    for (const [n, p] of ready) {
      pending.delete(n);
      write(packetOf(p.steps), lost);
    }
  };
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    try {
      dp.stopTrace(id);
    } catch {
      // the dataplane stopped first
    }
  };
  const drain = (): void => {
    try {
      const c = dp.readTrace(id, STEPS_PER_READ);
      take(c);
      if (c.taken < req.packets) return flush(false);
      // Every packet is taken: stopping returns whatever steps are still to come.
      stopped = true;
      clearInterval(timer);
      take(dp.stopTrace(id));
      flush(true);
      end();
    } catch (err) {
      stop();
      end(err as Error);
    }
  };
  const timer = setInterval(drain, DRAIN_MS);
  return stop;
}
