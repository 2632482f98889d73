import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ServiceConfig } from '../../config/index.js';
import type { BalancerEvent, RemoteCluster } from '../../failover/index.js';
import { mulberry32 as seeded } from '../../../test/harness/seeded-random.js';
import { createLogger } from '../../telemetry/index.js';
import { Counters, GATEWAY_COUNTERS } from '../admin/counters.js';
import type { RequestRecord } from './request-telemetry.js';
import { GatewayError, type GatewayErrorCode } from '../errors.js';
import { ClientLink, type Exchange, type InboundRequest, type UpstreamResponse } from '../protocol/exchange.js';
import type { Forwarder, TryContext } from '../protocol/forwarder.js';
import type { HeaderMap } from '../protocol/headers.js';
import { Admission } from './admission.js';
import { RequestPipeline } from './pipeline.js';
import { RouteTable } from './route-table.js';

/** A fake clock: tests move it, nothing sleeps. */
class Clock {
  ms = 1_000_000;
  now = () => this.ms;
}

type Answer = { status: number; headers?: HeaderMap } | GatewayError;

/** An upstream that answers from a script, and records what it was sent. */
class FakeUpstream implements Forwarder {
  readonly seen: { request: InboundRequest; context: TryContext; body: string | undefined }[] = [];
  constructor(public answer: (request: InboundRequest, context: TryContext) => Answer | Promise<Answer>) {}

  async forward(request: InboundRequest, context: TryContext): Promise<UpstreamResponse> {
    let body: string | undefined;
    if (request.body) {
      const chunks: Buffer[] = [];
      for await (const c of request.body) chunks.push(c as Buffer);
      body = Buffer.concat(chunks).toString();
    }
    this.seen.push({ request, context, body });
    const a = await this.answer(request, context);
    if (a instanceof GatewayError) throw a;
    return response(a.status, a.headers);
  }
}

function response(status: number, headers: HeaderMap = {}): UpstreamResponse {
  return {
    status,
    headers,
    endStream: false,
    trailersExpected: false,
    relayBody: async (dest) => {
      dest.write('ok');
      return undefined;
    },
    cancel: () => {},
  };
}

/** The client side of one request: what the pipeline answered. */
function exchange(over: Partial<InboundRequest> = {}) {
  const result: { status?: number; error?: GatewayErrorCode; body?: string } = {};
  const request: InboundRequest = {
    protocol: 'http/1.1',
    method: 'GET',
    path: '/x',
    authority: 'pay',
    headers: {},
    body: undefined,
    client: new ClientLink(),
    ...over,
  };
  const ex: Exchange = {
    request,
    async relay(upstream) {
      result.status = upstream.status;
      const chunks: Buffer[] = [];
      const sink = new Writable({ write: (c, _e, cb) => (chunks.push(c as Buffer), cb()) });
      await upstream.relayBody(sink);
      result.body = Buffer.concat(chunks).toString();
    },
    fail(error) {
      result.status = error.status;
      result.error = error.code;
    },
  };
  return { ex, result, request };
}

const service = (over: Partial<ServiceConfig> = {}): ServiceConfig => ({
  name: 'pay',
  protocol: 'http',
  endpoints: [
    { host: '127.0.0.1', port: 80 },
    { host: '127.0.0.2', port: 80 },
  ],
  export: true,
  allow: ['spiffe://b.test/meshgate/gateway/b/*'],
  failover: { overprovisioning: 1.4, order: ['local', 'region', 'any'], retryOn: ['connect-failure', 'reset', '503'], allowPinning: false },
  timeouts: { connectMs: 1_000, perTryMs: 2_000, requestMs: 10_000 },
  drain: false,
  ...over,
});

interface Setup {
  readonly services?: ServiceConfig[];
  readonly remotes?: RemoteCluster[];
  readonly healthy?: (endpoint: string) => boolean;
  readonly maxInFlightPerService?: number;
  readonly maxInFlightPerTarget?: number;
}

