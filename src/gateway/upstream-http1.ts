import { Readable } from 'node:stream';
import { Agent, errors as undiciErrors } from 'undici';
import type { HostPort, TimeoutsConfig } from '../config/index.js';
import { GatewayError } from './errors.js';
import type { InboundRequest, UpstreamResponse } from './exchange.js';
import type { HeaderMap } from './headers.js';
import { endToEndHeaders } from './headers.js';
import { endpointKey, type Upstream } from './upstream.js';

const CONNECT_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * HTTP/1.1 to endpoints through undici's keep-alive pools. The connect
 * timeout is a property of the pool, so there is one Agent per service.
 */
export class Http1Upstream implements Upstream {
  private readonly agent: Agent;

  constructor(connectTimeoutMs: number) {
    this.agent = new Agent({ connect: { timeout: connectTimeoutMs }, keepAliveTimeout: 4_000 });
  }

  async forward(endpoint: HostPort, request: InboundRequest, timeouts: TimeoutsConfig): Promise<UpstreamResponse> {
    if (request.signal.aborted) throw new GatewayError('upstream-reset', 'the client went away before the request was sent');
    // The request timeout bounds the wait for the response head; a long
    // download or stream is then bounded by bodyTimeout, an idle gap.
    const cancel = new AbortController();
    let deadlineHit = false;
    const deadline = setTimeout(() => {
      deadlineHit = true;
      cancel.abort();
    }, timeouts.requestMs);
    // Cheaper than AbortSignal.any on every request.
    const onClientGone = () => cancel.abort();
    request.signal.addEventListener('abort', onClientGone, { once: true });
    const forgetClient = () => request.signal.removeEventListener('abort', onClientGone);
    const headers: HeaderMap = { ...request.headers };
    if (request.authority) headers['host'] = request.authority;
    try {
      const response = await this.agent.request({
        origin: `http://${endpointKey(endpoint)}`,
        path: request.path,
        method: request.method as 'GET',
        headers,
        // An iterator, so that undici reads the body only once connected
        // (a refused connect leaves it whole for the next target) and does
        // not destroy it (an HTTP/2 stream destroyed so would be reset
        // before its response goes back).
        body: request.body ? Readable.from(request.body.iterator({ destroyOnReturn: false }), { objectMode: false }) : null,
        signal: cancel.signal,
        headersTimeout: timeouts.perTryMs,
        // Once streaming, only an idle gap this long ends the response.
        bodyTimeout: timeouts.requestMs,
      });
      response.body.once('close', forgetClient);
      return {
        status: response.statusCode,
        headers: endToEndHeaders(response.headers),
        endStream: false,
        body: response.body,
        trailers: () => endToEndHeaders(stringHeaders(response.trailers) ?? {}),
        cancel: () => cancel.abort(),
      };
    } catch (err) {
      forgetClient();
      throw classify(err, endpoint, deadlineHit);
    } finally {
      clearTimeout(deadline);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function classify(err: unknown, endpoint: HostPort, deadlineHit: boolean): GatewayError {
  const context = { endpoint: endpointKey(endpoint) };
  const code = (err as { code?: string }).code ?? '';
  if (err instanceof undiciErrors.HeadersTimeoutError || deadlineHit) {
    return new GatewayError('upstream-timeout', `no response from ${context.endpoint} in time`, context, { cause: err });
  }
  if (CONNECT_ERROR_CODES.has(code) || err instanceof undiciErrors.ConnectTimeoutError) {
    return new GatewayError('upstream-connect', `cannot connect to ${context.endpoint} (${code})`, context, {
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new GatewayError('upstream-reset', `${context.endpoint} failed: ${message}`, context, { cause: err });
}

function stringHeaders(raw: Record<string, string | string[] | undefined> | undefined): HeaderMap | undefined {
  if (!raw) return undefined;
  const out: HeaderMap = {};
  for (const [name, value] of Object.entries(raw)) if (value !== undefined) out[name] = value;
  return out;
}
