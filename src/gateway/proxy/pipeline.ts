import type { Pick, RouteExplanation } from '../../failover/index.js';
import type { Logger } from '../../telemetry/index.js';
import { serviceFromAuthority } from './authority.js';
import { asGatewayError, GatewayError } from '../errors.js';
import type { Exchange, InboundRequest, UpstreamResponse } from '../protocol/exchange.js';
import type { FederationPeer } from '../protocol/federation-peer.js';
import type { TryContext } from '../protocol/forwarder.js';
import { dropGatewayHeaders, headerValue, HOP_HEADER, PIN_HEADER, SERVICE_HEADER, SOURCE_HEADER, sourceValue } from '../protocol/propagation.js';
import type { Admission } from './admission.js';
import { budgetFor, remainingMs, type Budget } from './deadline.js';
import type { Listener, RequestMetrics, RequestSpan, RequestTracing } from './request-telemetry.js';
import { RetryingSender, type Confinement, type RetrySettings, type TrySender } from './retry.js';
import type { RouteTable, ServiceRoute } from './route-table.js';

/**
 * How long a gateway waits beyond the budget it passed to a remote gateway:
 * the callee, which enforces that budget at its endpoint, should be the one
 * to answer 504, so that the answer says where the time went.
 */
const REMOTE_GRACE_MS = 250;

/** Where outcomes are counted: `/metrics` in the gateway, a plain map in tests. */
export interface RequestCounters {
  add(name: string, label: string): void;
}

export interface PipelineOptions {
  readonly routes: RouteTable;
  readonly admission: Admission;
  readonly retry: RetrySettings;
  readonly counters: RequestCounters;
  readonly metrics: RequestMetrics;
  /** Undefined while traces are not exported: then no span is made and `traceparent` passes through as it came. */
  readonly tracing: RequestTracing | undefined;
  readonly log: Logger;
  readonly now: () => number;
}

/** What one request learns on its way through the layers, for its metrics, span and log lines. */
class RequestState {
  /** Named in metrics only once a route says the service exists. */
  service = 'unknown';
  destination = '';
  tries = 0;
  constructor(readonly span: RequestSpan | undefined) {}
}

/** The request as it moves through the layers, and how each of its tries is sent. */
class Call implements TrySender {
  constructor(
    private readonly route: ServiceRoute,
    private readonly budget: Budget,
    private readonly now: () => number,
    private readonly state: RequestState,
    private readonly cluster: string,
  ) {}

  /** The caller's own deadline, shorter than a try may take: a timeout is then its doing. */
  boundByCaller(now: number): boolean {
    return this.budget.propagate && this.budget.deadline - now <= this.route.timeouts.perTryMs;
  }

  /** The innermost layer: one try through the picked target's forwarder, within what is left of the budget. */
  send(pick: Pick, request: InboundRequest): Promise<UpstreamResponse> {
    const { route } = this;
    const remaining = remainingMs(this.budget, this.now());
    const { timeouts } = route;
    const remote = pick.target.kind === 'remote';
    const wait = remaining + REMOTE_GRACE_MS;
    const context: TryContext = {
      service: route.name,
      target: pick.target,
      timeouts: remote
        ? { connectMs: timeouts.connectMs, perTryMs: wait, requestMs: wait }
        : { connectMs: timeouts.connectMs, perTryMs: Math.min(timeouts.perTryMs, remaining), requestMs: remaining },
      budgetMs: remaining,
      propagateDeadline: this.budget.propagate,
    };
    const { state } = this;
    const destination = pick.target.kind === 'local' ? this.cluster : pick.target.cluster;
    state.destination = destination;
    const resend = state.tries++;
    const span = state.span?.startTry(pick.target, destination, request.headers, resend);
    if (!span) return route.forwarderFor(pick.target).forward(request, context);
    return route.forwarderFor(pick.target).forward(request, context).then(
      (response) => {
        span.end(response.status, 'response');
        return response;
      },
      (err: unknown) => {
        span.end(undefined, asGatewayError(err).code);
        throw err;
      },
    );
  }
}

/**
 * The request path, as layers each doing one job: admission (in-flight
 * limits), authorization (federated requests only), the deadline, retries
 * with body replay over the balancer's picks, and the forward itself
 * through the picked target's forwarder; then the relay of the answer and
 * one count per request by outcome.
 */
export class RequestPipeline {
  private readonly sender: RetryingSender;
  /** Where a federated request may go: here. */
  private readonly hereOnly: Confinement;

  constructor(private readonly opts: PipelineOptions) {
    this.sender = new RetryingSender(opts.retry, opts.now, (service, condition) => opts.metrics.retried(service, condition));
    this.hereOnly = { cluster: opts.routes.cluster, why: 'no healthy endpoint here (a federated request is never forwarded again)' };
  }

  /** A request from an app on the local listener. */
  handleLocal(exchange: Exchange): Promise<void> {
    return this.run(exchange, 'local', this.respondLocal, undefined);
  }

  /** A request from another cluster's gateway, already authenticated as `peer`. */
  handleFederated(exchange: Exchange, peer: FederationPeer): Promise<void> {
    return this.run(exchange, 'federation', this.respondFederated, peer);
  }

  // Bound once, not a closure per request.
  private readonly respondLocal = (exchange: Exchange, _peer: FederationPeer | undefined, state: RequestState): Promise<UpstreamResponse> => {
    const { request } = exchange;
    // Only gateways assert these; an app that sends them is not believed.
    dropGatewayHeaders(request.headers);
    const name = serviceName(request, request.authority);
    const route = this.opts.routes.route(name, this.opts.now());
    if (!route || (!route.config && !route.exportedElsewhere)) {
      throw new GatewayError('unknown-service', `no cluster runs and exports a service named "${name}"`, { service: name });
    }
    state.service = route.name;
    if (route.config?.tcp) throw notHttp(route.name);
    const pin = headerValue(request.headers, PIN_HEADER);
    if (pin === undefined) return this.admitted(request, route, undefined, state);
    delete request.headers[PIN_HEADER];
    return this.admitted(request, route, this.pinnedTo(route, pin), state);
  };

