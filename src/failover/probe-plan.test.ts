import { describe, expect, it } from 'vitest';
import { planProbes, probeKey, type CheckRequest, type ProbeCheck } from './probe-plan.js';

const http = (path = '/healthz', extra: Partial<ProbeCheck> = {}): ProbeCheck => ({
  protocol: 'http',
  path,
  intervalMs: 5_000,
  timeoutMs: 1_000,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  ...extra,
});
const grpc = (path = '/healthz'): ProbeCheck => ({ ...http(path), protocol: 'grpc' });

function requests(services: Record<string, { endpoints: string[]; check: ProbeCheck }>): CheckRequest[] {
  return Object.entries(services).flatMap(([service, s]) => s.endpoints.map((endpoint) => ({ service, endpoint, check: s.check })));
}

describe('planProbes', () => {
  it('gives services that share an endpoint and a check one probe', () => {
    const plan = planProbes(
      requests({
        a: { endpoints: ['127.0.0.1:80', '127.0.0.2:80'], check: http() },
        b: { endpoints: ['127.0.0.2:80', '127.0.0.3:80'], check: http() },
      }),
    );
    expect(plan.probes.map((p) => [p.endpoint, p.services])).toEqual([
      ['127.0.0.1:80', ['a']],
      ['127.0.0.2:80', ['a', 'b']],
      ['127.0.0.3:80', ['b']],
    ]);
    expect(plan.byService.get('a')?.get('127.0.0.2:80')).toBe(plan.byService.get('b')?.get('127.0.0.2:80'));
  });

  it('1,000 services × 10 endpoints on 20 backends are 20 probes', () => {
    const backends = Array.from({ length: 20 }, (_, i) => `127.0.0.${i}:8080`);
    const services = Object.fromEntries(
      Array.from({ length: 1_000 }, (_, i) => [`s${i}`, { endpoints: Array.from({ length: 10 }, (_, k) => backends[(i + 2 * k) % 20] as string), check: http() }]),
    );
    const plan = planProbes(requests(services));
    expect(plan.probes).toHaveLength(20);
    expect(plan.probes.reduce((n, p) => n + p.services.length, 0)).toBe(10_000);
    expect(plan.byService.size).toBe(1_000);
  });

  it('keeps probes apart when the path, the protocol or any setting differs', () => {
    const plan = planProbes(
      requests({
        a: { endpoints: ['e:1'], check: http('/healthz') },
        b: { endpoints: ['e:1'], check: http('/ready') },
        c: { endpoints: ['e:1'], check: http('/healthz', { intervalMs: 1_000 }) },
        d: { endpoints: ['e:1'], check: http('/healthz', { unhealthyThreshold: 1 }) },
        e: { endpoints: ['e:1'], check: grpc() },
      }),
    );
    expect(plan.probes).toHaveLength(5);
  });

  it('ignores the path of gRPC checks: grpc.health.v1 asks the server as a whole', () => {
    expect(probeKey('e:1', grpc('/a'))).toBe(probeKey('e:1', grpc('/b')));
    const plan = planProbes(requests({ a: { endpoints: ['e:1'], check: grpc('/a') }, b: { endpoints: ['e:1'], check: grpc('/b') } }));
    expect(plan.probes).toHaveLength(1);
  });

  it('counts a service once when it lists an endpoint twice', () => {
    const plan = planProbes(requests({ a: { endpoints: ['e:1', 'e:1'], check: http() } }));
    expect(plan.probes).toEqual([expect.objectContaining({ services: ['a'] })]);
  });
});
