import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  ALL_GATEWAYS,
  gatewayConfig,
  getJson,
  metricValue,
  sleep,
  startFederation,
  useHarness,
  waitForService,
  waitUntil,
  type GatewayProcess,
  type HttpBackend,
} from '../harness/index.js';

const h = useHarness();

interface Routes {
  panic: boolean;
  tiers: { name: string; share: number; targets: { key: string; usable: boolean; reason: string }[] }[];
  failback: { phase: string };
}
const routes = (gw: GatewayProcess, service: string) => getJson<Routes>(`${gw.adminUrl}/debug/routes?service=${service}`);
const eventKinds = async (gw: GatewayProcess, service: string) =>
  (await getJson<{ events: { kind: string }[] }>(`${gw.adminUrl}/debug/events?service=${service}`)).events.map((e) => e.kind);

interface Outcome {
  readonly at: number;
  readonly status: number;
  readonly backend: string | undefined;
}

/**
 * Steady GET load from the test itself: one request every `intervalMs`, each
 * on its own connection, until stop() — bounded by `maxMs` whatever happens.
 */
function steadyLoad(gw: GatewayProcess, service: string, intervalMs = 25, maxMs = 90_000) {
  const outcomes: Outcome[] = [];
  const pending = new Set<Promise<void>>();
  let stopped = false;
  const started = Date.now();
  const timer = setInterval(() => {
    if (stopped || Date.now() - started > maxMs) return;
    const p = gw
      .request(service, '/echo', { timeoutMs: 15_000 })
      .then(
        (res) => void outcomes.push({ at: Date.now(), status: res.status, backend: res.headers['x-backend'] as string | undefined }),
        () => void outcomes.push({ at: Date.now(), status: 0, backend: undefined }),
      )
      .finally(() => pending.delete(p));
    pending.add(p);
  }, intervalMs);
  return {
    outcomes,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all(pending);
    },
  };
}

const served = async (gw: GatewayProcess, service: string) => (await gw.request(service, '/echo')).headers['x-backend'];

const checked = (backend: HttpBackend) => ({ endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS], healthCheck: { interval: '300ms' } });

