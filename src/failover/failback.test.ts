import { describe, expect, it } from 'vitest';
import { FailbackGate } from './failback.js';

// No jitter unless a test asks for it, so the phase boundaries are exact.
const gate = (random = () => 0) => new FailbackGate({ holdMs: 10_000, rampMs: 10_000, jitterMs: 2_000, random });

/** Fails over at t = 0 and recovers at t = 1_000: hold until 11_000, ramp until 21_000. */
const recovered = (random?: () => number) => {
  const g = gate(random);
  g.observe(0, false);
  g.observe(1_000, true);
  return g;
};

describe('FailbackGate', () => {
  it('gives the whole share while it never failed over', () => {
    const g = gate();
    expect(g.allowedShare(0)).toBe(1);
    g.observe(5, true);
    expect(g.view(10)).toEqual({ phase: 'steady', since: undefined, allowedShare: 1, reason: 'never failed over' });
  });

  it('fails over at the first unhealthy observation and keeps the time of the first failure', () => {
    const g = gate();
    g.observe(100, false);
    g.observe(200, false);
    expect(g.view(300)).toEqual({ phase: 'failed-over', since: 100, allowedShare: 0, reason: 'preferred tier unhealthy' });
  });

  it('holds at 0 for the whole hold after recovery', () => {
    const g = recovered();
    for (const t of [1_000, 5_000, 10_999]) expect(g.allowedShare(t)).toBe(0);
    expect(g.view(4_000)).toMatchObject({ phase: 'holding', since: 1_000, allowedShare: 0, reason: 'healthy for 3000 ms of a 10000 ms hold (10000 ms + jitter)' });
  });

  it('ramps linearly: 0 at the start, 0.5 halfway, 1 at the end', () => {
    const g = recovered();
    expect(g.view(11_000)).toMatchObject({ phase: 'ramping', since: 11_000, allowedShare: 0 });
    expect(g.allowedShare(13_500)).toBeCloseTo(0.25, 12);
    expect(g.view(16_000)).toMatchObject({ phase: 'ramping', allowedShare: 0.5, reason: "ramping back: 50 % of the tier's share over 10000 ms" });
    expect(g.view(21_000)).toEqual({ phase: 'steady', since: 21_000, allowedShare: 1, reason: 'failed back after the ramp' });
    expect(g.allowedShare(1e9)).toBe(1);
  });

  it('never lets traffic back for a healthy blip shorter than the hold', () => {
    const g = gate();
    g.observe(0, false);
    // Healthy for 9.9 s at a time, then sick again, over and over.
    for (let t = 1_000; t < 100_000; t += 10_000) {
      g.observe(t, true);
      for (let probe = t; probe < t + 9_900; probe += 100) expect(g.allowedShare(probe)).toBe(0);
      g.observe(t + 9_900, false);
    }
    expect(g.view(100_000)).toMatchObject({ phase: 'failed-over', allowedShare: 0, reason: 'relapsed while holding: hold restarts on recovery' });
  });

  it('drops to 0 and restarts the hold on a relapse during the ramp', () => {
    const g = recovered();
    expect(g.allowedShare(16_000)).toBe(0.5);
    g.observe(16_000, false);
    expect(g.view(16_001)).toEqual({ phase: 'failed-over', since: 16_000, allowedShare: 0, reason: 'relapsed while ramping: hold restarts on recovery' });
    g.observe(17_000, true);
    expect(g.allowedShare(26_999)).toBe(0);
    expect(g.allowedShare(32_000)).toBe(0.5);
  });

  it('fails over again after a completed failback, without re-ramping at once', () => {
    const g = recovered();
    g.observe(30_000, true); // settles into steady after the ramp ended at 21_000
    expect(g.view(30_000)).toMatchObject({ phase: 'steady', since: 21_000 });
    g.observe(40_000, false);
    expect(g.view(40_000)).toMatchObject({ phase: 'failed-over', since: 40_000, reason: 'preferred tier unhealthy' });
    g.observe(41_000, true);
    expect(g.allowedShare(50_999)).toBe(0);
    expect(g.allowedShare(56_000)).toBe(0.5);
    expect(g.view(61_000)).toMatchObject({ phase: 'steady', since: 61_000, allowedShare: 1 });
  });

  it('offsets the ramp start by random() × jitterMs, drawn anew for each recovery', () => {
    const early = recovered(() => 0);
    const late = recovered(() => 0.999);
    const mid = recovered(() => 0.5);
    // Ramp starts: 11_000, 12_000 and 12_998; all within [hold, hold + jitter).
    expect(mid.view(11_999)).toMatchObject({ phase: 'holding', reason: 'healthy for 10999 ms of a 11000 ms hold (10000 ms + jitter)' });
    expect(mid.view(12_000)).toMatchObject({ phase: 'ramping', since: 12_000, allowedShare: 0 });
    expect(late.allowedShare(12_997)).toBe(0);
    expect(late.view(12_998)).toMatchObject({ phase: 'ramping', since: 12_998 });
    expect(early.allowedShare(17_000)).toBeGreaterThan(late.allowedShare(17_000));
    // Every gateway is back by hold + jitter + ramp.
    for (const g of [early, mid, late]) expect(g.allowedShare(1_000 + 10_000 + 2_000 + 10_000)).toBe(1);

    const draws = [0.25, 0.75];
    const g = gate(() => draws.shift() ?? 0);
    g.observe(0, false);
    g.observe(0, true);
    expect(g.view(10_500)).toMatchObject({ phase: 'ramping', since: 10_500 });
    g.observe(10_500, false);
    g.observe(20_000, true);
    expect(g.view(31_499)).toMatchObject({ phase: 'holding' });
    expect(g.view(31_500)).toMatchObject({ phase: 'ramping', since: 31_500 });
  });

  it('takes the documented defaults and rejects bad durations', () => {
    const g = new FailbackGate({ random: () => 1 - Number.EPSILON });
    g.observe(0, false);
    g.observe(0, true);
    expect(g.allowedShare(11_999)).toBe(0);
    expect(g.allowedShare(17_000)).toBeCloseTo(0.5, 6);
    expect(g.allowedShare(22_000)).toBe(1);
    expect(() => new FailbackGate({ holdMs: -1, random: Math.random })).toThrow(/holdMs/);
    expect(() => new FailbackGate({ rampMs: Number.NaN, random: Math.random })).toThrow(/rampMs/);
  });

  it('switches at once when rampMs is 0', () => {
    const g = new FailbackGate({ holdMs: 1_000, rampMs: 0, jitterMs: 0, random: () => 0.5 });
    g.observe(0, false);
    g.observe(0, true);
    expect(g.allowedShare(999)).toBe(0);
    expect(g.allowedShare(1_000)).toBe(1);
  });
});
