import { describe, expect, it } from 'vitest';
import { OutlierEjection } from './outlier-ejection.js';

/** Records `n` failures at `now`; returns whether the last one changed the state. */
function fail(o: OutlierEjection, now: number, n: number, label = 'upstream-reset'): boolean {
  let changed = false;
  for (let i = 0; i < n; i++) changed = o.record(now, false, label);
  return changed;
}

/** How long the current ejection lasts, counted from `now` (the moment it began). */
function ejectionLength(o: OutlierEjection, now: number): number {
  const until = o.view(now).ejectedUntil;
  if (until === undefined) throw new Error('not ejected');
  return until - now;
}

describe('OutlierEjection', () => {
  it('ejects after exactly 5 consecutive failures, not 4', () => {
    const o = new OutlierEjection();
    expect(fail(o, 0, 4)).toBe(false);
    expect(o.state(0)).toBe('active');
    expect(o.view(0)).toMatchObject({ state: 'active', consecutiveFailures: 4, reason: '4 consecutive failures (last: upstream-reset)' });
    expect(fail(o, 1, 1)).toBe(true);
    expect(o.view(1)).toEqual({
      state: 'ejected',
      consecutiveFailures: 5,
      timesEjected: 1,
      ejectedUntil: 30_001,
      since: 1,
      reason: '5 consecutive failures (last: upstream-reset)',
    });
  });

  it('resets the streak on a success', () => {
    const o = new OutlierEjection();
    fail(o, 0, 4);
    expect(o.record(1, true)).toBe(false);
    expect(o.view(1)).toMatchObject({ consecutiveFailures: 0, reason: 'no failures' });
    fail(o, 2, 4);
    expect(o.state(2)).toBe('active');
    fail(o, 3, 1, '502');
    expect(o.view(3)).toMatchObject({ state: 'ejected', reason: '5 consecutive failures (last: 502)' });
  });

  it('ignores outcomes of requests already in flight while ejected', () => {
    const o = new OutlierEjection();
    fail(o, 0, 5);
    expect(o.record(100, true)).toBe(false);
    expect(o.record(200, false, 'late')).toBe(false);
    expect(o.view(300)).toMatchObject({ state: 'ejected', consecutiveFailures: 5, ejectedUntil: 30_000 });
  });

  it('ejects for 30 s, 60 s, 90 s … capped at 300 s while the probes keep failing', () => {
    const o = new OutlierEjection();
    fail(o, 0, 5);
    const lengths: number[] = [];
    let now = 0;
    for (let i = 0; i < 12; i++) {
      lengths.push(ejectionLength(o, now));
      now = o.view(now).ejectedUntil!;
      expect(o.state(now - 1)).toBe('ejected');
      expect(o.state(now)).toBe('probing');
      expect(o.tryProbe(now)).toBe(true);
      expect(o.record(now, false, 'connect-refused')).toBe(true);
    }
    expect(lengths.map((ms) => ms / 1000)).toEqual([30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]);
    expect(o.view(now)).toMatchObject({ state: 'ejected', timesEjected: 13, reason: 'probe failed (connect-refused)' });
  });

  it('lets exactly one probe through once the ejection is over', () => {
    const o = new OutlierEjection();
    fail(o, 0, 5);
    expect(o.tryProbe(29_999)).toBe(false);
    expect(o.view(30_000)).toMatchObject({ state: 'probing', since: 30_000, reason: '5 consecutive failures (last: upstream-reset); ejection over, waiting for a probe' });
    expect(o.tryProbe(30_000)).toBe(true);
    expect(o.tryProbe(30_001)).toBe(false);
    expect(o.tryProbe(35_000)).toBe(false);
    expect(o.view(35_000).reason).toMatch(/probe in flight$/);
    expect(o.state(35_000)).toBe('probing');
  });

  it('returns to active on a successful probe, keeping the history for a while', () => {
    const o = new OutlierEjection();
    fail(o, 0, 5);
    o.tryProbe(30_000);
    expect(o.record(30_100, true)).toBe(true);
    expect(o.view(30_100)).toEqual({
      state: 'active',
      consecutiveFailures: 0,
      timesEjected: 1,
      ejectedUntil: undefined,
      since: 30_100,
      reason: 'probe succeeded after 1 ejection',
    });
    expect(o.tryProbe(30_200)).toBe(false);

    // Flapping: failing again soon is ejected for longer.
    fail(o, 40_000, 5);
    expect(ejectionLength(o, 40_000)).toBe(60_000);
  });

  it('re-ejects for longer when the probe fails', () => {
    const o = new OutlierEjection();
    fail(o, 0, 5);
    expect(o.tryProbe(30_000)).toBe(true);
    expect(o.record(30_500, false, 'upstream-reset')).toBe(true);
    expect(o.view(30_500)).toMatchObject({ state: 'ejected', consecutiveFailures: 6, timesEjected: 2, ejectedUntil: 90_500, since: 30_500 });
    expect(o.tryProbe(90_499)).toBe(false);
    expect(o.tryProbe(90_500)).toBe(true);
  });

  it('forgets past ejections after the maximum ejection time of good behaviour', () => {
    const o = new OutlierEjection();
    fail(o, 0, 5);
    o.tryProbe(30_000);
    o.record(30_000, true);
    expect(o.view(329_999).timesEjected).toBe(1);
    expect(o.view(330_000)).toMatchObject({ state: 'active', timesEjected: 0, reason: 'no ejection for 300 s: the next one starts again from 30 s' });
    fail(o, 400_000, 5);
    expect(ejectionLength(o, 400_000)).toBe(30_000);
  });

  it('frees the probe slot when a probe never reports', () => {
    const o = new OutlierEjection({ probeTimeoutMs: 10_000 });
    fail(o, 0, 5);
    expect(o.tryProbe(30_000)).toBe(true);
    expect(o.tryProbe(39_999)).toBe(false);
    expect(o.tryProbe(40_000)).toBe(true);
  });

  it('follows its options and rejects nonsense', () => {
    const o = new OutlierEjection({ consecutiveFailures: 2, baseEjectionMs: 1_000, maxEjectionMs: 1_500 });
    expect(fail(o, 0, 2, 'x')).toBe(true);
    expect(ejectionLength(o, 0)).toBe(1_000);
    o.record(1_000, false);
    expect(ejectionLength(o, 1_000)).toBe(1_500);
    expect(o.view(1_000).reason).toBe('probe failed');
    expect(() => new OutlierEjection({ consecutiveFailures: 0 })).toThrow(RangeError);
    expect(() => new OutlierEjection({ baseEjectionMs: -1 })).toThrow(RangeError);
  });
});
