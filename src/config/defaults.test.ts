import { describe, expect, it } from 'vitest';
import { DEFAULTS } from './defaults.js';

describe('DEFAULTS', () => {
  it('holds the config defaults of DESIGN.md and the brief', () => {
    expect(DEFAULTS.listeners).toEqual({
      local: { host: '127.0.0.1', port: 4140 },
      federation: { host: '0.0.0.0', port: 4143 },
      admin: { host: '127.0.0.1', port: 9901 },
    });
    expect(DEFAULTS.limits).toEqual({ maxHeaderBytes: 16_384, headersTimeoutMs: 10_000, drainTimeoutMs: 15_000, idleTimeoutMs: 75_000, maxConcurrentStreams: 128 });
    expect(DEFAULTS.service).toEqual({
      protocol: 'http',
      export: false,
      allow: [],
      failover: { overprovisioning: 1.4, order: ['local', 'region', 'any'], retryOn: ['connect-failure', 'reset', '503'] },
      timeouts: { connectMs: 1_000, perTryMs: 2_000, requestMs: 10_000 },
      healthCheck: { path: '/healthz', intervalMs: 5_000, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 3 },
    });
  });

  it('holds the membership, failover and identity defaults of the DESIGN table', () => {
    expect(DEFAULTS.membership).toMatchObject({
      probeIntervalMs: 1_000,
      probeTimeoutMs: 500,
      indirectProbes: 3,
      gossipIntervalMs: 200,
      gossipFanout: 3,
      pushPullIntervalMs: 30_000,
      deadReprobeIntervalMs: 30_000,
      deadRetentionMs: 24 * 3_600_000,
    });
    expect(DEFAULTS.nats).toEqual({ pingIntervalMs: 5_000, maxPingsOutstanding: 2 });
    expect(DEFAULTS.failover.peakEwma).toEqual({ decayMs: 10_000, defaultRttMs: 30 });
    expect(DEFAULTS.failover.outlierEjection).toEqual({ consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000 });
    expect(DEFAULTS.failover.retryBudget).toEqual({ retryRatio: 0.2, minRetriesPerSecond: 10, windowMs: 10_000, maxRetriesPerRequest: 2 });
    expect(DEFAULTS.failover.failback).toMatchObject({ holdMs: 10_000, rampMs: 10_000 });
    expect(DEFAULTS.identity).toMatchObject({ svidTtlMs: 3_600_000, caTtlMs: 86_400_000, bundleRefreshHintMs: 300_000 });
  });

  it('cannot be changed by one part under the others', () => {
    expect(Object.isFrozen(DEFAULTS.service.failover.order)).toBe(true);
    expect(() => {
      (DEFAULTS.listeners.local as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});
