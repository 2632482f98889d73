import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { formatHostPort, type GatewayConfig } from '../../config/index.js';
import {
  DEFAULT_MEMBERSHIP_CONFIG,
  EnvelopeSigner,
  EnvelopeVerifier,
  Membership,
  NatsTransport,
  parseMemberId,
  realTimeSchedule,
  type InitialSync,
  type MemberState,
  type MembershipEvent,
  type ServiceView,
  type ServiceHealth,
  type TrustBundleJson,
} from '../../membership/index.js';
import { gatewaySpiffeId, parseSpiffeBundle, serializeSpiffeBundle } from '../../identity/index.js';
import type { Logger } from '../../telemetry/index.js';
import type { RemoteCluster } from '../../failover/index.js';
import type { IdentityRuntime } from './identity-runtime.js';
import type { RemoteGateway } from '../outbound/remote-gateways.js';

const clock = { now: () => Date.now() };

/**
 * How long the router reuses one snapshot of members and service health.
 * Building them walks every member and record; per request that was the
 * busiest thing a gateway did after I/O. Gossip moves slower than this anyway.
 */
const ROUTING_VIEW_TTL_MS = 100;

/**
 * How long a joining gateway waits for a peer to answer its first sync
 * before it takes itself to be alone and becomes ready: time for its join
 * to be announced three times (at 0, 0.5 and 1.5 s) and answered.
 */
const INITIAL_SYNC_TIMEOUT_MS = 3_000;

/** Gossip refused or not sent is logged at most this often per reason. */
const LOG_EVERY_MS = 10_000;

/**
 * Membership as the gateway runs it: gossip over the config's NATS, signed
 * with the gateway's SVID and checked against the federated bundles.
 */
export class MembershipRuntime {
  private routingView: { readonly at: number; readonly services: ServiceView; readonly members: readonly MemberState[] } | undefined;
  private readonly logged = new Map<string, { at: number; suppressed: number }>();
  private suspicions = 0;

  private constructor(
    readonly membership: Membership,
    private readonly cluster: string,
    private readonly log: Logger,
    private readonly lag: IntervalHistogram,
    private readonly initialSyncTimeoutMs: number,
  ) {}

  static async start(config: GatewayConfig, identity: IdentityRuntime, federationAddr: string, log: Logger): Promise<MembershipRuntime> {
    if (!config.nats || !config.identity) throw new Error('membership needs nats and identity');
    const memberId = `${config.cluster}.${config.replica}`;
    const transport = await NatsTransport.connect({ servers: [...config.nats.servers], federation: config.federation, memberId });
    const trustDomain = config.identity.trustDomain;
    const d = DEFAULT_MEMBERSHIP_CONFIG;
    const lag = monitorEventLoopDelay({ resolution: 20 });
    lag.enable();
    let runtime: MembershipRuntime | undefined;
    const membership = new Membership({
      self: {
        id: memberId,
        cluster: config.cluster,
        ...(config.region !== undefined && { region: config.region }),
        ...(config.zone !== undefined && { zone: config.zone }),
        trustDomain,
        federationAddr,
        adminAddr: formatHostPort(config.listeners.admin),
      },
      transport,
      signer: new EnvelopeSigner({ svid: () => identity.currentGatewaySvid(), from: memberId }),
      verifier: new EnvelopeVerifier({
        bundleFor: identity.service.trustStore.bundleFor,
        clock,
        // Config names no other cluster's trust domain; Membership binds each other cluster to the first one its gateways present.
        trustDomainOfCluster: (cluster) => (cluster === config.cluster ? trustDomain : undefined),
      }),
      clock,
      schedule: realTimeSchedule,
      random: Math.random,
      config: {
        ...d,
        initialSyncTimeoutMs: INITIAL_SYNC_TIMEOUT_MS,
      },
      eventLoopLag: () => {
        const worstMs = lag.max / 1e6;
        lag.reset();
        return worstMs;
      },
      bundles: {
        own: () => ({ trustDomain, json: serializeSpiffeBundle(identity.service.ownBundle()) }),
        accept: (bundle) => runtime?.acceptBundle(identity, bundle),
      },
      onEvent: (event) => runtime?.logEvent(event),
    });
    runtime = new MembershipRuntime(membership, config.cluster, log, lag, INITIAL_SYNC_TIMEOUT_MS);
    try {
      await membership.start();
    } catch (err) {
      // The next attempt makes its own connection; this one must not linger.
      lag.disable();
      await membership.stop().catch(() => undefined);
      await transport.close().catch(() => undefined);
      throw err;
    }
    // A signing-CA step changes our bundle: tell every federated gateway now.
    identity.service.onChange((event) => {
      if (event.kind.startsWith('ca-')) void membership.announceBundle();
    });
    log.info({ memberId, servers: config.nats.servers }, 'membership started');
    return runtime;
  }

  /** Resolves once the first membership sync is in (see Membership.initialSync). */
  initialSync(): Promise<InitialSync> {
    return this.membership.initialSync();
  }

  /** Why /ready must wait for membership: nothing once the first sync is in. */
  notReadyReasons(): string[] {
    if (this.membership.initialSyncState()) return [];
    return [`membership-sync: waiting for a peer to answer the first push-pull (at most ${this.initialSyncTimeoutMs} ms when none does)`];
  }

