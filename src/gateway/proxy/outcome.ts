import type { RequestOutcome } from '../../failover/index.js';
import type { RetryCondition } from '../../config/index.js';
import type { GatewayError } from '../errors.js';
import type { UpstreamResponse } from '../protocol/exchange.js';

/** How a try ended, as the balancer learns it and the retry rules judge it. */
export interface TryVerdict {
  readonly outcome: RequestOutcome;
  /** Set when the try counts toward ejecting its target. */
  readonly failure: string | undefined;
  /** The `retryOn` condition the try met, if any. */
  readonly retryOn: RetryCondition | undefined;
  /** No answer in time (ours, or a gateway's 504 saying so). */
  readonly timedOut: boolean;
}

/**
 * A timeout says nothing about the target when the time was the caller's to
 * give: an app that allows 100 ms for a call that takes 200 would otherwise
 * eject every target it calls.
 */
export function excusingCallerDeadline(verdict: TryVerdict): TryVerdict {
  if (!verdict.timedOut || verdict.failure === undefined) return verdict;
  return { ...verdict, outcome: { ...verdict.outcome, failed: false }, failure: undefined };
}

/**
 * An answer from the target: a gateway's own 502/504 (it says so with
 * `meshgate-error`) or any 503 counts toward ejection; 429 and 503 make
 * the target look loaded. A 503 may be retried, and so may another
 * gateway's 502 `upstream-connect`: it could connect to none of its
 * endpoints, so no endpoint saw the request, as with our own connect
 * failures.
 */
export function judgeResponse(response: UpstreamResponse, rttMs: number): TryVerdict {
  const { status } = response;
  const gatewayError = response.headers['meshgate-error'];
  const failed = status === 503 || ((status === 502 || status === 504) && gatewayError !== undefined);
  const unreached = status === 502 && gatewayError === 'upstream-connect';
  return {
    outcome: { rttMs, failed, overloaded: status === 429 || status === 503 },
    failure: failed ? `status ${status}` : undefined,
    retryOn: status === 503 ? '503' : unreached ? 'connect-failure' : undefined,
    timedOut: status === 504 && gatewayError !== undefined,
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
  if (error.code === 'client-gone') return { outcome: { rttMs, failed: false, overloaded: false }, failure: undefined, retryOn: undefined, timedOut: false };
  const retryOn: RetryCondition | undefined =
    error.code === 'upstream-connect' || error.unprocessed ? 'connect-failure' : error.code === 'upstream-reset' ? 'reset' : undefined;
  const counts = !error.peerClosed && (error.code === 'upstream-connect' || error.code === 'upstream-reset' || error.code === 'upstream-timeout');
  return { outcome: { rttMs, failed: counts, overloaded: false }, failure: counts ? error.code : undefined, retryOn, timedOut: error.code === 'upstream-timeout' };
}
