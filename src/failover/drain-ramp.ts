/**
 * How much of a target's health counts while it is drained, or coming back
 * from a drain: a cluster taken out for maintenance loses its traffic over
 * the ramp rather than at once, and gets it back the same way, as failback
 * does. A change mid-ramp turns back from where the ramp had got to.
 *
 * Pure: the caller passes the time.
 */
export class DrainRamp {
  private drained = false;
  private since = -Infinity;
  private from = 1;

  constructor(private readonly rampMs: number) {}

  /** Says whether the target is drained now; returns the share of its health that counts. */
  update(now: number, drained: boolean): number {
    if (drained !== this.drained) {
      this.from = this.factor(now);
      this.drained = drained;
      this.since = now;
    }
    return this.factor(now);
  }

  /** 1 when not drained (and settled), 0 when drained (and settled), in between on the ramp. */
  factor(now: number): number {
    const t = this.rampMs <= 0 ? 1 : Math.min(1, Math.max(0, (now - this.since) / this.rampMs));
    return this.drained ? this.from * (1 - t) : this.from + (1 - this.from) * t;
  }

  /** Whether the factor still moves with time alone. */
  moving(now: number): boolean {
    return now - this.since < this.rampMs;
  }
}
