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
}

export class EndpointHealth {
  private state: EndpointHealthState = 'unknown';
  private passes = 0;
  private failures = 0;
  private reason = 'not checked yet';
  private since: number | undefined;
  private lastCheckedAt: number | undefined;

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
    this.state = next;
    this.since = now;
    return true;
  }

  get healthy(): boolean {
    return this.state === 'healthy';
  }

  view(): EndpointHealthView {
    return { state: this.state, reason: this.reason, since: this.since, lastCheckedAt: this.lastCheckedAt };
  }
}

/** When the next check of an endpoint is due: the interval ± 10 % jitter, so probes of many endpoints spread out. */
export function nextCheckAt(now: number, intervalMs: number, random: () => number): number {
  return now + intervalMs * (0.9 + 0.2 * random());
}
