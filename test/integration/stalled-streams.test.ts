import http from 'node:http';
import http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  echoServiceConstructor,
  gatewayConfig,
  startStallingGrpcBackend,
  useHarness,
  waitUntil,
  withTimeout,
  type EchoReply,
  type GatewayProcess,
  type StallingGrpcBackend,
  type StreamRequest,
} from '../harness/index.js';

const h = useHarness();

/** Far beyond the 2 s deadline and idle gap under test: a gateway that holds the stream fails here. */
const BOUND_MS = 20_000;
const CANCEL = http2.constants.NGHTTP2_CANCEL;

interface CallOutcome {
  status: number;
  replies: number;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

/**
 * One Echo.ServerStream call through the gateway's local listener over plain
 * node:http2, so that `grpc-timeout` is exactly what we send: a grpc-js client
 * with a deadline would end the call by itself and prove nothing.
 */
function serverStream(gw: GatewayProcess, req: StreamRequest, headers: Record<string, string> = {}): Promise<CallOutcome> {
  const method = echoServiceConstructor().service['ServerStream'] as grpc.MethodDefinition<StreamRequest, EchoReply>;
  const session = http2.connect(`http://${gw.localAddress}`);
  session.on('error', () => {});
  h.onCleanup(() => session.destroy(), 'h2c client session');
  const message = method.requestSerialize(req);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return new Promise((resolve) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': method.path,
      ':authority': 'watch',
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    const outcome: CallOutcome = { status: 0, replies: 0, trailers: undefined, rstCode: undefined };
    let pending = Buffer.alloc(0);
    stream.on('response', (head) => (outcome.status = Number(head[':status'])));
    stream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        outcome.replies++;
        pending = pending.subarray(5 + pending.readUInt32BE(1));
      }
    });
    stream.on('trailers', (trailers) => (outcome.trailers = trailers));
    stream.on('error', () => {});
    stream.once('close', () => {
      outcome.rstCode = stream.rstCode;
      session.close();
      resolve(outcome);
    });
    stream.end(frame);
  });
}

async function stallingService(timeouts: Record<string, string>): Promise<{ backend: StallingGrpcBackend; gw: GatewayProcess }> {
  const backend = await startStallingGrpcBackend();
  h.onCleanup(() => backend.stop(), 'stalling gRPC backend');
  const gw = await h.gateway(gatewayConfig({ watch: { protocol: 'grpc', endpoints: [backend.address], timeouts } }));
  return { backend, gw };
}

const cancelledAtBackend = (backend: StallingGrpcBackend, index: number) =>
  waitUntil(() => backend.calls[index]?.closedWith === CANCEL, { timeoutMs: 10_000, what: `the backend to see call ${index} cancelled` });

describe('h2c streams that stall or outlive their deadline', () => {
  it('ends a gRPC call at its grpc-timeout with DEADLINE_EXCEEDED and cancels it upstream, stalled or not', async () => {
    // A long request timeout: only the call's own deadline can end these calls in time.
    const { backend, gw } = await stallingService({ connect: '1s', perTry: '30s', request: '60s' });

    // One reply, then nothing.
    const stalled = await withTimeout(serverStream(gw, { message: 'm', count: 1 }, { 'grpc-timeout': '2S' }), BOUND_MS, 'the stalled call to end');
    expect(stalled.status).toBe(200);
    expect(stalled.replies).toBe(1);
    expect(stalled.trailers?.['grpc-status']).toBe('4');
    expect(backend.calls[0]?.headers['grpc-timeout']).toBeDefined();
    await cancelledAtBackend(backend, 0);

    // Replies keep coming, but the deadline is the deadline.
    const busy = await withTimeout(
      serverStream(gw, { message: 'm', count: 1_000, interval_ms: 200 }, { 'grpc-timeout': '2S' }),
      BOUND_MS,
      'the busy call to end',
    );
    expect(busy.trailers?.['grpc-status']).toBe('4');
    expect(busy.replies).toBeGreaterThanOrEqual(1);
    expect(busy.replies).toBeLessThan(1_000);
    await cancelledAtBackend(backend, 1);
  });

  it('ends a stalled h2c stream after an idle gap as long as the request timeout, and only a stalled one', async () => {
    const { backend, gw } = await stallingService({ connect: '1s', perTry: '1s', request: '2s' });

    const stalled = await withTimeout(serverStream(gw, { message: 'm', count: 1 }), BOUND_MS, 'the stalled stream to end');
    expect(stalled.replies).toBe(1);
    expect(stalled.trailers?.['grpc-status']).toBe('4');
    expect(String(stalled.trailers?.['grpc-message'])).toMatch(/no data/);
    await cancelledAtBackend(backend, 0);

    // Longer than the request timeout in all, but never silent for long: it is not cut.
    const steady = backend.calls.length;
    const busy = await withTimeout(serverStream(gw, { message: 'm', count: 8, interval_ms: 400 }), BOUND_MS, 'the steady stream');
    expect(busy.replies).toBe(8);
    // The stalling backend never ends a call itself: the gateway ends it once the replies stop.
    expect(busy.trailers?.['grpc-status']).toBe('4');
    expect(backend.calls[steady]?.sent).toBe(8);
  });
});

describe('gateway - the per-try wait on HTTP/2 starts once the request is sent', () => {
  it('lets an upload to an h2c endpoint take longer than timeouts.perTry, within timeouts.request', async () => {
    const backend = await h.h2cBackend({
      name: 'upload-sink',
      handler: (req, res) => {
        let bytes = 0;
        req.on('data', (chunk: Buffer) => (bytes += chunk.length));
        req.on('end', () => res.writeHead(200).end(String(bytes)));
      },
    });
    const gw = await h.gateway(gatewayConfig({ up: { protocol: 'grpc', endpoints: [backend.address], timeouts: { connect: '500ms', perTry: '1s', request: '20s' } } }));
    const url = new URL(gw.localUrl);
    // 12 chunks 250 ms apart: about 3 s of upload, three times the per-try timeout.
    const result = await withTimeout(
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path: '/upload', headers: { host: 'up' }, agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        let sent = 0;
        const timer = setInterval(() => {
          req.write(Buffer.alloc(1_024, 0x61));
          if (++sent === 12) {
            clearInterval(timer);
            req.end();
          }
        }, 250);
        req.on('close', () => clearInterval(timer));
      }),
      BOUND_MS,
      'the slow upload',
    );
    expect(result).toEqual({ status: 200, body: String(12 * 1_024) });
  });
});
