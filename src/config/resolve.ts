/**
 * From what the file says to what the program uses: defaults filled in from
 * defaults.ts, and relative paths made absolute against the config file's
 * folder, so that `meshgate run` behaves the same from any working directory.
 */
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { DEFAULTS } from './defaults.js';
import type { ConfigIssue } from './errors.js';
import { deepFreeze } from './freeze.js';
import type { RawConfig } from './schema.js';
import type {
  FederatedDomainConfig,
  GatewayConfig,
  HealthCheckConfig,
  IdentityConfig,
  ServiceConfig,
} from './types.js';

/**
 * sun_path holds 108 bytes on Linux and 104 on macOS, NUL included; a longer
 * socket path fails at listen() with a bare EINVAL.
 */
const MAX_SOCKET_PATH_BYTES = process.platform === 'darwin' ? 103 : 107;

export interface Resolved {
  readonly config: GatewayConfig;
  readonly issues: readonly ConfigIssue[];
}

export function resolveConfig(raw: RawConfig, baseDir: string): Resolved {
  const issues: ConfigIssue[] = [];
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));

  let identity: IdentityConfig | undefined;
  if (raw.identity) {
    const idn = raw.identity;
    let workloadApi: IdentityConfig['workloadApi'];
    if (idn.workloadApi) {
      const socket = abs(idn.workloadApi.socket);
      const bytes = Buffer.byteLength(socket);
      if (bytes > MAX_SOCKET_PATH_BYTES) {
        issues.push({
          path: 'identity.workloadApi.socket',
          message: `${JSON.stringify(socket)} is ${bytes} bytes long; Unix socket paths may have at most ${MAX_SOCKET_PATH_BYTES}`,
        });
      }
      workloadApi = {
        socket,
        entries: (idn.workloadApi.entries ?? []).map((e) => ({ spiffeId: e.spiffeId.id, selectors: e.selectors })),
      };
    }
    identity = {
      trustDomain: idn.trustDomain,
      ca: abs(idn.ca),
      federation: (idn.federation ?? []).map(
        (d): FederatedDomainConfig => ({
          trustDomain: d.trustDomain,
          ...(d.bundle !== undefined && { bundle: abs(d.bundle) }),
          ...(d.bundleEndpoint !== undefined && { bundleEndpoint: d.bundleEndpoint }),
          ...(d.endpointSpiffeId !== undefined && { endpointSpiffeId: d.endpointSpiffeId.id }),
        }),
      ),
      ...(workloadApi && { workloadApi }),
      ...(idn.bundleEndpoint && { bundleEndpoint: idn.bundleEndpoint }),
      svidTtlMs: idn.svidTtl ?? DEFAULTS.identity.svidTtlMs,
      caTtlMs: idn.caTtl ?? DEFAULTS.identity.caTtlMs,
      bundleRefreshHintMs: idn.bundleRefreshHint ?? DEFAULTS.identity.bundleRefreshHintMs,
    };
  }

  const services: Record<string, ServiceConfig> = {};
  for (const [name, s] of Object.entries(raw.services ?? {})) {
    const d = DEFAULTS.service;
    services[name] = {
      name,
      protocol: s.protocol ?? d.protocol,
      endpoints: s.endpoints ?? [],
      ...(s.healthCheck && { healthCheck: resolveHealthCheck(s.healthCheck) }),
      export: s.export ?? d.export,
      allow: s.allow ?? d.allow,
      failover: {
        overprovisioning: s.failover?.overprovisioning ?? d.failover.overprovisioning,
        order: s.failover?.order ?? d.failover.order,
        retryOn: s.failover?.retryOn ?? d.failover.retryOn,
        allowPinning: s.failover?.allowPinning ?? d.failover.allowPinning,
        ...(s.failover?.weights && { weights: s.failover.weights }),
      },
      timeouts: {
        connectMs: s.timeouts?.connect ?? d.timeouts.connectMs,
        perTryMs: s.timeouts?.perTry ?? d.timeouts.perTryMs,
        requestMs: s.timeouts?.request ?? d.timeouts.requestMs,
      },
      drain: s.drain ?? raw.drain ?? false,
      ...(s.protocol === 'tcp' && s.listen && { tcp: { listen: s.listen, idleMs: s.timeouts?.idle ?? d.tcpIdleMs } }),
    };
  }

  const config: GatewayConfig = {
    federation: raw.federation,
    cluster: raw.cluster,
    replica: raw.replica ?? defaultReplica(),
    ...(raw.region !== undefined && { region: raw.region }),
    ...(raw.zone !== undefined && { zone: raw.zone }),
    drain: raw.drain ?? false,
    ...(raw.nats && { nats: { servers: raw.nats.servers } }),
    ...(identity && { identity }),
    listeners: {
      local: raw.listeners?.local ?? DEFAULTS.listeners.local,
      federation: raw.listeners?.federation ?? DEFAULTS.listeners.federation,
      admin: raw.listeners?.admin ?? DEFAULTS.listeners.admin,
    },
    limits: {
      maxHeaderBytes: raw.limits?.maxHeaderBytes ?? DEFAULTS.limits.maxHeaderBytes,
      headersTimeoutMs: raw.limits?.headersTimeout ?? DEFAULTS.limits.headersTimeoutMs,
      drainTimeoutMs: raw.limits?.drainTimeout ?? DEFAULTS.limits.drainTimeoutMs,
      idleTimeoutMs: raw.limits?.idleTimeout ?? DEFAULTS.limits.idleTimeoutMs,
      maxConcurrentStreams: raw.limits?.maxConcurrentStreams ?? DEFAULTS.limits.maxConcurrentStreams,
      maxInFlightPerService: raw.limits?.maxInFlightPerService ?? DEFAULTS.limits.maxInFlightPerService,
      maxInFlightPerTarget: raw.limits?.maxInFlightPerTarget ?? DEFAULTS.limits.maxInFlightPerTarget,
    },
    telemetry: {
      ...(raw.telemetry?.otlpEndpoint !== undefined && { otlpEndpoint: raw.telemetry.otlpEndpoint }),
      traceSampling: raw.telemetry?.traceSampling ?? DEFAULTS.telemetry.traceSampling,
      logLevel: raw.telemetry?.logLevel ?? DEFAULTS.telemetry.logLevel,
    },
    services,
  };
  return { config: deepFreeze(config), issues };
}

function resolveHealthCheck(h: NonNullable<NonNullable<RawConfig['services']>[string]['healthCheck']>): HealthCheckConfig {
  const d = DEFAULTS.service.healthCheck;
  return {
    path: h.path ?? d.path,
    intervalMs: h.interval ?? d.intervalMs,
    timeoutMs: h.timeout ?? d.timeoutMs,
    healthyThreshold: h.healthyThreshold ?? d.healthyThreshold,
    unhealthyThreshold: h.unhealthyThreshold ?? d.unhealthyThreshold,
  };
}

/** The host name, made a valid token: one replica per host is the common case. */
function defaultReplica(): string {
  return hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 63) || 'replica';
}
