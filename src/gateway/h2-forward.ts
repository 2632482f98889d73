import http2, { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { TimeoutsConfig } from '../config/index.js';
import { GatewayError } from './errors.js';
import { pipeBody } from './pipe-body.js';
import type { InboundRequest, UpstreamResponse } from './exchange.js';
import { endToEndHeaders, type HeaderMap } from './headers.js';

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
  return awaitResponse(stream, key, timeouts, cancel, Date.now());
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
