import { describe, expect, it } from 'vitest';
import {
  gatewayConfig,
  getJson,
  sharedRootTrust,
  useHarness,
  waitUntil,
  type ClusterTrust,
  type GatewayProcess,
  type HttpBackend,
} from '../harness/index.js';

const h = useHarness();

const ALL_GATEWAYS = 'spiffe://*.test.example/meshgate/gateway/*/*';

interface ServicesView {
  services: Record<string, Record<string, { healthy: number; total: number; stale: boolean }>>;
}

/** Three clusters on a NATS super-cluster, gateways from the CLI; `services(cluster)` says what each runs. */
async function federation(services: (cluster: string) => Record<string, unknown>, clusters = ['a', 'b', 'c']) {
  const nats = await h.natsSuperCluster(clusters);
  const trust = await sharedRootTrust(await h.tempDir(), clusters);
  const gateways = new Map<string, GatewayProcess>();
  await Promise.all(
    clusters.map(async (cluster) => {
      const config = gatewayConfig(services(cluster), {
        cluster,
        replica: 'r1',
        nats: { servers: [nats.server(cluster).url] },
        identity: (trust.get(cluster) as ClusterTrust).identity(),
      });
      gateways.set(cluster, await h.gateway(config));
    }),
  );
  const gw = (cluster: string) => gateways.get(cluster) as GatewayProcess;
  return { gw, trust };
}

/** Waits until `viewer` sees `service` in `cluster` with `healthy` healthy endpoints. */
async function seen(viewer: GatewayProcess, service: string, cluster: string, healthy: (n: number) => boolean = (n) => n > 0) {
  await waitUntil(
    async () => {
      const view = await getJson<ServicesView>(`${viewer.adminUrl}/debug/services`);
      const entry = view.services[service]?.[cluster];
      return entry !== undefined && !entry.stale && healthy(entry.healthy);
    },
    { timeoutMs: 30_000, what: `${service} in ${cluster} as seen by the viewer` },
  );
}

const metric = async (gw: GatewayProcess, name: string, label: string): Promise<number> => {
  const text = (await (await fetch(`${gw.adminUrl}/metrics`)).text()).split('\n');
  const line = text.find((l) => l.startsWith(`${name}{`) && l.includes(`="${label}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
};

const echo = (body: string) => JSON.parse(body) as { method: string; path: string; headers: Record<string, string>; bodyBytes?: number };

describe('federation data plane', () => {
  it('routes a request through cluster A to a service only cluster B runs, over mTLS, and says who called', async () => {
    let backend: HttpBackend | undefined;
    backend = await h.httpBackend({ name: 'b-hello' });
    const { gw } = await federation((cluster) =>
      cluster === 'b' ? { hello: { endpoints: [backend!.address], export: true, allow: [ALL_GATEWAYS] } } : {},
    );
    await seen(gw('a'), 'hello', 'b');

    const res = await gw('a').request('hello', '/echo?x=1', { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'meshgate-source': 'cluster=forged' } });
    expect(res.status).toBe(200);
    expect(res.headers['x-backend']).toBe('b-hello');
    const seenByBackend = echo(res.body);
    expect(seenByBackend.path).toBe('/echo?x=1');
    expect(seenByBackend.headers['traceparent']).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    // B tells its endpoint who called, from the verified certificate, not from what the app claimed.
    expect(seenByBackend.headers['meshgate-source']).toBe('cluster=a; spiffe-id=spiffe://a.test.example/meshgate/gateway/a/r1');
    expect(seenByBackend.headers['meshgate-service']).toBeUndefined();
    expect(Number(seenByBackend.headers['meshgate-deadline'])).toBeGreaterThan(0);
    expect(await metric(gw('b'), 'meshgate_federation_requests_total', 'relayed')).toBe(1);

    // Nobody runs it: 404; c runs nothing and exports nothing.
    const unknown = await gw('a').request('nope', '/');
    expect([unknown.status, unknown.headers['meshgate-error']]).toEqual([404, 'unknown-service']);
  });
});
