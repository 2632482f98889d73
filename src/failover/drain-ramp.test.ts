import { describe, expect, it } from 'vitest';
import { DrainRamp } from './drain-ramp.js';

describe('DrainRamp', () => {
  it('counts all of the health until drained, then less and less over the ramp, then none', () => {
    const ramp = new DrainRamp(10_000);
    expect(ramp.update(0, false)).toBe(1);
    expect(ramp.moving(0)).toBe(false);
    expect(ramp.update(1_000, true)).toBe(1);
    expect(ramp.update(6_000, true)).toBeCloseTo(0.5);
    expect(ramp.moving(6_000)).toBe(true);
    expect(ramp.update(11_000, true)).toBe(0);
    expect(ramp.moving(11_000)).toBe(false);
  });

  it('undrained, comes back over the ramp; turned back mid-ramp, starts from where it was', () => {
    const ramp = new DrainRamp(10_000);
    ramp.update(0, true);
    expect(ramp.update(10_000, true)).toBe(0);
    expect(ramp.update(10_000, false)).toBe(0);
    expect(ramp.update(15_000, false)).toBeCloseTo(0.5);
    // Drained again halfway back: down from 0.5, over a whole ramp.
    expect(ramp.update(15_000, true)).toBeCloseTo(0.5);
    expect(ramp.update(20_000, true)).toBeCloseTo(0.25);
    expect(ramp.update(25_000, true)).toBe(0);
  });
});
