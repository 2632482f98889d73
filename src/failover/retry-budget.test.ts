import { describe, expect, it } from 'vitest';
import { RetryBudget } from './retry-budget.js';

/**
 * Drives a budget at `rps` original requests a second from `from` to `to`
 * (ms), asking for one retry after each request when `retryAll` is set, and
 * returns the granted retries per whole second since `from`.
 */
function drive(budget: RetryBudget, opts: { from: number; to: number; rps: number; retryAll: boolean }): number[] {
  const perSecond: number[] = [];
  const step = 1000 / opts.rps;
  for (let t = opts.from; t < opts.to; t += step) {
    budget.recordRequest(t);
    const second = Math.floor((t - opts.from) / 1000);
    perSecond[second] ??= 0;
    if (opts.retryAll && budget.tryWithdraw(t)) perSecond[second]++;
  }
  return perSecond;
}

const total = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

describe('RetryBudget', () => {
  it('lets a steady 100 req/s retry about 20/s plus the 10/s floor', () => {
    const budget = new RetryBudget();
    drive(budget, { from: 0, to: 10_000, rps: 100, retryAll: false });
    // 20 % of 1,000 requests plus 10/s × 10 s of floor.
    expect(budget.view(10_000 - 1)).toEqual({ requests: 1000, retries: 0, available: 300 });

    // Now every request wants a retry: each 10 s grants 20/s + 10/s. Within a
    // window the grants come first-come (the savings are spent at once, as in
    // Finagle), so only the per-window total is steady.
    const granted = drive(budget, { from: 10_000, to: 110_000, rps: 100, retryAll: true });
    for (let start = 0; start < 100; start += 10) expect(total(granted.slice(start, start + 10))).toBe(300);
  });

  it('never grants more than 20 % of requests + 10/s × 10 s in any 10 s window of an outage', () => {
    const budget = new RetryBudget();
    // Every request fails and asks for a retry, for a minute.
    const granted = drive(budget, { from: 0, to: 60_000, rps: 100, retryAll: true });
    for (let start = 0; start + 10 <= granted.length; start++) {
      const retries = total(granted.slice(start, start + 10));
      expect(retries).toBeLessThanOrEqual(0.2 * 1000 + 10 * 10);
    }
    // The bound is reached, not just respected: exactly 300 in the first 10 s.
    expect(total(granted.slice(0, 10))).toBe(300);
    // Every request is retried until the floor is spent (the first second's
    // 100 retries leave 20 deposited tokens for the next second); from then on
    // retries follow deposits: one in five requests.
    expect(granted.slice(0, 4)).toEqual([100, 40, 20, 20]);
  });

  it('forgets deposits and retries once they leave the window', () => {
    const budget = new RetryBudget();
    for (let t = 0; t < 1000; t++) budget.recordRequest(t);
    expect(budget.view(9_999)).toEqual({ requests: 1000, retries: 0, available: 300 });
    expect(budget.view(10_000)).toEqual({ requests: 0, retries: 0, available: 100 });

    // Spend the whole floor; it returns only when those retries age out.
    const idle = new RetryBudget();
    let granted = 0;
    while (idle.tryWithdraw(20_000)) granted++;
    expect(granted).toBe(100);
    expect(idle.tryWithdraw(29_999)).toBe(false);
    expect(idle.view(29_999)).toEqual({ requests: 0, retries: 100, available: 0 });
    expect(idle.tryWithdraw(30_000)).toBe(true);
  });

  it('grants the floor alone, 10 retries/s, with no traffic', () => {
    const budget = new RetryBudget();
    const perSecond: number[] = [];
    for (let t = 0; t < 60_000; t += 10) {
      const second = Math.floor(t / 1000);
      perSecond[second] ??= 0;
      if (budget.tryWithdraw(t)) perSecond[second]++;
    }
    expect(total(perSecond)).toBe(10 * 60);
    for (let start = 0; start + 10 <= 60; start += 10) expect(total(perSecond.slice(start, start + 10))).toBe(100);
  });

  it('with no floor and no traffic, never retries', () => {
    const budget = new RetryBudget({ minPerSecond: 0 });
    expect(budget.tryWithdraw(0)).toBe(false);
    for (let i = 0; i < 5; i++) budget.recordRequest(1);
    expect(budget.tryWithdraw(2)).toBe(true);
    expect(budget.tryWithdraw(2)).toBe(false);
  });

  it('does not revive expired buckets when the clock steps back', () => {
    const budget = new RetryBudget();
    for (let i = 0; i < 100; i++) budget.recordRequest(0);
    expect(budget.view(20_000).requests).toBe(0);
    budget.recordRequest(5_000);
    expect(budget.view(5_000)).toEqual({ requests: 1, retries: 0, available: 100 });
  });

  it('rejects nonsense options', () => {
    expect(() => new RetryBudget({ ratio: -0.1 })).toThrow(RangeError);
    expect(() => new RetryBudget({ windowMs: 0 })).toThrow(RangeError);
    expect(() => new RetryBudget({ minPerSecond: Number.NaN })).toThrow(RangeError);
  });
});
