import type { GatewayConfig, ServiceConfig } from '../../config/index.js';
import { compileSpiffePattern, type SpiffePattern } from '../../identity/index.js';

export type Authorization =
  | { readonly allowed: true; readonly pattern: string }
  | { readonly allowed: false; readonly reason: string };

/** A pattern in `allow` that is not a valid SPIFFE ID pattern: a config error naming the field. */
export class AllowPatternError extends Error {
  override readonly name = 'AllowPatternError';

  constructor(
    /** The config path, e.g. `services.payments.allow[1]`. */
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${path}: ${message}`, options);
  }
}

/**
 * Who may call a service from another cluster: only exported services, and
 * only callers whose SPIFFE ID matches one of the service's `allow` patterns
 * (anchored, `*` within one segment or label). Default deny: an exported
 * service with an empty `allow` admits nobody.
 */
export class ServicePolicy {
  private readonly patterns: readonly SpiffePattern[];

  constructor(private readonly service: ServiceConfig) {
    this.patterns = service.allow.map((pattern, i) => {
      try {
        return compileSpiffePattern(pattern);
      } catch (err) {
        throw new AllowPatternError(`services.${service.name}.allow[${i}]`, (err as Error).message, { cause: err });
      }
    });
  }

  authorize(callerSpiffeId: string): Authorization {
    if (!this.service.export) return { allowed: false, reason: `service ${this.service.name} is not exported` };
    const match = this.patterns.find((p) => p.matches(callerSpiffeId));
    if (match) return { allowed: true, pattern: match.pattern };
    return {
      allowed: false,
      reason: this.patterns.length === 0 ? `service ${this.service.name} allows no caller` : `${callerSpiffeId} matches none of services.${this.service.name}.allow`,
    };
  }
}

/** Compiles every service's `allow` list, so that `meshgate check` catches a bad pattern too. */
export function checkAllowPatterns(config: GatewayConfig): void {
  for (const service of Object.values(config.services)) new ServicePolicy(service);
}
