/**
 * Failback hysteresis for one preferred tier (usually the local cluster).
 * Failing over is immediate: the first unhealthy observation takes the tier's
 * traffic away. Coming back is slow on purpose: the tier must stay healthy for
 * a hold (10 s), then its traffic ramps back linearly (over 10 s). Each gateway
 * adds a random extra hold of up to `jitterMs`, so gateways that saw the same
 * recovery at the same instant do not all swing back together and stampede the
 * freshly recovered endpoints (cilium#46633). Any unhealthy observation during
 * the hold or the ramp drops the share to 0 and the next recovery starts a new
 * hold: a tier that flaps never gets traffic back.
 *
 * The gate gives a factor in [0, 1] for the preferred tier's computed share
 * (see tierShares); the caller hands what it withholds to the other tiers.
 * Pure: times and healthy/unhealthy verdicts come in, the clock never moves
 * by itself, and the only randomness is the injected `random`.
 */

export interface FailbackOptions {
  /** How long the tier must stay healthy before any traffic returns. */
  readonly holdMs?: number;
  /** How long the linear ramp from 0 to all of the tier's share takes. */
  readonly rampMs?: number;
  /** Upper bound of the random extra hold, drawn anew for each recovery. */
  readonly jitterMs?: number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

export type FailbackPhase = 'steady' | 'failed-over' | 'holding' | 'ramping';

export interface FailbackView {
  readonly phase: FailbackPhase;
  /** When the phase began; undefined while steady and never failed over. */
  readonly since: number | undefined;
  readonly allowedShare: number;
  readonly reason: string;
}

export class FailbackGate {
  private readonly holdMs: number;
  private readonly rampMs: number;
  private readonly jitterMs: number;
  private readonly random: () => number;
  /** Set while failed over (until the ramp completes); undefined before the first failure. */
  private failedAt: number | undefined;
  private failReason = 'preferred tier unhealthy';
  /** Set once the tier turned healthy again after failedAt. */
  private healthySince: number | undefined;
  private rampStart = 0;
  /** When the last ramp completed, for `since` in the steady view. */
  private steadySince: number | undefined;

  constructor(options: FailbackOptions) {
    this.holdMs = nonNegative('holdMs', options.holdMs ?? 10_000);
    this.rampMs = nonNegative('rampMs', options.rampMs ?? 10_000);
    this.jitterMs = nonNegative('jitterMs', options.jitterMs ?? 2_000);
    this.random = options.random;
  }

  observe(now: number, healthy: boolean): void {
    const phase = this.phaseAt(now);
    if (phase === 'steady' && this.failedAt !== undefined) {
      // The ramp finished before this observation: settle into steady first.
      this.steadySince = this.rampStart + this.rampMs;
      this.failedAt = undefined;
      this.healthySince = undefined;
    }
    if (!healthy) {
      if (phase === 'failed-over') return; // keep the time of the first failure
      this.failReason = phase === 'steady' ? 'preferred tier unhealthy' : `relapsed while ${phase}: hold restarts on recovery`;
      this.failedAt = now;
      this.healthySince = undefined;
      return;
    }
    if (phase === 'failed-over') {
      this.healthySince = now;
      // Drawn once per recovery, so a gateway's offset is stable for the whole ramp.
      this.rampStart = now + this.holdMs + this.random() * this.jitterMs;
    }
  }

  /** The fraction of the preferred tier's computed share it may take at `now`. */
  allowedShare(now: number): number {
    switch (this.phaseAt(now)) {
      case 'steady':
        return 1;
      case 'failed-over':
      case 'holding':
        return 0;
      case 'ramping':
        return (now - this.rampStart) / this.rampMs;
    }
  }

  view(now: number): FailbackView {
    const phase = this.phaseAt(now);
    const allowedShare = this.allowedShare(now);
    switch (phase) {
      case 'steady':
        if (this.failedAt === undefined) {
          return { phase, since: this.steadySince, allowedShare, reason: this.steadySince === undefined ? 'never failed over' : 'failed back after the ramp' };
        }
        return { phase, since: this.rampStart + this.rampMs, allowedShare, reason: 'failed back after the ramp' };
      case 'failed-over':
        return { phase, since: this.failedAt, allowedShare, reason: this.failReason };
      case 'holding': {
        const healthyFor = now - (this.healthySince ?? now);
        const hold = this.rampStart - (this.healthySince ?? now);
        return { phase, since: this.healthySince, allowedShare, reason: `healthy for ${ms(healthyFor)} of a ${ms(hold)} hold (${ms(this.holdMs)} + jitter)` };
      }
      case 'ramping':
        return { phase, since: this.rampStart, allowedShare, reason: `ramping back: ${Math.round(allowedShare * 100)} % of the tier's share over ${ms(this.rampMs)}` };
    }
  }

  private phaseAt(now: number): FailbackPhase {
    if (this.failedAt === undefined) return 'steady';
    if (this.healthySince === undefined) return 'failed-over';
    if (now < this.rampStart) return 'holding';
    // `<` rather than `<=`: at the ramp's end the share is 1, which is steady.
    if (now < this.rampStart + this.rampMs) return 'ramping';
    return 'steady';
  }
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`FailbackGate: ${name} must be a non-negative number of ms, got ${value}`);
  return value;
}

const ms = (n: number): string => `${Math.round(n)} ms`;
