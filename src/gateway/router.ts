import type { OutgoingHttpHeaders } from 'node:http2';
import { Readable } from 'node:stream';
import { DEFAULTS, type GatewayConfig, type HostPort, type RetryCondition, type ServiceConfig, type TimeoutsConfig } from '../config/index.js';
import { ServiceBalancer, type BalancerEvent, type Choice, type EndpointCheck, type RemoteCluster, type RouteExplanation } from '../failover/index.js';
import type { Logger } from '../telemetry/index.js';
import { serviceFromAuthority } from './authority.js';
import { ServicePolicy } from './authorization.js';
import type { Counters } from './counters.js';
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
import { endpointKey, type Upstream } from './upstream.js';

/**
 * How long a gateway waits beyond the budget it passed to a remote gateway:
 * the callee, which enforces that budget at its endpoint, should be the one
 * to answer 504, so that the answer says where the time went.
 */
const REMOTE_GRACE_MS = 250;

/** Methods a retry may repeat once the request reached an upstream (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

interface LocalService {
  readonly service: ServiceConfig;
  readonly endpoints: ReadonlyMap<string, HostPort>;
  readonly upstream: Upstream;
  readonly policy: ServicePolicy;
}

/** What the router needs from active health checks. */
export interface LocalHealth {
  check(service: ServiceConfig, endpoint: HostPort): EndpointCheck;
}

