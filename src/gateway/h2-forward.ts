import http2, { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Writable } from 'node:stream';
import type { TimeoutsConfig } from '../config/index.js';
import { GatewayError } from './errors.js';
import { pipeBody } from './pipe-body.js';
import type { InboundRequest, UpstreamResponse } from './exchange.js';
import { endToEndHeaders, type HeaderMap } from './headers.js';

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
  return awaitResponse(session, stream, key, timeouts, cancel, Date.now(), () => client.gone);
}

function awaitResponse(
  session: ClientHttp2Session,
  stream: ClientHttp2Stream,
  key: string,
  timeouts: TimeoutsConfig,
  cancel: () => void,
  sentAt: number,
  clientGone: () => boolean,
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
      reject(streamFailure(session, stream, key, clientGone(), err));
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
        trailersExpected: true,
        relayBody: (dest: Writable) => pipeBody(stream, dest, { end: false }).then(() => trailers),
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
