import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { appendForwardedFor, endToEndHeaders, type HeaderMap } from '../protocol/headers.js';
import { ClientLink, type Exchange, type InboundRequest, type UpstreamResponse } from '../protocol/exchange.js';
import type { GatewayError } from '../errors.js';

export function http2Exchange(stream: ServerHttp2Stream, rawHeaders: IncomingHttpHeaders, flags: number): Exchange {
  const headers = endToEndHeaders(rawHeaders);
  const clientAddress = stream.session?.socket?.remoteAddress;
  appendForwardedFor(headers, clientAddress);
  const client = new ClientLink();
  stream.once('close', () => {
    if (!stream.writableFinished || stream.rstCode !== constants.NGHTTP2_NO_ERROR) client.leave();
  });
  // Errors on the client's stream surface through 'close'; without a
  // listener an RST from the client would crash the process.
  stream.on('error', () => {});

  const request: InboundRequest = {
    protocol: 'h2',
    method: String(rawHeaders[':method'] ?? 'GET'),
    path: String(rawHeaders[':path'] ?? '/'),
    authority: rawHeaders[':authority'] ?? rawHeaders.host,
    headers,
    body: flags & constants.NGHTTP2_FLAG_END_STREAM ? undefined : stream,
    client,
  };

  return {
    request,
    async relay(upstream: UpstreamResponse) {
      if (stream.destroyed) return;
      const responseHeaders = { ...upstream.headers, ':status': upstream.status };
      if (upstream.endStream) {
        stream.respond(responseHeaders, { endStream: true });
        return;
      }
      // Only when trailers may come is the stream held open for them: an
      // empty trailer block ends a stream validly but costs a frame.
      let trailers: HeaderMap | undefined;
      if (upstream.trailersExpected) {
        stream.respond(responseHeaders, { waitForTrailers: true });
        stream.once('wantTrailers', () => {
          try {
            stream.sendTrailers(trailers ?? {});
          } catch {
            // Trailers HTTP/2 cannot carry: end the stream as an error, never the process.
            stream.close(constants.NGHTTP2_INTERNAL_ERROR);
          }
        });
      } else {
        stream.respond(responseHeaders);
      }
      trailers = await upstream.relayBody(stream);
      stream.end();
      // Done only once the trailers are out, or a drain right after would cut them off.
      if (!stream.closed) await new Promise<void>((resolve) => stream.once('close', () => resolve()));
    },
    fail(error: GatewayError) {
      if (stream.destroyed || stream.closed) return;
      if (stream.headersSent) {
        stream.close(constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      const body = JSON.stringify({ error: error.code, message: error.message });
      stream.respond({
        ':status': error.status,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'meshgate-error': error.code,
      });
      stream.end(body);
    },
  };
}
