import os from 'node:os';
import type { Logger, Telemetry } from '../telemetry/index.js';
import { AdminServer } from './admin/admin.js';
import { HealthProber } from './control/health-prober.js';
import { IdentityRuntime } from './control/identity-runtime.js';
import { MembershipRuntime } from './control/membership-runtime.js';
import { FederationJoin } from './control/federation-join.js';
import { Counters, GATEWAY_COUNTERS } from './admin/counters.js';
import { observeGateway } from './admin/gateway-gauges.js';
import { GatewayRequestMetrics, LATENCY_STEP_MS, OtelRequestTracing } from './admin/request-telemetry.js';
import { LocalListener } from './inbound/local-listener.js';
import { DEFAULT_FAILOVER_SETTINGS, type BalancerEvent } from '../failover/index.js';
import { EventLog } from './admin/event-log.js';
import { FederationListener } from './inbound/federation-listener.js';
import { RemoteGatewayPool } from './outbound/remote-gateways.js';
import { RemoteForwarder } from './outbound/remote-forwarder.js';
import { Admission, RequestPipeline, RouteTable } from './proxy/index.js';
import { Http1Endpoint } from './outbound/upstream-http1.js';
import { H2cEndpoint } from './outbound/upstream-h2c.js';
import { TcpListeners, TcpProxy } from './tcp/index.js';
import { DEFAULTS, formatHostPort, isWildcardHost, type GatewayConfig, type HostPort, type ServiceConfig } from '../config/index.js';

const PUBLISH_INTERVAL_MS = 1_000;
/** Routing snapshots follow membership's own snapshot, which is at most this old. */
const ROUTE_REFRESH_MS = 100;

/** What a reload did: refused (the running config stays), or applied, with what only a restart can change. */
export type ReloadReport =
  | { readonly applied: false; readonly error: string }
  | { readonly applied: true; readonly servicesChanged: readonly string[]; readonly restartNeeded: readonly string[] };

/** Keys a running gateway cannot change: its listeners are bound, its identity and membership built from them. */
const RESTART_KEYS = ['federation', 'cluster', 'replica', 'region', 'zone', 'nats', 'identity', 'listeners', 'limits', 'telemetry'] as const satisfies readonly (keyof GatewayConfig)[];

export interface BoundAddresses {
  readonly local: HostPort;
  readonly admin: HostPort;
  /** Absent without `identity:`: no mTLS, no federation. */
  readonly federation?: HostPort;
  /** Each TCP service's port, by service name. */
  readonly tcp: ReadonlyMap<string, HostPort>;
}

/** One gateway replica: its listeners, its proxy, and their orderly shutdown. */
export class Gateway {
  private readonly counters = new Counters(GATEWAY_COUNTERS);
  private readonly events = new EventLog();
  private publishTimer: NodeJS.Timeout | undefined;
  private lastPublished: Readonly<Record<string, object>> = {};
  private readonly routes: RouteTable;
  private readonly admission: Admission;
  private readonly pipeline: RequestPipeline;
  private readonly requestMetrics: GatewayRequestMetrics;
  /** One pool per distinct endpoint, protocol and connect timeout: services that share an endpoint share its connections. */
  private readonly endpoints = new Map<string, Http1Endpoint | H2cEndpoint>();
  private routeTimer: NodeJS.Timeout | undefined;
  private latencyTimer: NodeJS.Timeout | undefined;
  private readonly local: LocalListener;
  private readonly tcp: TcpProxy;
  private readonly tcpListeners: TcpListeners;
  private federation: FederationListener | undefined;
  private pool: RemoteGatewayPool | undefined;
  private readonly admin: AdminServer;
  private identity: IdentityRuntime | undefined;
  private health: HealthProber;
  /** Reloads run one at a time, in the order asked. */
  private reloading: Promise<unknown> = Promise.resolve();
  private membership: MembershipRuntime | undefined;
  private join: FederationJoin<MembershipRuntime> | undefined;
  private bound = false;
  private draining = false;

