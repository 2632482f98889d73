import { describe, expect, it } from 'vitest';
import type { Outcome } from './traffic.js';
import { judgeFailback, judgeFailover, judgeGatewayKilled, judgeLatencyShift, movedText } from './verdicts.js';

const hello = (at: number, cluster?: string, error?: string): Outcome =>
  cluster ? { at, service: 'hello', cluster, ok: true, ms: 1, idempotent: true } : { at, service: 'hello', ok: false, ms: 1, error: error ?? '503 no-healthy-endpoints', idempotent: true };
const echo = (at: number, cluster?: string): Outcome =>
  cluster ? { at, service: 'echo', cluster, ok: true, ms: 1, idempotent: false } : { at, service: 'echo', ok: false, ms: 1, error: 'grpc UNAVAILABLE', idempotent: false };
const every = (from: number, to: number, step: number, make: (at: number) => Outcome): Outcome[] => Array.from({ length: Math.floor((to - from) / step) }, (_, i) => make(from + i * step));

describe('judgeFailover', () => {
  const a = { from: 1_000, until: 5_000, to: 'us-west', farAway: 'eu-west' };

  it('passes when hello moves to the same region with no idempotent failure (a failed gRPC call is reported, not held against it)', () => {
    const outcomes = [...every(0, 1_000, 20, (t) => hello(t, 'us-east')), ...every(1_000, 5_000, 20, (t) => hello(t, 'us-west')), echo(1_001)];
    const v = judgeFailover(outcomes, a);
    expect(v).toMatchObject({ passed: true, failed: 1, failedIdempotent: 0, movedAfterMs: 0, missed: [] });
    expect(v.requests).toBe(201); // only what was sent during the step
  });

  it('fails on one failed GET, and when the far region took traffic first', () => {
    const withFailure = [...every(1_000, 5_000, 20, (t) => hello(t, 'us-west')), hello(1_010)];
    expect(judgeFailover(withFailure, a)).toMatchObject({ passed: false, failedIdempotent: 1, missed: ['no idempotent request failed'] });
    const far = every(1_000, 5_000, 20, (t) => hello(t, t < 2_000 ? 'eu-west' : 'us-west'));
    expect(judgeFailover(far, a).missed).toEqual(['us-west (same region) before eu-west']);
  });

  it('fails when traffic never moved', () => {
    const v = judgeFailover(every(1_000, 5_000, 20, (t) => hello(t, 'us-east')), a);
    expect(v.movedAfterMs).toBeUndefined();
    expect(v.missed).toContain('hello traffic moved to us-west');
  });
});

describe('judgeFailback', () => {
  const back = [...every(0, 20_000, 20, (t) => hello(t, 'us-west')), ...every(20_000, 30_000, 20, (t) => hello(t, 'us-east'))];

  it('needs the hold, the ramp, the failback event and traffic home', () => {
    const v = judgeFailback(back, { from: 0, until: 30_000, home: 'us-east', phases: ['failed-over', 'holding', 'ramping', 'steady'], failbackEvent: true });
    expect(v).toMatchObject({ passed: true, movedAfterMs: 20_000 });
  });

  it('fails a failback that skipped the hold or has no event', () => {
    const v = judgeFailback(back, { from: 0, until: 30_000, home: 'us-east', phases: ['failed-over', 'steady'], failbackEvent: false });
    expect(v.missed).toEqual(['failback went through its hold and ramp to steady', 'a failback event in /debug/events']);
  });
});

describe('judgeLatencyShift', () => {
  const before = every(0, 10_000, 30, (t) => echo(t, t % 90 === 0 ? 'us-west' : 'us-east')); // a third to us-west
  const a = { from: 10_000, until: 16_000, slow: 'us-west', estimateMs: 55, minEstimateMs: 40, others: ['us-east'] };

  it('passes when the slowed cluster loses over half its share and its estimate rose', () => {
    const after = every(10_000, 16_000, 30, (t) => echo(t, t < 10_100 ? 'us-west' : 'us-east'));
    const v = judgeLatencyShift(before, after, a);
    expect(v).toMatchObject({ passed: true, missed: [], movedAfterMs: 0, movedResolutionMs: 1_000 });
    expect(v.seen).toBe("us-west's share of echo 33.3 % → 0.0 % (us-east 66.7 % → 100.0 %); its latency estimate 55 ms");
  });

  it('fails when the share stays, or the estimate never rose', () => {
    const same = every(10_000, 16_000, 30, (t) => echo(t, (t - 10_000) % 90 === 0 ? 'us-west' : 'us-east'));
    expect(judgeLatencyShift(before, same, a).missed).toEqual(["us-west's share of echo fell to under half (or stayed ≤ 5 %)"]);
    const after = every(10_000, 16_000, 30, (t) => echo(t, 'us-east'));
    expect(judgeLatencyShift(before, after, { ...a, estimateMs: 12 }).missed).toEqual(["us-west's latency estimate rose to ≥ 40 ms"]);
  });

  it('accepts a negligible share when there was little to lose, but not a share that stays', () => {
    const little = every(0, 10_000, 30, (t) => echo(t, 'us-east'));
    expect(judgeLatencyShift(little, every(10_000, 16_000, 30, (t) => echo(t, 'us-east')), a).passed).toBe(true);
    const third = every(10_000, 16_000, 30, (t) => echo(t, (t - 10_000) % 90 === 0 ? 'us-west' : 'us-east'));
    expect(judgeLatencyShift(little, third, a).passed).toBe(false);
  });
});

describe('judgeGatewayKilled', () => {
  const a = { from: 0, until: 10_000, killed: 'eu-west', deadAt: 6_000, leftOut: true };

  it('passes when the gateway was marked dead, left out, and answered nothing after', () => {
    const outcomes = [...every(0, 10_000, 50, (t) => echo(t, 'us-east')), echo(10)];
    expect(judgeGatewayKilled(outcomes, a)).toMatchObject({ passed: true, failed: 1, failedIdempotent: 0 });
  });

  it('fails when never marked dead, still routed, or answering after it was declared dead', () => {
    const outcomes = [echo(7_000, 'eu-west')];
    const v = judgeGatewayKilled(outcomes, { ...a, deadAt: undefined, leftOut: false });
    expect(v.missed).toEqual(["eu-west's gateway marked dead", 'eu-west left out of routing (/debug/routes)', 'no request served by eu-west after it was marked dead']);
  });
});

describe('movedText', () => {
  it('says "at once" under one bucket, seconds above', () => {
    expect(movedText(0)).toBe('at once (< 250 ms)');
    expect(movedText(21_340)).toBe('after 21.3 s');
    expect(movedText(undefined)).toBe('never');
    expect(movedText(600, 1_000)).toBe('at once (< 1 s)');
  });
});
