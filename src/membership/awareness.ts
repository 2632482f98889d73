/**
 * Lifeguard's Local Health Multiplier: how much this process trusts its own
 * timing. A member that misses acks because *it* is slow (a stalled event
 * loop, CPU starvation, a paused VM) must not accuse healthy peers; instead
 * it stretches its probe interval by (score + 1) and so probes, and accuses,
 * less often until it recovers.
 *
 * Copied from memberlist awareness.go (`ApplyDelta`, `ScaleTimeout`); the
 * deltas follow state.go `probeNode` and `refute`:
 *   +1  a probe failed and no helpers were able to nack (or none were asked)
 *   +1  per expected nack that did not arrive (helpers silent too: likely us)
 *   +1  we had to refute a suspicion or death about ourselves
 *   −1  a probe succeeded (direct or indirect ack)
 * plus one input memberlist does not have: Node.js event-loop lag (see
 * `eventLoopLag`), which is what "slow message processing" means here.
 */

/** memberlist AwarenessMaxMultiplier: the probe interval is stretched at most 8×. */
export const AWARENESS_MAX_MULTIPLIER = 8;

/** memberlist LAN ProbeTimeout; the default lag threshold is half of it. */
const DEFAULT_PROBE_TIMEOUT_MS = 500;

export const AWARENESS_DELTA = {
  failedProbe: 1,
  missedNack: 1,
  refutation: 1,
  successfulProbe: -1,
  eventLoopLag: 1,
} as const;

export interface AwarenessOptions {
  /** Scores run 0 … maxMultiplier − 1. */
  readonly maxMultiplier?: number;
  /**
   * Event-loop lag above this raises the score. Default: half the probe
   * timeout (250 ms), because a loop that stalls that long can no longer
   * answer a ping, or read an ack, inside the probe timeout with a normal
   * network round trip on top.
   */
  readonly lagThresholdMs?: number;
}

export class Awareness {
  readonly maxScore: number;
  readonly lagThresholdMs: number;
  private current = 0;

  constructor(options: AwarenessOptions = {}) {
    const multiplier = options.maxMultiplier ?? AWARENESS_MAX_MULTIPLIER;
    this.maxScore = Math.max(0, multiplier - 1);
    this.lagThresholdMs = options.lagThresholdMs ?? DEFAULT_PROBE_TIMEOUT_MS / 2;
  }

  /** 0 is healthy; higher means we trust our own timing less. */
  score(): number {
    return this.current;
  }

  /** Adds delta, clamped to 0 … maxScore (memberlist `ApplyDelta`); returns the new score. */
  apply(delta: number): number {
    const next = this.current + Math.trunc(delta);
    this.current = Math.min(this.maxScore, Math.max(0, next));
    return this.current;
  }

  /** ms × (score + 1) (memberlist `ScaleTimeout`). */
  scaleTimeout(ms: number): number {
    return ms * (this.current + 1);
  }

  /**
   * Feeds one event-loop lag sample. Mapping: lag strictly above
   * `lagThresholdMs` raises the score by 1; lag at or below it changes
   * nothing (only successful probes lower the score, as in memberlist, so a
   * loop that recovers earns its health back through answered probes).
   * Call it once per probe interval with the worst lag seen since the last
   * call (e.g. `perf_hooks.monitorEventLoopDelay().max`, reset each time), so
   * one long stall counts once and a persistently slow loop climbs one step
   * per interval. Returns the delta applied (0 or 1; 0 when already at max).
   */
  eventLoopLag(lagMs: number): number {
    if (!(lagMs > this.lagThresholdMs)) return 0;
    const before = this.current;
    return this.apply(AWARENESS_DELTA.eventLoopLag) - before;
  }
}

/**
 * The awareness delta for a probe that got no ack at all (memberlist
 * `probeNode`): with helpers that promised nacks, each missing nack is +1
 * (the helpers could not reach us either, so we are the likely problem) and
 * a full set of nacks is 0 (the helpers are fine and the target is silent,
 * so it is not our fault); with no nacking helpers, +1.
 */
export function failedProbeDelta(expectedNacks: number, nacks: number): number {
  if (expectedNacks > 0) return Math.max(0, expectedNacks - nacks) * AWARENESS_DELTA.missedNack;
  return AWARENESS_DELTA.failedProbe;
}
