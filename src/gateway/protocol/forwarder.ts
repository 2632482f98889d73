import type { TimeoutsConfig } from '../../config/index.js';
import type { Target } from '../../failover/index.js';
import type { InboundRequest, UpstreamResponse } from './exchange.js';

/** What one try needs to know besides the request. */
export interface TryContext {
  readonly service: string;
  /** The endpoint or remote gateway replica the balancer picked. */
  readonly target: Target;
  /** connect, per-try (already bounded by what is left) and the time left for the whole request. */
  readonly timeouts: TimeoutsConfig;
  /** Time left for the whole request: what the next hop is told (`meshgate-deadline`, `grpc-timeout`). */
  readonly budgetMs: number;
  /** Whether the caller set a deadline, so that it travels on (HTTP to a remote gateway always carries one). */
  readonly propagateDeadline: boolean;
}

/**
 * Where a try goes: a local endpoint or another cluster's gateway replicas,
 * behind one face. Resolves with the response head, or rejects with a
 * GatewayError saying why none came.
 */
export interface Forwarder {
  forward(request: InboundRequest, context: TryContext): Promise<UpstreamResponse>;
}
