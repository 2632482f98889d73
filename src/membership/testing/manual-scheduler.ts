import type { Schedule } from '../schedule.js';
import type { Clock } from '../types.js';

/**
 * A fake clock that is also a Schedule: tasks run only when a test advances
 * time, in time order (ties in the order scheduled).
 */
export class ManualScheduler implements Clock {
  private nowMs: number;
  private seq = 0;
  private readonly tasks: Array<{ at: number; seq: number; task: () => void }> = [];

  constructor(startMs = 0) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  /** Pass this as MemoryNetworkOptions.schedule (it is bound). */
  readonly schedule: Schedule = (task, delayMs) => {
    const entry = { at: this.nowMs + Math.max(0, delayMs), seq: this.seq++, task };
    this.tasks.push(entry);
    return () => {
      const i = this.tasks.indexOf(entry);
      if (i >= 0) this.tasks.splice(i, 1);
    };
  };

  /** Tasks not yet run. */
  get pending(): number {
    return this.tasks.length;
  }

  /**
   * Moves time forward by `ms`, running each task that falls due on the way.
   * Promise callbacks settle before and after each task (handlers are async),
   * so a reply scheduled by a handler's promise still runs within this advance
   * if it is due.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`advance() needs a duration ≥ 0, got ${ms}`);
    const until = this.nowMs + ms;
    // A task that reschedules itself at delay 0 forever is a bug in the test: stop it.
    for (let ran = 0; ; ran++) {
      if (ran > 1_000_000) throw new Error('ManualScheduler: more than a million tasks in one advance (a task rescheduling itself at 0 ms?)');
      await settlePromises();
      const next = this.nextDue(until);
      if (!next) break;
      this.tasks.splice(this.tasks.indexOf(next), 1);
      this.nowMs = next.at;
      next.task();
    }
    this.nowMs = until;
  }

  private nextDue(until: number): { at: number; seq: number; task: () => void } | undefined {
    let best: (typeof this.tasks)[number] | undefined;
    for (const t of this.tasks) {
      if (t.at > until) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/** Lets every queued promise callback run (setImmediate comes after the microtask queue drains). */
function settlePromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
