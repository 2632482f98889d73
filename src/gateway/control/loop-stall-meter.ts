import { performance } from 'node:perf_hooks';

const TICK_MS = 50;
/** Timer jitter below this is noise, not a stall. */
const NOISE_MS = 15;

/**
 * How long this process's event loop has been stalled, cumulatively, while
 * anyone was watching: a short timer that fires late by more than noise
 * means the loop could not run it, nor read any socket, for that long. It
 * ticks only while it has users (probes in flight), so an idle gateway has
 * no timer waking it. Read it at both ends of a window; the difference is
 * the stall within it. Times are performance.now() ms.
 */
export class LoopStallMeter {
  private users = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastTick = 0;
  private stalledMs = 0;

  acquire(): void {
    if (this.users++ > 0) return;
    this.lastTick = performance.now();
    this.timer = setInterval(() => this.tick(performance.now()), TICK_MS);
    this.timer.unref();
  }

  release(): void {
    if (--this.users > 0) return;
    this.tick(performance.now());
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The stall so far, including a gap the timer has not had a chance to see yet (it may be late itself). */
  read(now: number = performance.now()): number {
    return this.users > 0 ? this.stalledMs + this.late(now) : this.stalledMs;
  }

  private tick(now: number): void {
    this.stalledMs += this.late(now);
    this.lastTick = now;
  }

  private late(now: number): number {
    const late = now - this.lastTick - TICK_MS;
    return late > NOISE_MS ? late : 0;
  }
}
