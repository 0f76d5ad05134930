// Worker liveness. A worker's poll counter advances at least every 100 ms even when it
// has nothing to do (its sleeps end by timeout), so one that stays still for
// STALL_AFTER_MS is stuck inside a poll: its queues go unserved and memory retired by
// table changes cannot be reclaimed. The daemon samples the counters; nothing here
// touches the packet path.
export const STALL_AFTER_MS = 2000;

export class WorkerWatch {
  private readonly last = new Map<number, { polls: number; sinceMs: number }>();
  private readonly stalled = new Set<number>();

  constructor(
    private readonly sample: () => { index: number; polls: number }[],
    private readonly onChange: (worker: number, stalled: boolean, stillForMs: number) => void,
  ) {}

  check(nowMs = Date.now()): void {
    for (const w of this.sample()) {
      const seen = this.last.get(w.index);
      if (!seen || seen.polls !== w.polls) {
        this.last.set(w.index, { polls: w.polls, sinceMs: nowMs });
        if (this.stalled.delete(w.index)) this.onChange(w.index, false, nowMs - (seen?.sinceMs ?? nowMs));
      } else if (nowMs - seen.sinceMs >= STALL_AFTER_MS && !this.stalled.has(w.index)) {
        this.stalled.add(w.index);
        this.onChange(w.index, true, nowMs - seen.sinceMs);
      }
    }
  }

  isStalled(worker: number): boolean {
    return this.stalled.has(worker);
  }
}
