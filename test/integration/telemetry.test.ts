import { describe, expect, it } from 'vitest';
import {
  ALL_GATEWAYS,
  scrape,
  startFederation,
  sumOf,
  useHarness,
  waitForService,
  waitUntil,
  type OtlpReceiver,
  type ReceivedSpan,
} from '../harness/index.js';

const h = useHarness();

const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

/** The trace as an indented tree, for the test's output: who called whom, with what came of it. */
function traceTree(spans: readonly ReceivedSpan[]): string {
  const line = (s: ReceivedSpan, depth: number): string => {
    const a = s.attributes;
    const what = [a['meshgate.service'], a['meshgate.destination_cluster'] !== undefined && `to ${String(a['meshgate.destination_cluster'])}`, a['meshgate.endpoint'], a['http.response.status_code'], a['meshgate.outcome']]
      .filter((x) => x !== undefined && x !== false && x !== '')
      .join(' ');
    const children = spans.filter((c) => c.parentSpanId === s.spanId).map((c) => line(c, depth + 1));
    const self = `${'  '.repeat(depth)}${s.cluster} ${s.kind === SERVER ? 'server' : 'client'} ${s.name} ${s.spanId}: ${what}${s.statusCode === ERROR ? ' [error]' : ''}`;
    return [self, ...children].join('\n');
  };
  return spans.filter((s) => !spans.some((p) => p.spanId === s.parentSpanId)).map((s) => line(s, 0)).join('\n');
}

function only(spans: readonly ReceivedSpan[], what: string, match: (s: ReceivedSpan) => boolean): ReceivedSpan {
  const found = spans.filter(match);
  if (found.length !== 1) throw new Error(`expected one ${what}, found ${found.length}: ${JSON.stringify(spans, null, 1)}`);
  return found[0] as ReceivedSpan;
}

/**
 * Two clusters exporting telemetry to one in-test OTLP receiver. In a,
 * `hello`'s only endpoint refuses connections (nothing listens on its port),
 * so a request is tried there, then retried at b; `down` has nothing else.
 */
async function federation(receiver: OtlpReceiver, sampling: (cluster: string) => number = () => 1) {
  const b1 = await h.httpBackend({ name: 'b1' });
  const dead = `127.0.0.1:${await h.freePort()}`;
  const { gw } = await startFederation(h, {
    clusters: ['a', 'b'],
    services: (c) =>
      c === 'a'
        ? { hello: { endpoints: [dead] }, down: { endpoints: [dead] } }
        : { hello: { endpoints: [b1.address], export: true, allow: [ALL_GATEWAYS] } },
    config: (c) => ({ telemetry: { otlpEndpoint: receiver.url, traceSampling: sampling(c) } }),
    // Pushed often, so the test need not wait OpenTelemetry's default 5 s and 60 s.
    env: () => ({ OTEL_BSP_SCHEDULE_DELAY: '200', OTEL_METRIC_EXPORT_INTERVAL: '1000' }),
  });
  await waitForService(gw('a'), 'hello', 'b');
  return { gw, b1 };
}