/** A pipeline over fake upstreams: one per local endpoint, one for every remote replica. */
function setup(opts: Setup = {}) {
  const clock = new Clock();
  const counters = new Counters(GATEWAY_COUNTERS);
  const records: RequestRecord[] = [];
  const outcomes = (outcome: string) => records.filter((r) => r.outcome === outcome).length;
  const events: BalancerEvent[] = [];
  const upstreams = new Map<string, FakeUpstream>();
  const remote = new FakeUpstream(() => ({ status: 200 }));
  let remotes = opts.remotes ?? [];
  const healthy = opts.healthy ?? (() => true);
  const services = opts.services ?? [service()];
  const routes = new RouteTable({
    cluster: 'a',
    region: 'us',
    services,
    defaults: service(),
    balancer: {
      maxInFlightPerTarget: opts.maxInFlightPerTarget ?? 5_000,
      peakEwma: { decayMs: 10_000, defaultRttMs: 30 },
      ejection: { consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000 },
      retryBudget: { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 },
      failback: { holdMs: 10_000, rampMs: 10_000, jitterMs: 0 },
    },
    health: { check: (_s, e) => ({ healthy: healthy(`${e.host}:${e.port}`), reason: healthy(`${e.host}:${e.port}`) ? '200' : 'refused' }) },
    endpointForwarder: (_s, endpoint) => {
      const u = new FakeUpstream(() => ({ status: 200 }));
      upstreams.set(`${endpoint.host}:${endpoint.port}`, u);
      return u;
    },
    onEvent: (e) => events.push(e),
    random: seeded(1),
  });
  routes.connectFederation({ remotes: (name) => remotes.filter(() => name === 'pay' || name === 'elsewhere') }, remote, clock.ms);
  const admission = new Admission(opts.maxInFlightPerService ?? 20_000);
  const pipeline = new RequestPipeline({
    routes,
    admission,
    retry: { maxRetriesPerRequest: 2 },
    counters,
    metrics: { finished: (r) => records.push(r), retried: () => {} },
    tracing: undefined,
    log: createLogger({ level: 'silent' }),
    now: clock.now,
  });
  const local = async (over: Partial<InboundRequest> = {}) => {
    const e = exchange(over);
    await pipeline.handleLocal(e.ex);
    return e;
  };
  const setRemotes = (r: RemoteCluster[]) => {
    remotes = r;
    routes.refresh(clock.ms, true);
  };
  return { clock, counters, records, outcomes, events, upstreams, remote, routes, admission, pipeline, local, setRemotes };
}

const remoteB = (over: Partial<RemoteCluster> = {}): RemoteCluster => ({
  cluster: 'b',
  region: 'us',
  exported: true,
  healthy: 1,
  total: 1,
  stale: false,
  replicas: ['b.r1'],
  ...over,
});

const reset = () => new GatewayError('upstream-reset', 'reset');
const refused = () => new GatewayError('upstream-connect', 'refused');

