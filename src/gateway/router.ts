import type { OutgoingHttpHeaders } from 'node:http2';
import { DEFAULTS, type GatewayConfig, type HostPort, type ServiceConfig, type TimeoutsConfig } from '../config/index.js';
import { planRoute, type RemoteServiceState, type RouteTarget } from '../failover/index.js';
import type { Logger } from '../telemetry/index.js';
import { serviceFromAuthority } from './authority.js';
import { ServicePolicy } from './authorization.js';
import type { Counters } from './counters.js';
import { EndpointRotation } from './endpoint-rotation.js';
import { GatewayError, isGatewayError } from './errors.js';
import type { Exchange, InboundRequest, UpstreamResponse } from './exchange.js';
import type { FederationPeer } from './federation-peer.js';
import {
  dropGatewayHeaders,
  headerValue,
  HOP_HEADER,
  incomingBudgetMs,
  isGrpc,
  SERVICE_HEADER,
  setBudget,
  SOURCE_HEADER,
  sourceValue,
} from './propagation.js';
import type { RemoteGateway, RemoteGatewayPool } from './remote-gateways.js';
import { H2cUpstream } from './upstream-h2c.js';
import { Http1Upstream } from './upstream-http1.js';
import type { Upstream } from './upstream.js';

/**
 * How long a gateway waits beyond the budget it passed to a remote gateway:
 * the callee, which enforces that budget at its endpoint, should be the one
 * to answer 504, so that the answer says where the time went.
 */
const REMOTE_GRACE_MS = 250;

interface LocalService {
  readonly service: ServiceConfig;
  readonly endpoints: EndpointRotation;
  readonly upstream: Upstream;
  readonly policy: ServicePolicy;
}

/** What the router needs from active health checks. */
export interface LocalHealth {
  isHealthy(service: ServiceConfig, endpoint: HostPort): boolean;
  counts(service: ServiceConfig): { healthy: number; total: number };
}

/** What the router needs from membership: other clusters' view of a service, and their gateways. */
export interface FederationView {
  remotes(service: string): RemoteServiceState[];
  /** Live gateway replicas of a cluster, in the order to try them. */
  gateways(cluster: string): RemoteGateway[];
}

export interface Federation {
  readonly view: FederationView;
  readonly pool: RemoteGatewayPool;
}

/** A request's budget: when it must have its answer, counted from arrival. */
interface Budget {
  readonly deadline: number;
  /** Passed on to the next hop only when the caller set one. */
  readonly propagate: boolean;
}

/**
 * Decides where each request goes — this cluster's endpoints or another
 * cluster's gateway — and relays the answer. Requests from apps may go
 * anywhere; requests from other gateways are authorized per service and
 * served only here, so a request crosses at most one cluster boundary.
 */
