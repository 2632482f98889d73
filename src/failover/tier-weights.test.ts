import { describe, expect, it } from 'vitest';
import { pickTier, tierShares, type TierHealth } from './tier-weights.js';

const tiers = (...fractions: number[]): TierHealth[] => fractions.map((healthyFraction, i) => ({ name: `t${i}`, healthyFraction }));

const expectShares = (actual: readonly number[], expected: readonly number[]) => {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, 12));
  expect(actual.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
};

describe('tierShares', () => {
  it.each([
    { name: 'all healthy: tier 0 takes everything', fractions: [1, 1], shares: [1, 0] },
    { name: '80 % healthy: 0.8 × 1.4 = 1.12, capped at 1', fractions: [0.8, 1], shares: [1, 0] },
    { name: 'exactly 1/1.4 healthy still keeps everything', fractions: [1 / 1.4, 1], shares: [1, 0] },
    { name: '50 % healthy: 0.7 stays, 0.3 spills', fractions: [0.5, 1], shares: [0.7, 0.3] },
    { name: 'both short: normalized by 0.7 + 0.14', fractions: [0.5, 0.1], shares: [0.7 / 0.84, 0.14 / 0.84] },
    { name: 'tier 0 down, tier 1 half healthy: normalized to all of tier 1', fractions: [0, 0.5], shares: [0, 1] },
    { name: 'three tiers: 0.7, then 0.3 of 0.7, nothing for the third', fractions: [0.5, 0.5, 1], shares: [0.7, 0.3, 0] },
    { name: 'three tiers cascading into the third', fractions: [0.25, 0.25, 1], shares: [0.35, 0.35, 0.3] },
    { name: 'three tiers short but over 1 in sum: no normalization', fractions: [0.25, 0.25, 0.25], shares: [0.35, 0.35, 0.3] },
    { name: 'three tiers, middle down', fractions: [0.5, 0, 1], shares: [0.7, 0, 0.3] },
    { name: 'one tier, barely healthy', fractions: [0.01], shares: [1] },
  ])('$name', ({ fractions, shares }) => {
    const out = tierShares(tiers(...fractions));
    expect(out.panic).toBe(false);
    expectShares(out.shares, shares);
  });

  it('takes the overprovisioning factor from the caller', () => {
    expectShares(tierShares(tiers(0.5, 1), 1).shares, [0.5, 0.5]);
    // Consul's "fail over only at zero" is a huge factor.
    expectShares(tierShares(tiers(0.01, 1), 100_000).shares, [1, 0]);
  });

  it('panics when nothing is healthy: all traffic to the first tier with endpoints', () => {
    expect(tierShares(tiers(0, 0))).toEqual({ shares: [1, 0], panic: true });
    const some = [
      { name: 'local', healthyFraction: 0, endpoints: 0 },
      { name: 'region', healthyFraction: 0, endpoints: 3 },
      { name: 'any', healthyFraction: 0, endpoints: 5 },
    ];
    expect(tierShares(some)).toEqual({ shares: [0, 1, 0], panic: true });
    const none = some.map((t) => ({ ...t, endpoints: 0 }));
    expect(tierShares(none)).toEqual({ shares: [1, 0, 0], panic: true });
  });

  it('does not panic while any tier is healthy at all', () => {
    const out = tierShares(tiers(0, 0, 0.01));
    expect(out.panic).toBe(false);
    expectShares(out.shares, [0, 0, 1]);
  });

  it('rejects fractions outside [0, 1], naming the tier', () => {
    expect(() => tierShares(tiers(1.2))).toThrow(/tier t0: healthyFraction must be in \[0, 1\], got 1.2/);
    expect(() => tierShares(tiers(1, -0.1))).toThrow(/tier t1/);
    expect(() => tierShares(tiers(Number.NaN))).toThrow(RangeError);
    expect(() => tierShares([{ name: 'x', healthyFraction: 0.5, endpoints: 0 }])).toThrow(/has no endpoints/);
  });

  it('rejects no tiers and a bad factor', () => {
    expect(() => tierShares([])).toThrow(/at least one tier/);
    expect(() => tierShares(tiers(1), 0)).toThrow(/overprovisioning/);
    expect(() => tierShares(tiers(1), Number.POSITIVE_INFINITY)).toThrow(/overprovisioning/);
  });
});

describe('pickTier', () => {
  it('maps [0, 1) onto the tiers by their shares', () => {
    const shares = [0.7, 0.3];
    expect(pickTier(shares, 0)).toBe(0);
    expect(pickTier(shares, 0.69)).toBe(0);
    expect(pickTier(shares, 0.7)).toBe(1);
    expect(pickTier(shares, 0.999)).toBe(1);
  });

  it('never picks a tier with share 0', () => {
    expect(pickTier([0, 1, 0], 0)).toBe(1);
    expect(pickTier([0, 1, 0], 0.9999)).toBe(1);
    expect(pickTier([0.5, 0, 0.5], 0.5)).toBe(2);
  });

  it('does not drop a request when the shares add up to a hair under 1', () => {
    expect(pickTier([0.5, 0.5 - 1e-15, 0], 1 - Number.EPSILON / 2)).toBe(1);
  });

  it('returns -1 only when every share is 0', () => {
    expect(pickTier([0, 0], 0.5)).toBe(-1);
    expect(pickTier([], 0.5)).toBe(-1);
  });

  it('follows tierShares over many uniform draws', () => {
    const { shares } = tierShares(tiers(0.5, 1));
    const counts = [0, 0];
    for (let i = 0; i < 1000; i++) counts[pickTier(shares, i / 1000)]!++;
    expect(counts).toEqual([700, 300]);
  });
});
