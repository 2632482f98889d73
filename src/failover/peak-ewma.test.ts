import { describe, expect, it } from 'vitest';
import { mulberry32 as seeded } from '../../test/harness/seeded-random.js';
import { PeakEwma, chooseP2C, type RequestOutcome } from './peak-ewma.js';

const DECAY = 10_000;
const ok = (rttMs: number): RequestOutcome => ({ rttMs, failed: false, overloaded: false });

/** One request finishes before the next is chosen; each takes its target's RTT ± 50 %. */
function shares(rtts: readonly number[], requests: number, seed: number): number[] {
  const random = seeded(seed);
  let now = 0;
  const targets = rtts.map((rttMs) => ({ rttMs, load: new PeakEwma({ now }) }));
  const counts = rtts.map(() => 0);
  for (let n = 0; n < requests; n++) {
    const t = chooseP2C(targets, (x) => x.load.cost(now), random);
    if (!t) throw new Error('no target');
    counts[targets.indexOf(t)]!++;
    t.load.start(now);
    const rtt = t.rttMs * (0.5 + random());
    now += rtt;
    t.load.finish(now, ok(rtt));
  }
  return counts.map((c) => c / requests);
}

describe('PeakEwma', () => {
  it('starts an unknown target at the default RTT', () => {
    const e = new PeakEwma({ now: 5 });
    expect(e.view(5)).toEqual({ rttMs: 30, inFlight: 0, cost: 30 });
    expect(new PeakEwma({ defaultRttMs: 50, now: 0 }).cost(0)).toBe(50);
  });

  it('jumps to a peak at once, then decays towards zero while idle', () => {
    const e = new PeakEwma({ decayMs: DECAY, now: 0 });
    e.start(0);
    e.finish(100, ok(100));
    expect(e.view(100).rttMs).toBe(100);
    expect(e.view(100 + DECAY).rttMs).toBeCloseTo(100 * Math.exp(-1), 9); // ≈ 36.8
    expect(e.view(100 + 3 * DECAY).rttMs).toBeCloseTo(100 * Math.exp(-3), 9); // ≈ 5.0
  });

  it('lets a faster response pull the estimate down only as fast as time passed', () => {
    const e = new PeakEwma({ decayMs: DECAY, now: 0 });
    e.finish(0, ok(100));
    e.finish(0, ok(20)); // no time passed: the peak stands
    expect(e.view(0).rttMs).toBe(100);
    e.finish(DECAY, ok(20));
    expect(e.view(DECAY).rttMs).toBeCloseTo(100 * Math.exp(-1) + 20 * (1 - Math.exp(-1)), 9); // ≈ 49.4
  });

  it('does not change state when read', () => {
    const read = new PeakEwma({ now: 0 });
    const unread = new PeakEwma({ now: 0 });
    for (const e of [read, unread]) e.finish(0, ok(200));
    for (let t = 0; t <= 5_000; t += 100) read.view(t);
    for (const e of [read, unread]) e.finish(5_000, ok(50));
    expect(read.view(6_000)).toEqual(unread.view(6_000));
  });

  it('multiplies the cost by the requests in flight plus one', () => {
    const e = new PeakEwma({ now: 0 });
    e.start(0);
    e.start(0);
    e.start(0);
    expect(e.view(0)).toEqual({ rttMs: 30, inFlight: 3, cost: 120 });
    e.finish(0, ok(30));
    expect(e.cost(0)).toBe(90);
  });

  it('never counts in-flight requests below zero', () => {
    const e = new PeakEwma({ now: 0 });
    e.finish(0, ok(10));
    expect(e.view(0).inFlight).toBe(0);
  });

  it('makes a fast-failing target cost more than a slow healthy one', () => {
    const failing = new PeakEwma({ now: 0 });
    const overloaded = new PeakEwma({ now: 0 });
    const slow = new PeakEwma({ now: 0 });
    failing.finish(1, { rttMs: 1, failed: true, overloaded: false });
    overloaded.finish(1, { rttMs: 1, failed: false, overloaded: true });
    slow.finish(200, ok(200));
    expect(failing.cost(200)).toBeGreaterThan(slow.cost(200));
    expect(overloaded.cost(200)).toBeGreaterThan(slow.cost(200));
    // 10 × max(1 ms, default 30 ms)
    expect(failing.view(1).rttMs).toBe(300);
  });

  it('does not compound the penalty over a run of failures', () => {
    const e = new PeakEwma({ now: 0 });
    for (let i = 0; i < 5; i++) e.finish(0, { rttMs: 2, failed: true, overloaded: false });
    expect(e.view(0).rttMs).toBe(300);
  });

  it('rejects a non-positive decay or default RTT', () => {
    expect(() => new PeakEwma({ decayMs: 0, now: 0 })).toThrow(RangeError);
    expect(() => new PeakEwma({ defaultRttMs: -1, now: 0 })).toThrow(RangeError);
  });
});

