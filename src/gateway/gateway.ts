import type { GatewayConfig, HostPort } from '../config/index.js';
import type { Logger } from '../telemetry/index.js';
import { AdminServer } from './admin.js';
import { HealthProber } from './health-prober.js';
import { IdentityRuntime } from './identity-runtime.js';
import { MembershipRuntime } from './membership-runtime.js';
import { Counters, GATEWAY_COUNTERS } from './counters.js';
import { LocalListener } from './local-listener.js';
import { LocalProxy } from './proxy.js';
import { endpointKey } from './upstream.js';

export interface BoundAddresses {
  readonly local: HostPort;
  readonly admin: HostPort;
}

/** One gateway replica: its listeners, its proxy, and their orderly shutdown. */
export class Gateway {
  private readonly counters = new Counters(GATEWAY_COUNTERS);
  private readonly proxy: LocalProxy;
  private readonly local: LocalListener;
  private readonly admin: AdminServer;
  private identity: IdentityRuntime | undefined;
  private readonly health: HealthProber;
  private membership: MembershipRuntime | undefined;
  private bound = false;
  private draining = false;

  constructor(
    private readonly config: GatewayConfig,
    private readonly log: Logger,
  ) {
    this.proxy = new LocalProxy(config, log, this.counters);
    this.health = new HealthProber(Object.values(config.services), log, () => this.publishHealth());
    this.local = new LocalListener(config.limits, this.counters, (exchange) => void this.proxy.handle(exchange));
    this.admin = new AdminServer({
      notReadyReasons: () => [...(this.bound ? [] : ['starting']), ...(this.draining ? ['draining'] : [])],
      metrics: () => this.counters.toPrometheus(),
      debug: {
        identity: () => this.identity?.status() ?? { configured: false },
        endpoints: () => this.health.views(),
        members: () => this.membership?.members() ?? { configured: false },
        services: () => this.membership?.services() ?? { configured: false },
      },
    });
  }

  /** Binds first, joins the federation last: peers should hear of us only once we can serve. */
  async start(): Promise<BoundAddresses> {
    const local = await this.local.listen(this.config.listeners.local);
    this.log.info({ listener: 'local', address: endpointKey(local) }, 'listening');
    const admin = await this.admin.listen(this.config.listeners.admin);
    this.log.info({ listener: 'admin', address: endpointKey(admin) }, 'listening');
    if (this.config.identity) this.identity = await IdentityRuntime.start(this.config, this.config.identity, this.log);
    await this.health.start();
    if (this.config.nats && this.identity) {
      this.membership = await MembershipRuntime.start(this.config, this.identity, this.log);
      this.publishHealth();
    }
    this.bound = true;
    this.log.info({ services: Object.keys(this.config.services) }, 'ready');
    return { local, admin };
  }

  /** This cluster's services as membership spreads them: endpoint counts from the active checks. */
  private publishHealth(): void {
    if (!this.membership) return;
    const services = Object.fromEntries(
      Object.values(this.config.services).map((service) => [
        service.name,
        { ...this.health.counts(service), inFlight: 0, exported: service.export },
      ]),
    );
    this.membership.publish(services);
  }

  /**
   * Stops accepting, waits for in-flight requests up to `timeoutMs`, then
   * closes everything. Resolves true when nothing had to be cut off.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    this.log.info({ inFlight: this.proxy.inFlight, timeoutMs }, 'draining');
    // Leave first, so peers stop choosing this replica while it finishes its requests.
    await this.membership?.leave().catch((err: Error) => this.log.warn({ error: { message: err.message } }, 'leave failed'));
    this.local.startDrain();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.proxy.idle().then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!finished) this.log.warn({ inFlight: this.proxy.inFlight }, 'drain timeout: closing remaining requests');
    this.local.destroyAll();
    this.health.stop();
    await Promise.all([this.proxy.close(), this.admin.close(), this.identity?.close()]);
    this.log.info({ clean: finished }, 'stopped');
    return finished;
  }
}
