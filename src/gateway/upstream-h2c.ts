import http2, { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { pipeline } from 'node:stream/promises';
import type { HostPort, TimeoutsConfig } from '../config/index.js';
import { GatewayError } from './errors.js';
import type { InboundRequest, UpstreamResponse } from './exchange.js';
import { endToEndHeaders, type HeaderMap } from './headers.js';
import { endpointKey, type Upstream } from './upstream.js';

/**
 * Cleartext HTTP/2 (prior knowledge) to endpoints, as gRPC servers expect:
 * one multiplexed session per endpoint, replaced when it closes or fails.
 */
export class H2cUpstream implements Upstream {
  private readonly sessions = new Map<string, Promise<ClientHttp2Session>>();

  constructor(private readonly connectTimeoutMs: number) {}

  async forward(endpoint: HostPort, request: InboundRequest, timeouts: TimeoutsConfig): Promise<UpstreamResponse> {
    const session = await this.session(endpoint);
    const headers: http2.OutgoingHttpHeaders = {
      ...request.headers,
      ':method': request.method,
      ':path': request.path,
      ':scheme': 'http',
      ':authority': request.authority ?? endpointKey(endpoint),
    };
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: request.body === undefined });
    } catch (err) {
      throw new GatewayError('upstream-reset', `${endpointKey(endpoint)}: ${(err as Error).message}`, {}, { cause: err });
    }
    const cancel = () => {
      if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    };
    request.signal.addEventListener('abort', cancel, { once: true });
    if (request.body) {
      // A failed upload shows up on the response side as a reset stream.
      pipeline(request.body, stream).catch(() => cancel());
    }
    return await awaitResponse(stream, endpoint, timeouts, cancel);
  }

  private session(endpoint: HostPort): Promise<ClientHttp2Session> {
    const key = endpointKey(endpoint);
    let pending = this.sessions.get(key);
    if (!pending) {
      const forget = () => {
        if (this.sessions.get(key) === pending) this.sessions.delete(key);
      };
      pending = this.connect(key, forget);
      this.sessions.set(key, pending);
    }
    return pending;
  }

  private connect(key: string, forget: () => void): Promise<ClientHttp2Session> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://${key}`);
      const timer = setTimeout(() => {
        forget();
        session.destroy();
        reject(new GatewayError('upstream-connect', `cannot connect to ${key} (timeout)`, { endpoint: key }));
      }, this.connectTimeoutMs);
      session.once('connect', () => {
        clearTimeout(timer);
        // Pooled sessions must not keep a draining process alive.
        session.unref();
        resolve(session);
      });
      session.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        forget();
        const reason = err.code ?? err.message;
        reject(new GatewayError('upstream-connect', `cannot connect to ${key} (${reason})`, { endpoint: key }, { cause: err }));
      });
      session.once('goaway', forget);
      session.once('close', () => {
        clearTimeout(timer);
        forget();
      });
    });
  }

  async close(): Promise<void> {
    const sessions = await Promise.allSettled(this.sessions.values());
    this.sessions.clear();
    for (const s of sessions) if (s.status === 'fulfilled') s.value.close();
  }
}

function awaitResponse(
  stream: ClientHttp2Stream,
  endpoint: HostPort,
  timeouts: TimeoutsConfig,
  cancel: () => void,
): Promise<UpstreamResponse> {
  const key = endpointKey(endpoint);
  return new Promise((resolve, reject) => {
    let trailers: HeaderMap | undefined;
    stream.once('trailers', (raw) => {
      trailers = endToEndHeaders(raw);
    });
    const timer = setTimeout(() => {
      cancel();
      reject(new GatewayError('upstream-timeout', `no response from ${key} in time`, { endpoint: key }));
    }, Math.min(timeouts.perTryMs, timeouts.requestMs));
    const failed = (err?: Error) => {
      clearTimeout(timer);
      reject(
        new GatewayError('upstream-reset', `${key} reset the stream (code ${stream.rstCode ?? '?'})`, { endpoint: key }, { cause: err }),
      );
    };
    const closed = () => failed();
    stream.once('error', failed);
    stream.once('close', closed);
    stream.once('response', (raw, flags) => {
      clearTimeout(timer);
      stream.off('error', failed);
      stream.off('close', closed);
      // Later stream errors reach the relay through the body pipeline.
      stream.on('error', () => {});
      resolve({
        status: Number(raw[':status']),
        headers: endToEndHeaders(raw),
        endStream: (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0,
        body: stream,
        trailers: () => trailers,
        cancel,
      });
    });
  });
}
