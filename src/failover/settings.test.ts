import { describe, expect, it } from 'vitest';
import { DEFAULT_FAILOVER_SETTINGS } from './settings.js';

describe('DEFAULT_FAILOVER_SETTINGS', () => {
  it('holds the defaults operators of linkerd and Envoy expect', () => {
    expect(DEFAULT_FAILOVER_SETTINGS).toEqual({
      maxInFlightPerTarget: 5_000,
      peakEwma: { decayMs: 10_000, defaultRttMs: 30 },
      ejection: { consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000 },
      retryBudget: { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 },
      maxRetriesPerRequest: 2,
      failback: { holdMs: 10_000, rampMs: 10_000, jitterMs: 1_000 },
    });
    expect(Object.isFrozen(DEFAULT_FAILOVER_SETTINGS.ejection)).toBe(true);
  });
});