  publish(services: Readonly<Record<string, ServiceHealth>>): void {
    this.membership.setLocalServices(services).catch((err: Error) => this.log.warn({ error: { message: err.message } }, 'health publish failed'));
  }

  /** Other clusters' health for one service, with the gateway replicas that could carry a request. */
  remotes(service: string): RemoteCluster[] {
    const { services, members } = this.view();
    const clusters = services.get(service);
    if (!clusters) return [];
    const out: RemoteCluster[] = [];
    for (const [cluster, health] of clusters) {
      if (cluster === this.cluster) continue;
      const region = members.find((m) => m.cluster === cluster && m.region !== undefined)?.region;
      const replicas = this.routable(members, cluster).map((m) => m.id);
      out.push({
        cluster,
        ...(region !== undefined && { region }),
        exported: health.exported,
        drained: health.drained,
        healthy: health.healthy,
        total: health.total,
        stale: health.stale,
        ageMs: health.ageMs,
        replicas,
      });
    }
    return out;
  }

  /**
   * A gateway replica that may take requests: alive or only suspected (a
   * gossip hiccup is not a data-plane failure), with where to dial it and
   * the SPIFFE ID its certificate must prove.
   */
  gateway(memberId: string): RemoteGateway | undefined {
    const m = this.view().members.find((x) => x.id === memberId);
    if (!m || !(m.status === 'alive' || m.status === 'suspect')) return undefined;
    return { memberId: m.id, cluster: m.cluster, address: m.federationAddr, spiffeId: gatewaySpiffeId(m.trustDomain, m.cluster, parseMemberId(m.id).replica) };
  }

  private view() {
    const now = Date.now();
    if (!this.routingView || now - this.routingView.at >= ROUTING_VIEW_TTL_MS) {
      this.routingView = { at: now, services: this.membership.services(), members: this.membership.memberStates() };
    }
    return this.routingView;
  }

  private routable(members: readonly MemberState[], cluster: string): MemberState[] {
    return members
      .filter((m) => m.cluster === cluster && (m.status === 'alive' || m.status === 'suspect') && !m.federationAddr.endsWith(':0'))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** /debug/members */
  members() {
    return {
      self: this.membership.id,
      members: this.membership.members(),
      dropped: this.membership.droppedMessages(),
      unsent: this.membership.unsentMessages(),
      initialSync: this.membership.initialSyncState() ?? 'pending',
    };
  }

  /** Gossip and membership counts for metrics; suspicions are those this gateway heard of or raised. */
  counts() {
    return { ...this.membership.counts(), suspicions: this.suspicions, unsent: this.membership.unsentMessages(), dropped: this.membership.droppedMessages() };
  }

  /** /debug/services: per service, per cluster. */
  services() {
    const out: Record<string, Record<string, unknown>> = {};
    for (const [service, clusters] of this.membership.services()) {
      out[service] = Object.fromEntries(clusters);
    }
    return { services: out };
  }

  async leave(): Promise<void> {
    await this.membership.leave();
    this.lag.disable();
  }

  /** A federated domain's bundle heard over gossip: a second source beside files and bundle endpoints. */
  private acceptBundle(identity: IdentityRuntime, bundle: TrustBundleJson): void {
    const store = identity.service.trustStore;
    // Never our own domain, and only domains we federate with.
    if (bundle.trustDomain === identity.service.trustDomain || !store.get(bundle.trustDomain)) return;
    try {
      if (store.set(parseSpiffeBundle(bundle.json, bundle.trustDomain), 'gossip')) {
        this.log.debug({ trustDomain: bundle.trustDomain }, 'bundle updated from gossip');
      }
    } catch (err) {
      this.log.warn({ trustDomain: bundle.trustDomain, error: { message: (err as Error).message } }, 'bad bundle in gossip');
    }
  }

  private logEvent(event: MembershipEvent): void {
    if (event.kind === 'member' && event.update.kind === 'suspect') this.suspicions++;
    if (event.kind === 'member') this.log.info({ update: event.update }, 'membership change');
    else if (event.kind === 'dropped') {
      // Every refused message is a line with its reason; a flood of one kind is summed up, not repeated.
      this.logLimited(`dropped ${event.reason}`, { reason: event.reason, ...(event.detail !== undefined && { detail: event.detail }) }, 'gossip message refused');
    } else if (event.kind === 'unsent') {
      const fields = { reason: event.reason, message: event.message, bytes: event.bytes, error: { message: event.detail } };
      this.logLimited(`unsent ${event.reason}`, fields, 'gossip message not sent');
    } else this.log.warn({ status: event.status }, 'gossip transport');
  }

  /** A warn line per key at most every LOG_EVERY_MS, saying how many were not logged since the last. */
  private logLimited(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const last = this.logged.get(key);
    if (last && now - last.at < LOG_EVERY_MS) {
      last.suppressed++;
      return;
    }
    this.logged.set(key, { at: now, suppressed: 0 });
    this.log.warn({ ...fields, ...(last && { suppressed: last.suppressed }) }, msg);
  }
}
