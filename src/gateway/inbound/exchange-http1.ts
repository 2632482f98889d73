import type { IncomingMessage, ServerResponse } from 'node:http';
import { appendForwardedFor, endToEndHeaders } from '../protocol/headers.js';
import { ClientLink, type Exchange, type InboundRequest, type UpstreamResponse } from '../protocol/exchange.js';
import type { GatewayError } from '../errors.js';

export function http1Exchange(req: IncomingMessage, res: ServerResponse, draining: () => boolean): Exchange {
  return new Http1Exchange(req, res, draining);
}

/** One HTTP/1.1 request and its response; a class, as there is one per request. */
class Http1Exchange implements Exchange {
  readonly request: InboundRequest;

  constructor(
    req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly draining: () => boolean,
  ) {
    const headers = endToEndHeaders(req.headers);
    appendForwardedFor(headers, req.socket.remoteAddress);
    const client = new ClientLink();
    res.once('close', () => {
      if (!res.writableFinished) client.leave();
    });
    this.request = {
      protocol: 'http/1.1',
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authority: req.headers.host,
      headers,
      body: hasBody(req) ? req : undefined,
      client,
    };
  }

  async relay(upstream: UpstreamResponse): Promise<void> {
    const { res } = this;
    if (this.draining()) res.shouldKeepAlive = false;
    res.writeHead(upstream.status, upstream.headers);
    if (upstream.endStream) {
      res.end();
      return;
    }
    const trailers = await upstream.relayBody(res);
    if (trailers) res.addTrailers(trailers);
    // Done only once the last bytes are handed to the socket.
    if (res.writableFinished) return;
    await new Promise<void>((resolve) => res.end(resolve));
  }

  fail(error: GatewayError): void {
    const { res } = this;
    if (res.headersSent) {
      res.destroy(error);
      return;
    }
    if (this.draining()) res.shouldKeepAlive = false;
    const body = JSON.stringify({ error: error.code, message: error.message });
    res.writeHead(error.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'meshgate-error': error.code,
    });
    res.end(body);
  }
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}