describe('RequestPipeline', () => {
  it('relays a local endpoint\'s answer and counts it once', async () => {
    const g = setup();
    const { result } = await g.local();
    expect(result).toEqual({ status: 200, body: 'ok' });
    expect(g.records).toEqual([{ listener: 'local', service: 'pay', sourceCluster: 'a', destinationCluster: 'a', outcome: 'relayed', durationMs: 0 }]);
  });

  it('records a request by the cluster that answered, and one that named no known service as unknown', async () => {
    const g = setup({ healthy: () => false, remotes: [remoteB()] });
    expect((await g.local()).result).toMatchObject({ status: 200 });
    expect((await g.local({ authority: 'nobody' })).result).toMatchObject({ status: 404 });
    expect(g.records.map((r) => [r.service, r.destinationCluster, r.outcome])).toEqual([
      ['pay', 'b', 'relayed'],
      ['unknown', '', 'unknown-service'],
    ]);
  });

  it('answers bad-request, unknown-service and deadline-exceeded itself', async () => {
    const g = setup();
    expect((await g.local({ authority: undefined })).result).toMatchObject({ status: 400, error: 'bad-request' });
    expect((await g.local({ method: 'CONNECT', path: 'pay:443' })).result).toMatchObject({ status: 400, error: 'bad-request' });
    expect((await g.local({ authority: 'nobody' })).result).toMatchObject({ status: 404, error: 'unknown-service' });
    expect((await g.local({ headers: { 'meshgate-deadline': '0' } })).result).toMatchObject({ status: 504, error: 'deadline-exceeded' });
    // A name nobody serves leaves no route behind.
    expect(g.routes.explainAll(g.clock.ms)).not.toHaveProperty('nobody');
    expect(g.routes.explain('nobody', g.clock.ms)).toBeUndefined();
  });

  it('passes upstream-timeout, upstream-reset and upstream-connect through when nothing is left to try', async () => {
    for (const code of ['upstream-timeout', 'upstream-reset', 'upstream-connect'] as const) {
      const g = setup({ services: [service({ endpoints: [{ host: '127.0.0.1', port: 80 }] })] });
      for (const u of g.upstreams.values()) u.answer = () => new GatewayError(code, code);
      const { result } = await g.local();
      expect(result).toMatchObject({ error: code, status: code === 'upstream-timeout' ? 504 : 502 });
      expect(g.outcomes(code)).toBe(1);
    }
  });

  it('retries a refused connect and a reset on another endpoint, resending a small body', async () => {
    const g = setup();
    const [first, second] = [...g.upstreams.values()] as [FakeUpstream, FakeUpstream];
    first.answer = () => refused();
    second.answer = () => reset();
    // Each endpoint fails once; the third try has nowhere new to go.
    const put = await g.local({ method: 'PUT', body: Readable.from([Buffer.from('hello')]), headers: { 'content-length': '5' } });
    expect(put.result).toMatchObject({ status: 502 });
    expect([...first.seen, ...second.seen].map((s) => s.body)).toEqual(['hello', 'hello']);
    first.answer = () => refused();
    second.answer = () => ({ status: 200 });
    for (let i = 0; i < 10; i++) expect((await g.local()).result.status).toBe(200);
  });

  it('never retries a POST that reached an upstream, but does when it was refused unprocessed', async () => {
    const g = setup();
    const [first, second] = [...g.upstreams.values()] as [FakeUpstream, FakeUpstream];
    first.answer = second.answer = () => reset();
    const post = await g.local({ method: 'POST', body: Readable.from([Buffer.from('x')]), headers: { 'content-length': '1' } });
    expect(post.result).toMatchObject({ status: 502, error: 'upstream-reset' });
    expect(first.seen.length + second.seen.length).toBe(1);
    let refusedOnce = false;
    first.answer = second.answer = () => (refusedOnce ? { status: 201 } : ((refusedOnce = true), new GatewayError('upstream-reset', 'refused stream', {}, { unprocessed: true })));
    const again = await g.local({ method: 'POST', body: Readable.from([Buffer.from('x')]), headers: { 'content-length': '1' } });
    expect(again.result.status).toBe(201);
  });

  it('tries another target after a 503, and answers the 503 itself when none is left', async () => {
    const g = setup();
    const [first, second] = [...g.upstreams.values()] as [FakeUpstream, FakeUpstream];
    first.answer = () => ({ status: 503 });
    second.answer = () => ({ status: 200 });
    for (let i = 0; i < 5; i++) expect((await g.local()).result.status).toBe(200);
    second.answer = () => ({ status: 503 });
    expect((await g.local()).result).toMatchObject({ status: 503 });
  });

  it("tries another target, even for a POST, when a gateway answers 502 upstream-connect: none of its endpoints saw the request", async () => {
    const g = setup();
    const [first, second] = [...g.upstreams.values()] as [FakeUpstream, FakeUpstream];
    first.answer = () => ({ status: 502, headers: { 'meshgate-error': 'upstream-connect' } });
    second.answer = () => ({ status: 201 });
    for (let i = 0; i < 3; i++) expect((await g.local({ method: 'POST' })).result.status).toBe(201);
    // A 502 without the gateway's word may come from an endpoint that did see the request: it is the answer.
    first.answer = () => ({ status: 502 });
    second.answer = () => ({ status: 502 });
    expect((await g.local({ method: 'POST' })).result.status).toBe(502);
  });

  it('ejects an endpoint after five failures in a row and sends its traffic elsewhere', async () => {
    const g = setup();
    const [first, second] = [...g.upstreams.values()] as [FakeUpstream, FakeUpstream];
    first.answer = () => reset();
    second.answer = () => {
      g.clock.ms += 5; // a 5 ms round trip
      return { status: 200 };
    };
    for (let i = 0; i < 40 && !g.events.some((e) => e.kind === 'ejection'); i++) {
      g.clock.ms += 60_000; // long enough for the failure penalty to decay and P2C to try it again
      await g.local();
    }
    expect(g.events.find((e) => e.kind === 'ejection')).toMatchObject({ target: 'local:127.0.0.1:80', reason: '5 consecutive failures (last: upstream-reset)' });
    const before = first.seen.length;
    for (let i = 0; i < 20; i++) expect((await g.local()).result.status).toBe(200);
    expect(first.seen.length).toBe(before);
    expect(second.seen.length).toBeGreaterThan(0);
  });

  it('bounds retries by the budget when everything fails', async () => {
    const g = setup({ services: [service({ endpoints: [1, 2, 3].map((n) => ({ host: `127.0.0.${n}`, port: 80 })) })] });
    for (const u of g.upstreams.values()) u.answer = () => ({ status: 503 });
    let tries = 0;
    for (let i = 0; i < 200; i++) {
      await g.local();
      g.clock.ms += 10; // 200 requests over 2 s
    }
    for (const u of g.upstreams.values()) tries += u.seen.length;
    // 200 originals, and retries within 20 % of them plus 10 a second.
    expect(tries - 200).toBeLessThanOrEqual(0.2 * 200 + 10 * 10);
    expect(tries - 200).toBeGreaterThan(0);
    expect(g.events.some((e) => e.kind === 'budget-exhausted')).toBe(true);
  });

  it('says nothing against a target when the client went away, however often', async () => {
    const g = setup({ services: [service({ endpoints: [{ host: '127.0.0.1', port: 80 }] })], remotes: [remoteB()] });
    const [only] = [...g.upstreams.values()] as [FakeUpstream];
    only.answer = (request) => {
      request.client.leave();
      return new GatewayError('client-gone', 'gone');
    };
    for (let i = 0; i < 50; i++) await g.local();
    expect(g.events.filter((e) => e.kind === 'ejection')).toEqual([]);
    expect(g.outcomes('client-gone')).toBe(50);
    expect(g.remote.seen).toHaveLength(0); // and nothing was retried elsewhere
  });

  it('keeps a remote cluster whose peer ended sessions on purpose, and never strands one whose only replica was ejected', async () => {
    const g = setup({ services: [service({ endpoints: [] })], remotes: [remoteB()] });
    g.remote.answer = () => new GatewayError('upstream-reset', 'GOAWAY', {}, { peerClosed: true });
    for (let i = 0; i < 20; i++) await g.local();
    expect(g.events.filter((e) => e.kind === 'ejection')).toEqual([]);
    g.remote.answer = () => reset();
    for (let i = 0; i < 10; i++) await g.local();
    expect(g.events.filter((e) => e.kind === 'ejection')).toHaveLength(1);
    g.remote.answer = () => ({ status: 200 });
    expect((await g.local()).result.status).toBe(200);
    expect(g.pipeline.routes('pay')).toMatchObject({ tiers: [{ targets: [{ key: 'cluster:b', usable: true }] }] });
  });

  it('hands a try to the next replica of a cluster when one cannot be reached, without spending a retry', async () => {
    const g = setup({ services: [service({ endpoints: [] })], remotes: [remoteB({ replicas: ['b.r1', 'b.r2', 'b.r3'] })] });
    g.remote.answer = (_r, context) => (context.target.kind === 'remote' && context.target.replica === 'b.r3' ? { status: 200 } : refused());
    for (let i = 0; i < 5; i++) expect((await g.local({ method: 'POST' })).result.status).toBe(200);
  });

  it('fails over to another cluster when local endpoints are down, and fails back only after the hold and ramp', async () => {
    let up = true;
    const g = setup({ remotes: [remoteB()], healthy: () => up });
    const served = async (n: number) => {
      const before = g.remote.seen.length;
      for (let i = 0; i < n; i++) await g.local();
      return (g.remote.seen.length - before) / n;
    };
    expect(await served(50)).toBe(0);
    up = false;
    g.routes.refresh(g.clock.ms, true);
    expect(await served(50)).toBe(1);
    up = true;
    g.clock.ms += 1_000;
    g.routes.refresh(g.clock.ms, true);
    expect(await served(50)).toBe(1); // held
    g.clock.ms += 15_000; // past the hold, halfway up the ramp
    g.routes.refresh(g.clock.ms, false);
    const mid = await served(400);
    expect(mid).toBeGreaterThan(0.2);
    expect(mid).toBeLessThan(0.8);
    g.clock.ms += 10_000;
    g.routes.refresh(g.clock.ms, false);
    expect(await served(50)).toBe(0);
    expect(g.events.map((e) => e.kind)).toEqual(['failover', 'failback']);
  });

  it('sheds load with overloaded past the service\'s in-flight limit and when every target is full', async () => {
    const g = setup({ maxInFlightPerService: 2 });
    const gates: (() => void)[] = [];
    for (const u of g.upstreams.values()) u.answer = () => new Promise((resolve) => gates.push(() => resolve({ status: 200 })));
    const first = g.local();
    const second = g.local();
    expect((await g.local()).result).toMatchObject({ status: 503, error: 'overloaded' });
    await new Promise((r) => setImmediate(r));
    for (const open of gates) open();
    expect((await first).result.status).toBe(200);
    expect((await second).result.status).toBe(200);

    const h = setup({ maxInFlightPerTarget: 1, services: [service({ endpoints: [{ host: '127.0.0.1', port: 80 }] })] });
    const hold: (() => void)[] = [];
    for (const u of h.upstreams.values()) u.answer = () => new Promise((resolve) => hold.push(() => resolve({ status: 200 })));
    const busy = h.local();
    await new Promise((r) => setImmediate(r));
    expect((await h.local()).result).toMatchObject({ status: 503, error: 'overloaded' });
    for (const open of hold) open();
    await busy;
  });

  it('authorizes federated requests by the allow list and serves them only here', async () => {
    const g = setup({ remotes: [remoteB()] });
    const peer = { spiffeId: 'spiffe://b.test/meshgate/gateway/b/r1', trustDomain: 'b.test', cluster: 'b', replica: 'r1' };
    const ok = exchange({ headers: { 'meshgate-service': 'pay', 'meshgate-hop': 'b' } });
    await g.pipeline.handleFederated(ok.ex, peer);
    expect(ok.result.status).toBe(200);
    const [seen] = [...g.upstreams.values()].flatMap((u) => u.seen);
    expect(seen?.request.headers).toMatchObject({ 'meshgate-source': 'cluster=b; spiffe-id=spiffe://b.test/meshgate/gateway/b/r1' });
    expect(seen?.request.headers).not.toHaveProperty('meshgate-hop');
    const denied = exchange();
    await g.pipeline.handleFederated(denied.ex, { ...peer, spiffeId: 'spiffe://c.test/meshgate/gateway/c/r1' });
    expect(denied.result).toMatchObject({ status: 403, error: 'forbidden' });
    expect(g.counters.get('meshgate_federation_denied_total', 'spiffe://c.test/meshgate/gateway/c/r1')).toBe(1);
    // Local endpoints down: a federated request is not sent on to another cluster.
    for (const u of g.upstreams.values()) u.answer = () => refused();
    const stuck = exchange();
    await g.pipeline.handleFederated(stuck.ex, peer);
    expect(stuck.result).toMatchObject({ status: 502, error: 'upstream-connect' });
    expect(g.remote.seen).toHaveLength(0);
  });

  it('never ejects a target for timeouts the caller\'s own short deadline caused, but does for real ones', async () => {
    const g = setup({ services: [service({ endpoints: [{ host: '127.0.0.1', port: 80 }] })] });
    for (const u of g.upstreams.values()) u.answer = () => new GatewayError('upstream-timeout', 'slow');
    for (let i = 0; i < 10; i++) await g.local({ headers: { 'meshgate-deadline': '100' } });
    expect(g.events.filter((e) => e.kind === 'ejection')).toEqual([]);
    for (let i = 0; i < 5; i++) await g.local();
    expect(g.events.filter((e) => e.kind === 'ejection')).toHaveLength(1);
  });

  it('does not eject a remote replica for a 504 its gateway sent when the app\'s deadline ran out', async () => {
    const g = setup({ services: [service({ endpoints: [] })], remotes: [remoteB()] });
    g.remote.answer = () => ({ status: 504, headers: { 'meshgate-error': 'upstream-timeout' } });
    for (let i = 0; i < 10; i++) expect((await g.local({ headers: { 'meshgate-deadline': '100' } })).result.status).toBe(504);
    expect(g.events.filter((e) => e.kind === 'ejection')).toEqual([]);
  });

  it('never sends a federated request to another cluster, even when a tier mixes clusters or a remote replica is due a probe', async () => {
    let localUp = false;
    const g = setup({
      services: [service({ failover: { overprovisioning: 1.4, order: ['any'], retryOn: ['connect-failure', 'reset', '503'], allowPinning: false } })],
      remotes: [remoteB({ healthy: 10, total: 10 })],
      healthy: () => localUp,
    });
    // Eject b's replica from app traffic (local endpoints down meanwhile), and let its ejection run out.
    g.remote.answer = () => reset();
    for (let i = 0; i < 20 && !g.events.some((e) => e.kind === 'ejection'); i++) await g.local();
    expect(g.events.some((e) => e.kind === 'ejection')).toBe(true);
    localUp = true;
    g.clock.ms += 60_000;
    g.routes.refresh(g.clock.ms, true);
    const before = g.remote.seen.length;
    const peer = { spiffeId: 'spiffe://b.test/meshgate/gateway/b/r1', trustDomain: 'b.test', cluster: 'b', replica: 'r1' };
    for (let i = 0; i < 50; i++) {
      const e = exchange({ headers: { 'meshgate-service': 'pay' } });
      await g.pipeline.handleFederated(e.ex, peer);
      expect(e.result.status).toBe(200);
    }
    expect(g.remote.seen.length).toBe(before);
  });

  it('tells the next hop the remaining budget when the caller set one', async () => {
    const g = setup();
    await g.local({ headers: { 'meshgate-deadline': '300' } });
    const [seen] = [...g.upstreams.values()].flatMap((u) => u.seen);
    expect(seen?.context).toMatchObject({ propagateDeadline: true, budgetMs: 300, timeouts: { perTryMs: 300, requestMs: 300 } });
  });
});