  /** `source` re-reads the config file for a reload (SIGHUP, POST /reload); without it, reload is refused. */
  constructor(
    private config: GatewayConfig,
    private readonly log: Logger,
    telemetry: Telemetry,
    private readonly source?: () => Promise<GatewayConfig>,
  ) {
    this.health = this.prober(Object.values(config.services));
    const failover = { ...DEFAULT_FAILOVER_SETTINGS, maxInFlightPerTarget: config.limits.maxInFlightPerTarget };
    this.admission = new Admission(config.limits.maxInFlightPerService);
    this.routes = new RouteTable({
      cluster: config.cluster,
      region: config.region,
      services: Object.values(config.services),
      defaults: DEFAULTS.service,
      balancer: failover,
      // Through `this`: a reload replaces the prober.
      health: { check: (service, endpoint) => this.health.check(service, endpoint) },
      endpointForwarder: (service, endpoint) => this.endpointForwarder(service, endpoint),
      onEvent: (event) => this.failoverEvent(event),
      random: Math.random,
    });
    this.requestMetrics = new GatewayRequestMetrics(this.counters, telemetry, Date.now());
    this.pipeline = new RequestPipeline({
      routes: this.routes,
      admission: this.admission,
      retry: failover,
      counters: this.counters,
      metrics: this.requestMetrics,
      tracing: telemetry.tracing ? new OtelRequestTracing(telemetry.tracer, telemetry.headSampler) : undefined,
      log,
      now: Date.now,
    });
    this.counters.observe(telemetry.meter);
    observeGateway(telemetry.meter, {
      membership: () => this.membership?.counts(),
      identity: () => this.identity?.status(),
      routes: () => this.routes.explainAll(Date.now()),
      now: Date.now,
    });
    this.local = new LocalListener(config.limits, this.counters, (exchange) => void this.pipeline.handleLocal(exchange));
    this.tcp = new TcpProxy({
      cluster: config.cluster,
      routes: this.routes,
      retry: failover,
      remote: () => {
        const { pool, membership } = this;
        return pool && membership ? { pool, gateway: (id) => membership.gateway(id) } : undefined;
      },
      counters: this.counters,
      log,
      now: Date.now,
    });
    this.tcpListeners = new TcpListeners((service, socket) => void this.tcp.acceptApp(service, socket));
    this.admin = new AdminServer({
      notReadyReasons: () => [
        ...(this.bound ? [] : ['starting']),
        ...(this.bound ? (this.join?.notReadyReasons() ?? []) : []),
        ...(this.bound ? (this.membership?.notReadyReasons() ?? []) : []),
        ...(this.draining ? ['draining'] : []),
      ],
      metrics: () => telemetry.prometheusText(),
      debug: {
        identity: () => this.identity?.status() ?? { configured: false },
        endpoints: () => this.health.views(),
        members: () => this.membership?.members() ?? { configured: false },
        services: () => this.membership?.services() ?? { configured: false },
        remotes: () => this.pool?.status() ?? { configured: false },
        routes: (query) => this.pipeline.routes(query.get('service')),
        events: (query) => ({ events: this.events.list(query.get('service')) }),
        latency: () => this.requestMetrics.latency(Date.now()),
      },
      reload: () => this.reload(),
    });
  }

  /** Binds first, joins the federation last: peers should hear of us only once we can serve. */
  async start(): Promise<BoundAddresses> {
    const local = await this.local.listen(this.config.listeners.local);
    this.log.info({ listener: 'local', address: formatHostPort(local) }, 'listening');
    const tcp = await this.tcpListeners.apply(Object.values(this.config.services));
    this.logTcpListeners(tcp);
    const admin = await this.admin.listen(this.config.listeners.admin);
    this.log.info({ listener: 'admin', address: formatHostPort(admin) }, 'listening');
    let federation: HostPort | undefined;
    if (this.config.identity) {
      const identity = (this.identity = await IdentityRuntime.start(this.config, this.config.identity, this.log));
      federation = await this.startFederation(identity);
    }
    await this.health.start();
    this.routeTimer = setInterval(() => this.routes.refresh(Date.now(), this.membership !== undefined), ROUTE_REFRESH_MS);
    this.routeTimer.unref();
    this.latencyTimer = setInterval(() => this.requestMetrics.look(Date.now()), LATENCY_STEP_MS);
    this.latencyTimer.unref();
    this.bound = true;
    const identity = this.identity;
    if (this.config.nats && identity && federation) {
      const federationAddr = formatHostPort(advertised(federation));
      // Not awaited: while NATS is away the gateway still serves its own cluster.
      this.join = new FederationJoin({
        attempt: () => MembershipRuntime.start(this.config, identity, federationAddr, this.log),
        onJoined: (membership) => this.joined(membership),
        discard: (membership) => membership.leave(),
        log: this.log,
        servers: this.config.nats.servers,
      });
      void this.join.run();
    } else {
      this.log.info({ services: Object.keys(this.config.services) }, 'ready');
    }
    return { local, admin, ...(federation && { federation }), tcp };
  }

