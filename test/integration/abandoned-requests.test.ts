import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { ALL_GATEWAYS, getJson, metricValue, sleep, startFederation, useHarness, waitForService, type GatewayProcess } from '../harness/index.js';

const h = useHarness();

interface Routes {
  tiers: { targets: { key: string; usable: boolean; reason: string }[] }[];
}

/**
 * An app that gives up: sends one request through the gateway and hangs up
 * after `afterMs`, as a client with a short timeout does.
 */
function abandon(gw: GatewayProcess, service: string, path: string, afterMs: number): Promise<void> {
  const url = new URL(gw.localUrl);
  return new Promise((resolve) => {
    const req = http.request({ host: url.hostname, port: url.port, path, headers: { host: service }, agent: false });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('close', () => resolve());
    setTimeout(() => req.destroy(), afterMs);
    req.end();
  });
}

describe('clients that give up', () => {
  it('never take another cluster away: 200 abandoned requests a second for 10 s eject nothing, and b answers at once', async () => {
    const backend = await h.httpBackend({
      name: 'b1',
      handler: (req, res, fallback) => {
        if (!req.url?.startsWith('/slow')) return fallback();
        const timer = setTimeout(() => res.writeHead(200).end('late'), 1_000);
        res.on('close', () => clearTimeout(timer));
      },
    });
    const { gw } = await startFederation(h, {
      clusters: ['a', 'b'],
      services: (c) => (c === 'b' ? { slow: { endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS] } } : {}),
    });
    await waitForService(gw('a'), 'slow', 'b');

    // 200 a second for 10 s, each hung up after 100 ms while b's endpoint takes 1 s.
    const abandoned: Promise<void>[] = [];
    const started = Date.now();
    for (let i = 0; i < 2_000 && Date.now() - started < 20_000; i++) {
      abandoned.push(abandon(gw('a'), 'slow', '/slow', 100));
      const due = started + (i + 1) * 5;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    await Promise.all(abandoned);

    // b is reachable at once, through a's only replica of it.
    const res = await gw('a').request('slow', '/echo');
    expect(res.status, res.text()).toBe(200);
    expect(res.headers['x-backend']).toBe('b1');
    const events = await getJson<{ events: { kind: string; target?: string; reason: string }[] }>(`${gw('a').adminUrl}/debug/events?service=slow`);
    expect(events.events.filter((e) => e.kind === 'ejection')).toEqual([]);
    const routes = await getJson<Routes>(`${gw('a').adminUrl}/debug/routes?service=slow`);
    expect(routes.tiers.flatMap((t) => t.targets)).toMatchObject([{ key: 'cluster:b', usable: true }]);
    // The abandoned requests were counted as the clients' doing, not as failures.
    expect(await metricValue(gw('a'), 'meshgate_requests_total', 'client-gone')).toBeGreaterThan(1_000);
    expect(await metricValue(gw('a'), 'meshgate_requests_total', 'upstream-reset')).toBe(0);
    expect(await metricValue(gw('a'), 'meshgate_requests_total', 'upstream-connect')).toBe(0);
  });
});