describe('RequestPipeline: a request pinned to one cluster (meshgate-cluster)', () => {
  const pinnable = (over: Partial<ServiceConfig> = {}) =>
    service({ failover: { overprovisioning: 1.4, order: ['local', 'region', 'any'], retryOn: ['connect-failure', 'reset', '503'], allowPinning: true }, ...over });

  it('goes to the named cluster while ours is healthy, without the header', async () => {
    const g = setup({ services: [pinnable()], remotes: [remoteB({ healthy: 3, total: 3 })] });
    const { result } = await g.local({ headers: { 'meshgate-cluster': 'b' } });
    expect(result).toEqual({ status: 200, body: 'ok' });
    expect(g.remote.seen).toHaveLength(1);
    expect(g.remote.seen[0]?.context.target).toMatchObject({ kind: 'remote', cluster: 'b' });
    expect(g.remote.seen[0]?.request.headers).not.toHaveProperty('meshgate-cluster');
    expect([...g.upstreams.values()].every((u) => u.seen.length === 0)).toBe(true);
  });

  it('to our own cluster, stays on our endpoints: 503 when none is healthy, though b is', async () => {
    let up = true;
    const g = setup({ services: [pinnable()], remotes: [remoteB({ healthy: 3, total: 3 })], healthy: () => up });
    expect((await g.local({ headers: { 'meshgate-cluster': 'a' } })).result).toEqual({ status: 200, body: 'ok' });
    up = false;
    g.routes.refresh(g.clock.ms, true);
    expect((await g.local({ headers: { 'meshgate-cluster': 'a' } })).result).toMatchObject({ status: 503, error: 'no-healthy-endpoints' });
    expect(g.remote.seen).toHaveLength(0);
  });

  it('answers 503 when the named cluster has no healthy endpoint, and never fails over elsewhere', async () => {
    const g = setup({ services: [pinnable()], remotes: [remoteB({ healthy: 0, total: 3 })] });
    expect((await g.local({ headers: { 'meshgate-cluster': 'b' } })).result).toMatchObject({ status: 503, error: 'no-healthy-endpoints' });
    expect([...g.upstreams.values()].every((u) => u.seen.length === 0)).toBe(true);
  });

  it('answers 404 for a cluster that does not run the service, and 403 where the service does not allow pinning', async () => {
    const g = setup({ services: [pinnable()], remotes: [remoteB()] });
    expect((await g.local({ headers: { 'meshgate-cluster': 'c' } })).result).toMatchObject({ status: 404, error: 'unknown-service' });
    const h = setup({ services: [service()], remotes: [remoteB()] });
    expect((await h.local({ headers: { 'meshgate-cluster': 'b' } })).result).toMatchObject({ status: 403, error: 'forbidden' });
    expect(h.remote.seen).toHaveLength(0);
  });
});
