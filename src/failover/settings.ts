/**
 * The failover part's tunables and their defaults, in one place, as
 * memberlist's DefaultLANConfig: the gateway starts from these and
 * overrides what the config sets. Durations in milliseconds.
 */
export interface FailoverSettings {
  /** Circuit breaking: a target with this many requests in flight is passed over. */
  readonly maxInFlightPerTarget: number;
  /** linkerd2-proxy's peak-EWMA. */
  readonly peakEwma: { readonly decayMs: number; readonly defaultRttMs: number };
  /** Envoy's outlier detection, without its 10 % cap while another tier can serve; ejection time = base × times ejected, capped. */
  readonly ejection: { readonly consecutiveFailures: number; readonly baseEjectionMs: number; readonly maxEjectionMs: number };
  /** Finagle's retry budget: retries may add `ratio` of requests plus `minPerSecond`, over `windowMs`. */
  readonly retryBudget: { readonly ratio: number; readonly minPerSecond: number; readonly windowMs: number };
  readonly maxRetriesPerRequest: number;
  /** Anti-herd failback (cilium#46633): healthy for `holdMs` (plus up to `jitterMs`), then a ramp over `rampMs`. */
  readonly failback: { readonly holdMs: number; readonly rampMs: number; readonly jitterMs: number };
}

export const DEFAULT_FAILOVER_SETTINGS: FailoverSettings = Object.freeze({
  // Above the 1,000 streams one federation session may hold, so that one flooding peer cannot take a target from everyone else.
  maxInFlightPerTarget: 5_000,
  peakEwma: Object.freeze({ decayMs: 10_000, defaultRttMs: 30 }),
  ejection: Object.freeze({ consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000 }),
  retryBudget: Object.freeze({ ratio: 0.2, minPerSecond: 10, windowMs: 10_000 }),
  maxRetriesPerRequest: 2,
  failback: Object.freeze({ holdMs: 10_000, rampMs: 10_000, jitterMs: 1_000 }),
});
