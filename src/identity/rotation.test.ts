import { describe, expect, it } from 'vitest';
import { caActivateAt, caPrepareAt, nextRotationCheckAt, nextRotationStep, svidRenewAt } from './rotation.js';

const HOUR = 3_600_000;

describe('svidRenewAt', () => {
  const svid = { notBefore: 0, notAfter: HOUR };

  it('renews at half life without jitter', () => {
    expect(svidRenewAt(svid, () => 0.5)).toBe(HOUR / 2);
  });

  it('keeps the jitter within ±10 % of the life', () => {
    expect(svidRenewAt(svid, () => 0)).toBeCloseTo(HOUR * 0.4);
    expect(svidRenewAt(svid, () => 0.999999)).toBeCloseTo(HOUR * 0.6, -1);
  });
});

describe('signing CA rotation', () => {
  const ca = { notBefore: 0, notAfter: 24 * HOUR };

  it('prepares at 1/2 and activates at 5/6 of the active CA life', () => {
    expect(caPrepareAt(ca)).toBe(12 * HOUR);
    expect(caActivateAt(ca)).toBe(20 * HOUR);
  });

  it('steps: nothing, then prepare, then activate once prepared', () => {
    expect(nextRotationStep(ca, false, 11 * HOUR)).toBe('none');
    expect(nextRotationStep(ca, false, 12 * HOUR)).toBe('prepare');
    expect(nextRotationStep(ca, true, 19 * HOUR)).toBe('none');
    expect(nextRotationStep(ca, true, 20 * HOUR)).toBe('activate');
    // A process that slept through both moments prepares first, then activates.
    expect(nextRotationStep(ca, false, 21 * HOUR)).toBe('prepare');
  });

  it('schedules the next check at the next due moment, never in the past', () => {
    expect(nextRotationCheckAt(ca, false, 1 * HOUR)).toBe(12 * HOUR);
    expect(nextRotationCheckAt(ca, true, 13 * HOUR)).toBe(20 * HOUR);
    expect(nextRotationCheckAt(ca, true, 21 * HOUR)).toBe(21 * HOUR);
  });
});
