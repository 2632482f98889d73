import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { appendForwardedFor, endToEndHeaders, type HeaderMap } from '../protocol/headers.js';
import { ClientLink, type Exchange, type InboundRequest, type UpstreamResponse } from '../protocol/exchange.js';
import type { GatewayError } from '../errors.js';

export function http2Exchange(stream: ServerHttp2Stream, rawHeaders: IncomingHttpHeaders, flags: number): Exchange {
  return new Http2Exchange(stream, rawHeaders, flags);
}

/** Errors on the client's stream surface through 'close'; without a listener an RST from the client would crash the process. */
const ignoreError = (): void => {};

/** One HTTP/2 stream and its response; a class, as there is one per request. */
class Http2Exchange implements Exchange {
  readonly request: InboundRequest;

  constructor(
    private readonly stream: ServerHttp2Stream,
    rawHeaders: IncomingHttpHeaders,
    flags: number,
  ) {
    const headers = endToEndHeaders(rawHeaders);
    appendForwardedFor(headers, stream.session?.socket?.remoteAddress);
    const client = new ClientLink();
    stream.once('close', () => {
      if (!stream.writableFinished || stream.rstCode !== constants.NGHTTP2_NO_ERROR) client.leave();
    });
    stream.on('error', ignoreError);
    this.request = {
      protocol: 'h2',
      method: String(rawHeaders[':method'] ?? 'GET'),
      path: String(rawHeaders[':path'] ?? '/'),
      authority: rawHeaders[':authority'] ?? rawHeaders.host,
      headers,
      body: flags & constants.NGHTTP2_FLAG_END_STREAM ? undefined : stream,
      client,
    };
  }

  async relay(upstream: UpstreamResponse): Promise<void> {
    const { stream } = this;
    if (stream.destroyed) return;
    const responseHeaders: OutgoingHttpHeaders = { ':status': upstream.status };
    for (const name in upstream.headers) responseHeaders[name] = upstream.headers[name];
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
  }

  fail(error: GatewayError): void {
    const { stream } = this;
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
  }
}
