import http2, { type ClientHttp2Session } from 'node:http2';
import net from 'node:net';
import { formatHostPort, type HostPort } from '../../config/index.js';
import { GatewayError } from '../errors.js';
import type { InboundRequest, UpstreamResponse } from '../protocol/exchange.js';
import type { Forwarder, TryContext } from '../protocol/forwarder.js';
import { forwardOnSession, watchGoaway } from './h2-forward.js';
import { isGrpc, setBudget } from '../protocol/propagation.js';

/**
 * One endpoint reached over cleartext HTTP/2 (prior knowledge), as gRPC
 * servers expect: one multiplexed session, replaced when it closes or fails.
 */
export class H2cEndpoint implements Forwarder {
  readonly key: string;
  private session: Promise<ClientHttp2Session> | undefined;

  constructor(
    private readonly endpoint: HostPort,
    private readonly connectTimeoutMs: number,
  ) {
    this.key = formatHostPort(endpoint);
  }

  async forward(request: InboundRequest, context: TryContext): Promise<UpstreamResponse> {
    const session = await this.connected();
    const headers: http2.OutgoingHttpHeaders = {
      ...request.headers,
      ':method': request.method,
      ':path': request.path,
      ':scheme': 'http',
      ':authority': request.authority ?? this.key,
    };
    delete headers['host'];
    if (context.propagateDeadline) setBudget(headers as Record<string, string>, context.budgetMs, isGrpc(request.headers));
    return forwardOnSession(session, this.key, headers, request, context.timeouts);
  }

  async close(): Promise<void> {
    const pending = this.session;
    this.session = undefined;
    (await pending?.catch(() => undefined))?.close();
  }

  private connected(): Promise<ClientHttp2Session> {
    if (!this.session) {
      const pending = (this.session = this.connect(() => {
        if (this.session === pending) this.session = undefined;
      }));
    }
    return this.session;
  }

  private connect(forget: () => void): Promise<ClientHttp2Session> {
    const key = this.key;
    return new Promise((resolve, reject) => {
      // Nagle off: gRPC writes many small frames.
      const session = http2.connect(`http://${key}`, { createConnection: () => net.connect({ host: this.endpoint.host, port: this.endpoint.port, noDelay: true }) });
      watchGoaway(session);
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
}
