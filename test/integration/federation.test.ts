import http from 'node:http';
import http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import {
  ALL_GATEWAYS,
  getJson,
  issueSvid,
  metricValue,
  metricWith,
  startFederation,
  useHarness,
  waitForService,
  waitUntil,
  type HttpBackend,
} from '../harness/index.js';

const h = useHarness();

/** Three clusters (or `clusters`); `services(cluster)` says what each runs. */
const federation = (
  services: (cluster: string) => Record<string, unknown>,
  identity: (cluster: string) => Record<string, unknown> = () => ({}),
  clusters = ['a', 'b', 'c'],
) => startFederation(h, { services, identity, clusters });
const seen = waitForService;
const metric = metricValue;

const echo = (body: Buffer) => JSON.parse(body.toString()) as { method: string; path: string; headers: Record<string, string> };

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
    expect(await metricWith(gw('b'), 'meshgate_requests_total', { listener: 'federation', source_cluster: 'a', destination_cluster: 'b', outcome: 'relayed' })).toBe(1);

    // Nobody runs it: 404; c runs nothing and exports nothing.
    const unknown = await gw('a').request('nope', '/');
    expect([unknown.status, unknown.headers['meshgate-error']]).toEqual([404, 'unknown-service']);

    // One pooled session to b's replica; once b is gone, a connect failure is recorded there.
    type Remotes = Record<string, { sessions: number; failures: number; lastError?: string }>;
    const remotes = () => getJson<Remotes>(`${gw('a').adminUrl}/debug/remotes`);
    expect(Object.entries(await remotes()).map(([key, r]) => [key.split('@')[0], r.sessions])).toEqual([['b.r1', 1]]);
    gw('b').process.kill('SIGKILL');
    await waitUntil(async () => Object.values(await remotes())[0]?.sessions === 0, { timeoutMs: 10_000, what: 'the session to b to close' });
    const gone = await gw('a').request('hello', '/echo');
    expect([gone.status, gone.headers['meshgate-error']]).toEqual([502, 'upstream-connect']);
    const [pooled] = Object.values(await remotes());
    expect(pooled?.failures).toBeGreaterThanOrEqual(1);
    expect(pooled?.lastError).toMatch(/ECONNREFUSED/);
  });

  it('serves a service run in two clusters locally while local is healthy, remotely once it is not, and locally again', async () => {
    const localBackend = await h.httpBackend({ name: 'a-hello' });
    const remoteBackend = await h.httpBackend({ name: 'b-hello' });
    const hello = (backend: HttpBackend) => ({ hello: { endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS], healthCheck: { interval: '300ms' } } });
    const { gw } = await federation((cluster) => (cluster === 'a' ? hello(localBackend) : cluster === 'b' ? hello(remoteBackend) : {}));
    await seen(gw('a'), 'hello', 'b');

    const served = async () => {
      const res = await gw('a').request('hello', '/echo');
      expect(res.status).toBe(200);
      return res.headers['x-backend'];
    };
    for (let i = 0; i < 5; i++) expect(await served()).toBe('a-hello');

    // Every request succeeds through the change: a refused connect moves on to b before the checks
    // notice, with the request body intact (nothing of it was read for the refused attempt).
    await localBackend.stop();
    const post = await gw('a').request('hello', '/echo', { method: 'POST', body: Buffer.alloc(200_000, 1) });
    expect([post.status, post.headers['x-backend'], post.json<{ bodyBytes: number }>().bodyBytes]).toEqual([200, 'b-hello', 200_000]);
    await waitUntil(async () => (await served()) === 'b-hello', { timeoutMs: 10_000, what: 'traffic served by b' });
    await waitUntil(async () => (await getJson<{ hello: Record<string, { state: string }> }>(`${gw('a').adminUrl}/debug/endpoints`)).hello[localBackend.address]?.state === 'unhealthy', {
      timeoutMs: 10_000,
      what: 'the local endpoint seen unhealthy',
    });
    for (let i = 0; i < 5; i++) expect(await served()).toBe('b-hello');

    // Failback: the endpoint is probed back in, held healthy for 10 s, and traffic ramps home over 10 s.
    await localBackend.restart();
    type Routes = { failback: { phase: string }; tiers: { name: string; share: number }[] };
    const routes = () => getJson<Routes>(`${gw('a').adminUrl}/debug/routes?service=hello`);
    await waitUntil(async () => (await served()) === 'a-hello' && (await routes()).failback.phase === 'steady', {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'traffic back home after the hold and the ramp',
    });
    for (let i = 0; i < 5; i++) expect(await served()).toBe('a-hello');
    expect((await routes()).tiers.map((t) => [t.name, t.share])).toEqual([
      ['local', 1],
      ['any', 0],
    ]);
    const events = (await getJson<{ events: { kind: string }[] }>(`${gw('a').adminUrl}/debug/events?service=hello`)).events.map((e) => e.kind);
    expect(events).toContain('failover');
    expect(events.at(-1)).toBe('failback');
  });

  it('authorizes on the callee by the caller gateway SPIFFE ID: allow, deny (403, counted) and not exported', async () => {
    const backend = await h.httpBackend({ name: 'b' });
    const { gw } = await federation((cluster) =>
      cluster === 'b'
        ? {
            ledger: { endpoints: [backend.address], export: true, allow: ['spiffe://c.test.example/meshgate/gateway/c/*'] },
            internal: { endpoints: [backend.address] },
          }
        : {},
    );
    await seen(gw('a'), 'ledger', 'b');
    await seen(gw('c'), 'ledger', 'b');

    expect((await gw('c').request('ledger', '/echo')).status).toBe(200);
    const denied = await gw('a').request('ledger', '/echo');
    expect([denied.status, denied.headers['meshgate-error']]).toEqual([403, 'forbidden']);
    expect(await metric(gw('b'), 'meshgate_federation_denied_total', 'spiffe://a.test.example/meshgate/gateway/a/r1')).toBe(1);
    expect(backend.requests.count).toBe(1);

    // Not exported: no other cluster routes to it at all.
    const internal = await gw('a').request('internal', '/echo');
    expect([internal.status, internal.headers['meshgate-error']]).toEqual([404, 'unknown-service']);
    expect(backend.requests.count).toBe(1);
  });

  it('honours the caller deadline across the hop: the callee answers 504 once it is spent', async () => {
    const backend = await h.httpBackend({ name: 'b' });
    const { gw } = await federation((cluster) => (cluster === 'b' ? { slow: { endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS] } } : {}));
    await seen(gw('a'), 'slow', 'b');

    const started = Date.now();
    const res = await gw('a').request('slow', '/slow?ms=5000', { headers: { 'meshgate-deadline': '400' } });
    expect([res.status, res.headers['meshgate-error']]).toEqual([504, 'upstream-timeout']);
    expect(Date.now() - started).toBeLessThan(4_000); // far below the 5 s the endpoint takes; not a timing assertion
    const budget = Number(backend.requests.last?.headers['meshgate-deadline']);
    expect(budget).toBeGreaterThan(0);
    expect(budget).toBeLessThanOrEqual(400);
    // b, which enforced the budget at its endpoint, is the one that answered.
    expect(await metricWith(gw('b'), 'meshgate_requests_total', { listener: 'federation', outcome: 'upstream-timeout' })).toBe(1);

    const spent = await gw('a').request('slow', '/echo', { headers: { 'meshgate-deadline': '0' } });
    expect([spent.status, spent.headers['meshgate-error']]).toEqual([504, 'deadline-exceeded']);
  });

  it('carries gRPC unary, server, client and bidirectional streaming across clusters with status and trailers', async () => {
    const backend = await h.grpcBackend({ name: 'grpc-b' });
    const { gw } = await federation((cluster) =>
      cluster === 'b' ? { echo: { protocol: 'grpc', endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS] } } : {},
    );
    await seen(gw('a'), 'echo', 'b');
    const client = h.grpcClient(gw('a').localAddress, { channelOptions: { 'grpc.default_authority': 'echo' } });

    const unary = await client.unary({ message: 'hi', trailers: { 'x-t': 'unary' } });
    expect(unary.reply.backend).toBe('grpc-b');
    expect(unary.reply.headers['meshgate-source']).toBe('cluster=a; spiffe-id=spiffe://a.test.example/meshgate/gateway/a/r1');
    expect(unary.trailers.get('x-t')).toEqual(['unary']);

    const server = await client.serverStream({ message: 's', count: 5, trailers: { 'x-t': 'server' } });
    expect(server.replies).toHaveLength(5);
    expect(server.status.code).toBe(0);

    const clientStream = await client.clientStream([{ message: 'one' }, { message: 'two' }, { message: 'three' }]);
    expect(clientStream.reply.message).toContain('three');

    const bidi = await client.bidi([{ message: 'x' }, { message: 'y' }]);
    expect(bidi.replies.map((r) => r.message)).toHaveLength(2);
    expect(bidi.status.code).toBe(0);

    const failed = (await client.unary({ message: 'no', fail_code: 7, fail_message: 'denied here', trailers: { 'x-why': 'policy' } }).catch((err: unknown) => err)) as {
      code: number;
      details: string;
      metadata: { get(k: string): unknown };
    };
    expect([failed.code, failed.details, failed.metadata.get('x-why')]).toEqual([7, 'denied here', ['policy']]);
    expect(backend.calls.count).toBe(5);
  });

  it('streams large bodies both ways without buffering them, and a client that goes away cancels the far request', async () => {
    const MiB = 1024 * 1024;
    let uploaded = 0;
    let releaseDownload: (() => void) | undefined;
    let hangClosed = false;
    const backend = await h.httpBackend({
      name: 'b',
      handler: (req, res, fallback) => {
        if (req.url === '/upload-count') {
          req.on('data', (chunk: Buffer) => (uploaded += chunk.length));
          req.on('end', () => res.end(String(uploaded)));
        } else if (req.url === '/download-held') {
          (res as http.ServerResponse).write(Buffer.alloc(MiB, 1));
          releaseDownload = () => res.end(Buffer.alloc(MiB, 2));
        } else if (req.url === '/hang') {
          req.once('close', () => (hangClosed = true));
        } else fallback();
      },
    });
    const { gw } = await federation((cluster) => (cluster === 'b' ? { bulk: { endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS] } } : {}));
    await seen(gw('a'), 'bulk', 'b');
    const [host, port] = gw('a').localAddress.split(':');
    const target = { host, port: Number(port), headers: { host: 'bulk' }, agent: false };

    // Upload: the far endpoint has half the first MiB before the client sends the rest.
    const upload = new Promise<string>((resolve, reject) => {
      const req = http.request({ ...target, method: 'POST', path: '/upload-count' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.write(Buffer.alloc(MiB, 7));
      waitUntil(() => uploaded >= MiB / 2, { timeoutMs: 10_000, what: 'the endpoint to receive the start of the upload' }).then(() => {
        for (let i = 0; i < 31; i++) req.write(Buffer.alloc(MiB, i));
        req.end();
      }, reject);
    });
    expect(await upload).toBe(String(32 * MiB));

    // Download: the client has half the first MiB while the endpoint still holds the rest back.
    let downloaded = 0;
    const download = new Promise<void>((resolve, reject) => {
      http.get({ ...target, path: '/download-held' }, (res) => {
        res.on('data', (c: Buffer) => (downloaded += c.length));
        res.on('end', () => resolve());
        res.on('error', reject);
      });
    });
    await waitUntil(() => downloaded >= MiB / 2, { timeoutMs: 10_000, what: 'the client to receive the start of the download' });
    releaseDownload?.();
    await download;
    expect(downloaded).toBe(2 * MiB);

    // Cancellation: the app hangs up, and the endpoint two gateways away sees its request end.
    const before = backend.requests.count;
    const req = http.get({ ...target, path: '/hang' });
    req.on('error', () => {});
    await waitUntil(() => backend.requests.count > before, { timeoutMs: 10_000, what: 'the request to reach the endpoint' });
    req.destroy();
    await waitUntil(() => hangClosed, { timeoutMs: 10_000, what: 'the far endpoint to see the cancellation' });
  });

  it('rotates the federation listener SVID without a restart and without dropping open sessions', async () => {
    const backend = await h.httpBackend({ name: 'b' });
    const { gw, trust } = await federation(
      (cluster) => (cluster === 'b' ? { hello: { endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS] } } : {}),
      (cluster) => (cluster === 'b' ? { svidTtl: '30s', caTtl: '3m' } : {}),
      ['a', 'b'],
    );
    await seen(gw('a'), 'hello', 'b');
    const creds = await issueSvid(trust.get('a')!.caDir, 'spiffe://a.test.example/meshgate/gateway/a/tester', await h.tempDir());
    const connect = () => http2.connect(`https://${gw('b').federationAddress}`, { ...creds, rejectUnauthorized: false });
    const get = (session: http2.ClientHttp2Session) =>
      new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':path': '/echo', ':authority': 'hello', 'meshgate-service': 'hello' });
        stream.once('response', (headers) => resolve(Number(headers[':status'])));
        stream.once('error', reject);
        stream.resume();
      });
    const served = (session: http2.ClientHttp2Session) => (session.socket as unknown as { getPeerCertificate(): { fingerprint256: string } }).getPeerCertificate().fingerprint256;

    const old = connect();
    expect(await get(old)).toBe(200);
    const first = served(old);
    // Renewed 5 to 15 s after issue (half of 30 s plus the 10 s backdate, ± 10 %); meanwhile a's pooled session and this one keep working.
    let failures = 0;
    await waitUntil(
      async () => {
        if ((await get(old)) !== 200) failures++;
        if ((await gw('a').request('hello', '/echo')).status !== 200) failures++;
        const fresh = connect();
        try {
          await get(fresh);
          return served(fresh) !== first;
        } finally {
          fresh.close();
        }
      },
      { timeoutMs: 20_000, intervalMs: 250, what: 'a new connection to get the renewed SVID' },
    );
    expect(failures).toBe(0);
    expect(await get(old)).toBe(200);
    expect(served(old)).toBe(first);
    old.close();
  });
});