describe('chooseP2C', () => {
  const never = (): number => {
    throw new Error('random must not be called');
  };

  it('returns undefined for none and the only one for one', () => {
    expect(chooseP2C([], () => 0, never)).toBeUndefined();
    expect(chooseP2C(['a'], () => 0, never)).toBe('a');
  });

  it('compares two distinct candidates and keeps the cheaper, the first pick on a tie', () => {
    const cost: Record<string, number> = { a: 5, b: 1, c: 1 };
    const draws = (...xs: number[]) => () => xs.shift() ?? 0;
    // first pick a (0.0), second from [b, c] → b (0.0): b is cheaper
    expect(chooseP2C(['a', 'b', 'c'], (x) => cost[x]!, draws(0, 0))).toBe('b');
    // first pick c (0.99), second from [a, b] → b (0.99): tie, first pick wins
    expect(chooseP2C(['a', 'b', 'c'], (x) => cost[x]!, draws(0.99, 0.99))).toBe('c');
    // random() returning 1 must not index past the end
    expect(chooseP2C(['a', 'b'], (x) => cost[x]!, () => 1)).toBe('b');
  });

  it('picks pairs uniformly at random', () => {
    const random = seeded(7);
    const pairs = new Map<string, number>();
    for (let n = 0; n < 12_000; n++) {
      const seen: string[] = [];
      chooseP2C(['a', 'b', 'c', 'd'], (x) => (seen.push(x), 0), random);
      const key = [...seen].sort().join('');
      expect(seen[0]).not.toBe(seen[1]);
      pairs.set(key, (pairs.get(key) ?? 0) + 1);
    }
    expect(pairs.size).toBe(6);
    for (const count of pairs.values()) expect(count / 12_000).toBeGreaterThan(1 / 6 - 0.02);
  });
});

describe('peak-EWMA P2C', () => {
  it('sends most traffic to the faster of two targets, but still probes the slower', () => {
    const [fast, slow] = shares([10, 30], 10_000, 42);
    // seed 42: 99.86 % / 0.14 %; the slow one is retried each time its idle
    // estimate decays below the fast one's (about every 11 s).
    expect(fast).toBeGreaterThan(0.9);
    expect(slow).toBeGreaterThan(0);
    expect(shares([10, 30], 10_000, 42)).toEqual([fast, slow]);
  });

  it('gives the slowest of three targets the least', () => {
    const [fast, mid, slow] = shares([10, 30, 60], 10_000, 42) as [number, number, number];
    // seed 42: 66.3 % / 33.4 % / 0.4 %. Without concurrency the fastest is
    // capped near 2/3: it loses whenever the pair drawn is the other two.
    expect(fast).toBeGreaterThan(0.6);
    expect(slow).toBeLessThan(0.05);
    expect(fast).toBeGreaterThan(mid);
    expect(mid).toBeGreaterThan(slow);
    expect(slow).toBeGreaterThan(0);
  });
});