describe('telemetry', () => {
  it('one request across two gateways is one trace: server and client spans on each side, the retry a sibling try, the endpoint told the last try', async () => {
    const receiver = await h.otlpReceiver();
    const { gw, b1 } = await federation(receiver);
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const appSpan = 'b7ad6b7169203331';

    const res = await gw('a').request('hello', '/echo', { headers: { traceparent: `00-${traceId}-${appSpan}-01` } });
    expect(res.status).toBe(200);
    await waitUntil(() => receiver.spans().filter((s) => s.traceId === traceId).length >= 5, { timeoutMs: 20_000, what: 'five spans of the trace' });
    const spans = receiver.spans().filter((s) => s.traceId === traceId);
    console.log(`trace ${traceId}, as the OTLP receiver got it (parent: the app's span ${appSpan}):\n${traceTree(spans)}`);
    expect(spans).toHaveLength(5);

    const aServer = only(spans, "a's server span", (s) => s.cluster === 'a' && s.kind === SERVER);
    expect(aServer.parentSpanId).toBe(appSpan);
    expect(aServer.attributes).toMatchObject({ 'http.request.method': 'GET', 'url.path': '/echo', 'http.response.status_code': 200, 'meshgate.service': 'hello', 'meshgate.source_cluster': 'a', 'meshgate.destination_cluster': 'b', 'meshgate.outcome': 'relayed' });

    const aTries = spans.filter((s) => s.cluster === 'a' && s.kind === CLIENT);
    expect(aTries.map((s) => s.parentSpanId)).toEqual([aServer.spanId, aServer.spanId]);
    const first = only(aTries, 'first try', (s) => s.attributes['http.request.resend_count'] === undefined);
    const retry = only(aTries, 'retry', (s) => s.attributes['http.request.resend_count'] === 1);
    expect(first.attributes).toMatchObject({ 'meshgate.destination_cluster': 'a', 'meshgate.outcome': 'upstream-connect' });
    expect(first.statusCode).toBe(ERROR);
    expect(retry.attributes).toMatchObject({ 'meshgate.destination_cluster': 'b', 'meshgate.endpoint': 'b.r1', 'http.response.status_code': 200 });

    const bServer = only(spans, "b's server span", (s) => s.cluster === 'b' && s.kind === SERVER);
    expect(bServer.parentSpanId).toBe(retry.spanId);
    expect(bServer.attributes).toMatchObject({ 'meshgate.listener': 'federation', 'meshgate.source_cluster': 'a', 'meshgate.service': 'hello' });
    const bTry = only(spans, "b's try", (s) => s.cluster === 'b' && s.kind === CLIENT);
    expect(bTry.parentSpanId).toBe(bServer.spanId);
    expect(b1.requests.last?.headers['traceparent']).toBe(`00-${traceId}-${bTry.spanId}-01`);

    // A failed request's log line names its trace.
    const failed = await gw('a').request('down', '/');
    expect(failed.status).toBe(502);
    await waitUntil(() => gw('a').logs().some((l) => l.msg === 'request failed' && typeof l.trace_id === 'string'), { timeoutMs: 5_000, what: 'a request failed line' });
    const line = gw('a').logs().find((l) => l.msg === 'request failed') as Record<string, unknown>;
    await waitUntil(() => receiver.spans().some((s) => s.traceId === line.trace_id && s.spanId === line.span_id), { timeoutMs: 20_000, what: 'the failed request\'s span' });
    expect(line).toMatchObject({ 'service.name': 'meshgate', service: 'down' });
  });

  it('/metrics and the OTLP push move with traffic, retries, failures and refusals, and no label takes a name a caller chose', async () => {
    const receiver = await h.otlpReceiver();
    const { gw } = await federation(receiver);
    const before = await scrape(gw('a').adminUrl);
    for (let i = 0; i < 5; i++) expect((await gw('a').request('hello', '/echo')).status).toBe(200);
    expect((await gw('a').request('down', '/')).status).toBe(502);
    for (let i = 0; i < 20; i++) expect((await gw('a').request(`made-up-${i}`, '/')).status).toBe(404);

    const a = await scrape(gw('a').adminUrl);
    const grew = (name: string, labels: Record<string, string>) => sumOf(a, name, labels) - sumOf(before, name, labels);
    const toB = { listener: 'local', service: 'hello', source_cluster: 'a', destination_cluster: 'b', outcome: 'relayed' };
    expect(grew('meshgate_requests_total', toB)).toBe(5);
    expect(grew('meshgate_request_duration_seconds_count', toB)).toBe(5);
    expect(grew('meshgate_request_duration_seconds_bucket', { ...toB, le: '+Inf' })).toBe(5);
    expect(sumOf(a, 'meshgate_request_duration_seconds_sum', toB)).toBeGreaterThan(0);
    expect(grew('meshgate_retries_total', { service: 'hello', condition: 'connect-failure' })).toBeGreaterThanOrEqual(5);
    expect(grew('meshgate_requests_total', { service: 'down', destination_cluster: 'a', outcome: 'upstream-connect' })).toBe(1);
    expect(grew('meshgate_requests_total', { service: 'unknown', outcome: 'unknown-service' })).toBe(20);
    expect(a.some((s) => Object.values(s.labels).some((v) => v.startsWith('made-up-')))).toBe(false);
    expect(sumOf(a, 'meshgate_members', { state: 'alive' })).toBe(2);
    expect(sumOf(a, 'meshgate_svid_expiry_seconds')).toBeGreaterThan(0);
    expect(sumOf(a, 'meshgate_ca_expiry_seconds', { state: 'active' })).toBeGreaterThan(0);
    expect(a.some((s) => s.name === 'meshgate_bundle_age_seconds' && s.labels.trust_domain === 'b.test.example')).toBe(true);
    expect(sumOf(a, 'meshgate_route_tier_share', { service: 'hello' })).toBeCloseTo(1, 5);
    expect(sumOf(a, 'meshgate_gossip_received_total')).toBeGreaterThan(0);

    const b = await scrape(gw('b').adminUrl);
    expect(sumOf(b, 'meshgate_requests_total', { listener: 'federation', service: 'hello', source_cluster: 'a', destination_cluster: 'b', outcome: 'relayed' })).toBe(5);

    await waitUntil(() => receiver.metricNames('a').has('meshgate_requests_total') && receiver.metricNames('a').has('meshgate_request_duration_seconds'), {
      timeoutMs: 20_000,
      what: "a's metrics pushed over OTLP",
    });
  });

  it('samples at the head: a caller\'s decision is followed, a trace starts only where a request enters, and an unsampled request passes untouched', async () => {
    const receiver = await h.otlpReceiver();
    // a samples no trace of its own; b samples every one.
    const { gw, b1 } = await federation(receiver, (c) => (c === 'a' ? 0 : 1));

    // Not sampled by a: b, which samples all it starts, follows a and makes no span.
    expect((await gw('a').request('hello', '/echo')).status).toBe(200);
    expect(b1.requests.last?.headers['traceparent']).toBeUndefined();
    // The caller's "not sampled" reaches the endpoint as it was sent.
    const unsampled = '00-11111111111111111111111111111111-2222222222222222-00';
    expect((await gw('a').request('hello', '/echo', { headers: { traceparent: unsampled } })).status).toBe(200);
    expect(b1.requests.last?.headers['traceparent']).toBe(unsampled);
    // The caller's "sampled" is followed by both, although a's ratio is 0: five spans, as in the first test.
    const followed = '33333333333333333333333333333333';
    expect((await gw('a').request('hello', '/echo', { headers: { traceparent: `00-${followed}-4444444444444444-01` } })).status).toBe(200);
    // At b's own listener, a request with no context starts a trace.
    expect((await gw('b').request('hello', '/echo')).status).toBe(200);
    const started = b1.requests.last?.headers['traceparent'];
    expect(started).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const startedId = String(started).slice(3, 35);

    // Each gateway exports its spans in the order they ended: once the last trace is in, every earlier span is too.
    await waitUntil(() => receiver.spans().some((s) => s.traceId === startedId) && receiver.spans().filter((s) => s.traceId === followed).length === 5, {
      timeoutMs: 20_000,
      what: 'the followed and the started trace',
    });
    const traces = new Set(receiver.spans().map((s) => s.traceId));
    expect([...traces].sort()).toEqual([followed, startedId].sort());
    const root = only(receiver.spans(), "b's root span", (s) => s.traceId === startedId && s.kind === SERVER);
    expect(root.parentSpanId).toBeUndefined();
    expect(root.attributes).toMatchObject({ 'meshgate.listener': 'local', 'meshgate.source_cluster': 'b' });
  });
});
