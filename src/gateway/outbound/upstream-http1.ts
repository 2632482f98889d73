import type { IncomingHttpHeaders } from 'node:http';
import { Readable, type Writable } from 'node:stream';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { formatHostPort, type HostPort } from '../../config/index.js';
import { GatewayError } from '../errors.js';
import type { InboundRequest, UpstreamResponse } from '../protocol/exchange.js';
import { stripHopByHop, type HeaderMap } from '../protocol/headers.js';
import type { Forwarder, TryContext } from '../protocol/forwarder.js';
import { isGrpc, setBudget } from '../protocol/propagation.js';

const CONNECT_ERROR_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * One endpoint reached over HTTP/1.1 through its own undici keep-alive pool.
 * Requests go out through undici's dispatch API and the answer streams
 * straight into the client's response: no intermediate body stream and no
 * promise per chunk, which is most of what a Node proxy spends per request.
 */
export class Http1Endpoint implements Forwarder {
  readonly key: string;
  private readonly pool: Pool;

  constructor(endpoint: HostPort, connectTimeoutMs: number) {
    this.key = formatHostPort(endpoint);
    this.pool = new Pool(`http://${this.key}`, { connect: { timeout: connectTimeoutMs }, keepAliveTimeout: 4_000 });
  }

  forward(request: InboundRequest, context: TryContext): Promise<UpstreamResponse> {
    if (request.client.gone) return Promise.reject(new GatewayError('client-gone', 'the client went away before the request was sent', { endpoint: this.key }));
    const { headers } = request;
    if (request.authority) headers['host'] = request.authority;
    if (context.propagateDeadline) setBudget(headers, context.budgetMs, isGrpc(headers));
    return new Promise((resolve, reject) => {
      const exchange = new Http1Attempt(this.key, request, resolve, reject, context.timeouts.perTryMs);
      this.pool.dispatch(
        {
          path: request.path,
          method: request.method as Dispatcher.HttpMethod,
          headers: headers as IncomingHttpHeaders,
          // An iterator, so that undici reads the body only once connected
          // (a refused connect leaves it whole for the next target) and does
          // not destroy it (an HTTP/2 stream destroyed so would be reset
          // before its response goes back).
          body: request.body ? Readable.from(request.body.iterator({ destroyOnReturn: false }), { objectMode: false }) : null,
          // The wait for the head is the attempt's own timer (see Http1Attempt): one timer, not two.
          headersTimeout: 0,
          // Once streaming, only an idle gap this long ends the response.
          bodyTimeout: context.timeouts.requestMs,
        },
        exchange,
      );
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/**
 * One request on the pool, as undici's dispatch handler: resolves with the
 * response head, then relays the body into whatever `relayBody` is given,
 * buffering only what arrives before that.
 */
class Http1Attempt implements Dispatcher.DispatchHandler, UpstreamResponse {
  status = 0;
  headers: HeaderMap = {};
  readonly endStream = false;
  trailersExpected = false;
  private controller: Dispatcher.DispatchController | undefined;
  private headSettled = false;
  private dest: Writable | undefined;
  private early: Buffer[] | undefined;
  private ended: HeaderMap | undefined;
  private failure: Error | undefined;
  private bodyDone: ((trailers: HeaderMap | undefined) => void) | undefined;
  private bodyFailed: ((err: Error) => void) | undefined;
  private readonly resumeOnDrain = () => this.controller?.resume();
  /**
   * The wait for the response head, to the millisecond: undici's own headers
   * timeout runs on a coarse clock (up to a second late), which would let a
   * caller's short deadline pass before we answer, and the caller answer
   * for us without saying where the time went.
   */
  private readonly headTimer: NodeJS.Timeout;
  private timedOut = false;

  constructor(
    private readonly key: string,
    private readonly request: InboundRequest,
    private readonly resolveHead: (response: UpstreamResponse) => void,
    private readonly rejectHead: (err: GatewayError) => void,
    perTryMs: number,
  ) {
    this.headTimer = setTimeout(() => this.headTimeout(), perTryMs);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.timedOut) return controller.abort(new Error('no response in time'));
    if (this.request.client.gone) return controller.abort(new Error('client went away'));
    this.request.client.watch(() => controller.abort(new Error('client went away')));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200 || this.headSettled) return; // 1xx: the real head follows
    clearTimeout(this.headTimer);
    this.status = statusCode;
    this.trailersExpected = headers['trailer'] !== undefined;
    this.headers = stripHopByHop(headers as HeaderMap);
    this.headSettled = true;
    this.resolveHead(this);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.dest) {
      (this.early ??= []).push(chunk);
      return;
    }
    if (!this.dest.write(chunk) && !controller.paused) {
      controller.pause();
      this.dest.once('drain', this.resumeOnDrain);
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.request.client.watch(undefined);
    this.ended = stripHopByHop((trailers ?? {}) as HeaderMap);
    this.bodyDone?.(this.ended);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    clearTimeout(this.headTimer);
    this.request.client.watch(undefined);
    if (!this.headSettled) {
      this.headSettled = true;
      return this.rejectHead(classify(error, this.key, this.request.client.gone));
    }
    this.failure = error;
    this.bodyFailed?.(error);
  }

  relayBody(dest: Writable): Promise<HeaderMap | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    if (dest.destroyed) {
      this.cancel();
      return Promise.reject(new Error('the client closed before the response body'));
    }
    for (const chunk of this.early ?? []) dest.write(chunk);
    this.early = undefined;
    if (this.ended) return Promise.resolve(this.ended);
    this.dest = dest;
    return new Promise((resolve, reject) => {
      const onClose = () => {
        if (!this.ended) {
          this.cancel();
          reject(new Error('the client closed before the response body ended'));
        }
      };
      dest.once('close', onClose);
      this.bodyDone = (trailers) => {
        dest.off('close', onClose);
        dest.off('drain', this.resumeOnDrain);
        resolve(trailers);
      };
      this.bodyFailed = (err) => {
        dest.off('close', onClose);
        dest.off('drain', this.resumeOnDrain);
        reject(err);
      };
    });
  }

  private headTimeout(): void {
    if (this.headSettled) return;
    this.timedOut = true;
    this.headSettled = true;
    this.rejectHead(new GatewayError('upstream-timeout', `no response from ${this.key} in time`, { endpoint: this.key }));
    this.controller?.abort(new Error('no response in time'));
  }

  cancel(): void {
    if (!this.ended && !this.failure) this.controller?.abort(new Error('cancelled'));
  }
}

function classify(err: Error, key: string, clientGone: boolean): GatewayError {
  const context = { endpoint: key };
  if (clientGone) return new GatewayError('client-gone', 'the client went away before the response', context, { cause: err });
  const code = (err as { code?: string }).code ?? '';
  if (CONNECT_ERROR_CODES.has(code) || err instanceof undiciErrors.ConnectTimeoutError) {
    return new GatewayError('upstream-connect', `cannot connect to ${key} (${code})`, context, { cause: err });
  }
  return new GatewayError('upstream-reset', `${key} failed: ${err.message}`, context, { cause: err });
}
