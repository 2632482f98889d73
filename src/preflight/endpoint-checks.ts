import { formatHostPort, type ServiceConfig } from '../config/index.js';
import { probeEndpointOnce } from '../gateway/index.js';
import { failed, passed, skipped, type CheckResult } from './result.js';
import type { PlannedCheck } from './runner.js';

const checkLabel = (service: ServiceConfig): string =>
  service.protocol === 'grpc' ? 'grpc.health.v1' : service.protocol === 'tcp' ? 'tcp connect' : `GET ${service.healthCheck?.path ?? ''}`;

/** One check per endpoint of every service with a `healthCheck`: the gateway's own probe, once, with the service's timeout. */
export function endpointChecks(services: readonly ServiceConfig[]): PlannedCheck[] {
  return services.flatMap((service) => {
    const hc = service.healthCheck;
    if (!hc) return [];
    return service.endpoints.map((hostPort): PlannedCheck => {
      const endpoint = formatHostPort(hostPort);
      const name = `endpoint ${service.name} ${endpoint}`;
      return {
        name,
        run: async () => {
          const outcome = await probeEndpointOnce(endpoint, { protocol: service.protocol, path: hc.path, timeoutMs: hc.timeoutMs });
          const what = `${checkLabel(service)}: ${outcome.reason}`;
          return outcome.ok
            ? passed(name, what)
            : failed(name, what, `make it pass its health check or take it out of services.${service.name}.endpoints; the gateway sends it no traffic while it fails`);
        },
      };
    });
  });
}

/** Services whose endpoints the config gives no check for: said once, so an operator knows what was not looked at. */
export function uncheckedServices(services: readonly ServiceConfig[]): CheckResult | undefined {
  const names = services.filter((s) => !s.healthCheck && s.endpoints.length > 0).map((s) => s.name);
  if (names.length === 0) return undefined;
  const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  return skipped('endpoints without a health check', `${shown}: not probed here nor by the gateway (add healthCheck to have them probed)`);
}
