import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { GatewayConfig } from '../config/index.js';
import { DEFAULTS } from '../config/index.js';
import {
  EnvelopeSigner,
  EnvelopeVerifier,
  Membership,
  NatsTransport,
  realTimeSchedule,
  type MembershipEvent,
  type ServiceHealth,
  type TrustBundleJson,
} from '../membership/index.js';
import { parseSpiffeBundle, serializeSpiffeBundle } from '../identity/index.js';
import type { Logger } from '../telemetry/index.js';
import type { IdentityRuntime } from './identity-runtime.js';
import { endpointKey } from './upstream.js';

const clock = { now: () => Date.now() };

/**
 * Membership as the gateway runs it: gossip over the config's NATS, signed
 * with the gateway's SVID and checked against the federated bundles.
 */
export class MembershipRuntime {
  private constructor(
    readonly membership: Membership,
    private readonly log: Logger,
    private readonly lag: IntervalHistogram,
  ) {}

  static async start(config: GatewayConfig, identity: IdentityRuntime, log: Logger): Promise<MembershipRuntime> {
    if (!config.nats || !config.identity) throw new Error('membership needs nats and identity');
    const memberId = `${config.cluster}.${config.replica}`;
    const transport = await NatsTransport.connect({ servers: [...config.nats.servers], federation: config.federation, memberId });
    const trustDomain = config.identity.trustDomain;
    const d = DEFAULTS.membership;
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
        federationAddr: endpointKey(config.listeners.federation),
        adminAddr: endpointKey(config.listeners.admin),
      },
      transport,
      signer: new EnvelopeSigner({ svid: () => identity.currentGatewaySvid(), from: memberId }),
      verifier: new EnvelopeVerifier({
        bundleFor: identity.service.trustStore.bundleFor,
        clock,
        // Only our own cluster's trust domain is known for sure; see the closing note.
        trustDomainOfCluster: (cluster) => (cluster === config.cluster ? trustDomain : undefined),
      }),
      clock,
      schedule: realTimeSchedule,
      random: Math.random,
      config: {
        probeIntervalMs: d.probeIntervalMs,
        probeTimeoutMs: d.probeTimeoutMs,
        indirectChecks: d.indirectProbes,
        pushPullIntervalMs: d.pushPullIntervalMs,
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
    runtime = new MembershipRuntime(membership, log, lag);
    await membership.start();
    // A signing-CA step changes our bundle: tell every federated gateway now.
    identity.service.onChange((event) => {
      if (event.kind.startsWith('ca-')) void membership.announceBundle();
    });
    log.info({ memberId, servers: config.nats.servers }, 'membership started');
    return runtime;
  }

  publish(services: Readonly<Record<string, ServiceHealth>>): void {
    this.membership.setLocalServices(services).catch((err: Error) => this.log.warn({ error: { message: err.message } }, 'health publish failed'));
  }

  /** /debug/members */
  members() {
    return { self: this.membership.id, members: this.membership.members(), dropped: this.membership.droppedMessages() };
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
    if (event.kind === 'member') this.log.info({ update: event.update }, 'membership change');
    else if (event.kind === 'dropped') this.log.debug({ reason: event.reason, detail: event.detail }, 'gossip message dropped');
    else this.log.warn({ status: event.status }, 'gossip transport');
  }
}
