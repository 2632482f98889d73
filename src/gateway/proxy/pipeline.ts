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
  readonly log: Logger;
  readonly now: () => number;
}

/** The request as it moves through the layers, and how each of its tries is sent. */
class Call implements TrySender {
  constructor(
    private readonly route: ServiceRoute,
    private readonly budget: Budget,
    private readonly now: () => number,
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
    return route.forwarderFor(pick.target).forward(request, context);
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
    this.sender = new RetryingSender(opts.retry, opts.now);
    this.hereOnly = { cluster: opts.routes.cluster, why: 'no healthy endpoint here (a federated request is never forwarded again)' };
  }

  /** A request from an app on the local listener. */
  handleLocal(exchange: Exchange): Promise<void> {
    return this.run(exchange, 'meshgate_requests_total', this.respondLocal, undefined);
  }

  /** A request from another cluster's gateway, already authenticated as `peer`. */
  handleFederated(exchange: Exchange, peer: FederationPeer): Promise<void> {
    return this.run(exchange, 'meshgate_federation_requests_total', this.respondFederated, peer);
  }

  // Bound once, not a closure per request.
  private readonly respondLocal = (exchange: Exchange): Promise<UpstreamResponse> => {
    const { request } = exchange;
    // Only gateways assert these; an app that sends them is not believed.
    dropGatewayHeaders(request.headers);
    const name = serviceName(request, request.authority);
    const route = this.opts.routes.route(name, this.opts.now());
    if (!route || (!route.config && !route.exportedElsewhere)) {
      throw new GatewayError('unknown-service', `no cluster runs and exports a service named "${name}"`, { service: name });
    }
    if (route.config?.tcp) throw notHttp(route.name);
    const pin = headerValue(request.headers, PIN_HEADER);
    if (pin === undefined) return this.admitted(request, route, undefined);
    delete request.headers[PIN_HEADER];
    return this.admitted(request, route, this.pinnedTo(route, pin));
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

  private readonly respondFederated = (exchange: Exchange, peer: FederationPeer | undefined): Promise<UpstreamResponse> => {
    const { request } = exchange;
    const name = serviceName(request, headerValue(request.headers, SERVICE_HEADER) ?? request.authority);
    const route = this.opts.routes.route(name, this.opts.now());
    if (!route?.policy || !peer) throw new GatewayError('unknown-service', `no service named "${name}" in this cluster`, { service: name });
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
    return this.admitted(request, route, this.hereOnly);
  };

  /** /debug/routes?service=x (undefined for a name nobody serves), or every route in use. */
  routes(service: string | null): RouteExplanation | Record<string, RouteExplanation> | undefined {
    const now = this.opts.now();
    return service ? this.opts.routes.explain(service, now) : this.opts.routes.explainAll(now);
  }

  private async admitted(request: InboundRequest, route: ServiceRoute, only: Confinement | undefined): Promise<UpstreamResponse> {
    const { admission } = this.opts;
    admission.admit(route);
    try {
      return await this.sender.send(route, request, only, new Call(route, budgetFor(request.headers, route.timeouts, this.opts.now()), this.opts.now));
    } finally {
      admission.release(route);
    }
  }

  private async run(
    exchange: Exchange,
    counter: string,
    respond: (exchange: Exchange, peer: FederationPeer | undefined) => Promise<UpstreamResponse>,
    peer: FederationPeer | undefined,
  ): Promise<void> {
    const { admission, counters, log } = this.opts;
    admission.enter();
    const { request } = exchange;
    try {
      const response = await respond(exchange, peer);
      if (request.client.gone) {
        // The client left while the request was on its way: nobody will read this answer.
        response.cancel();
        throw new GatewayError('client-gone', 'the client went away before the response');
      }
      try {
        await exchange.relay(response);
        counters.add(counter, 'relayed');
      } catch (err) {
        response.cancel();
        throw new GatewayError(request.client.gone ? 'client-gone' : 'upstream-reset', 'relaying the response broke off', {}, { cause: err });
      }
    } catch (err) {
      const error = asGatewayError(err);
      const gone = request.client.gone || error.code === 'client-gone';
      counters.add(counter, gone ? 'client-gone' : error.code);
      if (!gone) {
        const fields = { error: { code: error.code, message: error.message }, authority: request.authority, path: request.path, ...error.context };
        if (error.status >= 500) log.warn(fields, 'request failed');
        else log.debug(fields, 'request refused');
      }
      exchange.fail(error);
    } finally {
      admission.leave();
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
