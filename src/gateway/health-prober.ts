import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { request } from 'undici';
import type { HealthCheckConfig, HostPort, ServiceConfig } from '../config/index.js';
import { EndpointHealth, nextCheckAt, type EndpointCheck, type EndpointHealthView } from '../failover/index.js';
import type { Logger } from '../telemetry/index.js';
import { formatHostPort as endpointKey } from '../config/index.js';

const HEALTH_PROTO = fileURLToPath(new URL('./health.proto', import.meta.url));

type HealthClient = grpc.Client & {
  Check(req: { service: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
};
let healthClientConstructor: grpc.ServiceClientConstructor | undefined;

interface Target {
  readonly service: ServiceConfig;
  readonly check: HealthCheckConfig;
  readonly endpoint: string;
  readonly health: EndpointHealth;
  grpcClient?: HealthClient;
  timer?: NodeJS.Timeout;
}

/**
 * Active health checks of this cluster's endpoints: HTTP GET of the
 * service's health path (2xx passes), or grpc.health.v1 Check for gRPC
 * services (SERVING passes). Services without `healthCheck` are not probed
 * and their endpoints count as healthy: the config is then the only truth.
 */
export class HealthProber {
  private readonly targets: Target[] = [];
  /** The router asks per request: service → endpoint key → its target. */
  private readonly byService = new Map<ServiceConfig, Map<string, Target>>();
  private stopped = false;

  constructor(
    services: readonly ServiceConfig[],
    private readonly log: Logger,
    private readonly onChange: () => void,
    private readonly random: () => number = Math.random,
  ) {
    for (const service of services) {
      if (!service.healthCheck) continue;
      for (const endpoint of service.endpoints) {
        const target: Target = { service, check: service.healthCheck, endpoint: endpointKey(endpoint), health: new EndpointHealth(service.healthCheck) };
        this.targets.push(target);
        let index = this.byService.get(service);
        if (!index) this.byService.set(service, (index = new Map()));
        index.set(target.endpoint, target);
      }
    }
  }

  /** Checks every endpoint once now (so health is known before we report it), then keeps checking. */
  async start(): Promise<void> {
    await Promise.all(this.targets.map((t) => this.probe(t)));
  }

  /** The active checks' verdict on one endpoint; without `healthCheck` the config is the only truth. */
  check(service: ServiceConfig, endpoint: HostPort): EndpointCheck {
    if (!service.healthCheck) return { healthy: true, reason: 'no health check configured' };
    const target = this.byService.get(service)?.get(endpointKey(endpoint));
    if (!target) return { healthy: false, reason: 'not checked' };
    const view = target.health.view();
    return { healthy: target.health.healthy, reason: view.reason, ...(view.since !== undefined && { since: view.since }) };
  }

  views(): Record<string, Record<string, EndpointHealthView>> {
    const out: Record<string, Record<string, EndpointHealthView>> = {};
    for (const t of this.targets) (out[t.service.name] ??= {})[t.endpoint] = t.health.view();
    return out;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.targets) {
      clearTimeout(t.timer);
      t.grpcClient?.close();
    }
  }

  private async probe(target: Target): Promise<void> {
    const started = Date.now();
    let passed: boolean;
    let reason: string;
    try {
      reason = target.service.protocol === 'grpc' ? await this.checkGrpc(target) : await this.checkHttp(target);
      passed = true;
    } catch (err) {
      passed = false;
      reason = (err as Error).message;
    }
    if (this.stopped) return;
    if (target.health.record(passed, passed ? `${reason} in ${Date.now() - started} ms` : reason, Date.now())) {
      this.log.info(
        { service: target.service.name, endpoint: target.endpoint, health: target.health.view().state, reason },
        'endpoint health changed',
      );
      this.onChange();
    }
    const delay = nextCheckAt(Date.now(), target.check.intervalMs, this.random) - Date.now();
    target.timer = setTimeout(() => void this.probe(target), delay);
    target.timer.unref();
  }

  private async checkHttp(target: Target): Promise<string> {
    const res = await request(`http://${target.endpoint}${target.check.path}`, {
      method: 'GET',
      headersTimeout: target.check.timeoutMs,
      bodyTimeout: target.check.timeoutMs,
      // Bounds the connect too: an endpoint that never accepts must not stall a check for undici's 10 s.
      signal: AbortSignal.timeout(target.check.timeoutMs),
      headers: { host: target.service.name, 'user-agent': 'meshgate-health' },
    }).catch((err: Error & { code?: string }) => {
      throw new Error(`${err.code ?? 'error'}: ${err.message}`);
    });
    await res.body.dump();
    if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`status ${res.statusCode}`);
    return `status ${res.statusCode}`;
  }

  private checkGrpc(target: Target): Promise<string> {
    healthClientConstructor ??= (
      grpc.loadPackageDefinition(protoLoader.loadSync(HEALTH_PROTO, { keepCase: true, enums: String })) as unknown as {
        grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
      }
    ).grpc.health.v1.Health;
    target.grpcClient ??= new healthClientConstructor(target.endpoint, grpc.credentials.createInsecure()) as unknown as HealthClient;
    const client = target.grpcClient;
    return new Promise((resolve, reject) => {
      client.Check({ service: '' }, { deadline: Date.now() + target.check.timeoutMs }, (err, res) => {
        if (err) return reject(new Error(`grpc ${grpc.status[err.code]}: ${err.details}`));
        if (res?.status !== 'SERVING') return reject(new Error(`grpc health ${res?.status ?? 'UNKNOWN'}`));
        resolve('SERVING');
      });
    });
  }
}
