/**
 * Peak-EWMA load of one target and power-of-two-choices over targets, after
 * linkerd2-proxy (tower's `load::PeakEwma` under its P2C balancer). The cost
 * of a target is its round-trip estimate times the requests it would have
 * queued, so a slow target and a busy one both look expensive. Pure: the
 * caller owns the clock and passes `now` (ms) into every call.
 */

/** Decay period of the estimate, as linkerd2-proxy's default. */
export const DEFAULT_DECAY_MS = 10_000;
/** What a target we know nothing about is assumed to take; as linkerd. */
export const DEFAULT_RTT_MS = 30;
/**
 * A failed or overloaded response is recorded as this many times
 * max(its RTT, the default RTT). A 1 ms 503 then counts as a 300 ms
 * response: slower than any healthy peer nearby, so a target that fails fast
 * repels load instead of attracting it. The penalty is based on the
 * observation, not the current estimate: multiplying the estimate would
 * compound over a run of failures (five in a row → 10⁵ ×) and a recovered
 * target would need minutes to decay back. A try that timed out after 2 s
 * counts 20 s and is avoided for about a minute (e⁻⁶ × 20 s ≈ 50 ms).
 * Failures that persist are outlier ejection's job; this only steers P2C.
 */
export const FAILURE_PENALTY_FACTOR = 10;

export interface PeakEwmaOptions {
  /** @default DEFAULT_DECAY_MS */
  readonly decayMs?: number;
  /** @default DEFAULT_RTT_MS */
  readonly defaultRttMs?: number;
  /** Creation time (ms); the default estimate is as of then. */
  readonly now: number;
}

export interface RequestOutcome {
  readonly rttMs: number;
  /** Connect error, reset, timeout, 5xx from the gateway. */
  readonly failed: boolean;
  /** 429 or 503: the target said it is shedding load. */
  readonly overloaded: boolean;
}

export interface PeakEwmaView {
  /** The estimate as of `now`, after decay. */
  readonly rttMs: number;
  readonly inFlight: number;
  readonly cost: number;
}

export class PeakEwma {
  private readonly decayMs: number;
  private readonly defaultRttMs: number;
  /** The estimate as of `updatedAt`, before any decay since. */
  private estimateMs: number;
  private updatedAt: number;
  private inFlight = 0;

  constructor({ decayMs = DEFAULT_DECAY_MS, defaultRttMs = DEFAULT_RTT_MS, now }: PeakEwmaOptions) {
    if (!(decayMs > 0)) throw new RangeError(`decayMs must be positive, got ${decayMs}`);
    if (!(defaultRttMs > 0)) throw new RangeError(`defaultRttMs must be positive, got ${defaultRttMs}`);
    this.decayMs = decayMs;
    this.defaultRttMs = defaultRttMs;
    this.estimateMs = defaultRttMs;
    this.updatedAt = now;
  }

  /** A request to this target begins. `now` is taken for symmetry with `finish`; the count is all that changes. */
  start(_now: number): void {
    this.inFlight++;
  }

  /** A request ends, however it ended: every `start` needs exactly one `finish`. */
  finish(now: number, outcome: RequestOutcome): void {
    // A finish without a start (a caller bug) must not drive the count below
    // zero: a negative cost would draw every request to this target.
    this.inFlight = Math.max(0, this.inFlight - 1);
    const rtt = Math.max(0, outcome.rttMs);
    const observed = outcome.failed || outcome.overloaded ? FAILURE_PENALTY_FACTOR * Math.max(rtt, this.defaultRttMs) : rtt;
    if (observed > this.estimateMs) {
      // Peak: a slower response takes effect at once, so one slow target is
      // avoided on the next pick rather than after many samples.
      this.estimateMs = observed;
    } else {
      // A faster response only pulls the estimate down as fast as time has
      // passed since the last update, so a burst of quick answers cannot erase
      // a slow one seen a moment ago.
      const w = this.weight(now);
      this.estimateMs = this.estimateMs * w + observed * (1 - w);
    }
    this.updatedAt = Math.max(this.updatedAt, now);
  }

  /** Requests started and not yet finished. */
  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Lower is better: the decayed estimate times the requests this one would join. */
  cost(now: number): number {
    return this.rttAt(now) * (this.inFlight + 1);
  }

  view(now: number): PeakEwmaView {
    return { rttMs: this.rttAt(now), inFlight: this.inFlight, cost: this.cost(now) };
  }

  /**
   * Between updates the estimate decays towards zero, as linkerd does when it
   * reads the load (a zero-RTT observation). Without it a target that was once
   * slow, or a new one whose default is too high, would never be picked again
   * and so never measured again; this way it is retried after a while.
   * Unlike tower, reading does not store the decay, so debug pages and P2C
   * reads leave the state as it was. A target that swallows requests would
   * also decay towards zero; the per-try timeout ends them as failures.
   */
  private rttAt(now: number): number {
    return this.estimateMs * this.weight(now);
  }

  /** Weight of the old estimate: exp(−elapsed / decay); 1 if the clock went backwards. */
  private weight(now: number): number {
    return Math.exp(-Math.max(0, now - this.updatedAt) / this.decayMs);
  }
}

/**
 * Power of two choices: two distinct candidates picked uniformly at random,
 * the cheaper one wins (a tie goes to the first pick). Comparing two random
 * targets instead of scanning for the cheapest keeps many gateways, each
 * with a slightly stale view, from all herding onto the same target.
 */
export function chooseP2C<T>(candidates: readonly T[], cost: (t: T) => number, random: () => number): T | undefined {
  const n = candidates.length;
  if (n <= 1) return candidates[0];
  const i = Math.min(n - 1, Math.floor(random() * n));
  // Draw from the other n − 1 and skip over i, so the pair is distinct
  // without retrying.
  let j = Math.min(n - 2, Math.floor(random() * (n - 1)));
  if (j >= i) j++;
  const a = candidates[i] as T;
  const b = candidates[j] as T;
  return cost(b) < cost(a) ? b : a;
}
