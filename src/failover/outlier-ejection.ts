/**
 * Passive outlier ejection for one target (Envoy's consecutive-5xx
 * detector): the data plane's own view of health, which reacts on the Nth
 * failed request instead of waiting for the next active check or gossip round.
 * A target is one endpoint or one gateway replica, never a whole cluster: a
 * cluster's weight comes from its healthy endpoints and live replicas, so one
 * bad connection cannot remove a cluster (istio#52435).
 *
 * active ──N failures in a row──► ejected ──time passes──► probing
 *   ▲                                ▲                        │
 *   └──────── probe succeeds ────────┼──── probe fails ───────┘
 *
 * There is no cap on how many targets may be ejected (docs/operations.md, Failover), at
 * least while another tier can take the traffic (Envoy's 10 %
 * max_ejection_percent is why its pools never drain, admiral#205). Only the
 * caller sees every target, so the caller decides whether to honour an
 * ejection, e.g. falling back to all endpoints (panic) when nothing anywhere
 * is healthy.
 *
 * Pure: outcomes and times (ms, injected monotonic clock) come in; the caller
 * classifies what counts as a failure (connect error, reset, 5xx from a
 * gateway) and labels it for the debug reason.
 */

export interface OutlierEjectionOptions {
  /** Failures in a row that eject the target. */
  readonly consecutiveFailures?: number;
  /** The first ejection's length; the nth lasts n times as long. */
  readonly baseEjectionMs?: number;
  /** No ejection lasts longer; also how long a target must stay active before its history is forgotten. */
  readonly maxEjectionMs?: number;
  /**
   * How long a granted probe may go unanswered before another is allowed, so
   * a probe whose request was cancelled and never recorded does not leave the
   * target half-open for ever. The request timeout (10 s) by default.
   */
  readonly probeTimeoutMs?: number;
}

export type OutlierState = 'active' | 'ejected' | 'probing';

export interface OutlierView {
  readonly state: OutlierState;
  /** The current run of failures; while ejected, the run that ejected it. */
  readonly consecutiveFailures: number;
  /** Ejections since the target last behaved for maxEjectionMs; sets the next ejection's length. */
  readonly timesEjected: number;
  /** When the current or last ejection ends; undefined while active. */
  readonly ejectedUntil?: number | undefined;
  /** When the state last changed; undefined if it never did. */
  readonly since: number | undefined;
  /** For a person: e.g. "5 consecutive failures (last: upstream-reset)". */
  readonly reason: string;
}

export class OutlierEjection {
  private readonly threshold: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly probeTimeoutMs: number;

  private current: OutlierState = 'active';
  private since: number | undefined;
  private streak = 0;
  private lastFailure: string | undefined;
  private timesEjected = 0;
  private ejectedUntil: number | undefined;
  private probeSentAt: number | undefined;
  private reason = 'no failures';

  constructor({ consecutiveFailures = 5, baseEjectionMs = 30_000, maxEjectionMs = 300_000, probeTimeoutMs = 10_000 }: OutlierEjectionOptions = {}) {
    if (!(Number.isInteger(consecutiveFailures) && consecutiveFailures >= 1)) throw new RangeError(`consecutiveFailures must be an integer ≥ 1, got ${consecutiveFailures}`);
    for (const [name, v] of [['baseEjectionMs', baseEjectionMs], ['maxEjectionMs', maxEjectionMs], ['probeTimeoutMs', probeTimeoutMs]] as const) {
      if (!(v > 0 && Number.isFinite(v))) throw new RangeError(`${name} must be > 0, got ${v}`);
    }
    this.threshold = consecutiveFailures;
    this.baseMs = baseEjectionMs;
    this.maxMs = maxEjectionMs;
    this.probeTimeoutMs = probeTimeoutMs;
  }

  /**
   * Records one request's outcome; `failure` names a failure for the reason
   * (e.g. "connect-refused", "upstream-reset", "502"). Returns true when the
   * state changed, so the caller can log an ejection or a recovery event.
   */
  record(now: number, ok: boolean, failure?: string): boolean {
    this.settle(now);
    switch (this.current) {
      case 'ejected':
        // Only answers to requests sent before the ejection arrive now; they
        // say nothing new, and a late success must not cut the ejection short.
        return false;
      case 'probing':
        // Whatever is recorded now answers the probe: requests sent before
        // the ejection have ended by now (with the defaults, the 10 s request
        // timeout is shorter than the shortest ejection, 30 s).
        this.probeSentAt = undefined;
        if (ok) {
          this.streak = 0;
          this.ejectedUntil = undefined;
          this.transition('active', now, `probe succeeded after ${this.timesEjected} ejection${this.timesEjected === 1 ? '' : 's'}`);
        } else {
          // The probe's failure extends the streak that ejected the target.
          this.streak++;
          this.lastFailure = failure;
          this.eject(now, `probe failed${failure === undefined ? '' : ` (${failure})`}`);
        }
        return true;
      case 'active':
        if (ok) {
          this.streak = 0;
          return false;
        }
        this.streak++;
        this.lastFailure = failure;
        if (this.streak < this.threshold) return false;
        this.eject(now, describeStreak(this.streak, failure));
        return true;
    }
  }

  state(now: number): OutlierState {
    this.settle(now);
    return this.current;
  }

  /** True for exactly one caller once the ejection has run out: that request is the probe. */
  tryProbe(now: number): boolean {
    this.settle(now);
    if (this.current !== 'probing') return false;
    if (this.probeSentAt !== undefined && now - this.probeSentAt < this.probeTimeoutMs) return false;
    this.probeSentAt = now;
    return true;
  }

  view(now: number): OutlierView {
    this.settle(now);
    const reason =
      this.current === 'active' && this.streak > 0
        ? describeStreak(this.streak, this.lastFailure)
        : this.current === 'probing'
          ? `${this.reason}; ejection over, ${this.probeSentAt === undefined ? 'waiting for a probe' : 'probe in flight'}`
          : this.reason;
    return {
      state: this.current,
      consecutiveFailures: this.streak,
      timesEjected: this.timesEjected,
      ejectedUntil: this.ejectedUntil,
      since: this.since,
      reason,
    };
  }

  private eject(now: number, reason: string): void {
    this.timesEjected++;
    this.ejectedUntil = now + Math.min(this.baseMs * this.timesEjected, this.maxMs);
    this.transition('ejected', now, reason);
  }

  /** Applies what the passing of time alone does. */
  private settle(now: number): void {
    if (this.current === 'ejected' && this.ejectedUntil !== undefined && now >= this.ejectedUntil) {
      this.current = 'probing';
      this.since = this.ejectedUntil;
    }
    // A target that has stayed active as long as the longest ejection is not
    // flapping any more: its next ejection starts again from the base. One
    // that fails again sooner is ejected for longer each time.
    if (this.current === 'active' && this.timesEjected > 0 && this.since !== undefined && now - this.since >= this.maxMs) {
      this.timesEjected = 0;
      this.reason = `no ejection for ${this.maxMs / 1000} s: the next one starts again from ${this.baseMs / 1000} s`;
    }
  }

  private transition(next: OutlierState, now: number, reason: string): void {
    this.current = next;
    this.since = now;
    this.reason = reason;
  }
}

function describeStreak(n: number, last: string | undefined): string {
  return `${n} consecutive failure${n === 1 ? '' : 's'}${last === undefined ? '' : ` (last: ${last})`}`;
}
