import { formatHostPort, type GatewayConfig, type IdentityConfig, type LimitsConfig } from '../../config/index.js';
import {
  BundleEndpointServer,
  bundleEndpointSpiffeId,
  gatewaySpiffeId,
  IdentityService,
  loadCaDir,
  WorkloadApiServer,
  type IdentityEvent,
  type X509Svid,
} from '../../identity/index.js';
import type { Logger } from '../../telemetry/index.js';

/**
 * The identity part as the gateway runs it: the identity service on the
 * config's CA, the gateway's own SVID, the Workload API socket and the bundle
 * endpoint, each reloaded in place when material rotates.
 */
export class IdentityRuntime {
  private workloadApi: WorkloadApiServer | undefined;
  private bundleEndpoint: BundleEndpointServer | undefined;
  private readonly unsubscribers: (() => void)[] = [];
  private gatewaySvid!: X509Svid;
  private readonly svidListeners: (() => void)[] = [];

  private constructor(
    readonly service: IdentityService,
    readonly gatewayId: string,
    private readonly identity: IdentityConfig,
    private readonly log: Logger,
    private readonly limits: LimitsConfig,
  ) {}

  static async start(config: GatewayConfig, identity: IdentityConfig, log: Logger): Promise<IdentityRuntime> {
    const upstream = await loadCaDir(identity.ca);
    const service = new IdentityService({
      trustDomain: identity.trustDomain,
      upstream,
      svidTtlMs: identity.svidTtlMs,
      caTtlMs: identity.caTtlMs,
      refreshHintSeconds: Math.max(1, Math.round(identity.bundleRefreshHintMs / 1_000)),
      federation: identity.federation.map((d) => ({
        trustDomain: d.trustDomain,
        ...(d.bundle !== undefined && { bundleFile: d.bundle }),
        ...(d.bundleEndpoint !== undefined &&
          d.endpointSpiffeId !== undefined && { endpoint: { url: d.bundleEndpoint, endpointSpiffeId: d.endpointSpiffeId } }),
      })),
    });
    const runtime = new IdentityRuntime(service, gatewaySpiffeId(identity.trustDomain, config.cluster, config.replica), identity, log, config.limits);
    runtime.unsubscribers.push(service.onChange((event) => runtime.changed(event)));
    await service.start();
    const svid = await service.svid(runtime.gatewayId);
    runtime.gatewaySvid = svid;
    log.info({ spiffeId: svid.spiffeId, notAfter: svid.notAfter.toISOString() }, 'gateway SVID issued');
    await runtime.startServers();
    return runtime;
  }

  private async startServers(): Promise<void> {
    const { identity, service } = this;
    if (identity.workloadApi) {
      this.workloadApi = new WorkloadApiServer({
        socketPath: identity.workloadApi.socket,
        trustDomain: identity.trustDomain,
        source: service,
        entries: identity.workloadApi.entries,
        onError: (err: unknown) => this.log.warn({ error: { message: (err as Error).message } }, 'workload API error'),
        firstCallTimeoutMs: this.limits.headersTimeoutMs,
        idleTimeoutMs: this.limits.idleTimeoutMs,
      });
      await this.workloadApi.start();
      this.log.info({ listener: 'workload-api', address: identity.workloadApi.socket }, 'listening');
    }
    if (identity.bundleEndpoint) {
      const endpointId = bundleEndpointSpiffeId(identity.trustDomain);
      let svid = await service.svid(endpointId);
      this.bundleEndpoint = new BundleEndpointServer({ bundle: () => service.ownBundle(), svid: () => svid }, this.limits);
      const bound = await this.bundleEndpoint.listen(identity.bundleEndpoint.host, identity.bundleEndpoint.port);
      this.log.info({ listener: 'bundle-endpoint', address: formatHostPort(bound), spiffeId: endpointId }, 'listening');
      // Keep the endpoint's TLS material current without dropping connections.
      this.unsubscribers.push(
        service.onChange((event) => {
          if (event.kind !== 'svid-renewed' || event.spiffeId !== endpointId) return;
          service
            .svid(endpointId)
            .then((renewed) => {
              svid = renewed;
              this.bundleEndpoint?.reloadSvid();
            })
            .catch((err: Error) => this.log.warn({ error: { message: err.message } }, 'bundle endpoint SVID reload failed'));
        }),
      );
    }
  }

  /** The gateway's SVID as of now: gossip signs with it, so a renewal applies to the next message. */
  currentGatewaySvid(): X509Svid {
    return this.gatewaySvid;
  }

  /** Called after each renewal of the gateway's SVID, once currentGatewaySvid() returns the new one. */
  onGatewaySvid(listener: () => void): void {
    this.svidListeners.push(listener);
  }

  private changed(event: IdentityEvent): void {
    if (event.kind === 'svid-renewed' && event.spiffeId === this.gatewayId) {
      this.service
        .svid(this.gatewayId)
        .then((svid) => {
          this.gatewaySvid = svid;
          for (const listener of this.svidListeners) listener();
        })
        .catch((err: Error) => this.log.warn({ error: { message: err.message } }, 'gateway SVID reload failed'));
    }
    if (event.kind === 'rotation-failed') this.log.error(event, 'identity');
    else if (event.kind === 'bundle-refresh-failed') this.log.warn(event, 'identity');
    else if (event.kind !== 'bundle-refreshed' || event.trustDomain !== '*') this.log.info(event, 'identity');
  }

  status() {
    return { gatewaySpiffeId: this.gatewayId, ...this.service.status() };
  }

  async close(): Promise<void> {
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    this.service.stop();
    await Promise.all([this.workloadApi?.close(), this.bundleEndpoint?.close()]);
  }
}
