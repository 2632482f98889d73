import { describe, expect, it } from 'vitest';
import { EndpointHealth, nextCheckAt } from './endpoint-health.js';

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

describe('nextCheckAt', () => {
  it('spreads checks within ±10 % of the interval', () => {
    expect(nextCheckAt(1_000, 5_000, () => 0)).toBe(5_500);
    expect(nextCheckAt(1_000, 5_000, () => 0.5)).toBe(6_000);
    expect(nextCheckAt(1_000, 5_000, () => 1)).toBe(6_500);
  });
});