  private logTcpListeners(bound: ReadonlyMap<string, HostPort>): void {
    for (const [service, address] of bound) this.log.info({ listener: 'tcp', service, address: formatHostPort(address) }, 'listening');
  }

  private joined(membership: MembershipRuntime): void {
    this.membership = membership;
    this.routes.connectFederation(membership, new RemoteForwarder(this.config.cluster, this.pool as RemoteGatewayPool, (id) => membership.gateway(id)), Date.now());
    this.publishHealth();
    // In-flight counts and latency change with every request: publish them at most once a second.
    this.publishTimer = setInterval(() => this.publishHealth(), PUBLISH_INTERVAL_MS);
    this.publishTimer.unref();
    // Ready (here and on /ready) only once we know the federation: before the
    // first sync every other cluster's service is a 404 here. Not awaited, so
    // a signal meanwhile still drains.
    void membership.initialSync().then((sync) => {
      if (!this.draining) this.log.info({ services: Object.keys(this.config.services), membership: sync }, 'ready');
    });
  }

  private async startFederation(identity: IdentityRuntime): Promise<HostPort> {
    const bundleFor = identity.service.trustStore.bundleFor;
    const svid = () => identity.currentGatewaySvid();
    const listener = (this.federation = new FederationListener({
      limits: this.config.limits,
      counters: this.counters,
      log: this.log,
      svid,
      bundleFor,
      onExchange: (exchange, peer) => void this.pipeline.handleFederated(exchange, peer),
      onTunnel: (stream, headers, peer) => void this.tcp.acceptTunnel(stream, headers, peer),
    }));
    identity.onGatewaySvid(() => listener.reloadSvid());
    this.pool = new RemoteGatewayPool({ svid, bundleFor });
    const bound = await listener.listen(this.config.listeners.federation);
    this.log.info({ listener: 'federation', address: formatHostPort(bound), advertised: formatHostPort(advertised(bound)) }, 'listening');
    return bound;
  }

  /**
   * This cluster's services as membership spreads them: endpoint counts from
   * the active checks, requests in flight and the endpoints' latency from the
   * data plane. Sent only when something changed.
   */
  private publishHealth(): void {
    if (!this.membership) return;
    // Compared field by field, not as JSON: with 1,000 services, serialising them all every second showed in profiles.
    let changed = false;
    const now = Date.now();
    const services: Record<string, ReturnType<RouteTable['localHealth']> & { exported: boolean }> = {};
    for (const service of Object.values(this.config.services)) {
      const health = { ...this.routes.localHealth(service, now), exported: service.export, ...(service.drain && { drained: true as const }) };
      services[service.name] = health;
      changed ||= !sameFields(this.lastPublished[service.name], health);
    }
    // A reload may have removed a service: that is a change too.
    changed ||= Object.keys(this.lastPublished).length !== Object.keys(services).length;
    if (!changed) return;
    this.lastPublished = services;
    this.membership.publish(services);
  }

  private endpointForwarder(service: ServiceConfig, address: HostPort): Http1Endpoint | H2cEndpoint {
    const key = endpointKey(service, address);
    let forwarder = this.endpoints.get(key);
    if (!forwarder) {
      forwarder = service.protocol === 'grpc' ? new H2cEndpoint(address, service.timeouts.connectMs) : new Http1Endpoint(address, service.timeouts.connectMs);
      this.endpoints.set(key, forwarder);
    }
    return forwarder;
  }

  private prober(services: readonly ServiceConfig[]): HealthProber {
    return new HealthProber(
      services,
      this.log,
      () => this.healthChanged(),
      (endpoint, result) => this.counters.add('meshgate_health_checks_total', [endpoint, result]),
    );
  }

  /** An endpoint's active check changed: routes see it at once, and so do the other clusters. */
  private healthChanged(): void {
    this.routes.refresh(Date.now(), true);
    this.publishHealth();
  }

  /** A failover decision: kept for /debug/events, logged, and counted. */
  private failoverEvent(event: BalancerEvent): void {
    this.events.add(event);
    this.counters.add('meshgate_failover_events_total', [event.service, event.kind]);
    const fields = { event: event.kind, service: event.service, target: event.target, reason: event.reason };
    if (event.kind === 'failback' || event.kind === 'return') this.log.info(fields, 'failover event');
    else this.log.warn(fields, 'failover event');
  }

  /**
   * Re-reads the config and applies what changed in services (endpoints,
   * health checks, allow lists, failover, timeouts, export) without dropping
   * a connection or a request; other keys are reported as needing a restart
   * and keep their running values. A config that does not load is refused,
   * logged and counted, and the running one stays.
   */
  reload(): Promise<ReloadReport> {
    const next = this.reloading.then(() => this.reloadNow());
    this.reloading = next.catch(() => undefined);
    return next;
  }

