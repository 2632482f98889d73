/**
 * A rate-based retry budget (Finagle's RetryBudget, linkerd2-proxy's and
 * tower's TpsBudget): retries may add at most `ratio` of the original traffic
 * plus a small floor, measured over a sliding window. When a target is down
 * and every request fails, retries then add at most 20 % load instead of
 * multiplying it, while a quiet service can still retry its rare failures.
 *
 * Over any window the budget grants at most
 *   ratio × requests + minPerSecond × window seconds
 * retries. The floor is a reserve for the whole window, not a per-second
 * rate: as in Finagle and tower, a burst may spend it at once, and it comes
 * back as those retries age out of the window.
 *
 * Pure: times come in as numbers (ms, from an injected monotonic clock). The
 * caller records only original requests (a retry deposits nothing, or retries
 * would fund themselves) and still caps retries per request (docs/operations.md,
 * Failover: at most 2, never for a non-idempotent request that reached an
 * upstream); the budget only says whether the service as a whole can afford
 * one more.
 */

export interface RetryBudgetOptions {
  /** Retries allowed per original request, e.g. 0.2 = 20 %. */
  readonly ratio?: number;
  /** Retries per second that are always affordable, even with no traffic. */
  readonly minPerSecond?: number;
  /** How long deposits and withdrawals count. */
  readonly windowMs?: number;
}

export interface RetryBudgetView {
  /** Original requests recorded in the window. */
  readonly requests: number;
  /** Retries granted in the window. */
  readonly retries: number;
  /** Whole retries that would be granted now. */
  readonly available: number;
}

// Ten buckets, as Finagle and tower use: memory stays fixed whatever the
// traffic, and the window slides in steps of a tenth of its length.
const BUCKETS = 10;

// ratio × requests is a float: 0.2 × n may land a hair under the whole number
// it stands for, which would refuse a retry the budget clearly allows.
const EPSILON = 1e-9;

export class RetryBudget {
  private readonly ratio: number;
  private readonly reserve: number;
  private readonly bucketMs: number;
  // Slot i holds the counts of the bucket whose number is epochs[i]; a slot
  // whose number fell out of the window is stale and is reused in place.
  private readonly epochs: number[] = new Array<number>(BUCKETS).fill(-Infinity);
  private readonly requests: number[] = new Array<number>(BUCKETS).fill(0);
  private readonly retries: number[] = new Array<number>(BUCKETS).fill(0);
  private latestEpoch = -Infinity;

  constructor({ ratio = 0.2, minPerSecond = 10, windowMs = 10_000 }: RetryBudgetOptions = {}) {
    if (!(ratio >= 0 && Number.isFinite(ratio))) throw new RangeError(`retry budget ratio must be ≥ 0, got ${ratio}`);
    if (!(minPerSecond >= 0 && Number.isFinite(minPerSecond))) throw new RangeError(`retry budget minPerSecond must be ≥ 0, got ${minPerSecond}`);
    if (!(windowMs > 0 && Number.isFinite(windowMs))) throw new RangeError(`retry budget windowMs must be > 0, got ${windowMs}`);
    this.ratio = ratio;
    this.reserve = (minPerSecond * windowMs) / 1000;
    this.bucketMs = windowMs / BUCKETS;
  }

  /** Deposits `ratio` tokens for one original request (never for a retry). */
  recordRequest(now: number): void {
    this.requests[this.slot(now)]! += 1;
  }

  /** Spends one token for a retry if the window can afford it; false means do not retry. */
  tryWithdraw(now: number): boolean {
    const slot = this.slot(now);
    if (this.tokens() < 1 - EPSILON) return false;
    this.retries[slot]! += 1;
    return true;
  }

  view(now: number): RetryBudgetView {
    this.slot(now);
    const live = this.liveSlots();
    return {
      requests: sum(this.requests, live),
      retries: sum(this.retries, live),
      available: Math.max(0, Math.floor(this.tokens() + EPSILON)),
    };
  }

  private tokens(): number {
    const live = this.liveSlots();
    return this.ratio * sum(this.requests, live) + this.reserve - sum(this.retries, live);
  }

  /** The slot for `now`, cleared if it last held an older bucket. */
  private slot(now: number): number {
    // A clock that steps back must not revive expired buckets or split a
    // bucket in two: time only moves forward here.
    const epoch = Math.max(this.latestEpoch, Math.floor(now / this.bucketMs));
    this.latestEpoch = epoch;
    const i = ((epoch % BUCKETS) + BUCKETS) % BUCKETS;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.requests[i] = 0;
      this.retries[i] = 0;
    }
    return i;
  }

  private liveSlots(): number[] {
    const live: number[] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.epochs[i]! > this.latestEpoch - BUCKETS) live.push(i);
    return live;
  }
}

function sum(values: readonly number[], slots: readonly number[]): number {
  let total = 0;
  for (const i of slots) total += values[i]!;
  return total;
}
