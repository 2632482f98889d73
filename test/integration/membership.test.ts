import { describe, expect, it } from 'vitest';
import { gatewayConfig, getJson, sharedRootTrust, useHarness, waitUntil, type GatewayProcess } from '../harness/index.js';

const h = useHarness();

interface MembersView {
  self: string;
  members: { id: string; status: string; incarnation: number; why?: string }[];
  dropped: Record<string, number>;
}
interface ServicesView {
  services: Record<string, Record<string, { healthy: number; total: number; stale: boolean; liveReplicas: number }>>;
}

const members = (gw: GatewayProcess) => getJson<MembersView>(`${gw.adminUrl}/debug/members`);
const services = (gw: GatewayProcess) => getJson<ServicesView>(`${gw.adminUrl}/debug/services`);
const statusIn = async (gw: GatewayProcess, id: string) => (await members(gw)).members.find((m) => m.id === id)?.status;

/** Three clusters, one gateway each: each cluster on its own NATS server joined as a super-cluster, or all on one shared NATS. */
async function threeClusters(topology: 'super-cluster' | 'shared' = 'super-cluster') {
  const clusters = ['a', 'b', 'c'];
  const urlOf =
    topology === 'shared'
      ? await h.natsServer().then((server) => () => server.url)
      : await h.natsSuperCluster(clusters).then((nats) => (cluster: string) => nats.server(cluster).url);
  const trust = await sharedRootTrust(await h.tempDir(), clusters);
  const backend = await h.httpBackend();
  const gateways = new Map<string, GatewayProcess>();
  for (const cluster of clusters) {
    const services = cluster === 'a' ? { payments: { endpoints: [backend.address], export: true, healthCheck: { interval: '300ms' } } } : {};
    gateways.set(
      cluster,
      await h.gateway(
        gatewayConfig(services, {
          cluster,
          replica: 'r1',
          nats: { servers: [urlOf(cluster)] },
          identity: trust.get(cluster)!.identity(),
        }),
      ),
    );
  }
  return { gateways, backend };
}

describe('membership over a NATS super-cluster', () => {
  it('converges, spreads health to every cluster, and marks a killed gateway dead everywhere', async () => {
    const { gateways, backend } = await threeClusters();
    const [a, b, c] = [gateways.get('a')!, gateways.get('b')!, gateways.get('c')!];

    for (const gw of [a, b, c]) {
      await waitUntil(async () => (await members(gw)).members.filter((m) => m.status === 'alive').length === 3, {
        timeoutMs: 20_000,
        what: 'all three members alive',
      });
    }
    // Bundles travel with the gossip: a now holds b's own bundle (with its JWT keys), not just the shared root.
    await waitUntil(
      async () => {
        const identity = await getJson<{ bundles: { trustDomain: string; source?: string; jwtAuthorities: number }[] }>(`${a.adminUrl}/debug/identity`);
        const fromB = identity.bundles.find((x) => x.trustDomain === 'b.test.example');
        return fromB?.source === 'gossip' && fromB.jwtAuthorities > 0;
      },
      { timeoutMs: 15_000, what: "b's bundle to reach a over gossip" },
    );
    for (const gw of [b, c]) {
      await waitUntil(async () => (await services(gw)).services['payments']?.['a']?.healthy === 1, {
        timeoutMs: 10_000,
        what: "a's payments seen healthy",
      });
    }
    // The three admin APIs agree on who is alive and on what a runs.
    const views = await Promise.all([a, b, c].map(async (gw) => ({ members: await members(gw), services: await services(gw) })));
    for (const view of views) {
      expect(Object.fromEntries(view.members.members.map((m) => [m.id, m.status]))).toEqual({ 'a.r1': 'alive', 'b.r1': 'alive', 'c.r1': 'alive' });
      expect(view.services.services['payments']?.['a']).toMatchObject({ healthy: 1, total: 1, stale: false, liveReplicas: 1 });
    }

    await backend.stop();
    for (const gw of [b, c]) {
      await waitUntil(async () => (await services(gw)).services['payments']?.['a']?.healthy === 0, {
        timeoutMs: 15_000,
        what: "a's payments seen unhealthy",
      });
    }

    c.process.kill('SIGKILL');
    for (const gw of [a, b]) {
      await waitUntil(async () => (await statusIn(gw, 'c.r1')) === 'dead', { timeoutMs: 30_000, what: 'c declared dead' });
    }
    expect(await statusIn(a, 'b.r1')).toBe('alive');
    expect((await members(a)).dropped).toEqual({});
    // Whoever declared it dead did so on NATS's word: no responders in two NATS clusters while
    // c's own server answered the survey (the others heard the verdict, with its reason).
    const why = await Promise.all([a, b].map(async (gw) => (await members(gw)).members.find((m) => m.id === 'c.r1')?.why ?? ''));
    expect(why.join('\n')).toMatch(/NATS: no responders in 2 NATS clusters .* while its server \S+ answers/);
  });

  it('a gateway that stops gracefully is seen as left', async () => {
    const { gateways } = await threeClusters();
    const [a, b] = [gateways.get('a')!, gateways.get('b')!];
    await waitUntil(async () => (await members(a)).members.filter((m) => m.status === 'alive').length === 3, {
      timeoutMs: 20_000,
      what: 'all three members alive',
    });
    b.process.kill('SIGTERM');
    await waitUntil(async () => (await statusIn(a, 'b.r1')) === 'left', { timeoutMs: 15_000, what: 'b seen as left' });
  });

  it('works unchanged on one shared NATS server', async () => {
    const { gateways } = await threeClusters('shared');
    for (const gw of gateways.values()) {
      await waitUntil(async () => (await members(gw)).members.filter((m) => m.status === 'alive').length === 3, {
        timeoutMs: 20_000,
        what: 'all three members alive on a shared NATS',
      });
    }
    await waitUntil(async () => (await services(gateways.get('c')!)).services['payments']?.['a']?.healthy === 1, {
      timeoutMs: 10_000,
      what: "a's payments seen from c",
    });
  });
});
