import { formatHostPort, type HostPort, type RetryCondition, type ServiceConfig, type TimeoutsConfig } from '../../config/index.js';
import { ServiceBalancer, type BalancerEvent, type BalancerSettings, type EndpointCheck, type RemoteCluster, type RouteExplanation, type Target } from '../../failover/index.js';
import { ServicePolicy } from './authorization.js';
import type { Forwarder } from '../protocol/forwarder.js';

/** What the route table needs from active health checks. */
export interface LocalHealth {
  check(service: ServiceConfig, endpoint: HostPort): EndpointCheck;
}

/** What it needs from membership: other clusters' view of a service. */
export interface FederationView {
  remotes(service: string): RemoteCluster[];
}

/** Failover settings that are the same for every service (from the config's defaults). */
export type SharedBalancerSettings = Omit<BalancerSettings, 'service' | 'cluster' | 'region' | 'order' | 'overprovisioning' | 'weights' | 'endpoints' | 'random' | 'now'>;

export interface RouteTableOptions {
  readonly cluster: string;
  readonly region: string | undefined;
  readonly services: readonly ServiceConfig[];
  /** For services this cluster does not run: their order, timeouts and retry conditions. */
  readonly defaults: Pick<ServiceConfig, 'failover' | 'timeouts'>;
  readonly balancer: SharedBalancerSettings;
  readonly health: LocalHealth;
  /** One forwarder per local endpoint, made once. */
  readonly endpointForwarder: (service: ServiceConfig, endpoint: HostPort) => Forwarder;
  readonly onEvent: (event: BalancerEvent) => void;
  readonly random: () => number;
}

/** Everything a request for one service needs, resolved once per service, not per request. */
export interface ServiceRoute {
  readonly name: string;
  /** Undefined when this cluster does not run the service. A reload that leaves the service as it was hands over the new, equal object. */
  config: ServiceConfig | undefined;
  readonly policy: ServicePolicy | undefined;
  readonly timeouts: TimeoutsConfig;
  readonly retryOn: readonly RetryCondition[];
  readonly balancer: ServiceBalancer;
  /** Requests in flight here for the service. */
  inFlight: number;
  /** When a request last asked for the route: routes nobody uses are not refreshed on the timer. */
  usedAt: number;
  /** When its snapshot was last rebuilt. */
  refreshedAt: number;
  /** Whether another cluster exports it (as of the last refresh). */
  exportedElsewhere: boolean;
  forwarderFor(target: Target): Forwarder;
}

/** What a TCP service's endpoints have instead of a forwarder: HTTP requests for it are refused before they get here. */
const NO_FORWARDER: Forwarder = {
  forward: () => Promise.reject(new Error('a TCP service has no HTTP forwarder')),
};

/** How long a route without requests keeps being refreshed on the timer. */
const IDLE_AFTER_MS = 10_000;
/** A route that was idle is rebuilt on its next request when its snapshot is older than this. */
const STALE_AFTER_MS = 100;

/**
 * The routing snapshots of every service: each route's balancer is
 * refreshed when endpoint health, membership or ejections change (and on a
 * short timer while a failback ramp or an ejection depends on time alone),
 * never per request. A request looks its route up and picks.
 */
export class RouteTable {
  private readonly routes = new Map<string, ServiceRoute>();
  private configs: ReadonlyMap<string, ServiceConfig>;
  private federation: FederationView | undefined;
  private remote: Forwarder | undefined;
  private readonly endpointForwarders = new Map<string, Map<string, Forwarder>>();
  private readonly endpointAddresses = new Map<string, HostPort>();

  /** The cluster this gateway serves. */
  get cluster(): string {
    return this.opts.cluster;
  }

  constructor(private readonly opts: RouteTableOptions) {
    this.configs = new Map();
    this.setServices(opts.services, 0);
  }

  /**
   * The services this cluster runs, at start and on each reload. A service
   * whose config is unchanged keeps its route (its latency estimates,
   * ejections and failback state); a changed or removed one loses it, and the
   * next request builds a new one. Requests in flight finish on the route
   * they started on.
   */
  setServices(services: readonly ServiceConfig[], now: number): void {
    const before = this.configs;
    this.configs = new Map(services.map((s) => [s.name, s]));
    this.endpointForwarders.clear();
    this.endpointAddresses.clear();
    for (const service of services) {
      // A TCP service's connections are made by the TCP proxy, not through forwarders.
      const forwarders = new Map(service.endpoints.map((e) => [formatHostPort(e), service.tcp ? NO_FORWARDER : this.opts.endpointForwarder(service, e)]));
      this.endpointForwarders.set(service.name, forwarders);
      for (const e of service.endpoints) this.endpointAddresses.set(formatHostPort(e), e);
    }
    for (const [name, route] of this.routes) {
      const next = this.configs.get(name);
      if (next && route.config && sameService(before.get(name), next)) {
        route.config = next;
        this.refreshRoute(route, now);
      } else if (next || route.config) {
        this.routes.delete(name);
      }
    }
  }

  /**
   * Once membership runs, services other clusters export become routes too,
   * and `remote` carries their tries to the gateway replica each pick names.
   */
  connectFederation(view: FederationView, remote: Forwarder, now: number): void {
    this.federation = view;
    this.remote = remote;
    this.refresh(now, true);
  }