  /** A request an app sent to one cluster only: allowed where the service's config says so, and only to a cluster that runs it. */
  private pinnedTo(route: ServiceRoute, cluster: string): Confinement {
    const context = { service: route.name, cluster: cluster.slice(0, 64) };
    if (!route.config?.failover.allowPinning) {
      throw new GatewayError('forbidden', `requests for ${route.name} may not choose their cluster (services.${route.name}.failover.allowPinning is not set here)`, context);
    }
    if (!route.balancer.serves(cluster)) {
      throw new GatewayError('unknown-service', `cluster "${context.cluster}" does not run ${route.name}, or does not export it to us`, context);
    }
    return { cluster, why: `no healthy endpoint in cluster ${cluster}, which the request is pinned to` };
  }

  private readonly respondFederated = (exchange: Exchange, peer: FederationPeer | undefined, state: RequestState): Promise<UpstreamResponse> => {
    const { request } = exchange;
    const name = serviceName(request, headerValue(request.headers, SERVICE_HEADER) ?? request.authority);
    const route = this.opts.routes.route(name, this.opts.now());
    if (!route?.policy || !peer) throw new GatewayError('unknown-service', `no service named "${name}" in this cluster`, { service: name });
    state.service = route.name;
    if (route.config?.tcp) throw notHttp(route.name);
    const verdict = route.policy.authorize(peer.spiffeId);
    if (!verdict.allowed) {
      this.opts.counters.add('meshgate_federation_denied_total', peer.spiffeId);
      this.opts.log.warn({ service: name, caller: peer.spiffeId, reason: verdict.reason }, 'federated request denied');
      throw new GatewayError('forbidden', verdict.reason, { service: name, caller: peer.spiffeId });
    }
    delete request.headers[SERVICE_HEADER];
    delete request.headers[HOP_HEADER];
    // The endpoint learns who called from what we verified, not from what was claimed.
    request.headers[SOURCE_HEADER] = sourceValue(peer.cluster, peer.spiffeId);
    return this.admitted(request, route, this.hereOnly, state);
  };

  /** /debug/routes?service=x (undefined for a name nobody serves), or every route in use. */
  routes(service: string | null): RouteExplanation | Record<string, RouteExplanation> | undefined {
    const now = this.opts.now();
    return service ? this.opts.routes.explain(service, now) : this.opts.routes.explainAll(now);
  }

  private async admitted(request: InboundRequest, route: ServiceRoute, only: Confinement | undefined, state: RequestState): Promise<UpstreamResponse> {
    const { admission } = this.opts;
    admission.admit(route);
    try {
      const budget = budgetFor(request.headers, route.timeouts, this.opts.now());
      return await this.sender.send(route, request, only, new Call(route, budget, this.opts.now, state, this.opts.routes.cluster));
    } finally {
      admission.release(route);
    }
  }

  private async run(
    exchange: Exchange,
    listener: Listener,
    respond: (exchange: Exchange, peer: FederationPeer | undefined, state: RequestState) => Promise<UpstreamResponse>,
    peer: FederationPeer | undefined,
  ): Promise<void> {
    const { admission, log, now, tracing } = this.opts;
    const started = now();
    admission.enter();
    const { request } = exchange;
    const source = peer ? peer.cluster : this.opts.routes.cluster;
    const state = new RequestState(tracing?.start(listener, request, source));
    let outcome = 'relayed';
    let status = 0;
    try {
      const response = await respond(exchange, peer, state);
      status = response.status;
      if (request.client.gone) {
        // The client left while the request was on its way: nobody will read this answer.
        response.cancel();
        throw new GatewayError('client-gone', 'the client went away before the response');
      }
      try {
        await exchange.relay(response);
      } catch (err) {
        response.cancel();
        throw new GatewayError(request.client.gone ? 'client-gone' : 'upstream-reset', 'relaying the response broke off', {}, { cause: err });
      }
    } catch (err) {
      const error = asGatewayError(err);
      const gone = request.client.gone || error.code === 'client-gone';
      outcome = gone ? 'client-gone' : error.code;
      status = gone ? 499 : error.status;
      if (!gone) {
        const ids = state.span?.ids;
        const fields = {
          service: state.service,
          error: { code: error.code, message: error.message },
          authority: request.authority,
          path: request.path,
          ...error.context,
          ...(ids && { trace_id: ids.traceId, span_id: ids.spanId }),
        };
        if (error.status >= 500) log.warn(fields, 'request failed');
        else log.debug(fields, 'request refused');
      }
      exchange.fail(error);
    } finally {
      admission.leave();
      const { service, destination } = state;
      this.opts.metrics.finished({ listener, service, sourceCluster: source, destinationCluster: destination, outcome, durationMs: now() - started });
      state.span?.end(status, outcome, service, destination);
    }
  }
}

const notHttp = (service: string): GatewayError =>
  new GatewayError('bad-request', `${service} is a TCP service: connect to its own port, not with HTTP`, { service });

function serviceName(request: InboundRequest, authority: string | undefined): string {
  if (request.method === 'CONNECT' || !request.path.startsWith('/')) {
    throw new GatewayError('bad-request', `${request.method} ${request.path.slice(0, 100)} is not a request the gateway forwards`);
  }
  const name = serviceFromAuthority(authority);
  if (!name) throw new GatewayError('bad-request', 'the request names no service in Host or :authority');
  return name;
}
