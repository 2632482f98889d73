/**
 * When each active check runs. Probes that share an interval are spread
 * evenly over it: the k-th of n starts at (k + jitter) / n of the interval,
 * so n probes every 5 s come n/5 a second, never n at once, and two gateways
 * with the same config do not probe in step. Each probe keeps its phase: a
 * late run (the event loop was busy) does not move the next one, and slots
 * missed during a stall are skipped rather than caught up in a burst.
 * Pure: the clock and the randomness are given.
 */
export interface ScheduledProbe {
  readonly key: string;
  readonly intervalMs: number;
}

interface Slot {
  readonly key: string;
  readonly intervalMs: number;
  at: number;
}

export class ProbeSchedule {
  /** A binary min-heap on `at`: the next probe due is on top. */
  private readonly heap: Slot[] = [];

  constructor(probes: readonly ScheduledProbe[], now: number, random: () => number) {
    const byInterval = new Map<number, ScheduledProbe[]>();
    for (const p of probes) {
      if (!(p.intervalMs > 0)) throw new RangeError(`probe ${p.key}: interval must be > 0, got ${p.intervalMs}`);
      const group = byInterval.get(p.intervalMs);
      if (group) group.push(p);
      else byInterval.set(p.intervalMs, [p]);
    }
    for (const [intervalMs, group] of byInterval) {
      const width = intervalMs / group.length;
      group.forEach((p, k) => this.push({ key: p.key, intervalMs, at: now + (k + random()) * width }));
    }
  }

  get size(): number {
    return this.heap.length;
  }

  /** When the next probe is due; undefined when there is none. */
  nextAt(): number | undefined {
    return this.heap[0]?.at;
  }

  /**
   * The probes due at `now`, earliest first. Each moves on to its next slot
   * at least half an interval after `now`, so a probe run late is not run
   * again moments later.
   */
  due(now: number): string[] {
    const out: string[] = [];
    for (let top = this.heap[0]; top !== undefined && top.at <= now; top = this.heap[0]) {
      out.push(top.key);
      top.at += top.intervalMs * (Math.floor((now + top.intervalMs / 2 - top.at) / top.intervalMs) + 1);
      this.siftDown(0);
    }
    return out;
  }

  private push(slot: Slot): void {
    const heap = this.heap;
    heap.push(slot);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as Slot).at <= slot.at) break;
      heap[i] = heap[parent] as Slot;
      i = parent;
    }
    heap[i] = slot;
  }

  private siftDown(from: number): void {
    const heap = this.heap;
    const slot = heap[from] as Slot;
    let i = from;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && (heap[right] as Slot).at < (heap[left] as Slot).at ? right : left;
      if ((heap[child] as Slot).at >= slot.at) break;
      heap[i] = heap[child] as Slot;
      i = child;
    }
    heap[i] = slot;
  }
}