  /**
   * The route for a service this cluster runs or another cluster exports,
   * made on first use; undefined for a name nobody serves (so a stream of
   * made-up names creates nothing).
   */
  route(name: string, now: number): ServiceRoute | undefined {
    let route = this.routes.get(name);
    if (!route) {
      const config = this.configs.get(name);
      const remotes = this.federation?.remotes(name) ?? [];
      if (!config && !remotes.some((r) => r.exported)) return undefined;
      route = this.create(name, config, now);
      this.routes.set(name, route);
      this.refreshRoute(route, now);
    } else if (now - route.refreshedAt > STALE_AFTER_MS && now - route.usedAt > IDLE_AFTER_MS) {
      // Idle routes are left alone by the timer; the first request after a pause brings the snapshot up to date.
      this.refreshRoute(route, now);
    }
    route.usedAt = now;
    return route;
  }

  /** /debug/routes for one service, without creating anything: undefined for an unknown name. */
  explain(name: string, now: number): RouteExplanation | undefined {
    const route = this.routes.get(name);
    if (route) return this.explainNow(route, now);
    const config = this.configs.get(name);
    const remotes = this.federation?.remotes(name) ?? [];
    if (!config && !remotes.some((r) => r.exported)) return undefined;
    // Explained from a throwaway route: reading the admin API creates no state.
    const scratch = this.create(name, config, now);
    this.refreshRoute(scratch, now);
    return scratch.balancer.explain(now);
  }

  explainAll(now: number): Record<string, RouteExplanation> {
    const out: Record<string, RouteExplanation> = {};
    for (const [name, route] of this.routes) out[name] = this.explainNow(route, now);
    return out;
  }

  /**
   * A snapshot taken while a failback ramp or an ejection runs out may be one
   * timer tick old: brought up to `now` first, so that the shares shown agree
   * with the phase shown (both as of now).
   */
  private explainNow(route: ServiceRoute, now: number): RouteExplanation {
    if (route.balancer.timeDependent()) this.refreshRoute(route, now);
    return route.balancer.explain(now);
  }

  /**
   * This cluster's side of a service for membership's health record:
   * endpoints passing their checks and not ejected, requests in flight, and
   * the endpoints' peak-EWMA latency.
   */
  localHealth(service: ServiceConfig, now: number): { healthy: number; total: number; inFlight: number; latencyMs?: number } {
    const route = this.routes.get(service.name);
    let healthy = 0;
    for (const e of service.endpoints) {
      if (this.opts.health.check(service, e).healthy && !route?.balancer.endpointEjected(now, formatHostPort(e))) healthy++;
    }
    const latencyMs = route?.balancer.localLatencyMs(now);
    return {
      healthy,
      total: service.endpoints.length,
      inFlight: route?.inFlight ?? 0,
      ...(latencyMs !== undefined && { latencyMs: Math.round(latencyMs * 10) / 10 }),
    };
  }

  /**
   * Rebuilds the snapshots of routes in use: on the timer (`all` false) only
   * those whose inputs may have moved with time; on a health or membership
   * change (`all` true) every route in use.
   */
  refresh(now: number, all: boolean): void {
    for (const [name, route] of this.routes) {
      if (now - route.usedAt > IDLE_AFTER_MS) {
        // A remote-only route nobody asked for lately is dropped (rebuilt on demand); a local one waits for its next request.
        if (!route.config && route.inFlight === 0) this.routes.delete(name);
        continue;
      }
      if (all || route.balancer.timeDependent()) this.refreshRoute(route, now);
    }
  }

  private refreshRoute(route: ServiceRoute, now: number): void {
    route.refreshedAt = now;
    const remotes = this.federation?.remotes(route.name) ?? [];
    route.exportedElsewhere = remotes.some((r) => r.exported);
    const config = route.config;
    route.balancer.update(now, {
      drained: config?.drain === true,
      endpoints: (endpoint) => (config ? this.opts.health.check(config, this.endpointAddresses.get(endpoint) as HostPort) : { healthy: false, reason: 'not run here' }),
      remotes,
    });
  }

  private create(name: string, config: ServiceConfig | undefined, now: number): ServiceRoute {
    const { opts } = this;
    const failover = config?.failover ?? opts.defaults.failover;
    const forwarders = this.endpointForwarders.get(name);
    const balancer = new ServiceBalancer(
      {
        ...opts.balancer,
        service: name,
        cluster: opts.cluster,
        region: opts.region,
        order: failover.order,
        overprovisioning: failover.overprovisioning,
        ...(failover.weights && { weights: failover.weights }),
        endpoints: forwarders ? [...forwarders.keys()] : [],
        random: opts.random,
        now,
      },
      opts.onEvent,
    );
    return {
      name,
      config,
      policy: config ? new ServicePolicy(config) : undefined,
      timeouts: config?.timeouts ?? opts.defaults.timeouts,
      retryOn: failover.retryOn,
      balancer,
      inFlight: 0,
      usedAt: now,
      refreshedAt: now,
      exportedElsewhere: false,
      // A remote target comes only from the federation view, so `remote` is set by then.
      forwarderFor: (target) => (target.kind === 'local' ? forwarders?.get(target.endpoint) : this.remote) as Forwarder,
    };
  }
}

/**
 * Service configs are plain data, resolved with every key in a fixed order.
 * `drain` is left out: the balancer ramps a drain from the refresh, and must
 * keep its state to ramp back.
 */
function sameService(a: ServiceConfig | undefined, b: ServiceConfig): boolean {
  return a !== undefined && JSON.stringify({ ...a, drain: false }) === JSON.stringify({ ...b, drain: false });
}
