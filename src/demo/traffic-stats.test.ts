import { describe, expect, it } from 'vitest';
import { movedAt, quantile, serviceStats, shareSeries, TrafficLog } from './traffic-stats.js';
import type { Outcome } from './traffic.js';

const ok = (at: number, cluster: string, ms = 1, service = 'hello'): Outcome => ({ at, service, cluster, ok: true, ms, idempotent: service === 'hello' });
const failed = (at: number, error = '502 upstream-reset', service = 'hello'): Outcome => ({ at, service, ok: false, ms: 1, error, idempotent: service === 'hello' });

describe('quantile', () => {
  it('takes the nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted on purpose
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.99)).toBe(99);
    expect(quantile(xs, 1)).toBe(100);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });
});

describe('serviceStats', () => {
  it('gives each cluster its share of all requests, its success rate and percentiles; failures count in the total only', () => {
    const outcomes = [ok(1, 'us-east', 2), ok(2, 'us-east', 4), ok(3, 'us-west', 10), failed(4), ok(5, 'eu-west', 1, 'echo')];
    const s = serviceStats('hello', outcomes, ['us-east', 'us-west', 'eu-west']);
    expect(s.requests).toBe(4);
    expect(s.failed).toBe(1);
    expect(s.failures).toEqual({ '502 upstream-reset': 1 });
    expect(s.clusters.map((c) => [c.cluster, c.answered, c.share])).toEqual([
      ['us-east', 2, 0.5],
      ['us-west', 1, 0.25],
      ['eu-west', 0, 0],
    ]);
    expect(s.clusters[0]).toMatchObject({ successRate: 1, p50Ms: 2, p99Ms: 4 });
    expect(s.clusters[2]?.successRate).toBeNaN();
  });
});

describe('TrafficLog', () => {
  it('keeps outcomes in send order across batches and services', () => {
    const log = new TrafficLog();
    log.add([ok(10, 'a'), ok(30, 'a')]);
    log.add([ok(20, 'b', 1, 'echo')]);
    expect(log.between(0).map((o) => o.at)).toEqual([10, 20, 30]);
    expect(log.between(15, 30).map((o) => o.at)).toEqual([20]);
    expect([log.first, log.last, log.size]).toEqual([10, 30, 3]);
  });
});

describe('shareSeries', () => {
  it('splits a service into buckets of shares by cluster, failures as "failed"', () => {
    const outcomes = [ok(0, 'a'), ok(100, 'b'), ok(1_000, 'a'), failed(1_500), ok(1_600, 'x', 1, 'echo')];
    const series = shareSeries(outcomes, 'hello', 0, 3_000, 1_000);
    expect(series).toEqual([
      { at: 0, requests: 2, shares: { a: 0.5, b: 0.5 } },
      { at: 1_000, requests: 2, shares: { a: 0.5, failed: 0.5 } },
      { at: 2_000, requests: 0, shares: {} },
    ]);
  });
});

describe('movedAt', () => {
  const opts = { service: 'hello', cluster: 'w', from: 0, to: 3_000, bucketMs: 250, holds: (s: number) => s >= 0.99, minBuckets: 4 };
  const every10ms = (from: number, to: number, cluster: string) => Array.from({ length: (to - from) / 10 }, (_, i) => ok(from + i * 10, cluster));

  it('is the start of the run of buckets that holds to the end', () => {
    const outcomes = [...every10ms(0, 600, 'e'), ...every10ms(600, 3_000, 'w')];
    // 500–750 is mixed (e until 600), so the run starts at 750.
    expect(movedAt(outcomes, opts)).toBe(750);
  });

  it('does not count a move that reverts, nor a run shorter than minBuckets', () => {
    const reverted = [...every10ms(0, 1_000, 'w'), ...every10ms(1_000, 3_000, 'e')];
    expect(movedAt(reverted, opts)).toBeUndefined();
    const late = [...every10ms(0, 2_500, 'e'), ...every10ms(2_500, 3_000, 'w')];
    expect(movedAt(late, opts)).toBeUndefined();
  });

  it('skips empty buckets instead of reading them as moved or not', () => {
    const gappy = [...every10ms(0, 250, 'e'), ...every10ms(1_000, 3_000, 'w')];
    expect(movedAt(gappy, opts)).toBe(1_000);
  });
});