describe('failover', () => {
  it('(a) all local endpoints die under load: no failed request, traffic moves to b, and comes back once without flapping', async () => {
    const [a1, a2, b1] = await Promise.all([h.httpBackend({ name: 'a1' }), h.httpBackend({ name: 'a2' }), h.httpBackend({ name: 'b1' })]);
    const hello = (endpoints: HttpBackend[]) => ({ hello: { ...checked(endpoints[0] as HttpBackend), endpoints: endpoints.map((e) => e.address) } });
    const { gw } = await startFederation(h, { clusters: ['a', 'b'], services: (c) => (c === 'a' ? hello([a1, a2]) : hello([b1])) });
    await waitForService(gw('a'), 'hello', 'b');

    const load = steadyLoad(gw('a'), 'hello');
    await sleep(1_500);
    const killedAt = Date.now();
    await Promise.all([a1.stop(), a2.stop()]);
    await sleep(4_000);
    const afterKill = load.outcomes.filter((o) => o.at > killedAt + 1_000);
    expect(afterKill.length).toBeGreaterThan(50);
    expect(afterKill.every((o) => o.backend === 'b1')).toBe(true);

    await Promise.all([a1.restart(), a2.restart()]);
    await waitUntil(async () => (await routes(gw('a'), 'hello')).failback.phase === 'steady', { timeoutMs: 60_000, intervalMs: 250, what: 'failback to finish' });
    await sleep(1_000);
    await load.stop();

    const failed = load.outcomes.filter((o) => o.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    expect(load.outcomes.slice(-10).every((o) => o.backend === 'a1' || o.backend === 'a2')).toBe(true);
    // One failover, one failback: no flapping on the way back.
    expect((await eventKinds(gw('a'), 'hello')).filter((k) => k === 'failover' || k === 'failback')).toEqual(['failover', 'failback']);
  });

  it('(b) half the local endpoints die: 70 % stays local and 30 % spills, by the overprovisioning rule', async () => {
    const local = await Promise.all(['a1', 'a2', 'a3', 'a4'].map((name) => h.httpBackend({ name })));
    const b1 = await h.httpBackend({ name: 'b1' });
    const { gw } = await startFederation(h, {
      clusters: ['a', 'b'],
      services: (c) => ({ hello: { ...checked(b1), endpoints: (c === 'a' ? local : [b1]).map((e) => e.address) } }),
    });
    await waitForService(gw('a'), 'hello', 'b');
    await Promise.all([local[0]?.stop(), local[1]?.stop()]);
    await waitUntil(async () => (await routes(gw('a'), 'hello')).tiers[0]?.share === 0.7, { timeoutMs: 15_000, what: 'the local tier at 70 %' });
    expect((await routes(gw('a'), 'hello')).tiers.map((t) => [t.name, t.share])).toEqual([
      ['local', 0.7],
      ['any', 0.3],
    ]);
    let remote = 0;
    const n = 400;
    for (let i = 0; i < n; i++) if ((await served(gw('a'), 'hello')) === 'b1') remote++;
    expect(remote / n).toBeGreaterThan(0.2);
    expect(remote / n).toBeLessThan(0.4);
  });

  it('(c) a local endpoint 50 ms slower than the other cluster: traffic shifts to the faster one', async () => {
    const a1 = await h.httpBackend({ name: 'a1' });
    const b1 = await h.httpBackend({ name: 'b1' });
    const slow = await h.faultProxy({ host: a1.host, port: a1.port });
    slow.mode({ latencyMs: 50 });
    const { gw } = await startFederation(h, {
      clusters: ['a', 'b'],
      services: (c) => ({
        hello: { endpoints: [c === 'a' ? slow.address : b1.address], export: true, allow: [ALL_GATEWAYS], failover: { order: ['any'] } },
      }),
    });
    await waitForService(gw('a'), 'hello', 'b');
    // One request at a time, so the split shows latency alone (P2C also weighs requests in flight).
    const counts: Record<string, number> = {};
    for (let i = 0; i < 150; i++) {
      const b = (await served(gw('a'), 'hello')) as string;
      counts[b] = (counts[b] ?? 0) + 1;
    }
    expect((counts['b1'] ?? 0) / 150).toBeGreaterThan(0.8);
    const target = (await routes(gw('a'), 'hello')).tiers[0]?.targets.find((t) => t.key.startsWith('local:'));
    expect(target).toBeDefined();
  });

  it('(d) a remote gateway dies: its cluster leaves rotation and the other exporter takes the traffic', async () => {
    const [b1, c1] = await Promise.all([h.httpBackend({ name: 'b1' }), h.httpBackend({ name: 'c1' })]);
    const { gw } = await startFederation(h, { services: (c) => (c === 'b' ? { hello: checked(b1) } : c === 'c' ? { hello: checked(c1) } : {}) });
    await waitForService(gw('a'), 'hello', 'b');
    await waitForService(gw('a'), 'hello', 'c');
    const load = steadyLoad(gw('a'), 'hello', 50);
    await sleep(1_000);
    gw('b').process.kill('SIGKILL');
    await waitUntil(
      async () => {
        const b = (await routes(gw('a'), 'hello')).tiers.flatMap((t) => t.targets).find((t) => t.key === 'cluster:b');
        return b === undefined || !b.usable;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'cluster b out of rotation' },
    );
    const outAt = Date.now();
    await sleep(1_000);
    await load.stop();
    expect(load.outcomes.filter((o) => o.at > outAt).every((o) => o.status === 200 && o.backend === 'c1')).toBe(true);
    const failed = load.outcomes.filter((o) => o.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
  });

  it('(e) a POST that reached an upstream which then died is not retried; a GET is', async () => {
    let diedPosts = 0;
    const dying = await h.httpBackend({
      name: 'dying',
      handler: (req) => {
        if (req.method === 'POST') diedPosts++;
        req.resume();
        req.on('end', () => (req.socket as { destroy(): void }).destroy());
      },
    });
    const good = await h.httpBackend({ name: 'good' });
    const gw = await h.gateway(gatewayConfig({ svc: { endpoints: [dying.address, good.address] } }));
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await gw.request('svc', '/echo', { method: 'POST', body: 'pay once' })).status);
    const goodPosts = good.requests.all.filter((r) => r.method === 'POST').length;
    expect(diedPosts).toBeGreaterThan(0);
    // Every POST reached exactly one upstream: those that met the dying one failed, none went on to the good one.
    expect(diedPosts + goodPosts).toBe(20);
    expect(statuses.filter((s) => s === 502)).toHaveLength(diedPosts);
    for (let i = 0; i < 10; i++) expect((await gw.request('svc', '/echo')).status).toBe(200);
  });

  it('(e) an idempotent PUT with a small body is retried with the whole body; retryOn can switch resets off', async () => {
    const dying = await h.httpBackend({ name: 'dying', handler: (req) => void req.resume().on('end', () => (req.socket as { destroy(): void }).destroy()) });
    const good = await h.httpBackend({ name: 'good' });
    const services = (retryOn?: string[]) => ({ svc: { endpoints: [dying.address, good.address], ...(retryOn && { failover: { retryOn } }) } });
    const gw = await h.gateway(gatewayConfig(services()));
    const body = 'x'.repeat(10_000);
    for (let i = 0; i < 10; i++) {
      const res = await gw.request('svc', '/echo', { method: 'PUT', body });
      expect([res.status, res.json<{ bodyBytes: number }>().bodyBytes]).toEqual([200, 10_000]);
    }
    const strict = await h.gateway(gatewayConfig(services(['connect-failure'])));
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) statuses.add((await strict.request('svc', '/echo')).status);
    expect(statuses).toEqual(new Set([200, 502]));
  });

  it('a request pinned with meshgate-cluster goes to that cluster only, where the service allows it', async () => {
    const [a1, b1] = await Promise.all([h.httpBackend({ name: 'a1' }), h.httpBackend({ name: 'b1' })]);
    const services = (c: string) => {
      const backend = c === 'a' ? a1 : b1;
      return { hello: { ...checked(backend), failover: { allowPinning: true } }, plain: checked(backend) };
    };
    const { gw } = await startFederation(h, { clusters: ['a', 'b'], services });
    await Promise.all([waitForService(gw('a'), 'hello', 'b'), waitForService(gw('a'), 'plain', 'b')]);
    const pinned = (service: string, cluster: string) => gw('a').request(service, '/echo', { headers: { 'meshgate-cluster': cluster } });

    expect(await served(gw('a'), 'hello')).toBe('a1');
    for (let i = 0; i < 5; i++) {
      const res = await pinned('hello', 'b');
      expect(res.status).toBe(200);
      expect(res.headers['x-backend']).toBe('b1');
      expect((JSON.parse(res.body.toString()) as { headers: Record<string, string> }).headers).not.toHaveProperty('meshgate-cluster');
    }
    expect((await pinned('hello', 'a')).headers['x-backend']).toBe('a1');
    const refused = async (service: string, cluster: string) => {
      const res = await pinned(service, cluster);
      return [res.status, res.headers['meshgate-error']];
    };
    expect(await refused('plain', 'b')).toEqual([403, 'forbidden']);
    expect(await refused('hello', 'nowhere')).toEqual([404, 'unknown-service']);

    // b's endpoint gone: a request pinned to b gets 503, not a's healthy endpoint.
    await b1.stop();
    await waitUntil(async () => (await routes(gw('a'), 'hello')).tiers.flatMap((t) => t.targets).some((t) => t.key === 'cluster:b' && !t.usable), {
      timeoutMs: 30_000,
      what: "a to see b's endpoint unhealthy",
    });
    expect(await refused('hello', 'b')).toEqual([503, 'no-healthy-endpoints']);
    expect(await served(gw('a'), 'hello')).toBe('a1');
  });

  it('failover.weights splits a tier 90/10 between clusters while both are healthy, as /debug/routes says', async () => {
    const [a1, b1] = await Promise.all([h.httpBackend({ name: 'a1' }), h.httpBackend({ name: 'b1' })]);
    const services = (c: string) => ({ hello: { ...checked(c === 'a' ? a1 : b1), failover: { order: ['any'], weights: { a: 90, b: 10 } } } });
    const { gw } = await startFederation(h, { clusters: ['a', 'b'], services });
    await waitForService(gw('a'), 'hello', 'b');
    await waitUntil(async () => (await routes(gw('a'), 'hello')).tiers[0]?.targets.every((t) => t.usable) === true, { timeoutMs: 30_000, what: 'both clusters usable' });
    const shown = (await getJson<{ tiers: { weights?: { cluster: string; configured: number; share: number }[] }[] }>(`${gw('a').adminUrl}/debug/routes?service=hello`)).tiers[0]?.weights;
    expect(shown).toEqual([
      { cluster: 'a', configured: 90, share: 0.9 },
      { cluster: 'b', configured: 10, share: 0.1 },
    ]);

    const counts = new Map<string, number>();
    const total = 2_000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < total) {
          next++;
          const res = await gw('a').request('hello', '/echo');
          const key = res.status === 200 ? String(res.headers['x-backend']) : `status ${res.status}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }),
    );
    const share = (k: string) => (counts.get(k) ?? 0) / total;
    expect([...counts.keys()].sort(), JSON.stringify([...counts])).toEqual(['a1', 'b1']);
    expect(Math.abs(share('b1') - 0.1), JSON.stringify([...counts])).toBeLessThan(0.03);
  });

  it('a cluster drained by a reload under load: its apps are served by b, b sees it drained, no request fails; undrained, traffic comes back', async () => {
    const [a1, b1] = await Promise.all([h.httpBackend({ name: 'a1' }), h.httpBackend({ name: 'b1' })]);
    const { gw } = await startFederation(h, { clusters: ['a', 'b'], services: (c) => ({ hello: checked(c === 'a' ? a1 : b1) }) });
    await Promise.all([waitForService(gw('a'), 'hello', 'b'), waitForService(gw('b'), 'hello', 'a')]);
    const setDrain = async (drain: boolean) => {
      const file = gw('a').configPath;
      await writeFile(file, stringify({ ...(parse(await readFile(file, 'utf8')) as object), drain }));
      gw('a').process.kill('SIGHUP');
    };
    const reasons = async (on: GatewayProcess, key: (k: string) => boolean) =>
      (await routes(on, 'hello')).tiers.flatMap((t) => t.targets).filter((t) => key(t.key)).map((t) => t.reason);

    const load = steadyLoad(gw('a'), 'hello');
    await sleep(1_000);
    await setDrain(true);
    await waitUntil(async () => (await reasons(gw('a'), (k) => k.startsWith('local:'))).every((r) => r === 'drained'), { timeoutMs: 30_000, intervalMs: 250, what: "a's endpoints drained" });
    await waitUntil(async () => (await reasons(gw('b'), (k) => k === 'cluster:a')).every((r) => r === 'drained'), { timeoutMs: 30_000, intervalMs: 250, what: 'b to see a drained' });
    const drainedAt = Date.now();
    await sleep(2_000);
    expect(load.outcomes.filter((o) => o.at > drainedAt).every((o) => o.backend === 'b1')).toBe(true);

    await setDrain(false);
    await waitUntil(async () => (await routes(gw('a'), 'hello')).failback.phase === 'steady' && load.outcomes.slice(-10).every((o) => o.backend === 'a1'), {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'traffic back on a',
    });
    await load.stop();
    const failed = load.outcomes.filter((o) => o.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    expect(load.outcomes.length).toBeGreaterThan(500);
  });

  it('(f) every endpoint failing does not raise upstream load above the retry budget', async () => {
    let upstream = 0;
    const failing = async (name: string) =>
      h.httpBackend({
        name,
        handler: (req, res) => {
          upstream++;
          req.resume();
          res.writeHead(503).end();
        },
      });
    const [e1, e2] = await Promise.all([failing('e1'), failing('e2')]);
    const gw = await h.gateway(gatewayConfig({ svc: { endpoints: [e1.address, e2.address] } }));
    const n = 600;
    for (let i = 0; i < n; i++) expect((await gw.request('svc', '/')).status).toBe(503);
    // 20 % of requests plus the 10/s floor over the 10 s window; without a budget it would be up to 3 × n.
    expect(upstream).toBeGreaterThan(n);
    expect(upstream).toBeLessThanOrEqual(n + 0.2 * n + 100);
    expect(await metricValue(gw, 'meshgate_failover_events_total', 'budget-exhausted')).toBeGreaterThan(0);
    const view = await routes(gw, 'svc');
    expect(view.panic).toBe(true);
  });
});
