import { describe, expect, it } from 'vitest';
import { gatewayConfig, getJson, useHarness, waitUntil } from '../harness/index.js';

const h = useHarness();

type EndpointViews = Record<string, Record<string, { state: string; reason: string }>>;

describe('gateway - active health checks', () => {
  it('marks an HTTP endpoint unhealthy after the failure threshold and healthy again after it returns', async () => {
    const up = await h.httpBackend({ name: 'up' });
    const flaky = await h.httpBackend({ name: 'flaky' });
    const gw = await h.gateway(
      gatewayConfig({
        web: {
          endpoints: [up.address, flaky.address],
          healthCheck: { path: '/healthz', interval: '200ms', timeout: '150ms', healthyThreshold: 2, unhealthyThreshold: 2 },
        },
      }),
    );
    const state = async (address: string) => (await getJson<EndpointViews>(`${gw.adminUrl}/debug/endpoints`))['web']?.[address];

    expect(await state(up.address)).toMatchObject({ state: 'healthy' });
    expect(await state(flaky.address)).toMatchObject({ state: 'healthy' });

    await flaky.stop();
    await waitUntil(async () => (await state(flaky.address))?.state === 'unhealthy', { timeoutMs: 10_000, what: 'flaky to turn unhealthy' });
    expect((await state(flaky.address))?.reason).toMatch(/ECONNREFUSED/);
    expect(await state(up.address)).toMatchObject({ state: 'healthy' });

    await flaky.restart();
    await waitUntil(async () => (await state(flaky.address))?.state === 'healthy', { timeoutMs: 10_000, what: 'flaky to recover' });
  });

  it('checks gRPC endpoints with grpc.health.v1', async () => {
    const backend = await h.grpcBackend();
    const gw = await h.gateway(
      gatewayConfig({ echo: { protocol: 'grpc', endpoints: [backend.address], healthCheck: { interval: '200ms' } } }),
    );
    const state = async () => (await getJson<EndpointViews>(`${gw.adminUrl}/debug/endpoints`))['echo']?.[backend.address];
    expect(await state()).toMatchObject({ state: 'healthy' });

    backend.setServing(false);
    await waitUntil(async () => (await state())?.state === 'unhealthy', { timeoutMs: 10_000, what: 'NOT_SERVING to count' });
    expect((await state())?.reason).toContain('NOT_SERVING');
  });
});
