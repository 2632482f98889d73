import { ConfigError, type ConfigIssue, type GatewayConfig, type ServiceConfig } from '../../config/index.js';
import { compileSpiffePattern, type SpiffePattern } from '../../identity/index.js';

export type Authorization =
  | { readonly allowed: true; readonly pattern: string }
  | { readonly allowed: false; readonly reason: string };

/**
 * Who may call a service from another cluster: only exported services, and
 * only callers whose SPIFFE ID matches one of the service's `allow` patterns
 * (anchored, `*` within one segment or label). Default deny: an exported
 * service with an empty `allow` admits nobody.
 */
export class ServicePolicy {
  private readonly patterns: readonly SpiffePattern[];

  /** Throws a ConfigError naming each bad pattern (`source` labels the config, as in loadConfig). */
  constructor(
    private readonly service: ServiceConfig,
    source = 'config',
  ) {
    const { patterns, issues } = compileAllow(service);
    if (issues.length > 0) throw new ConfigError(source, issues);
    this.patterns = patterns;
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

/**
 * Compiles every service's `allow` list, so that `meshgate check` catches a
 * bad pattern too: config's schema cannot judge SPIFFE patterns (config
 * imports nothing of ours), identity's rules do. Throws one ConfigError
 * listing every bad pattern.
 */
export function checkAllowPatterns(config: GatewayConfig, source: string): void {
  const issues = Object.values(config.services).flatMap((service) => compileAllow(service).issues);
  if (issues.length > 0) throw new ConfigError(source, issues);
}

function compileAllow(service: ServiceConfig): { patterns: SpiffePattern[]; issues: ConfigIssue[] } {
  const patterns: SpiffePattern[] = [];
  const issues: ConfigIssue[] = [];
  service.allow.forEach((pattern, i) => {
    try {
      patterns.push(compileSpiffePattern(pattern));
    } catch (err) {
      issues.push({ path: `services.${service.name}.allow[${i}]`, message: (err as Error).message });
    }
  });
  return { patterns, issues };
}
