import http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { gatewayConfig, getJson, httpRequest, useHarness, type GrpcCallError } from '../harness/index.js';

const h = useHarness();

describe('local proxy - HTTP/1.1', () => {
  it('relays a request to the service named by Host, spreading requests over its endpoints', async () => {
    const a = await h.httpBackend({ name: 'a' });
    const b = await h.httpBackend({ name: 'b' });
    const gw = await h.gateway(gatewayConfig({ web: { endpoints: [a.address, b.address] } }));

    const first = await gw.request('web', '/echo?x=1', { headers: { 'x-request-id': 'r1' } });
    const second = await gw.request('web.global:8080', '/echo');

    expect(first.status).toBe(200);
    const echoed = first.json<{ path: string; headers: Record<string, string> }>();
    expect(echoed.path).toBe('/echo?x=1');
    expect(echoed.headers['host']).toBe('web');
    expect(echoed.headers['x-request-id']).toBe('r1');
    expect(second.status).toBe(200);
    // Power of two choices over equal endpoints: both get traffic.
    const seen = new Set([first.headers['x-backend'], second.headers['x-backend']]);
    for (let i = 0; i < 20 && seen.size < 2; i++) seen.add((await gw.request('web', '/echo')).headers['x-backend']);
    expect(seen).toEqual(new Set(['a', 'b']));
  });

  it('removes hop-by-hop headers and appends x-forwarded-for', async () => {
    const backend = await h.httpBackend();
    const gw = await h.gateway(gatewayConfig({ web: { endpoints: [backend.address] } }));

    const res = await gw.request('web', '/echo', {
      headers: {
        connection: 'keep-alive, x-hop-secret',
        'x-hop-secret': 'for the first hop only',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'x-forwarded-for': '203.0.113.9',
      },
    });

    const { headers } = res.json<{ headers: Record<string, string> }>();
    expect(headers['x-hop-secret']).toBeUndefined();
    expect(headers['proxy-authorization']).toBeUndefined();
    expect(headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
  });

  it('carries an h2c request to an HTTP/1.1 endpoint on the same port', async () => {
    const backend = await h.httpBackend();
    const gw = await h.gateway(gatewayConfig({ web: { endpoints: [backend.address] } }));

    const session = http2.connect(gw.localUrl);
    h.onCleanup(() => session.close());
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = session.request({ ':path': '/echo', ':authority': 'web' });
      let status = 0;
      let body = '';
      req.on('response', (headers) => (status = Number(headers[':status'])));
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
    });

    expect(status).toBe(200);
    const echoed = JSON.parse(body) as { httpVersion: string; headers: Record<string, string> };
    expect(echoed.httpVersion).toBe('1.1');
    expect(echoed.headers['host']).toBe('web');
  });
});

describe('local proxy - gRPC over h2c', () => {
  it('relays unary and server-streaming calls with status and trailers intact', async () => {
    const backend = await h.grpcBackend({ name: 'grpc-a' });
    const gw = await h.gateway(gatewayConfig({ echo: { protocol: 'grpc', endpoints: [backend.address] } }));
    const client = h.grpcClient(gw.localAddress, { channelOptions: { 'grpc.default_authority': 'echo' } });

    const unary = await client.unary({ message: 'hi', trailers: { 'x-t': 'unary' } });
    expect(unary.reply.message).toContain('hi');
    expect(unary.trailers.get('x-t')).toEqual(['unary']);

    const stream = await client.serverStream({ message: 's', count: 5 });
    expect(stream.replies).toHaveLength(5);
    expect(stream.status.code).toBe(0);

    const failed = (await client
      .unary({ message: 'no', fail_code: 7, fail_message: 'denied here', trailers: { 'x-why': 'policy' } })
      .catch((err: unknown) => err)) as GrpcCallError;
    expect(failed.code).toBe(7);
    expect(failed.details).toBe('denied here');
    expect(failed.metadata.get('x-why')).toEqual(['policy']);

    const streamFailed = (await client
      .serverStream({ message: 'part', count: 2, fail_code: 14, fail_message: 'gone' })
      .catch((err: unknown) => err)) as GrpcCallError;
    expect(streamFailed.code).toBe(14);
    expect(streamFailed.replies).toHaveLength(2);
    expect(backend.calls.count).toBe(4);
  });
});

describe('local proxy - errors the gateway answers itself', () => {
  it('404 unknown-service for a service it does not know', async () => {
    const gw = await h.gateway(gatewayConfig({}));
    const res = await gw.request('nosuch', '/');
    expect(res.status).toBe(404);
    expect(res.headers['meshgate-error']).toBe('unknown-service');
  });

  it('admin reads create no state: /debug/routes for names nobody serves answers 404 and keeps nothing', async () => {
    const backend = await h.httpBackend();
    const gw = await h.gateway(gatewayConfig({ web: { endpoints: [backend.address] } }));
    for (let i = 0; i < 200; i++) {
      const res = await httpRequest(`${gw.adminUrl}/debug/routes?service=made-up-${i}`);
      expect(res.status).toBe(404);
      expect((await gw.request(`made-up-${i}`, '/')).status).toBe(404);
    }
    expect((await httpRequest(`${gw.adminUrl}/debug/routes?service=web`)).status).toBe(200);
    const all = await getJson<Record<string, unknown>>(`${gw.adminUrl}/debug/routes`);
    expect(Object.keys(all).filter((name) => name.startsWith('made-up'))).toEqual([]);
  });

  it('502 upstream-connect when the endpoint refuses connections', async () => {
    const closedPort = await h.freePort();
    const gw = await h.gateway(gatewayConfig({ web: { endpoints: [`127.0.0.1:${closedPort}`] } }));
    const res = await gw.request('web', '/');
    expect(res.status).toBe(502);
    expect(res.headers['meshgate-error']).toBe('upstream-connect');
  });

  it('504 upstream-timeout when the endpoint does not answer in time', async () => {
    const backend = await h.httpBackend();
    const gw = await h.gateway(
      gatewayConfig({ web: { endpoints: [backend.address], timeouts: { connect: '200ms', perTry: '300ms', request: '1s' } } }),
    );
    const res = await gw.request('web', '/slow?ms=5000');
    expect(res.status).toBe(504);
    expect(res.headers['meshgate-error']).toBe('upstream-timeout');
  });

  it('504 upstream-timeout when a blackholed endpoint accepts but never answers', async () => {
    const backend = await h.httpBackend();
    const proxy = await h.faultProxy({ host: backend.host, port: backend.port });
    proxy.mode('blackhole');
    const gw = await h.gateway(
      gatewayConfig({ web: { endpoints: [proxy.address], timeouts: { connect: '200ms', perTry: '300ms', request: '1s' } } }),
    );
    const res = await gw.request('web', '/echo');
    expect(res.status).toBe(504);
    expect(res.headers['meshgate-error']).toBe('upstream-timeout');
    expect(backend.requests.count).toBe(0);
  });

  it('502 upstream-reset when the endpoint resets the connection', async () => {
    const backend = await h.httpBackend();
    const proxy = await h.faultProxy({ host: backend.host, port: backend.port });
    proxy.mode('reset');
    const gw = await h.gateway(gatewayConfig({ web: { endpoints: [proxy.address] } }));
    const res = await gw.request('web', '/echo');
    expect(res.status).toBe(502);
    expect(res.headers['meshgate-error']).toBe('upstream-reset');
  });
});
