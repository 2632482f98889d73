import http from 'node:http';
import { DEFAULTS, type HostPort, type LimitsConfig } from '../../config/index.js';
import { listen } from '../inbound/local-listener.js';

export interface AdminSources {
  /** Empty when ready; otherwise the reasons it is not. */
  notReadyReasons(): string[];
  /** Prometheus text exposition format. */
  metrics(): Promise<string>;
  /** `/debug/<name>` pages: JSON documents with stable field names; some take query parameters. */
  debug: Readonly<Record<string, (query: URLSearchParams) => unknown>>;
  /** POST /reload: re-reads the config (see Gateway.reload); answered with its report. */
  reload?: () => Promise<{ readonly applied: boolean }>;
}

/** The operator's HTTP API: liveness, readiness and metrics. */
export class AdminServer {
  private readonly server: http.Server;

  constructor(sources: AdminSources, limits: LimitsConfig = DEFAULTS.limits) {
    const options: http.ServerOptions = {
      // A connection that sends no request, or no more, is closed like one on the local listener.
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: 0,
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
      keepAliveTimeout: limits.idleTimeoutMs,
    };
    this.server = http.createServer(options, (req, res) => {
      const [path, search] = (req.url ?? '/').split('?');
      if (path === '/reload' && sources.reload) return reload(req, res, sources.reload);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(res, 405, { error: 'method-not-allowed' });
      }
      switch (path) {
        case '/live':
          return send(res, 200, { live: true });
        case '/ready': {
          const reasons = sources.notReadyReasons();
          return send(res, reasons.length === 0 ? 200 : 503, { ready: reasons.length === 0, reasons });
        }
        case '/metrics':
          return void sources.metrics().then(
            (text) => {
              res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
              res.end(text);
            },
            (err: Error) => send(res, 500, { error: 'internal', message: err.message }),
          );
        default: {
          const name = path?.startsWith('/debug/') ? path.slice('/debug/'.length) : '';
          const page = Object.hasOwn(sources.debug, name) ? sources.debug[name] : undefined;
          if (page) {
            try {
              const body = page(new URLSearchParams(search ?? ''));
              // A page asked about something that does not exist (a service nobody runs) says so.
              if (body === undefined) return send(res, 404, { error: 'not-found', path });
              return send(res, 200, body);
            } catch (err) {
              return send(res, 500, { error: 'internal', message: (err as Error).message });
            }
          }
          const debugPaths = Object.keys(sources.debug).map((name) => `/debug/${name}`);
          return send(res, 404, { error: 'not-found', paths: ['/live', '/ready', '/metrics', ...debugPaths] });
        }
      }
    });
  }

  listen(address: HostPort): Promise<HostPort> {
    return listen(this.server, address);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A reload changes what the gateway routes, so only a process on this host
 * may ask for it: the admin listener may be bound beyond loopback for
 * /metrics and /ready.
 */
function reload(req: http.IncomingMessage, res: http.ServerResponse, run: () => Promise<{ readonly applied: boolean }>): void {
  if (req.method !== 'POST') return send(res, 405, { error: 'method-not-allowed', allowed: 'POST' });
  if (!isLoopback(req.socket.remoteAddress)) return send(res, 403, { error: 'forbidden', reason: 'POST /reload is accepted from loopback only' });
  run().then(
    (report) => send(res, report.applied ? 200 : 422, report),
    (err: unknown) => send(res, 500, { error: 'internal', message: (err as Error).message }),
  );
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return v4.startsWith('127.') || address === '::1';
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
