import http2, { type ClientHttp2Session } from 'node:http2';
import type { HostPort, TimeoutsConfig } from '../config/index.js';
import { GatewayError } from './errors.js';
import type { InboundRequest, UpstreamResponse } from './exchange.js';
import { forwardOnSession } from './h2-forward.js';
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
    return forwardOnSession(session, endpointKey(endpoint), headers, request, timeouts);
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
