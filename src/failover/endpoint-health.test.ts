import { describe, expect, it } from 'vitest';
import { EndpointHealth, probeTimeout } from './endpoint-health.js';

describe('EndpointHealth', () => {
  it('takes the first result at once', () => {
    const up = new EndpointHealth({ healthyThreshold: 2, unhealthyThreshold: 3 });
    expect(up.record(true, '200', 0)).toBe(true);
    expect(up.healthy).toBe(true);
    const down = new EndpointHealth({ healthyThreshold: 2, unhealthyThreshold: 3 });
    down.record(false, 'connect ECONNREFUSED', 0);
    expect(down.view()).toMatchObject({ state: 'unhealthy', reason: 'connect ECONNREFUSED', since: 0 });
  });

  it('turns unhealthy only after the failure threshold and healthy after the pass threshold', () => {
    const h = new EndpointHealth({ healthyThreshold: 2, unhealthyThreshold: 3 });
    h.record(true, '200', 0);
    expect([h.record(false, '503', 1), h.record(false, '503', 2)]).toEqual([false, false]);
    expect(h.healthy).toBe(true);
    expect(h.record(false, '503', 3)).toBe(true);
    expect(h.view()).toMatchObject({ state: 'unhealthy', since: 3 });
    expect(h.record(true, '200', 4)).toBe(false);
    expect(h.record(true, '200', 5)).toBe(true);
    expect(h.healthy).toBe(true);
  });

  it('resets the failure run on a pass', () => {
    const h = new EndpointHealth({ healthyThreshold: 1, unhealthyThreshold: 2 });
    h.record(true, '200', 0);
    h.record(false, 'timeout', 1);
    h.record(true, '200', 2);
    h.record(false, 'timeout', 3);
    expect(h.healthy).toBe(true);
  });
});

describe('EndpointHealth flaps and inconclusive checks', () => {
  it('counts changes between healthy and unhealthy, not the first verdict', () => {
    const h = new EndpointHealth({ healthyThreshold: 1, unhealthyThreshold: 1 });
    h.record(true, '200', 0);
    expect(h.view().flaps).toBe(0);
    h.record(false, '503', 1);
    h.record(true, '200', 2);
    expect(h.view().flaps).toBe(2);
  });

  it('notes an inconclusive check without touching the runs or the state', () => {
    const h = new EndpointHealth({ healthyThreshold: 1, unhealthyThreshold: 2 });
    h.record(true, '200', 0);
    h.record(false, 'timeout', 1);
    h.recordInconclusive('stalled', 2);
    expect(h.view()).toMatchObject({ state: 'healthy', reason: 'stalled', lastCheckedAt: 2, inconclusive: 1, flaps: 0 });
    // The failure run goes on where it was: one more failure is the second in a row.
    expect(h.record(false, 'timeout', 3)).toBe(true);
    expect(h.healthy).toBe(false);
  });
});

describe('probeTimeout', () => {
  it('is a failure once the endpoint had its whole timeout while we were listening', () => {
    expect(probeTimeout(0, 1_000, 0, 1_000)).toEqual({ kind: 'failed' });
    expect(probeTimeout(0, 1_000, 10, 1_000)).toEqual({ kind: 'extend', waitMs: 10 });
    expect(probeTimeout(0, 1_010, 10, 1_000)).toEqual({ kind: 'failed' });
  });

  it('waits out a stall that ate into the budget: the answer may be unread in the socket', () => {
    // Stalled for the first 800 ms: the endpoint is owed what the stall took.
    expect(probeTimeout(0, 1_000, 800, 1_000)).toEqual({ kind: 'extend', waitMs: 800 });
    // Stalled from 200 to 1,800 ms, so the timer fired 800 ms late: it had only 200 ms of our attention.
    expect(probeTimeout(0, 1_800, 1_600, 1_000)).toEqual({ kind: 'extend', waitMs: 800 });
    // A stall after the deadline excuses nothing: the answer was already late.
    expect(probeTimeout(0, 1_800, 800, 1_000)).toEqual({ kind: 'failed' });
  });

  it('gives up as inconclusive, never as a failure, when stalls stretch the probe past 3 × its timeout', () => {
    expect(probeTimeout(0, 2_500, 2_000, 1_000)).toEqual({ kind: 'extend', waitMs: 500 });
    expect(probeTimeout(0, 3_000, 2_400, 1_000)).toEqual({ kind: 'inconclusive', stalledMs: 2_400 });
    // A process stopped for 5 s: everything it measured is stall.
    expect(probeTimeout(0, 5_000, 4_990, 1_000)).toEqual({ kind: 'inconclusive', stalledMs: 4_990 });
  });

  it('never owes more than the timeout, whatever the stall reading', () => {
    expect(probeTimeout(0, 100, 500, 1_000)).toEqual({ kind: 'extend', waitMs: 1_000 });
  });
});
