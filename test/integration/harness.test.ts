// Self-tests of the real-process harness (test/harness): each part is checked
// against the real thing it drives, so the scenario tests built on it can trust it.
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import {
  findNatsServer,
  httpRequest,
  leakedProcesses,
  NATS_NOT_FOUND_MESSAGE,
  patternBytes,
  publishUntilReceived,
  useHarness,
  waitUntil,
  withTimeout,
  type GrpcCallError,
  type Harness,
} from '../harness/index.js';

const h = useHarness();

afterAll(async () => {
  // Every process any test started (nats-servers included) must be gone.
  expect(await leakedProcesses()).toEqual([]);
});

describe('NATS topologies', () => {
  it('a super-cluster of three passes a message published on a to a subscriber on c', async () => {
    const sc = await h.natsSuperCluster(['a', 'b', 'c']);
    const onA = await h.natsConnect(sc.server('a').url);
    const onC = await h.natsConnect(sc.server('c').url);
    expect(await publishUntilReceived(onA, onC, 'harness.super', { payload: 'a to c' })).toBe('a to c');
  });

  it('a proxied super-cluster loses the a↔c link in a blackhole and regains it', async () => {
    const sc = await h.natsSuperCluster(['a', 'b', 'c'], { proxiedLinks: true });
    const onA = await h.natsConnect(sc.server('a').url);
    const onB = await h.natsConnect(sc.server('b').url);
    const onC = await h.natsConnect(sc.server('c').url);
    expect(await publishUntilReceived(onA, onC, 'harness.link', { payload: 'before' })).toBe('before');
    expect(sc.link('a', 'c').accepted).toBeGreaterThanOrEqual(2);

    sc.link('a', 'c').mode('blackhole');
    // Stale-link detection (server pings) drops the inbound halves on both sides.
    await waitUntil(
      async () => {
        const [a, c] = await Promise.all([sc.gatewayz('a'), sc.gatewayz('c')]);
        return !a.inbound_gateways?.['c']?.length && !c.inbound_gateways?.['a']?.length;
      },
      { what: 'a and c to drop their gateway connections to each other', timeoutMs: 30_000, intervalMs: 200 },
    );
    // The other links are untouched.
    const a = await sc.gatewayz('a');
    expect(a.outbound_gateways?.['b']?.connection).toBeTruthy();
    expect(await publishUntilReceived(onA, onB, 'harness.link.b', { payload: 'a to b' })).toBe('a to b');

    sc.link('a', 'c').mode('pass');
    await sc.waitConnected(30_000);
    expect(await publishUntilReceived(onA, onC, 'harness.link', { payload: 'after' })).toBe('after');
  });

  it('a hub with two leaves passes a message from leaf1 to leaf2', async () => {
    const topo = await h.natsHubWithLeaves(['leaf1', 'leaf2']);
    const on1 = await h.natsConnect(topo.leaf('leaf1').url);
    const on2 = await h.natsConnect(topo.leaf('leaf2').url);
    expect(await publishUntilReceived(on1, on2, 'harness.leaf', { payload: 'leaf1 to leaf2' })).toBe('leaf1 to leaf2');
  });

  it('a proxied leaf link can be dropped and restored', async () => {
    const topo = await h.natsHubWithLeaves(['leaf1', 'leaf2'], { proxiedLinks: true });
    topo.link('leaf1').mode('drop');
    await waitUntil(async () => (await topo.hub.monitor<{ leafnodes: number }>('/leafz')).leafnodes === 1, {
      what: 'the hub to lose leaf1',
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    topo.link('leaf1').mode('pass');
    await topo.waitConnected(20_000);
    const on1 = await h.natsConnect(topo.leaf('leaf1').url);
    const on2 = await h.natsConnect(topo.leaf('leaf2').url);
    expect(await publishUntilReceived(on1, on2, 'harness.leaf.back', { payload: 'back' })).toBe('back');
  });

  it('restart brings a server back on the same ports', async () => {
    const nats = await h.natsServer({ name: 'phoenix' });
    const { url, monitorUrl } = nats;
    const firstPid = nats.process.pid;
    await nats.restart();
    expect(nats.process.pid).not.toBe(firstPid);
    expect(nats.url).toBe(url);
    expect((await httpRequest(`${monitorUrl}/healthz`)).status).toBe(200);
  });

  it('says how to get nats-server when it cannot be found', () => {
    const saved = process.env['NATS_SERVER_BIN'];
    process.env['NATS_SERVER_BIN'] = '/nonexistent/nats-server';
    try {
      expect(() => findNatsServer()).toThrow(NATS_NOT_FOUND_MESSAGE);
    } finally {
      if (saved === undefined) delete process.env['NATS_SERVER_BIN'];
      else process.env['NATS_SERVER_BIN'] = saved;
    }
  });
});

describe('fault proxy', () => {
  async function proxiedBackend(): Promise<{ url: string; requests: () => number; proxy: Awaited<ReturnType<Harness['faultProxy']>> }> {
    const backend = await h.httpBackend({ name: 'behind-proxy' });
    const proxy = await h.faultProxy({ host: backend.host, port: backend.port });
    return { url: `http://${proxy.address}`, requests: () => backend.requests.count, proxy };
  }

  it('pass forwards an HTTP request to the backend', async () => {
    const { url, requests, proxy } = await proxiedBackend();
    const res = await httpRequest(`${url}/echo`, { method: 'POST', headers: { 'x-probe': 'through' }, body: 'abc' });
    expect(res.status).toBe(200);
    expect(res.headers['x-backend']).toBe('behind-proxy');
    expect(res.json()).toMatchObject({ method: 'POST', path: '/echo', bodyBytes: 3, headers: { 'x-probe': 'through' } });
    expect(requests()).toBe(1);
    expect(proxy.accepted).toBe(1);
  });

  it('latency keeps every byte, in order, both ways', async () => {
    const { url, proxy } = await proxiedBackend();
    proxy.mode({ latencyMs: 5 });
    const size = 3 * 1024 * 1024 + 17;
    const down = await httpRequest(`${url}/download?bytes=${size}`, { timeoutMs: 30_000 });
    expect(down.body.length).toBe(size);
    expect(down.body.equals(patternBytes(0, size))).toBe(true);
    const up = await httpRequest(`${url}/upload`, { method: 'POST', body: patternBytes(0, size), timeoutMs: 30_000 });
    expect(up.json()).toMatchObject({ bytes: size });
  });

  it('blackhole makes a request time out and reaches nothing', async () => {
    const { url, requests, proxy } = await proxiedBackend();
    proxy.mode('blackhole');
    await expect(httpRequest(`${url}/healthz`, { timeoutMs: 500 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(requests()).toBe(0);
    expect(proxy.accepted).toBe(1);
  });

  it('reset makes a request fail with ECONNRESET', async () => {
    const { url, requests, proxy } = await proxiedBackend();
    proxy.mode('reset');
    await expect(httpRequest(`${url}/healthz`)).rejects.toMatchObject({ code: 'ECONNRESET' });
    // The reset can beat the connect callback, so do not wait for 'connect' here.
    expect(await firstEnding(rawSocket(h, proxy.port))).toBe('error ECONNRESET');
    expect(requests()).toBe(0);
  });

  it('drop closes new connections at once and open ones on the switch', async () => {
    const { url, requests, proxy } = await proxiedBackend();
    const open = await rawConnect(h, proxy.port);
    await waitUntil(() => proxy.active === 1, { what: 'the proxy to see the open connection' });
    proxy.mode('drop');
    expect(await firstEnding(open)).toBe('end');
    await expect(httpRequest(`${url}/healthz`)).rejects.toThrow();
    const fresh = await rawConnect(h, proxy.port);
    expect(await firstEnding(fresh)).toBe('end');
    expect(requests()).toBe(0);
  });

  it('a client of a proxy whose target is down is reset, as it would be refused', async () => {
    const { url, proxy } = await proxiedBackend();
    const backend = await h.httpBackend();
    const toDead = await h.faultProxy({ host: backend.host, port: backend.port });
    await backend.stop();
    await expect(httpRequest(`http://${toDead.address}/healthz`)).rejects.toMatchObject({ code: 'ECONNRESET' });
    // A proxy closed twice (by the test, then by teardown) is fine.
    await proxy.close();
    await expect(httpRequest(`${url}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('an open connection is reset when the mode switches to reset', async () => {
    const { proxy } = await proxiedBackend();
    const open = await rawConnect(h, proxy.port);
    await waitUntil(() => proxy.active === 1, { what: 'the proxy to see the open connection' });
    proxy.mode('reset');
    expect(await firstEnding(open)).toBe('error ECONNRESET');
  });

  it('lifting a blackhole closes held connections and lets new ones through', async () => {
    const { url, proxy } = await proxiedBackend();
    proxy.mode('blackhole');
    const held = await rawConnect(h, proxy.port);
    held.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitUntil(() => proxy.active === 1, { what: 'the proxy to hold the connection' });
    proxy.mode('pass');
    // FIN, or RST if our request bytes were still unread in the proxy's socket when it closed.
    expect(['end', 'error ECONNRESET']).toContain(await firstEnding(held));
    expect((await httpRequest(`${url}/healthz`)).status).toBe(200);
  });
});

describe('backends', () => {
  it('an h2c backend answers a direct HTTP/2 request', async () => {
    const backend = await h.h2cBackend({ name: 'h2' });
    const session = http2.connect(backend.url);
    h.onCleanup(() => session.destroy(), 'h2 session');
    const echo = await h2Get(session, '/echo', { 'x-probe': 'h2' });
    expect(echo.status).toBe(200);
    expect(echo.headers['x-backend']).toBe('h2');
    expect(JSON.parse(echo.body.toString())).toMatchObject({ httpVersion: '2.0', headers: { 'x-probe': 'h2' } });
    const download = await h2Get(session, '/download?bytes=200000', {});
    expect(download.body.equals(patternBytes(0, 200_000))).toBe(true);
    expect(backend.requests.count).toBe(2);
  });

  it('an HTTP backend that is stopped refuses connections, and serves again after restart', async () => {
    const backend = await h.httpBackend();
    expect((await httpRequest(`${backend.url}/status/503`)).status).toBe(503);
    await backend.stop();
    await expect(httpRequest(`${backend.url}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await backend.restart();
    expect((await httpRequest(`${backend.url}/healthz`)).status).toBe(200);
  });

  it('a gRPC backend answers unary and server-stream calls, and failures keep their status and trailers', async () => {
    const backend = await h.grpcBackend({ name: 'g1' });
    const client = h.grpcClient(backend.address);

    const unary = await client.unary({ message: 'hi', trailers: { 'x-done': 'yes' } }, { metadata: { 'x-probe': 'p1' } });
    expect(unary.reply).toMatchObject({ message: 'hi', backend: 'g1' });
    expect(unary.reply.headers['x-probe']).toBe('p1');
    expect(unary.trailers.get('x-done')).toEqual(['yes']);

    const stream = await client.serverStream({ message: 's', count: 3 });
    expect(stream.replies.map((r) => r.index)).toEqual([0, 1, 2]);

    const failed = (await client
      .unary({ message: 'x', fail_code: grpc.status.FAILED_PRECONDITION, fail_message: 'not today', trailers: { 'x-why': 'because' } })
      .catch((err: unknown) => err)) as GrpcCallError;
    expect(failed.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(failed.details).toBe('not today');
    expect(failed.metadata.get('x-why')).toEqual(['because']);

    const failedStream = (await client
      .serverStream({ message: 's', count: 2, fail_code: grpc.status.UNAVAILABLE, fail_message: 'gone', trailers: { 'x-why': 'drained' } })
      .catch((err: unknown) => err)) as GrpcCallError;
    expect(failedStream.code).toBe(grpc.status.UNAVAILABLE);
    expect(failedStream.replies).toHaveLength(2);
    expect(failedStream.metadata.get('x-why')).toEqual(['drained']);

    const collected = await client.clientStream([{ message: 'one' }, { message: 'two' }]);
    expect(collected.reply).toMatchObject({ message: 'one two', index: 2 });
    const bidi = await client.bidi([{ message: 'p' }, { message: 'q' }]);
    expect(bidi.replies.map((r) => r.message)).toEqual(['p', 'q']);
    expect(backend.calls.byMethod).toMatchObject({ Unary: 2, ServerStream: 2, ClientStream: 1, Bidi: 1 });
  });

  it('gRPC passes through the fault proxy', async () => {
    const backend = await h.grpcBackend({ name: 'g2' });
    const proxy = await h.faultProxy({ host: backend.host, port: backend.port });
    const client = h.grpcClient(proxy.address);
    expect((await client.unary({ message: 'via proxy' })).reply.backend).toBe('g2');
  });
});

describe('processes', () => {
  it('a paused nats-server does not answer its monitoring port until resumed', async () => {
    const nats = await h.natsServer({ name: 'sleepy' });
    expect(await nats.process.rss()).toBeGreaterThan(0);
    nats.process.pause();
    await expect(httpRequest(`${nats.monitorUrl}/healthz`, { timeoutMs: 500 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    nats.process.resume();
    await nats.waitHealthy(10_000);
  });

  it('captures output and exit status', async () => {
    const proc = await h.spawn('/bin/sh', ['-c', 'echo ready; echo oops >&2; exit 3'], { name: 'sh-exit-3' });
    expect(await proc.waitForLine(/^ready$/, 5_000)).toBe('ready');
    expect(await proc.waitForExit(5_000)).toEqual({ code: 3, signal: null });
    await waitUntil(() => proc.output().includes('oops'), { what: 'stderr to be captured', timeoutMs: 5_000 });
  });

  it('a wait that cannot succeed says what it awaited and shows the output', async () => {
    const proc = await h.spawn('/bin/sh', ['-c', 'echo something-went-wrong; exit 1'], { name: 'sh-fails' });
    const err = (await proc.waitForLine('never printed', 5_000).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/exited while waiting for a line matching "never printed"/);
    expect(err.message).toContain('something-went-wrong');
  });

  it('stop() kills a process that ignores SIGTERM', async () => {
    const proc = await h.spawn('/bin/sh', ['-c', 'trap "" TERM; echo trapped; while :; do sleep 1; done'], { name: 'stubborn' });
    await proc.waitForLine('trapped', 5_000);
    expect(await proc.stop(500)).toEqual({ code: null, signal: 'SIGKILL' });
  });

  let doomedPid: number | undefined;
  it.fails('(deliberately failing) starts a nats-server and throws', async () => {
    const nats = await h.natsServer({ name: 'doomed' });
    doomedPid = nats.process.pid;
    throw new Error('deliberate failure: teardown must still stop the server');
  });

  it('the failed test’s nats-server was torn down', async () => {
    expect(doomedPid).toBeGreaterThan(0);
    const leaks = await leakedProcesses();
    expect(leaks.map((l) => l.pid)).not.toContain(doomedPid);
  });
});

/** A raw TCP socket to 127.0.0.1:port (connecting), destroyed at teardown. */
function rawSocket(harness: Harness, port: number): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port });
  harness.onCleanup(() => socket.destroy(), `raw socket to ${port}`);
  socket.on('error', () => {}); // observed through firstEnding
  return socket;
}

/** A raw TCP connection to 127.0.0.1:port, connected, destroyed at teardown. */
async function rawConnect(harness: Harness, port: number): Promise<net.Socket> {
  const socket = rawSocket(harness, port);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    5_000,
    `a TCP connection to 127.0.0.1:${port}`,
  );
  return socket;
}

/** How a socket's life ends: 'end' (FIN) or 'error CODE' (e.g. a reset). */
function firstEnding(socket: net.Socket): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      socket.once('end', () => resolve('end'));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
      socket.resume();
    }),
    10_000,
    'the socket to be closed or reset',
  );
}

/** One HTTP/2 GET on an open session, body collected. */
function h2Get(
  session: http2.ClientHttp2Session,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Buffer }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = session.request({ ':path': path, ...headers });
      const chunks: Buffer[] = [];
      let responseHeaders: http2.IncomingHttpHeaders = {};
      req.on('response', (h) => (responseHeaders = h));
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks) }));
      req.on('error', reject);
      req.end();
    }),
    10_000,
    `an HTTP/2 response to GET ${path}`,
  );
}