  private async reloadNow(): Promise<ReloadReport> {
    let next: GatewayConfig;
    try {
      if (!this.source) throw new Error('this gateway was not started from a config file');
      next = await this.source();
      // Ports first: one that cannot be bound refuses the reload before anything changed.
      this.logTcpListeners(await this.tcpListeners.apply(Object.values(next.services)));
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.counters.add('meshgate_config_reloads_total', 'refused');
      this.log.error({ error: { message: error } }, 'reload refused: the running config stays');
      return { applied: false, error };
    }
    const restartNeeded = RESTART_KEYS.filter((key) => JSON.stringify(this.config[key]) !== JSON.stringify(next[key]));
    const names = new Set([...Object.keys(this.config.services), ...Object.keys(next.services)]);
    const servicesChanged = [...names].filter((name) => JSON.stringify(this.config.services[name]) !== JSON.stringify(next.services[name]));
    const services = Object.values(next.services);
    // The new checks run once before they count, as at start; the old ones serve until then.
    const prober = this.prober(services);
    await prober.start();
    const old = this.health;
    this.health = prober;
    old.stop();
    this.config = { ...this.config, services: next.services };
    this.routes.setServices(services, Date.now());
    this.healthChanged();
    this.closeUnusedEndpoints(services);
    this.counters.add('meshgate_config_reloads_total', 'applied');
    this.log.info({ servicesChanged, restartNeeded }, restartNeeded.length > 0 ? 'reloaded; these keys need a restart and keep their running values' : 'reloaded');
    return { applied: true, servicesChanged, restartNeeded };
  }

  /** Connection pools no service uses any more close once their requests finish (undici's close waits for them). */
  private closeUnusedEndpoints(services: readonly ServiceConfig[]): void {
    const used = new Set(services.flatMap((service) => service.endpoints.map((e) => endpointKey(service, e))));
    for (const [key, endpoint] of this.endpoints) {
      if (used.has(key)) continue;
      this.endpoints.delete(key);
      void endpoint.close().catch(() => undefined);
    }
  }

  /**
   * Stops accepting, waits for in-flight requests up to `timeoutMs`, then
   * closes everything. Resolves true when nothing had to be cut off.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    this.log.info({ inFlight: this.admission.inFlight, tcpConnections: this.tcp.connections, timeoutMs }, 'draining');
    this.join?.stop();
    // Leave first, so peers stop choosing this replica while it finishes its requests.
    await this.membership?.leave().catch((err: Error) => this.log.warn({ error: { message: err.message } }, 'leave failed'));
    this.local.startDrain();
    this.tcpListeners.close();
    this.federation?.startDrain();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.all([this.admission.idle(), this.tcp.idle()]).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!finished) this.log.warn({ inFlight: this.admission.inFlight, tcpConnections: this.tcp.connections }, 'drain timeout: closing remaining requests and connections');
    this.local.destroyAll();
    this.tcp.destroyAll();
    this.federation?.destroyAll();
    this.health.stop();
    clearInterval(this.publishTimer);
    clearInterval(this.routeTimer);
    clearInterval(this.latencyTimer);
    this.pool?.close();
    await Promise.all([...[...this.endpoints.values()].map((e) => e.close()), this.admin.close(), this.identity?.close()]);
    this.log.info({ clean: finished }, 'stopped');
    return finished;
  }
}

const endpointKey = (service: ServiceConfig, address: HostPort): string => `${service.protocol} ${formatHostPort(address)} ${service.timeouts.connectMs}`;

/** Flat records of numbers and booleans: equal when they have the same fields with the same values. */
function sameFields(a: object | undefined, b: object): boolean {
  if (!a) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let fields = 0;
  for (const key in y) {
    if (x[key] !== y[key]) return false;
    fields++;
  }
  for (const _ in x) fields--;
  return fields === 0;
}

/**
 * The federation address other gateways are told: the bound one, unless it is
 * a wildcard, which no peer can dial. Then, like memberlist, the first
 * non-internal IPv4 address of this host (a container's address in compose).
 */
function advertised(bound: HostPort): HostPort {
  if (!isWildcardHost(bound.host)) return bound;
  const addresses = Object.values(os.networkInterfaces()).flat();
  const ipv4 = addresses.find((a) => a && a.family === 'IPv4' && !a.internal);
  return { host: ipv4?.address ?? '127.0.0.1', port: bound.port };
}
