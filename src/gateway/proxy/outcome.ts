import type { RequestOutcome } from '../../failover/index.js';
import type { RetryCondition } from '../../config/index.js';
import type { GatewayError } from '../errors.js';
import type { UpstreamResponse } from '../exchange.js';

/** How a try ended, as the balancer learns it and the retry rules judge it. */
export interface TryVerdict {
  readonly outcome: RequestOutcome;
  /** Set when the try counts toward ejecting its target. */
  readonly failure: string | undefined;
  /** The `retryOn` condition the try met, if any. */
  readonly retryOn: RetryCondition | undefined;
}

/**
 * An answer from the target: a gateway's own 502/504 (it says so with
 * `meshgate-error`) or any 503 counts toward ejection; 429 and 503 make
 * the target look loaded; only a 503 may be retried.
 */
export function judgeResponse(response: UpstreamResponse, rttMs: number): TryVerdict {
  const { status } = response;
  const failed = status === 503 || ((status === 502 || status === 504) && response.headers['meshgate-error'] !== undefined);
  return {
    outcome: { rttMs, failed, overloaded: status === 429 || status === 503 },
    failure: failed ? `status ${status}` : undefined,
    retryOn: status === 503 ? '503' : undefined,
  };
}

/**
 * A try that got no answer. A client that went away says nothing about the
 * target, and neither does a peer that ended its session on purpose (a
 * GOAWAY, as a gateway sends when it drains or when its HTTP/2 stack
 * defends itself against many resets): only connect errors, resets and
 * timeouts of a target that did not say goodbye count toward ejection.
 */
export function judgeError(error: GatewayError, rttMs: number): TryVerdict {
  if (error.code === 'client-gone') return { outcome: { rttMs, failed: false, overloaded: false }, failure: undefined, retryOn: undefined };
  const retryOn: RetryCondition | undefined =
    error.code === 'upstream-connect' || error.unprocessed ? 'connect-failure' : error.code === 'upstream-reset' ? 'reset' : undefined;
  const counts = !error.peerClosed && (error.code === 'upstream-connect' || error.code === 'upstream-reset' || error.code === 'upstream-timeout');
  return { outcome: { rttMs, failed: counts, overloaded: false }, failure: counts ? error.code : undefined, retryOn };
}
