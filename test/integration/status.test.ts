import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/status/index.js';
import { ALL_GATEWAYS, freePort, getJson, runCli, startFederation, useHarness, waitForService, waitUntil, type HttpBackend } from '../harness/index.js';

const h = useHarness();

interface AdminEvent {
  kind: string;
  service: string;
  target?: string;
  reason: string;
}

const hello = (backend: HttpBackend) => ({ hello: { endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS], healthCheck: { interval: '300ms' } } });

/** The lines of `text` matching `pattern`, for assertions that name the row they looked for. */
const rows = (text: string, pattern: RegExp) => text.split('\n').filter((line) => pattern.test(line));

describe('meshgate status', () => {
  it('shows both members alive, b\'s service with healthy/total, and the failover after a\'s only endpoint stops, as text and as JSON', async () => {
    const [a1, b1] = await Promise.all([h.httpBackend({ name: 'a1' }), h.httpBackend({ name: 'b1' })]);
    const { gw } = await startFederation(h, { clusters: ['a', 'b'], services: (c) => hello(c === 'a' ? a1 : b1) });
    const a = gw('a');
    await waitForService(a, 'hello', 'b');
    // A request makes the route that failover then moves.
    expect((await a.request('hello', '/echo')).headers['x-backend']).toBe('a1');

    await a1.stop();
    // Requests b answered, for the REQS column: every one should be in the last minute's count.
    let answeredByB = 0;
    const toB = async () => {
      const res = await a.request('hello', '/echo');
      if (res.headers['x-backend'] === 'b1') answeredByB++;
      return res.headers['x-backend'] === 'b1';
    };
    await waitUntil(toB, { timeoutMs: 30_000, intervalMs: 100, what: 'hello served by b1' });
    for (let i = 0; i < 20; i++) expect(await toB()).toBe(true);
    const failover = await waitUntil(
      async () => (await getJson<{ events: AdminEvent[] }>(`${a.adminUrl}/debug/events?service=hello`)).events.find((e) => e.kind === 'failover'),
      { timeoutMs: 30_000, intervalMs: 200, what: 'a failover event for hello at a' },
    );
    // An ejection can fail traffic over before a's own record says 0 healthy (published within a second).
    await waitForService(a, 'hello', 'a', (healthy) => healthy === 0);

    const text = await runCli(['status', '--admin', a.adminUrl]);
    expect(text.code, text.output).toBe(0);
    const out = text.output;
    console.log(`meshgate status --admin ${a.adminUrl}, after a's only endpoint stopped:\n${out}`);
    expect(out).toMatch(new RegExp(`^GATEWAY a\\.r1 \\(cluster a\\) at ${a.adminUrl}: ready$`, 'm'));
    expect(rows(out, /^a\.r1\s+a\s+alive\s.*this gateway/), out).toHaveLength(1);
    expect(rows(out, /^b\.r1\s+b\s+alive\s.*ago\s+\S+ ms\s+yes\s/), out).toHaveLength(1);
    expect(rows(out, new RegExp(`^b\\s+hello\\s+1/1\\s+${answeredByB}\\s+\\S+ ms\\s`)), out).toHaveLength(1);
    expect(rows(out, /^\s*a\s+hello\s+0\/1\s/), out).toHaveLength(1);
    const eventLine = rows(out, /\s\d\d:\d\d:\d\d\s+hello\s+failover\s/);
    expect(eventLine, out).toHaveLength(1);
    // The reason is the gateway's own words, not a paraphrase.
    expect(eventLine[0]).toContain(`${failover.target} `);
    expect(eventLine[0]).toContain(failover.reason);

    const json = await runCli(['status', '--admin', a.adminUrl, '--json']);
    expect(json.code, json.output).toBe(0);
    const report = JSON.parse(json.output) as StatusReport;
    expect(report.gateway).toMatchObject({ memberId: 'a.r1', cluster: 'a', ready: true, notReadyReasons: [] });
    expect(report.members?.map((m) => [m.id, m.cluster, m.state, m.self])).toEqual([
      ['a.r1', 'a', 'alive', true],
      ['b.r1', 'b', 'alive', false],
    ]);
    const atB = report.services?.find((s) => s.cluster === 'b' && s.service === 'hello');
    expect(atB).toMatchObject({ healthy: 1, total: 1, stale: false, recent: { requests: answeredByB } });
    expect(atB?.recent?.p99Ms).toBeGreaterThan(0);
    expect(atB?.recent?.p99Ms).toBeGreaterThanOrEqual(atB?.recent?.p50Ms ?? Infinity);
    expect(report.services?.find((s) => s.cluster === 'a' && s.service === 'hello')).toMatchObject({ healthy: 0, total: 1 });
    expect(report.events.latest.find((e) => e.kind === 'failover')).toMatchObject({ service: 'hello', target: failover.target, reason: failover.reason });
    const route = report.routes.find((r) => r.service === 'hello');
    expect(route?.tiers.map((t) => t.name)).toEqual(['local', 'any']);
    expect(route?.tiers.find((t) => t.name === 'any')?.targets.map((t) => [t.key, t.usable])).toEqual([['cluster:b', true]]);
  });

  it('says in one line that a gateway does not answer, naming the URL, and exits 1', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await runCli(['status', '--admin', url]);
    expect(result.code).toBe(1);
    expect(result.output.trimEnd().split('\n')).toEqual([expect.stringMatching(new RegExp(`^meshgate status: no answer from ${url}/ready: .*ECONNREFUSED`))]);
  });
});