export class Router {
  private readonly services = new Map<string, LocalService>();
  private federation: Federation | undefined;
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly config: GatewayConfig,
    private readonly health: LocalHealth,
    private readonly log: Logger,
    private readonly counters: Counters,
  ) {
    for (const service of Object.values(config.services)) {
      const connectMs = service.timeouts.connectMs;
      this.services.set(service.name, {
        service,
        endpoints: new EndpointRotation(service.endpoints),
        upstream: service.protocol === 'grpc' ? new H2cUpstream(connectMs) : new Http1Upstream(connectMs),
        policy: new ServicePolicy(service),
      });
    }
  }

  /** Once membership runs, requests can go to other clusters. */
  connectFederation(federation: Federation): void {
    this.federation = federation;
  }

  /** Requests accepted and not yet answered. */
  get inFlight(): number {
    return this.active;
  }

  /** A request from an app on the local listener. */
  handleLocal(exchange: Exchange): Promise<void> {
    return this.run(exchange, 'meshgate_requests_total', () => {
      const { request } = exchange;
      // Only gateways assert these; an app that sends them is not believed.
      dropGatewayHeaders(request.headers);
      const name = this.serviceName(request, request.authority);
      const local = this.services.get(name);
      const budget = this.budget(request, local?.service.timeouts ?? DEFAULTS.service.timeouts);
      const plan = planRoute({
        local: local ? this.health.counts(local.service) : undefined,
        remotes: this.federation?.view.remotes(name) ?? [],
        region: this.config.region,
        crossedCluster: false,
      });
      if (plan.kind !== 'targets') throw new GatewayError(plan.kind, `${name}: ${plan.reason}`, { service: name });
      return this.tryTargets(plan.targets, name, local, request, budget);
    });
  }

  /** A request from another cluster's gateway, already authenticated as `peer`. */
  handleFederated(exchange: Exchange, peer: FederationPeer): Promise<void> {
    return this.run(exchange, 'meshgate_federation_requests_total', () => {
      const { request } = exchange;
      const name = this.serviceName(request, headerValue(request.headers, SERVICE_HEADER) ?? request.authority);
      const local = this.services.get(name);
      if (!local) throw new GatewayError('unknown-service', `no service named "${name}" in this cluster`, { service: name });
      const verdict = local.policy.authorize(peer.spiffeId);
      if (!verdict.allowed) {
        this.counters.add('meshgate_federation_denied_total', peer.spiffeId);
        this.log.warn({ service: name, caller: peer.spiffeId, reason: verdict.reason }, 'federated request denied');
        throw new GatewayError('forbidden', verdict.reason, { service: name, caller: peer.spiffeId });
      }
      const budget = this.budget(request, local.service.timeouts);
      delete request.headers[SERVICE_HEADER];
      delete request.headers[HOP_HEADER];
      // The endpoint learns who called from what we verified, not from what was claimed.
      request.headers[SOURCE_HEADER] = sourceValue(peer.cluster, peer.spiffeId);
      const plan = planRoute({ local: this.health.counts(local.service), remotes: [], region: this.config.region, crossedCluster: true });
      if (plan.kind !== 'targets') throw new GatewayError(plan.kind, `${name}: ${plan.reason}`, { service: name });
      return this.tryTargets(plan.targets, name, local, request, budget);
    });
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.federation?.pool.close();
    await Promise.all([...this.services.values()].map((s) => s.upstream.close()));
  }

  private async run(exchange: Exchange, counter: string, forward: () => Promise<UpstreamResponse>): Promise<void> {
    this.active++;
    const { request } = exchange;
    try {
      const response = await forward();
      if (request.signal.aborted) {
        // The client left while the request was on its way: nobody will read this answer.
        response.cancel();
        throw new GatewayError('upstream-reset', 'the client went away before the response');
      }
      try {
        await exchange.relay(response);
        this.counters.add(counter, 'relayed');
      } catch (err) {
        response.cancel();
        throw new GatewayError('upstream-reset', 'relaying the response broke off', {}, { cause: err });
      }
    } catch (err) {
      const error = isGatewayError(err) ? err : new GatewayError('upstream-reset', 'unexpected proxy failure', {}, { cause: err });
      this.counters.add(counter, request.signal.aborted ? 'client-gone' : error.code);
      if (!request.signal.aborted) {
        const fields = { error: { code: error.code, message: error.message }, authority: request.authority, path: request.path, ...error.context };
        if (error.status >= 500) this.log.warn(fields, 'request failed');
        else this.log.debug(fields, 'request refused');
      }
      exchange.fail(error);
    } finally {
      this.active--;
      if (this.active === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private serviceName(request: InboundRequest, authority: string | undefined): string {
    if (request.method === 'CONNECT' || !request.path.startsWith('/')) {
      throw new GatewayError('bad-request', `${request.method} ${request.path.slice(0, 100)} is not a request the gateway forwards`);
    }
    const name = serviceFromAuthority(authority);
    if (!name) throw new GatewayError('bad-request', 'the request names no service in Host or :authority');
    return name;
  }

  private budget(request: InboundRequest, timeouts: TimeoutsConfig): Budget {
    const incoming = incomingBudgetMs(request.headers);
    if (incoming !== undefined && incoming <= 0) throw new GatewayError('deadline-exceeded', 'the request arrived with no time left');
    return { deadline: Date.now() + Math.min(timeouts.requestMs, incoming ?? Infinity), propagate: incoming !== undefined };
  }

  /**
   * Tries each target in the plan's order. Only a failure to reach a target
   * at all (nothing was sent) moves on to the next; anything else is the answer.
   */
  private async tryTargets(
    targets: readonly RouteTarget[],
    name: string,
    local: LocalService | undefined,
    request: InboundRequest,
    budget: Budget,
  ): Promise<UpstreamResponse> {
    let lastError: GatewayError | undefined;
    for (const target of targets) {
      const attempts = target.kind === 'local' ? this.localAttempts(local as LocalService, request, budget) : this.remoteAttempts(target.cluster, name, request, budget);
      for (const attempt of attempts) {
        try {
          return await attempt();
        } catch (err) {
          // Moving on is safe only while no byte of the body has been read.
          if (!isGatewayError(err) || err.code !== 'upstream-connect' || request.signal.aborted || request.body?.readableDidRead) throw err;
          lastError = err;
        }
      }
    }
    throw lastError ?? new GatewayError('no-healthy-endpoints', `${name}: no endpoint or gateway to send to`, { service: name });
  }

  /** One attempt per healthy endpoint, starting where the rotation stands. */
  private localAttempts(local: LocalService, request: InboundRequest, budget: Budget): (() => Promise<UpstreamResponse>)[] {
    const { service } = local;
    return local.endpoints
      .order()
      .filter((endpoint) => this.health.isHealthy(service, endpoint))
      .map((endpoint) => () => {
        const remaining = this.remaining(budget);
        if (budget.propagate) setBudget(request.headers, remaining, isGrpc(request.headers));
        const timeouts = { connectMs: service.timeouts.connectMs, perTryMs: Math.min(service.timeouts.perTryMs, remaining), requestMs: remaining };
        return local.upstream.forward(endpoint, request, timeouts);
      });
  }

  private remoteAttempts(cluster: string, name: string, request: InboundRequest, budget: Budget): (() => Promise<UpstreamResponse>)[] {
    const federation = this.federation;
    if (!federation) return [];
    return federation.view.gateways(cluster).map((gateway) => () => {
      const remaining = this.remaining(budget);
      const headers: OutgoingHttpHeaders = {
        ...request.headers,
        ':method': request.method,
        ':path': request.path,
        ':scheme': 'https',
        ':authority': request.authority ?? name,
        [SERVICE_HEADER]: name,
        [HOP_HEADER]: this.config.cluster,
        [SOURCE_HEADER]: sourceValue(this.config.cluster, undefined),
      };
      // gRPC calls without a deadline may stream for as long as they like:
      // only a caller's own grpc-timeout goes on. HTTP always carries ours.
      const grpc = isGrpc(request.headers);
      if (budget.propagate || !grpc) setBudget(headers as Record<string, string>, remaining, grpc);
      const connectMs = (this.services.get(name)?.service.timeouts ?? DEFAULTS.service.timeouts).connectMs;
      const wait = remaining + REMOTE_GRACE_MS;
      return federation.pool.forward(gateway, headers, request, { connectMs, perTryMs: wait, requestMs: wait });
    });
  }

  private remaining(budget: Budget): number {
    const left = budget.deadline - Date.now();
    if (left <= 0) throw new GatewayError('deadline-exceeded', 'the request ran out of time before it could be sent');
    return left;
  }
}
