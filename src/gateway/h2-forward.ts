import http2, { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { TimeoutsConfig } from '../config/index.js';
import { PassThrough } from 'node:stream';
import { GatewayError } from './errors.js';
import { pipeBody } from './pipe-body.js';
import type { InboundRequest, UpstreamResponse } from './exchange.js';
import { endToEndHeaders, type HeaderMap } from './headers.js';
import { headerValue, incomingBudgetMs } from './propagation.js';

/**
 * Sends one request as a stream on an open HTTP/2 session (an endpoint's h2c
 * session or a remote gateway's mTLS one) and resolves with the response
 * head. The client going away cancels the stream, which the far side sees as
 * RST_STREAM(CANCEL).
 */
export function forwardOnSession(
  session: ClientHttp2Session,
  key: string,
  headers: http2.OutgoingHttpHeaders,
  request: InboundRequest,
  timeouts: TimeoutsConfig,
  onClosed?: () => void,
): Promise<UpstreamResponse> {
  if (request.signal.aborted) {
    onClosed?.();
    return Promise.reject(new GatewayError('upstream-reset', 'the client went away before the request was sent', { endpoint: key }));
  }
  let stream: ClientHttp2Stream;
  try {
    stream = session.request(headers, { endStream: request.body === undefined });
  } catch (err) {
    onClosed?.();
    return Promise.reject(new GatewayError('upstream-reset', `${key}: ${(err as Error).message}`, { endpoint: key }, { cause: err }));
  }
  const cancel = () => {
    if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
  };
  request.signal.addEventListener('abort', cancel, { once: true });
  stream.once('close', () => {
    request.signal.removeEventListener('abort', cancel);
    onClosed?.();
  });
  if (request.body) {
    // A failed upload shows up on the response side as a reset stream.
    pipeBody(request.body, stream, { end: true }).catch(() => cancel());
  }
  const sentAt = Date.now();
  const deadlineMs = grpcDeadlineMs(headers);
  const limits: StreamLimits = { idleMs: timeouts.requestMs, ...(deadlineMs !== undefined && { deadline: sentAt + deadlineMs }) };
  return awaitResponse(stream, key, timeouts, cancel, sentAt).then((response) => bounded(stream, response, limits));
}

/** What ends a response once its head is in, besides its own end. */
interface StreamLimits {
  /** No byte either way for this long: the stream is stalled (the same gap HTTP/1.1 bodies get). */
  readonly idleMs: number;
  /** When the gRPC call's deadline passes (epoch ms), from the `grpc-timeout` we sent on. */
  readonly deadline?: number;
}

/** gRPC status DEADLINE_EXCEEDED (gRPC's statuscodes.md). */
const GRPC_DEADLINE_EXCEEDED = '4';

/** The budget in the `grpc-timeout` sent upstream, in ms; only gRPC calls carry one. */
function grpcDeadlineMs(headers: http2.OutgoingHttpHeaders): number | undefined {
  const value = headers['grpc-timeout'];
  return typeof value === 'string' ? incomingBudgetMs({ 'grpc-timeout': value }) : undefined;
}

/**
 * Ends a streaming response that stalls for the idle gap or outlives its gRPC
 * deadline, and cancels the upstream stream. A gRPC client then gets what a
 * gRPC server would send, DEADLINE_EXCEEDED in trailers, after the messages
 * that made it; other clients see the stream reset, as an HTTP/1.1 client
 * sees its connection closed when undici's body timeout fires. Like that
 * timeout, the idle gap does not run while our own client is the one not
 * reading.
 */
function bounded(stream: ClientHttp2Stream, response: UpstreamResponse, limits: StreamLimits): UpstreamResponse {
  if (response.endStream) return response;
  const grpc = headerValue(response.headers, 'content-type')?.startsWith('application/grpc') === true;
  // gRPC responses go through a pass-through so that we can end them with trailers of our own.
  const body = grpc ? new PassThrough() : stream;
  let ownTrailers: HeaderMap | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  const end = (why: string) => {
    clearTimeout(deadlineTimer);
    if (stream.destroyed || stream.readableEnded) return;
    if (body instanceof PassThrough) {
      ownTrailers = { 'grpc-status': GRPC_DEADLINE_EXCEEDED, 'grpc-message': `meshgate: ${why}`, 'meshgate-error': 'upstream-timeout' };
      stream.unpipe(body);
      body.end();
    }
    response.cancel();
  };
  const onIdle = () => {
    if (stream.readableFlowing === false || stream.readableLength > 0) {
      // Backpressure from our client: not the upstream's stall.
      stream.setTimeout(limits.idleMs, onIdle);
      return;
    }
    end(`no data from the upstream for ${limits.idleMs} ms`);
  };
  stream.setTimeout(limits.idleMs, onIdle);
  if (grpc && limits.deadline !== undefined) {
    deadlineTimer = setTimeout(() => end('the call\'s deadline (grpc-timeout) passed'), Math.max(0, limits.deadline - Date.now()));
  }
  stream.once('close', () => clearTimeout(deadlineTimer));
  if (!(body instanceof PassThrough)) return response;
  // Whoever relays the body listens while it does; a reset after that must not throw.
  body.on('error', () => {});
  stream.pipe(body);
  // A reset upstream must reach the client as a broken body, not as a clean end.
  stream.once('close', () => {
    if (!stream.readableEnded && ownTrailers === undefined) body.destroy(new Error(`upstream stream closed (code ${stream.rstCode ?? '?'})`));
  });
  return { ...response, body, trailers: () => ownTrailers ?? response.trailers() };
}

function awaitResponse(
  stream: ClientHttp2Stream,
  key: string,
  timeouts: TimeoutsConfig,
  cancel: () => void,
  sentAt: number,
): Promise<UpstreamResponse> {
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
        sentAt,
      });
    });
  });
}
