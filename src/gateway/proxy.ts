import type { GatewayConfig, ServiceConfig } from '../config/index.js';
import type { Logger } from '../telemetry/index.js';
import { serviceFromAuthority } from './authority.js';
import type { Counters } from './counters.js';
import { EndpointRotation } from './endpoint-rotation.js';
import { GatewayError, isGatewayError } from './errors.js';
import type { Exchange } from './exchange.js';
import { H2cUpstream } from './upstream-h2c.js';
import { Http1Upstream } from './upstream-http1.js';
import { endpointKey, type Upstream } from './upstream.js';

interface Route {
  readonly service: ServiceConfig;
  readonly endpoints: EndpointRotation;
  readonly upstream: Upstream;
}

/** Routes each local request to one of its service's endpoints and relays the answer. */
export class LocalProxy {
  private readonly routes = new Map<string, Route>();
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    config: GatewayConfig,
    private readonly log: Logger,
    private readonly counters: Counters,
  ) {
    for (const service of Object.values(config.services)) {
      const connectMs = service.timeouts.connectMs;
      this.routes.set(service.name, {
        service,
        endpoints: new EndpointRotation(service.endpoints),
        upstream: service.protocol === 'grpc' ? new H2cUpstream(connectMs) : new Http1Upstream(connectMs),
      });
    }
  }

  /** Requests accepted and not yet answered. */
  get inFlight(): number {
    return this.active;
  }

  async handle(exchange: Exchange): Promise<void> {
    this.active++;
    const { request } = exchange;
    try {
      const route = this.route(request.authority, request.path, request.method);
      const endpoint = route.endpoints.pick();
      if (!endpoint) throw new GatewayError('no-endpoints', `service ${route.service.name} has no endpoints here`);
      const response = await route.upstream.forward(endpoint, request, route.service.timeouts);
      try {
        await exchange.relay(response);
        this.counters.add('meshgate_requests_total', 'relayed');
      } catch (err) {
        response.cancel();
        throw new GatewayError('upstream-reset', `relay from ${endpointKey(endpoint)} broke off`, {}, { cause: err });
      }
    } catch (err) {
      const error = isGatewayError(err)
        ? err
        : new GatewayError('upstream-reset', 'unexpected proxy failure', {}, { cause: err });
      this.counters.add('meshgate_requests_total', request.signal.aborted ? 'client-gone' : error.code);
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

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await Promise.all([...this.routes.values()].map((r) => r.upstream.close()));
  }

  private route(authority: string | undefined, path: string, method: string): Route {
    if (method === 'CONNECT' || !path.startsWith('/')) {
      throw new GatewayError('bad-request', `${method} ${path.slice(0, 100)} is not a request the gateway forwards`);
    }
    const name = serviceFromAuthority(authority);
    if (!name) throw new GatewayError('bad-request', 'the request names no service in Host or :authority');
    const route = this.routes.get(name);
    if (!route) throw new GatewayError('unknown-service', `no service named "${name}"`, { service: name });
    return route;
  }
}
