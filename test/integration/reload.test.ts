import http from 'node:http';
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { gatewayConfig, metricValue, runCli, useHarness, waitUntil, type GatewayProcess, type HttpBackend } from '../harness/index.js';

const h = useHarness();

const RELOADS = 10;

/** How many reloads the gateway has logged as applied (`reloaded…`) or refused. */
const logged = (gw: GatewayProcess, refused = false) =>
  gw.logs().filter((l) => (refused ? l['msg'] === 'reload refused: the running config stays' : String(l['msg']).startsWith('reloaded'))).length;

/**
 * Steady load on one kept-alive connection (so a dropped connection shows)
 * and on fresh connections, until stop(); bounded by `maxMs`.
 */
function steadyLoad(gw: GatewayProcess, service: string, maxMs = 120_000) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let sockets = 0;
  const connect = agent.createConnection.bind(agent);
  agent.createConnection = ((...args: Parameters<typeof connect>) => {
    sockets++;
    return connect(...args);
  }) as typeof agent.createConnection;
  const statuses: number[] = [];
  const backends = new Map<string, number>();
  let stopped = false;
  const started = Date.now();
  const keptAlive = (): Promise<void> =>
    new Promise((resolve) => {
      const req = http.request(`${gw.localUrl}/echo`, { agent, headers: { host: service } }, (res) => {
        res.resume();
        res.on('end', () => {
          statuses.push(res.statusCode ?? 0);
          resolve();
        });
      });
      req.on('error', () => {
        statuses.push(0);
        resolve();
      });
      req.end();
    });
  const fresh = async (): Promise<void> => {
    const res = await gw.request(service, '/echo', { timeoutMs: 10_000 }).catch(() => undefined);
    statuses.push(res?.status ?? 0);
    const backend = res?.headers['x-backend'];
    if (typeof backend === 'string') backends.set(backend, (backends.get(backend) ?? 0) + 1);
  };
  const loop = async (send: () => Promise<void>) => {
    while (!stopped && Date.now() - started < maxMs) {
      await send();
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const running = Promise.all([loop(keptAlive), loop(fresh), loop(fresh)]);
  return {
    statuses,
    backends,
    sockets: () => sockets,
    async stop() {
      stopped = true;
      await running;
      agent.destroy();
    },
  };
}

describe('reload', () => {
  it(`applies ${RELOADS} reloads (SIGHUP and meshgate reload) under steady load without failing a request or dropping a connection`, async () => {
    const backends = await Promise.all(['w1', 'w2', 'w3'].map((name) => h.httpBackend({ name })));
    const [w1, w2, w3] = backends as [HttpBackend, HttpBackend, HttpBackend];
    const config = (i: number) =>
      gatewayConfig({
        web: {
          // Each reload moves one endpoint in or out, and changes the checks and timeouts with it.
          endpoints: [[w1, w2], [w2, w3], [w3, w1]][i % 3]?.map((b) => b.address),
          healthCheck: { interval: i % 2 === 0 ? '300ms' : '500ms' },
          timeouts: { request: i % 2 === 0 ? '10s' : '15s' },
        },
      });
    const gw = await h.gateway(config(0));
    const load = steadyLoad(gw, 'web');
    await waitUntil(async () => load.statuses.length > 50, { timeoutMs: 20_000, what: 'the load to start' });

    for (let i = 1; i <= RELOADS; i++) {
      await writeFile(gw.configPath, stringify(config(i)));
      if (i % 2 === 0) {
        gw.process.kill('SIGHUP');
      } else {
        const cli = await runCli(['reload', '--admin', gw.adminUrl]);
        expect(cli.code, cli.output).toBe(0);
        expect(cli.output).toContain('"applied":true');
      }
      await waitUntil(async () => logged(gw) >= i, { timeoutMs: 20_000, what: `reload ${i} to be applied` });
      const before = load.statuses.length;
      await waitUntil(async () => load.statuses.length > before + 20, { timeoutMs: 20_000, what: `requests after reload ${i}` });
    }
    load.backends.clear();
    const after = load.statuses.length;
    await waitUntil(async () => load.statuses.length > after + 100, { timeoutMs: 20_000, what: 'requests on the last config' });
    await load.stop();

    const failed = load.statuses.filter((s) => s !== 200);
    expect(failed.length, `${failed.length} of ${load.statuses.length} failed: ${JSON.stringify(failed.slice(0, 5))}`).toBe(0);
    expect(load.statuses.length).toBeGreaterThan(500);
    expect(load.sockets()).toBe(1);
    // The last config (10 % 3 = 1) lists w2 and w3 only.
    expect([...load.backends.keys()].sort()).toEqual(['w2', 'w3']);
    expect(await metricValue(gw, 'meshgate_config_reloads_total', 'applied')).toBe(RELOADS);
  });

  it('refuses a config that fails validation (the running one stays, logged and counted) and says what needs a restart', async () => {
    const backend = await h.httpBackend({ name: 'w1' });
    const good = gatewayConfig({ web: { endpoints: [backend.address] } });
    const gw = await h.gateway(good);

    await writeFile(gw.configPath, stringify(gatewayConfig({ web: { endpoints: ['nowhere'] } })));
    const refused = await runCli(['reload', '--admin', gw.adminUrl]);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('services.web.endpoints[0]');
    expect(await metricValue(gw, 'meshgate_config_reloads_total', 'refused')).toBe(1);
    expect(logged(gw, true)).toBe(1);
    expect((await gw.request('web', '/echo')).headers['x-backend']).toBe('w1');

    // A SIGHUP with the same broken file is refused the same way.
    gw.process.kill('SIGHUP');
    await waitUntil(async () => logged(gw, true) === 2, { timeoutMs: 10_000, what: 'the second refusal' });
    expect((await gw.request('web', '/echo')).status).toBe(200);

    await writeFile(gw.configPath, stringify({ ...good, cluster: 'elsewhere', listeners: { ...good.listeners, local: '127.0.0.1:1' } }));
    const applied = await runCli(['reload', '--admin', gw.adminUrl]);
    expect(applied.code, applied.output).toBe(0);
    expect(applied.output).toContain('"restartNeeded":["cluster","listeners"]');
    expect((await gw.request('web', '/echo')).headers['x-backend']).toBe('w1');
  });
});
