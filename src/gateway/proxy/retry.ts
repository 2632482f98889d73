import { Readable } from 'node:stream';
import type { Pick } from '../../failover/index.js';
import { asGatewayError, GatewayError } from '../errors.js';
import type { InboundRequest, UpstreamResponse } from '../protocol/exchange.js';
import { headerValue } from '../protocol/propagation.js';
import { excusingCallerDeadline, judgeError, judgeResponse, type TryVerdict } from './outcome.js';
import type { ServiceRoute } from './route-table.js';

/** Methods a retry may repeat once the request reached an upstream (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Bodies up to this size are read before the first try, so that a retry can send them again (linkerd's limit). */
export const REPLAYABLE_BODY_BYTES = 64 * 1024;

export interface RetrySettings {
  readonly maxRetriesPerRequest: number;
}

/** A request kept to one cluster, and what to say when that cluster has no healthy target. */
export interface Confinement {
  readonly cluster: string;
  readonly why: string;
}

/** Sends one try to the picked target; resolves with the response head or rejects with a GatewayError. */
export type SendTry = (pick: Pick, request: InboundRequest) => Promise<UpstreamResponse>;

/** How one request is sent: where each try goes, and whether a try begun at `now` waits only as long as the caller allowed. */
export interface TrySender {
  readonly send: SendTry;
  readonly boundByCaller: (now: number) => boolean;
}

/** One try's end: the response, or the error, with the verdict the balancer was given. */
type TryResult = { readonly response: UpstreamResponse; readonly error?: undefined; readonly verdict: TryVerdict } | { readonly response?: undefined; readonly error: GatewayError; readonly verdict: TryVerdict };

/**
 * Sends a request where the balancer says and retries by its rules: on a
 * condition the service's `retryOn` names, at most `maxRetriesPerRequest`
 * times, each to a target not tried yet (the next tier once a tier is
 * exhausted), within the retry budget, and never once a non-idempotent
 * request or any part of an unbuffered body reached an upstream. A remote
 * gateway replica that cannot be reached at all hands the try to the next
 * replica without spending a retry. Every try's outcome goes back to the
 * balancer through its pick.
 */
export class RetryingSender {
  constructor(
    private readonly settings: RetrySettings,
    private readonly now: () => number,
    /** Hears of each retry, by service and the condition the failed try met. */
    private readonly onRetry: (service: string, condition: string) => void = () => {},
  ) {}

  /** `only`: the one cluster the request may go to (see ServiceBalancer.pick), or undefined for anywhere. */
  async send(route: ServiceRoute, inbound: InboundRequest, only: Confinement | undefined, tries: TrySender): Promise<UpstreamResponse> {
    const { balancer } = route;
    balancer.recordRequest(this.now());
    // Most requests have no body: no await for them.
    const buffered = inbound.body ? await bufferSmallBody(inbound) : undefined;
    // Made at the first retry: most requests need none.
    let tried: Set<Pick['target']> | undefined;
    let lastError: GatewayError | undefined;
    // A 503 is kept until another target is found: if none is, it is the answer.
    let unavailable: UpstreamResponse | undefined;
    let retries = 0;
    for (;;) {
      const pick = balancer.pick(this.now(), tried, only?.cluster);
      if (!pick) {
        if (unavailable) return unavailable;
        if (lastError) throw lastError;
        const why = only ? only.why : 'no healthy endpoint here or in any exporting cluster';
        throw new GatewayError(balancer.saturated() ? 'overloaded' : 'no-healthy-endpoints', `${route.name}: ${why}`, { service: route.name });
      }
      unavailable?.cancel();
      unavailable = undefined;
      const result = await this.attempt(pick, tries, buffered ? { ...inbound, body: Readable.from([buffered]) } : inbound);
      if (result.response && result.verdict.retryOn === undefined) return result.response;
      (tried ??= new Set()).add(pick.target);
      if (result.error) lastError = result.error;
      const resendable = buffered !== undefined || !inbound.body?.readableDidRead;
      if (result.error?.code === 'upstream-connect' && pick.target.kind === 'remote' && resendable) continue;
      if (!this.mayRetry(route, inbound, result.verdict, retries, resendable)) {
        if (result.response) return result.response;
        throw result.error;
      }
      if (result.response) unavailable = result.response;
      retries++;
      this.onRetry(route.name, result.verdict.retryOn ?? 'unknown');
    }
  }

  /** One try, timed to its response head, its verdict reported through the pick. */
  private async attempt(pick: Pick, tries: TrySender, request: InboundRequest): Promise<TryResult> {
    const started = this.now();
    const judged = (verdict: TryVerdict) => (tries.boundByCaller(started) ? excusingCallerDeadline(verdict) : verdict);
    try {
      const response = await tries.send(pick, request);
      const verdict = judged(judgeResponse(response, this.now() - (response.sentAt ?? started)));
      pick.done(this.now(), verdict.outcome, verdict.failure);
      return { response, verdict };
    } catch (err) {
      const error = asGatewayError(err);
      const verdict = judged(judgeError(error, this.now() - started));
      pick.done(this.now(), verdict.outcome, verdict.failure);
      return { error, verdict };
    }
  }

  /**
   * A failed try is retried only on a condition the service's `retryOn`
   * names, while the body can still be sent whole, and — once the request
   * may have reached an upstream — only for an idempotent method; then only
   * within the budget.
   */
  private mayRetry(route: ServiceRoute, request: InboundRequest, verdict: TryVerdict, retries: number, resendable: boolean): boolean {
    const condition = verdict.retryOn;
    if (retries >= this.settings.maxRetriesPerRequest || request.client.gone || condition === undefined) return false;
    if (!route.retryOn.includes(condition) || !resendable) return false;
    if (condition !== 'connect-failure' && !IDEMPOTENT.has(request.method)) return false;
    return route.balancer.tryRetry(this.now());
  }
}

/** A body small enough to send again is read whole before the first try. */
async function bufferSmallBody(request: InboundRequest): Promise<Buffer | undefined> {
  if (!request.body) return undefined;
  const length = Number(headerValue(request.headers, 'content-length') ?? NaN);
  if (!(length >= 0 && length <= REPLAYABLE_BODY_BYTES)) return undefined;
  const chunks: Buffer[] = [];
  // Not destroyed at the end: an HTTP/2 stream destroyed so would be reset before its response.
  for await (const chunk of request.body.iterator({ destroyOnReturn: false })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
