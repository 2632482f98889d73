/**
 * When identity material is renewed: pure functions of validity windows, a
 * clock reading and a random draw, so rotation is tested without waiting.
 * Fractions follow SPIRE's defaults: SVIDs renew at half
 * life ± 10 %, a signing CA's successor is prepared at 1/2 of its life and
 * takes over at 5/6.
 */

export const SVID_RENEW_FRACTION = 0.5;
export const SVID_RENEW_JITTER = 0.1;
export const CA_PREPARE_FRACTION = 1 / 2;
export const CA_ACTIVATE_FRACTION = 5 / 6;

export interface Validity {
  readonly notBefore: number;
  readonly notAfter: number;
}

/** The moment an SVID should be replaced; `random` is uniform in [0, 1). */
export function svidRenewAt(svid: Validity, random: () => number): number {
  const life = svid.notAfter - svid.notBefore;
  const jitter = (random() * 2 - 1) * SVID_RENEW_JITTER;
  return svid.notBefore + life * (SVID_RENEW_FRACTION + jitter);
}

export const caPrepareAt = (ca: Validity): number => ca.notBefore + (ca.notAfter - ca.notBefore) * CA_PREPARE_FRACTION;
export const caActivateAt = (ca: Validity): number => ca.notBefore + (ca.notAfter - ca.notBefore) * CA_ACTIVATE_FRACTION;

/** What a signing-authority set should do at `now`. */
export type RotationStep = 'prepare' | 'activate' | 'none';

export function nextRotationStep(active: Validity, hasPrepared: boolean, now: number): RotationStep {
  if (!hasPrepared && now >= caPrepareAt(active)) return 'prepare';
  if (hasPrepared && now >= caActivateAt(active)) return 'activate';
  return 'none';
}

/** When the next step falls due, for the timer; never in the past. */
export function nextRotationCheckAt(active: Validity, hasPrepared: boolean, now: number): number {
  return Math.max(now, hasPrepared ? caActivateAt(active) : caPrepareAt(active));
}
