import http2, { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { TimeoutsConfig } from '../../config/index.js';
import { GatewayError } from '../errors.js';
import { pipeBody } from '../protocol/pipe-body.js';
import type { InboundRequest, UpstreamResponse } from '../protocol/exchange.js';
import { endToEndHeaders, type HeaderMap } from '../protocol/headers.js';
import { headerValue, incomingBudgetMs } from '../protocol/propagation.js';

/** One listener for every stream whose errors surface elsewhere (a stream error without a listener would crash the process). */
const ignoreError = (): void => {};

/** What the session's peer said when it sent GOAWAY, if it did (RFC 9113 §6.8). */
const goaways = new WeakMap<ClientHttp2Session, { readonly code: number; readonly lastStreamId: number }>();

/** Remembers a peer's GOAWAY, so that the streams it ends are not read as the peer failing. */
export function watchGoaway(session: ClientHttp2Session): void {
  session.once('goaway', (code: number, lastStreamId: number) => goaways.set(session, { code, lastStreamId }));
}

/**
 * Sends one request as a stream on an open HTTP/2 session (an endpoint's h2c
 * session or a remote gateway's mTLS one) and resolves with the response
 * head. The client going away cancels the stream, which the far side sees as
 * RST_STREAM(CANCEL); `onCancel` hears of each such reset.
 */
export function forwardOnSession(
  session: ClientHttp2Session,
  key: string,
  headers: http2.OutgoingHttpHeaders,
  request: InboundRequest,
  timeouts: TimeoutsConfig,
  onClosed?: (cancelled: boolean) => void,
): Promise<UpstreamResponse> {
  const { client } = request;
  if (client.gone) {
    onClosed?.(false);
    return Promise.reject(new GatewayError('client-gone', 'the client went away before the request was sent', { endpoint: key }));
  }
  let stream: ClientHttp2Stream;
  try {
    stream = session.request(headers, { endStream: request.body === undefined });
  } catch (err) {
    onClosed?.(false);
    return Promise.reject(new GatewayError('upstream-reset', `${key}: ${(err as Error).message}`, { endpoint: key }, { cause: err, unprocessed: true }));
  }
  let cancelled = false;
  const cancel = () => {
    if (stream.destroyed || stream.closed) return;
    cancelled = true;
    stream.close(constants.NGHTTP2_CANCEL);
  };
  client.watch(cancel);
  stream.once('close', () => {
    client.watch(undefined);
    onClosed?.(cancelled);
  });
  if (request.body) {
    // A failed upload shows up on the response side as a reset stream.
    pipeBody(request.body, stream, { end: true }).catch(cancel);
  }
  const sentAt = Date.now();
  const deadlineMs = grpcDeadlineMs(headers);
  const limits: StreamLimits = { idleMs: timeouts.requestMs, ...(deadlineMs !== undefined && { deadline: sentAt + deadlineMs }) };
  return awaitResponse(session, stream, key, timeouts, cancel, sentAt, () => client.gone).then((head) => bounded(stream, head, limits));
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

/** A response head on a stream, before the limits on its body apply. */
interface StreamHead {
  readonly status: number;
  readonly headers: HeaderMap;
  readonly endStream: boolean;
  /** Known once the body has ended. */
  trailers(): HeaderMap | undefined;
  readonly cancel: () => void;
  readonly sentAt: number;
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
function bounded(stream: ClientHttp2Stream, head: StreamHead, limits: StreamLimits): UpstreamResponse {
  const response = (source: Readable, trailers: () => HeaderMap | undefined): UpstreamResponse => ({
    status: head.status,
    headers: head.headers,
    endStream: head.endStream,
    trailersExpected: true,
    relayBody: (dest: Writable) => pipeBody(source, dest, { end: false }).then(trailers),
    cancel: head.cancel,
    sentAt: head.sentAt,
  });
  if (head.endStream) return response(stream, () => head.trailers());
  const grpc = headerValue(head.headers, 'content-type')?.startsWith('application/grpc') === true;
  // gRPC responses go through a pass-through so that we can end them with trailers of our own.
  const body = grpc ? new PassThrough() : undefined;
  let ownTrailers: HeaderMap | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  const end = (why: string) => {
    clearTimeout(deadlineTimer);
    if (stream.destroyed || stream.readableEnded) return;
    if (body) {
      ownTrailers = { 'grpc-status': GRPC_DEADLINE_EXCEEDED, 'grpc-message': `meshgate: ${why}`, 'meshgate-error': 'upstream-timeout' };
      stream.unpipe(body);
      body.end();
    }
    head.cancel();
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
    deadlineTimer = setTimeout(() => end("the call's deadline (grpc-timeout) passed"), Math.max(0, limits.deadline - Date.now()));
  }
  stream.once('close', () => clearTimeout(deadlineTimer));
  if (!body) return response(stream, () => head.trailers());
  // Whoever relays the body listens while it does; a reset after that must not throw.
  body.on('error', () => {});
  stream.pipe(body);
  // A reset upstream must reach the client as a broken body, not as a clean end.
  stream.once('close', () => {
    if (!stream.readableEnded && ownTrailers === undefined) body.destroy(new Error(`upstream stream closed (code ${stream.rstCode ?? '?'})`));
  });
  return response(body, () => ownTrailers ?? head.trailers());
}

function awaitResponse(
  session: ClientHttp2Session,
  stream: ClientHttp2Stream,
  key: string,
  timeouts: TimeoutsConfig,
  cancel: () => void,
  sentAt: number,
  clientGone: () => boolean,
): Promise<StreamHead> {
  return new Promise((resolve, reject) => {
    let trailers: HeaderMap | undefined;
    stream.once('trailers', (raw) => {
      trailers = endToEndHeaders(raw);
    });
    let answered = false;
    const timeout = () => {
      cancel();
      reject(new GatewayError('upstream-timeout', `no response from ${key} in time`, { endpoint: key }));
    };
    // As Envoy does, the per-try wait for the answer starts once the request is sent (a long upload
    // is not the upstream being slow); the whole request's budget bounds an upload that never ends.
    let timer: NodeJS.Timeout | undefined;
    const backstop = stream.writableEnded ? undefined : setTimeout(timeout, timeouts.requestMs);
    const startTimer = () => {
      clearTimeout(backstop);
      if (!answered) timer = setTimeout(timeout, Math.min(timeouts.perTryMs, timeouts.requestMs));
    };
    if (stream.writableEnded) startTimer();
    else stream.once('finish', startTimer);
    const failed = (err?: Error) => {
      answered = true;
      clearTimeout(timer);
      clearTimeout(backstop);
      reject(streamFailure(session, stream, key, clientGone(), err));
    };
    const closed = () => failed();
    stream.once('error', failed);
    stream.once('close', closed);
    stream.once('response', (raw, flags) => {
      answered = true;
      clearTimeout(timer);
      clearTimeout(backstop);
      stream.off('error', failed);
      stream.off('close', closed);
      // Later stream errors reach the relay through the body pipeline.
      stream.on('error', ignoreError);
      resolve({
        status: Number(raw[':status']),
        headers: endToEndHeaders(raw),
        endStream: (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0,
        trailers: () => trailers,
        cancel,
        sentAt,
      });
    });
  });
}

/** Why a stream ended without a response: the client, the peer's refusal or GOAWAY, or a reset. */
function streamFailure(session: ClientHttp2Session, stream: ClientHttp2Stream, key: string, clientGone: boolean, cause?: Error): GatewayError {
  const context = { endpoint: key };
  if (clientGone) return new GatewayError('client-gone', 'the client went away before the response', context, { cause });
  const goaway = goaways.get(session);
  const refused = stream.rstCode === constants.NGHTTP2_REFUSED_STREAM || (goaway !== undefined && (stream.id === undefined || stream.id > goaway.lastStreamId));
  const peerClosed = goaway !== undefined;
  const why = goaway ? `the session ended by GOAWAY (code ${goaway.code})` : `reset the stream (code ${stream.rstCode ?? '?'})`;
  return new GatewayError('upstream-reset', `${key}: ${why}`, context, { cause, unprocessed: refused, peerClosed });
}
