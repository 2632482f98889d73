import { describe, expect, it } from 'vitest';
import { DEFAULTS } from './defaults.js';

describe('DEFAULTS', () => {
  it('holds the config defaults operators expect', () => {
    expect(DEFAULTS.listeners).toEqual({
      local: { host: '127.0.0.1', port: 4140 },
      federation: { host: '0.0.0.0', port: 4143 },
      admin: { host: '127.0.0.1', port: 9901 },
    });
    expect(DEFAULTS.limits).toEqual({
      maxHeaderBytes: 16_384,
      headersTimeoutMs: 10_000,
      drainTimeoutMs: 15_000,
      idleTimeoutMs: 75_000,
      maxConcurrentStreams: 128,
      maxInFlightPerService: 20_000,
      maxInFlightPerTarget: 5_000,
    });
    expect(DEFAULTS.service).toEqual({
      protocol: 'http',
      export: false,
      allow: [],
      failover: { overprovisioning: 1.4, order: ['local', 'region', 'any'], retryOn: ['connect-failure', 'reset', '503'], allowPinning: false },
      timeouts: { connectMs: 1_000, perTryMs: 2_000, requestMs: 10_000 },
      tcpIdleMs: 3_600_000,
      healthCheck: { path: '/healthz', intervalMs: 5_000, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 3 },
    });
  });

  it('holds SPIRE-like identity lifetimes', () => {
    expect(DEFAULTS.identity).toEqual({ svidTtlMs: 3_600_000, caTtlMs: 86_400_000, bundleRefreshHintMs: 300_000 });
  });

  it('cannot be changed by one part under the others', () => {
    expect(Object.isFrozen(DEFAULTS.service.failover.order)).toBe(true);
    expect(() => {
      (DEFAULTS.listeners.local as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});
