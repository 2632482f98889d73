/**
 * Health of one endpoint from active checks, with hysteresis: it turns
 * unhealthy after `unhealthyThreshold` failures in a row and healthy again
 * after `healthyThreshold` passes in a row, so one lost probe does not flap
 * it. Pure: results and times come in, a state and its reason come out.
 */
export interface HealthThresholds {
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export type EndpointHealthState = 'unknown' | 'healthy' | 'unhealthy';

export interface EndpointHealthView {
  readonly state: EndpointHealthState;
  /** The last check's outcome, e.g. "200 in 3 ms" or "connect ECONNREFUSED". */
  readonly reason: string;
  /** When the state last changed; undefined while unknown. */
  readonly since: number | undefined;
  readonly lastCheckedAt: number | undefined;
  /** Changes between healthy and unhealthy (the first verdict is not one). */
  readonly flaps: number;
  /** Checks that said nothing about the endpoint (see probeTimeout) and were not counted. */
  readonly inconclusive: number;
}

export class EndpointHealth {
  private state: EndpointHealthState = 'unknown';
  private passes = 0;
  private failures = 0;
  private reason = 'not checked yet';
  private since: number | undefined;
  private lastCheckedAt: number | undefined;
  private flaps = 0;
  private inconclusive = 0;

  constructor(private readonly thresholds: HealthThresholds) {}

  /** Records one check; returns true when the state changed. */
  record(passed: boolean, reason: string, now: number): boolean {
    this.lastCheckedAt = now;
    this.reason = reason;
    if (passed) {
      this.passes++;
      this.failures = 0;
    } else {
      this.failures++;
      this.passes = 0;
    }
    // The first result decides at once: waiting for thresholds from "unknown"
    // would keep a fresh gateway from serving for several intervals.
    const next: EndpointHealthState =
      this.state === 'unknown'
        ? passed
          ? 'healthy'
          : 'unhealthy'
        : passed && this.passes >= this.thresholds.healthyThreshold
          ? 'healthy'
          : !passed && this.failures >= this.thresholds.unhealthyThreshold
            ? 'unhealthy'
            : this.state;
    if (next === this.state) return false;
    if (this.state !== 'unknown') this.flaps++;
    this.state = next;
    this.since = now;
    return true;
  }

  /** A check that could not tell (our own event loop stalled): noted, but neither a pass nor a failure. */
  recordInconclusive(reason: string, now: number): void {
    this.lastCheckedAt = now;
    this.reason = reason;
    this.inconclusive++;
  }

  get healthy(): boolean {
    return this.state === 'healthy';
  }

  view(): EndpointHealthView {
    return {
      state: this.state,
      reason: this.reason,
      since: this.since,
      lastCheckedAt: this.lastCheckedAt,
      flaps: this.flaps,
      inconclusive: this.inconclusive,
    };
  }
}

/**
 * How far past its timeout a probe may be stretched while our own event loop
 * was stalled, before it is given up as inconclusive.
 */
export const MAX_PROBE_STRETCH = 3;

export type ProbeTimeoutVerdict =
  | { readonly kind: 'failed' }
  | { readonly kind: 'extend'; readonly waitMs: number }
  | { readonly kind: 'inconclusive'; readonly stalledMs: number };

/**
 * What a probe's timer firing means. The endpoint is owed `timeoutMs` of time
 * in which this process was actually listening: while the event loop is
 * stalled (GC, a burst of work) an answer can sit unread in the socket, and a
 * timer that fires late runs before that socket is read. So a timeout is a
 * failure only once the endpoint has had its full budget of responsive time;
 * until then the probe waits for the rest, up to MAX_PROBE_STRETCH × the
 * timeout, after which it says nothing either way. Times are monotonic ms.
 */
export function probeTimeout(startedAt: number, now: number, stalledMs: number, timeoutMs: number): ProbeTimeoutVerdict {
  const elapsed = now - startedAt;
  const owed = timeoutMs - (elapsed - Math.min(stalledMs, elapsed));
  if (owed <= 0) return { kind: 'failed' };
  const left = MAX_PROBE_STRETCH * timeoutMs - elapsed;
  if (left <= 0) return { kind: 'inconclusive', stalledMs };
  return { kind: 'extend', waitMs: Math.min(owed, left) };
}
