import type { IncomingMessage, ServerResponse } from 'node:http';
import { appendForwardedFor, endToEndHeaders } from './headers.js';
import { pipeBody } from './pipe-body.js';
import type { Exchange, InboundRequest, UpstreamResponse } from './exchange.js';
import type { GatewayError } from './errors.js';

export function http1Exchange(req: IncomingMessage, res: ServerResponse, draining: () => boolean): Exchange {
  const headers = endToEndHeaders(req.headers);
  appendForwardedFor(headers, req.socket.remoteAddress);
  const aborted = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) aborted.abort(new Error('client went away'));
  });

  const request: InboundRequest = {
    protocol: 'http/1.1',
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    authority: req.headers.host,
    headers,
    body: hasBody(req) ? req : undefined,
    clientAddress: req.socket.remoteAddress,
    signal: aborted.signal,
  };

  const closeIfDraining = () => {
    if (draining()) res.shouldKeepAlive = false;
  };

  return {
    request,
    async relay(upstream: UpstreamResponse) {
      closeIfDraining();
      res.writeHead(upstream.status, upstream.headers);
      if (upstream.endStream) {
        res.end();
        return;
      }
      await pipeBody(upstream.body, res, { end: false });
      const trailers = upstream.trailers();
      if (trailers && Object.keys(trailers).length > 0) res.addTrailers(trailers);
      // Done only once the last bytes are handed to the socket.
      await new Promise<void>((resolve) => res.end(() => resolve()));
    },
    fail(error: GatewayError) {
      if (res.headersSent) {
        res.destroy(error);
        return;
      }
      closeIfDraining();
      const body = JSON.stringify({ error: error.code, message: error.message });
      res.writeHead(error.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'meshgate-error': error.code,
      });
      res.end(body);
    },
  };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}
