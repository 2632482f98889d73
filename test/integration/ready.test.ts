/**
 * A restarted gateway says ready only once it knows the federation: under
 * steady load, a load balancer that waits for /ready never sees a 404 for a
 * service another cluster exports.
 */
import { describe, expect, it } from 'vitest';
import {
  ALL_GATEWAYS,
  CLI_PATH,
  gatewayConfig,
  getJson,
  httpRequest,
  sharedRootTrust,
  sleep,
  useHarness,
  waitForService,
  waitUntil,
  writeConfig,
  type GatewayProcess,
} from '../harness/index.js';

const h = useHarness();

const RESTARTS = 3;

describe('readiness after a restart', () => {
  it(`answers no 404 for another cluster's service across ${RESTARTS} restarts under steady load`, async () => {
    const nats = await h.natsSuperCluster(['a', 'b']);
    const trust = await sharedRootTrust(await h.tempDir(), ['a', 'b']);
    const backend = await h.httpBackend({ name: 'b-hello' });
    const config = (cluster: string, services: Record<string, unknown>) =>
      gatewayConfig(services, { cluster, replica: 'r1', nats: { servers: [nats.server(cluster).url] }, identity: trust.get(cluster)!.identity() });
    await h.gateway(config('b', { hello: { endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS] } }));
    const aConfig = config('a', {});
    let a: GatewayProcess = await h.gateway(aConfig);
    await waitForService(a, 'hello', 'b');

    // Steady load, as from a load balancer: only to a gateway that has said it is ready.
    let target: GatewayProcess | undefined = a;
    let stopLoad = false;
    const statuses = new Map<number, number>();
    const perRestart: { ok: number; notFound: number }[] = [];
    const load = (async () => {
      for (let i = 0; i < 1_000_000 && !stopLoad; i++) {
        const current: GatewayProcess | undefined = target;
        if (!current) {
          await sleep(5);
          continue;
        }
        const res = await httpRequest(`${current.localUrl}/echo`, { headers: { host: 'hello' }, timeoutMs: 5_000 }).catch(() => undefined);
        if (!res || current !== target) continue; // the gateway being drained: not the load balancer's pick any more
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const round = perRestart.at(-1);
        if (round && res.status === 200) round.ok++;
        if (round && res.status === 404) round.notFound++;
      }
    })();

    for (let restart = 0; restart < RESTARTS; restart++) {
      await sleep(300);
      target = undefined;
      await a.process.stop();
      a = await h.gateway(aConfig); // resolves once the ready line is out and /ready answers 200
      expect((await httpRequest(`${a.adminUrl}/ready`)).status).toBe(200);
      perRestart.push({ ok: 0, notFound: 0 });
      target = a;
      // Enough traffic after each restart that a missing federation view would show.
      for (let i = 0; i < 400 && (perRestart.at(-1)?.ok ?? 0) < 200; i++) await sleep(10);
    }
    stopLoad = true;
    await load;

    console.info(`[ready] statuses ${JSON.stringify(Object.fromEntries(statuses))}; per restart ${JSON.stringify(perRestart)}`);
    expect(perRestart.map((r) => r.notFound)).toEqual(Array.from({ length: RESTARTS }, () => 0));
    expect(statuses.get(404) ?? 0).toBe(0);
    for (const round of perRestart) expect(round.ok).toBeGreaterThan(0);
    // The ready gateway knows b's service.
    const view = await getJson<{ services: Record<string, Record<string, unknown>> }>(`${a.adminUrl}/debug/services`);
    expect(view.services['hello']?.['b']).toBeDefined();
  }, 120_000);

  it('a lone gateway says it waits for the first membership sync, then becomes ready within the bound', async () => {
    const nats = await h.natsServer();
    const trust = await sharedRootTrust(await h.tempDir(), ['a']);
    const file = await writeConfig(
      await h.tempDir(),
      gatewayConfig({}, { cluster: 'a', replica: 'r1', nats: { servers: [nats.url] }, identity: trust.get('a')!.identity() }),
    );
    const proc = await h.spawn(process.execPath, [CLI_PATH, 'run', '--config', file], { name: 'meshgate' });
    const adminLine = await proc.waitForLine((l) => l.includes('"listening"') && l.includes('"listener":"admin"'), 20_000);
    const adminUrl = `http://${String((JSON.parse(adminLine) as { address: string }).address)}`;

    // Every answer of /ready from the moment the admin listener is up until it says ready.
    const reasonsSeen = new Set<string>();
    await waitUntil(
      async () => {
        const res = await httpRequest(`${adminUrl}/ready`);
        for (const reason of res.json<{ reasons: string[] }>().reasons) reasonsSeen.add(reason);
        return res.status === 200;
      },
      { timeoutMs: 30_000, intervalMs: 20, what: 'the lone gateway to become ready', detail: () => proc.output().slice(-2_000) },
    );
    expect([...reasonsSeen].some((r) => r.startsWith('membership-sync')), `reasons seen: ${[...reasonsSeen].join(' | ')}`).toBe(true);
    // The ready line comes with /ready, and says no peer answered.
    const readyLine = proc
      .output()
      .split('\n')
      .find((l) => l.includes('"msg":"ready"'));
    expect((JSON.parse(readyLine ?? '{}') as { membership?: { outcome?: string } }).membership?.outcome).toBe('no-peer');
  }, 60_000);

  it('a gateway started while NATS is down serves its own cluster, says why it is not ready, and joins once NATS is up', async () => {
    const natsPort = await h.freePort();
    const trust = await sharedRootTrust(await h.tempDir(), ['a']);
    const backend = await h.httpBackend({ name: 'a-hello' });
    const file = await writeConfig(
      await h.tempDir(),
      gatewayConfig(
        { hello: { endpoints: [backend.address] } },
        { cluster: 'a', replica: 'r1', nats: { servers: [`nats://127.0.0.1:${natsPort}`] }, identity: trust.get('a')!.identity() },
      ),
    );
    const proc = await h.spawn(process.execPath, [CLI_PATH, 'run', '--config', file], { name: 'meshgate' });
    const address = (listener: string) =>
      proc
        .waitForLine((l) => l.includes('"listening"') && l.includes(`"listener":"${listener}"`), 20_000)
        .then((line) => String((JSON.parse(line) as { address: string }).address));
    const adminUrl = `http://${await address('admin')}`;
    const localUrl = `http://${await address('local')}`;
    await proc.waitForLine((l) => l.includes('cannot join the federation yet'), 20_000);

    // Its own cluster is served meanwhile; /ready names NATS.
    const res = await httpRequest(`${localUrl}/echo`, { headers: { host: 'hello' } });
    expect(res.status).toBe(200);
    expect(res.headers['x-backend']).toBe('a-hello');
    const notReady = await httpRequest(`${adminUrl}/ready`);
    expect(notReady.status).toBe(503);
    expect(notReady.json<{ reasons: string[] }>().reasons.join(' | ')).toMatch(/^membership-join: NATS not reachable after \d+ attempts/);
    expect(proc.exitStatus).toBeUndefined();

    await h.natsServer({ clientPort: natsPort });
    await proc.waitForLine((l) => l.includes('"msg":"ready"'), 30_000);
    expect((await httpRequest(`${adminUrl}/ready`)).status).toBe(200);
    expect((await getJson<{ self: string }>(`${adminUrl}/debug/members`)).self).toBe('a.r1');
  }, 90_000);
});
