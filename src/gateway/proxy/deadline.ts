import type { TimeoutsConfig } from '../../config/index.js';
import { GatewayError } from '../errors.js';
import type { HeaderMap } from '../protocol/headers.js';
import { incomingBudgetMs } from '../protocol/propagation.js';

/** A request's budget: when it must have its answer, counted from arrival. */
export interface Budget {
  readonly deadline: number;
  /** Passed on to the next hop only when the caller set one. */
  readonly propagate: boolean;
}

/** The service's request timeout, shortened by a budget the caller sent (`grpc-timeout`, `meshgate-deadline`). */
export function budgetFor(headers: HeaderMap, timeouts: TimeoutsConfig, now: number): Budget {
  const incoming = incomingBudgetMs(headers);
  if (incoming !== undefined && incoming <= 0) throw new GatewayError('deadline-exceeded', 'the request arrived with no time left');
  return { deadline: now + Math.min(timeouts.requestMs, incoming ?? Infinity), propagate: incoming !== undefined };
}

/** What is left of the budget for the next try, or the end of the request. */
export function remainingMs(budget: Budget, now: number): number {
  const left = budget.deadline - now;
  if (left <= 0) throw new GatewayError('deadline-exceeded', 'the request ran out of time before it could be sent');
  return left;
}
