/**
 * Which active checks to run: one per distinct (endpoint, check definition).
 * Services that list the same endpoint with the same check share one probe
 * and its verdict, so 1,000 services on 20 backends cost 20 probes, not
 * 10,000. Pure: names in, a plan out.
 */

/** A check as the prober runs it; `path` means nothing for gRPC (grpc.health.v1 Check) or TCP (a connect). */
export interface ProbeCheck {
  readonly protocol: 'http' | 'grpc' | 'tcp';
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

/** One service's wish to have one of its endpoints checked. */
export interface CheckRequest {
  readonly service: string;
  /** "host:port" */
  readonly endpoint: string;
  readonly check: ProbeCheck;
}

export interface PlannedProbe {
  readonly key: string;
  readonly endpoint: string;
  readonly check: ProbeCheck;
  /** The services whose verdict this probe gives, in config order. */
  readonly services: readonly string[];
}

export interface ProbePlan {
  /** In the order first asked for, so a schedule built from it is reproducible. */
  readonly probes: readonly PlannedProbe[];
  /** service → endpoint → probe key */
  readonly byService: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

/**
 * The identity of a probe. Every field of the check is part of it: two
 * services that differ only in thresholds would otherwise have to share a
 * verdict one of them did not ask for.
 */
export function probeKey(endpoint: string, check: ProbeCheck): string {
  const what = check.protocol === 'http' ? `http ${check.path}` : check.protocol;
  return `${what} ${endpoint} every ${check.intervalMs} ms, timeout ${check.timeoutMs} ms, ${check.healthyThreshold}/${check.unhealthyThreshold}`;
}

export function planProbes(requests: Iterable<CheckRequest>): ProbePlan {
  const probes = new Map<string, { key: string; endpoint: string; check: ProbeCheck; services: string[] }>();
  const byService = new Map<string, Map<string, string>>();
  for (const { service, endpoint, check } of requests) {
    let endpoints = byService.get(service);
    if (!endpoints) byService.set(service, (endpoints = new Map()));
    // A service that lists an endpoint twice still asks for one probe of it.
    if (endpoints.has(endpoint)) continue;
    const key = probeKey(endpoint, check);
    endpoints.set(endpoint, key);
    let probe = probes.get(key);
    if (!probe) probes.set(key, (probe = { key, endpoint, check, services: [] }));
    probe.services.push(service);
  }
  return { probes: [...probes.values()], byService };
}