/** What the router needs from membership: other clusters' view of a service, and their gateways. */
export interface FederationView {
  remotes(service: string): RemoteCluster[];
  gateway(memberId: string): RemoteGateway | undefined;
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

/** Bodies up to this size are read before the first try, so that a retry can send them again (linkerd's limit). */
const REPLAYABLE_BODY_BYTES = 64 * 1024;

/** A request as the retry logic holds it: with its body in memory when it was small enough. */
interface TryRequest extends InboundRequest {
  readonly buffered: Buffer | undefined;
}

async function bufferSmallBody(request: InboundRequest): Promise<TryRequest> {
  const length = Number(headerValue(request.headers, 'content-length') ?? NaN);
  if (!request.body || !(length >= 0 && length <= REPLAYABLE_BODY_BYTES)) return { ...request, buffered: undefined };
  const chunks: Buffer[] = [];
  // Not destroyed at the end: an HTTP/2 stream destroyed so would be reset before its response.
  for await (const chunk of request.body.iterator({ destroyOnReturn: false })) chunks.push(chunk as Buffer);
  return { ...request, buffered: Buffer.concat(chunks) };
}

/** The request for one try: a buffered body is sent afresh each time. */
const forTry = (request: TryRequest): InboundRequest => (request.buffered ? { ...request, body: Readable.from([request.buffered]) } : request);

/** One try's end, as the balancer learns it. */
interface TryResult {
  readonly response?: UpstreamResponse;
  readonly error?: GatewayError;
}

/**
 * Decides where each request goes — this cluster's endpoints or another
 * cluster's gateway, by the failover part's ServiceBalancer — relays the
 * answer, and feeds every outcome back. Requests from apps may go anywhere;
 * requests from other gateways are authorized per service and served only
 * here, so a request crosses at most one cluster boundary.
 */
export class Router {
  private readonly services = new Map<string, LocalService>();
  private readonly balancers = new Map<string, ServiceBalancer>();
  private readonly inFlightByService = new Map<string, number>();
  private readonly replicaTurn = new Map<string, number>();
  private federation: Federation | undefined;
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly config: GatewayConfig,
    private readonly health: LocalHealth,
    private readonly log: Logger,
    private readonly counters: Counters,
    private readonly onEvent: (event: BalancerEvent) => void = () => {},
    private readonly random: () => number = Math.random,
  ) {
    for (const service of Object.values(config.services)) {
      const connectMs = service.timeouts.connectMs;
      this.services.set(service.name, {
        service,
        endpoints: new Map(service.endpoints.map((e) => [endpointKey(e), e])),
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
      const remotes = this.federation?.view.remotes(name) ?? [];
      if (!local && !remotes.some((r) => r.exported)) {
        throw new GatewayError('unknown-service', `no cluster runs and exports a service named "${name}"`, { service: name });
      }
      const budget = this.budget(request, local?.service.timeouts ?? DEFAULTS.service.timeouts);
      return this.forward(name, local, remotes, request, budget, false);
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
      // A request that already crossed a cluster is never forwarded again.
      return this.forward(name, local, this.federation?.view.remotes(name) ?? [], request, budget, true);
    });
  }

  /** /debug/routes?service=x, or every service the router has routed. */
  routes(service: string | null): RouteExplanation | Record<string, RouteExplanation> | { error: string } {
    const now = Date.now();
    if (service) {
      const balancer = this.balancerFor(service, this.services.get(service), this.federation?.view.remotes(service) ?? [], now);
      return balancer.explain(now);
    }
    return Object.fromEntries([...this.balancers].map(([name, b]) => [name, b.explain(now)]));
  }

  /**
   * This cluster's side of a service for membership's health record:
   * endpoints passing their checks and not ejected, requests in flight, and
   * the endpoints' peak-EWMA latency.
   */
  localHealth(service: ServiceConfig): { healthy: number; total: number; inFlight: number; latencyMs?: number } {
    const now = Date.now();
    const balancer = this.balancers.get(service.name);
    const healthy = service.endpoints.filter(
      (e) => this.health.check(service, e).healthy && !balancer?.ejected(now, `local:${endpointKey(e)}`),
    ).length;
    const latencyMs = balancer?.localLatencyMs(now);
    return {
      healthy,
      total: service.endpoints.length,
      inFlight: this.inFlightByService.get(service.name) ?? 0,
      ...(latencyMs !== undefined && { latencyMs: Math.round(latencyMs * 10) / 10 }),
    };
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

  private balancerFor(name: string, local: LocalService | undefined, remotes: readonly RemoteCluster[], now: number): ServiceBalancer {
    let balancer = this.balancers.get(name);
    if (!balancer) {
      const f = DEFAULTS.failover;
      const failover = local?.service.failover ?? DEFAULTS.service.failover;
      balancer = new ServiceBalancer(
        {
          service: name,
          cluster: this.config.cluster,
          region: this.config.region,
          order: failover.order,
          overprovisioning: failover.overprovisioning,
          endpoints: local ? [...local.endpoints.keys()] : [],
          maxInFlightPerTarget: f.maxInFlightPerTarget,
          peakEwma: f.peakEwma,
          ejection: f.outlierEjection,
          retryBudget: { ratio: f.retryBudget.retryRatio, minPerSecond: f.retryBudget.minRetriesPerSecond, windowMs: f.retryBudget.windowMs },
          failback: { holdMs: f.failback.holdMs, rampMs: f.failback.rampMs, jitterMs: f.failback.holdMs * f.failback.jitter },
          random: this.random,
          now,
        },
        this.onEvent,
      );
      this.balancers.set(name, balancer);
    }
    balancer.update(now, {
      endpoints: (key) => (local ? this.health.check(local.service, local.endpoints.get(key) as HostPort) : { healthy: false, reason: 'not run here' }),
      remotes,
    });
    return balancer;
  }

  /**
   * Sends the request where the balancer says and retries by its rules: on a
   * connect failure, a reset or a 503, at most twice, each time to another
   * target (the next tier once a tier is exhausted), within the retry budget
   * and the request's deadline, and never once a non-idempotent request or
   * any part of a body reached an upstream.
   */
  private async forward(
    name: string,
    local: LocalService | undefined,
    remotes: readonly RemoteCluster[],
    inbound: InboundRequest,
    budget: Budget,
    localOnly: boolean,
  ): Promise<UpstreamResponse> {
    const inFlight = (this.inFlightByService.get(name) ?? 0) + 1;
    if (inFlight > DEFAULTS.failover.maxInFlightPerService) {
      throw new GatewayError('overloaded', `${name} has ${inFlight - 1} requests in flight here`, { service: name });
    }
    this.inFlightByService.set(name, inFlight);
    try {
      const now = Date.now();
      const balancer = this.balancerFor(name, local, remotes, now);
      balancer.recordRequest(now);
      const retryOn = (local?.service.failover ?? DEFAULTS.service.failover).retryOn;
      const request = await bufferSmallBody(inbound);
      const tried = new Set<string>();
      let lastError: GatewayError | undefined;
      // A 503 is kept until another target is found: if none is, it is the answer.
      let unavailable: UpstreamResponse | undefined;
      for (let attempt = 0; attempt <= DEFAULTS.failover.retryBudget.maxRetriesPerRequest; attempt++) {
        const choice = balancer.choose(Date.now(), tried, localOnly);
        if (!choice) {
          if (unavailable) return unavailable;
          if (lastError) throw lastError;
          const why = localOnly ? 'no healthy endpoint here (a federated request is never forwarded again)' : 'no healthy endpoint here or in any exporting cluster';
          throw new GatewayError(balancer.saturated(Date.now()) ? 'overloaded' : 'no-healthy-endpoints', `${name}: ${why}`, { service: name });
        }
        unavailable?.cancel();
        unavailable = undefined;
        tried.add(choice.key);
        const result = await this.try(balancer, choice, name, local, forTry(request), budget);
        if (result.response) {
          if (result.response.status !== 503 || !this.mayRetry(balancer, request, '503', attempt, retryOn)) return result.response;
          unavailable = result.response;
          continue;
        }
        lastError = result.error as GatewayError;
        if (!this.mayRetry(balancer, request, lastError.code, attempt, retryOn)) throw lastError;
      }
      if (unavailable) return unavailable;
      throw lastError ?? new GatewayError('no-healthy-endpoints', `${name}: nothing to send to`, { service: name });
    } finally {
      this.inFlightByService.set(name, (this.inFlightByService.get(name) ?? 1) - 1);
    }
  }

  /**
   * A failed try is retried only on a condition the service's `retryOn`
   * names, while the body can still be sent whole (untouched, or buffered),
   * and — once the request may have reached an upstream — only for an
   * idempotent method; then only within the budget.
   */
  private mayRetry(balancer: ServiceBalancer, request: TryRequest, why: 'upstream-connect' | 'upstream-reset' | '503' | string, attempt: number, retryOn: readonly RetryCondition[]): boolean {
    if (attempt >= DEFAULTS.failover.retryBudget.maxRetriesPerRequest || request.signal.aborted) return false;
    const condition: RetryCondition | undefined = why === 'upstream-connect' ? 'connect-failure' : why === 'upstream-reset' ? 'reset' : why === '503' ? '503' : undefined;
    if (!condition || !retryOn.includes(condition)) return false;
    const resendable = request.buffered !== undefined || !request.body?.readableDidRead;
    const safe = resendable && (condition === 'connect-failure' || IDEMPOTENT.has(request.method));
    return safe && balancer.tryRetry(Date.now());
  }

  /** One try at one target; for a remote cluster, its usable replicas in turn while none can be reached. */
  private async try(
    balancer: ServiceBalancer,
    choice: Choice,
    name: string,
    local: LocalService | undefined,
    request: InboundRequest,
    budget: Budget,
  ): Promise<TryResult> {
    const { target } = choice;
    if (target.kind === 'local') {
      const endpoint = local?.endpoints.get(target.endpoint) as HostPort;
      return this.measured(balancer, choice.key, undefined, request, () => this.sendLocal(local as LocalService, endpoint, request, budget));
    }
    const federation = this.federation;
    const replicas = target.replicas.map((id) => federation?.view.gateway(id)).filter((g): g is RemoteGateway => g !== undefined);
    const turn = this.replicaTurn.get(target.cluster) ?? 0;
    this.replicaTurn.set(target.cluster, turn + 1);
    let result: TryResult = { error: new GatewayError('upstream-connect', `no reachable gateway of ${target.cluster}`, { cluster: target.cluster }) };
    for (let i = 0; i < replicas.length; i++) {
      const gateway = replicas[(turn + i) % replicas.length] as RemoteGateway;
      result = await this.measured(balancer, choice.key, gateway.memberId, request, () => this.sendRemote(federation as Federation, gateway, name, request, budget));
      if (result.error?.code !== 'upstream-connect' || request.body?.readableDidRead) break;
    }
    return result;
  }

  /** Times a try to its response head and tells the balancer how it went. */
  private async measured(
    balancer: ServiceBalancer,
    key: string,
    replica: string | undefined,
    request: InboundRequest,
    send: () => Promise<UpstreamResponse>,
  ): Promise<TryResult> {
    const started = Date.now();
    balancer.start(started, key);
    try {
      const response = await send();
      const status = response.status;
      // A gateway's own 5xx (or a 503 from anywhere) counts toward ejection; 429/503 make a target look loaded.
      const failed = status === 503 || ((status === 502 || status === 504) && response.headers['meshgate-error'] !== undefined);
      const overloaded = status === 429 || status === 503;
      balancer.finish(Date.now(), key, { rttMs: Date.now() - (response.sentAt ?? started), failed, overloaded }, failed ? `status ${status}` : undefined, replica);
      return { response };
    } catch (err) {
      const error = isGatewayError(err) ? err : new GatewayError('upstream-reset', 'unexpected proxy failure', {}, { cause: err });
      // A client that went away says nothing about the target.
      const targetFailed = !request.signal.aborted && (error.code === 'upstream-connect' || error.code === 'upstream-reset' || error.code === 'upstream-timeout');
      balancer.finish(Date.now(), key, { rttMs: Date.now() - started, failed: targetFailed, overloaded: false }, targetFailed ? error.code : undefined, replica);
      return { error };
    }
  }

  private sendLocal(local: LocalService, endpoint: HostPort, request: InboundRequest, budget: Budget): Promise<UpstreamResponse> {
    const { service } = local;
    const remaining = this.remaining(budget);
    if (budget.propagate) setBudget(request.headers, remaining, isGrpc(request.headers));
    const timeouts = { connectMs: service.timeouts.connectMs, perTryMs: Math.min(service.timeouts.perTryMs, remaining), requestMs: remaining };
    return local.upstream.forward(endpoint, request, timeouts);
  }

  private sendRemote(federation: Federation, gateway: RemoteGateway, name: string, request: InboundRequest, budget: Budget): Promise<UpstreamResponse> {
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
  }

  private remaining(budget: Budget): number {
    const left = budget.deadline - Date.now();
    if (left <= 0) throw new GatewayError('deadline-exceeded', 'the request ran out of time before it could be sent');
    return left;
  }
}
