import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import { formatHostPort, type HostPort, type ServiceConfig } from '../../config/index.js';
import {
  EndpointHealth,
  MAX_PROBE_STRETCH,
  planProbes,
  ProbeSchedule,
  probeTimeout,
  type CheckRequest,
  type EndpointCheck,
  type EndpointHealthView,
  type PlannedProbe,
} from '../../failover/index.js';
import type { Logger } from '../../telemetry/index.js';
import { createHealthClient, probeGrpc, probeHttp, probeTcp, type HealthClient } from './endpoint-probe.js';
import { LoopStallMeter } from './loop-stall-meter.js';

/** Probes running at once; more due at the same moment wait their turn. */
const MAX_PROBES_IN_FLIGHT = 32;

interface Probe {
  readonly plan: PlannedProbe;
  readonly health: EndpointHealth;
  /** What check() answers, replaced on every result: the router asks per request and per endpoint. */
  verdict: EndpointCheck;
  /** A probe still running when its next slot comes is not started twice. */
  running: boolean;
}

type Outcome = { readonly kind: 'pass' | 'fail' | 'inconclusive'; readonly reason: string };

/**
 * Active health checks of this cluster's endpoints: HTTP GET of the
 * service's health path (2xx passes), grpc.health.v1 Check for gRPC
 * services (SERVING passes), or a TCP connect for TCP services (an accepted
 * connection passes, as Envoy's and Consul's TCP checks). One probe per distinct (endpoint, check): the
 * services that share both share its verdict. Probes are spread over their
 * interval, at most MAX_PROBES_IN_FLIGHT at a time, over one kept-alive
 * connection per endpoint. Services without `healthCheck` are not probed
 * and their endpoints count as healthy: the config is then the only truth.
 */
export class HealthProber {
  private readonly probes = new Map<string, Probe>();
  /** service → endpoint key → its probe */
  private readonly byService = new Map<ServiceConfig, Map<string, Probe>>();
  /** The same by the config's own endpoint objects, which is what the router passes: no key to build per call. */
  private readonly byEndpoint = new Map<ServiceConfig, Map<HostPort, Probe>>();
  private readonly grpcClients = new Map<string, HealthClient>();
  private readonly agent: Agent;
  private readonly stall = new LoopStallMeter();
  private schedule: ProbeSchedule | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private stopped = false;

  constructor(
    services: readonly ServiceConfig[],
    private readonly log: Logger,
    private readonly onChange: () => void,
    /** Hears every check's result, by endpoint: pass, fail or inconclusive. */
    private readonly onResult: (endpoint: string, result: Outcome['kind']) => void = () => {},
    private readonly random: () => number = Math.random,
  ) {
    const checked = services.filter((s) => s.healthCheck);
    const plan = planProbes(checkRequests(checked));
    for (const p of plan.probes) {
      const health = new EndpointHealth(p.check);
      this.probes.set(p.key, { plan: p, health, verdict: verdictOf(health), running: false });
    }
    for (const service of checked) {
      const keys = plan.byService.get(service.name);
      const byKey = new Map<string, Probe>();
      for (const [endpoint, key] of keys ?? []) byKey.set(endpoint, this.probes.get(key) as Probe);
      this.byService.set(service, byKey);
      this.byEndpoint.set(service, new Map(service.endpoints.map((e) => [e, byKey.get(formatHostPort(e)) as Probe])));
    }
    const checks = plan.probes.map((p) => p.check);
    const longestInterval = Math.max(0, ...checks.map((c) => c.intervalMs));
    const longestTimeout = Math.max(0, ...checks.map((c) => c.timeoutMs));
    // One connection per endpoint, kept between probes. An endpoint's own
    // `Keep-Alive: timeout=` hint wins (undici closes before it would); without
    // one, keep it past the next probe.
    this.agent = new Agent({
      connections: 1,
      pipelining: 1,
      keepAliveTimeout: Math.max(4_000, 2 * longestInterval),
      connect: { timeout: MAX_PROBE_STRETCH * longestTimeout || 10_000 },
    });
  }

  /** Checks every endpoint once now (so health is known before we report it), then keeps checking. */
  async start(): Promise<void> {
    await Promise.all([...this.probes.values()].map((p) => this.run(p)));
    if (this.stopped) return;
    const probes = [...this.probes.values()].map((p) => ({ key: p.plan.key, intervalMs: p.plan.check.intervalMs }));
    this.schedule = new ProbeSchedule(probes, performance.now(), this.random);
    this.arm();
  }

  /** The active checks' verdict on one endpoint; without `healthCheck` the config is the only truth. */
  check(service: ServiceConfig, endpoint: HostPort): EndpointCheck {
    if (!service.healthCheck) return UNCHECKED;
    const probe = this.byEndpoint.get(service)?.get(endpoint) ?? this.byService.get(service)?.get(formatHostPort(endpoint));
    return probe?.verdict ?? NOT_CHECKED;
  }

  views(): Record<string, Record<string, EndpointHealthView>> {
    const out: Record<string, Record<string, EndpointHealthView>> = {};
    for (const [service, index] of this.byService) {
      const row: Record<string, EndpointHealthView> = (out[service.name] = {});
      for (const [endpoint, probe] of index) row[endpoint] = probe.health.view();
    }
    return out;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const client of this.grpcClients.values()) client.close();
    void this.agent.destroy().catch(() => undefined);
  }

  private arm(): void {
    const next = this.schedule?.nextAt();
    if (this.stopped || next === undefined) return;
    this.timer = setTimeout(() => this.tick(), Math.max(0, next - performance.now()));
    this.timer.unref();
  }

  private tick(): void {
    for (const key of this.schedule?.due(performance.now()) ?? []) void this.run(this.probes.get(key) as Probe);
    this.arm();
  }

  /** Runs one probe when a slot is free, and records what it says. */
  private async run(probe: Probe): Promise<void> {
    if (probe.running || this.stopped) return;
    probe.running = true;
    await this.acquireSlot();
    try {
      if (this.stopped) return;
      const outcome = await this.probeOnce(probe);
      if (this.stopped) return;
      this.record(probe, outcome);
    } finally {
      this.releaseSlot();
      probe.running = false;
    }
  }

  private record(probe: Probe, outcome: Outcome): void {
    const now = Date.now();
    this.onResult(probe.plan.endpoint, outcome.kind);
    if (outcome.kind === 'inconclusive') {
      probe.health.recordInconclusive(outcome.reason, now);
      probe.verdict = verdictOf(probe.health);
      this.log.warn({ endpoint: probe.plan.endpoint, check: checkName(probe.plan), reason: outcome.reason }, 'health check inconclusive');
      return;
    }
    const changed = probe.health.record(outcome.kind === 'pass', outcome.reason, now);
    probe.verdict = verdictOf(probe.health);
    if (!changed) return;
    this.log.info(
      {
        endpoint: probe.plan.endpoint,
        check: checkName(probe.plan),
        services: probe.plan.services.length,
        health: probe.health.view().state,
        reason: outcome.reason,
      },
      'endpoint health changed',
    );
    this.onChange();
  }

  /**
   * One check against its deadline. The deadline counts only time in which
   * this process was listening (see probeTimeout): a stalled event loop
   * stretches it, and past the stretch the result is inconclusive.
   */
  private probeOnce(probe: Probe): Promise<Outcome> {
    const { check } = probe.plan;
    const started = performance.now();
    this.stall.acquire();
    const stallAtStart = this.stall.read(started);
    const abort = new AbortController();
    return new Promise<Outcome>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.stall.release();
        abort.abort();
        resolve(outcome);
      };
      const onTimer = (): void => {
        const now = performance.now();
        const stalledMs = this.stall.read(now) - stallAtStart;
        const verdict = probeTimeout(started, now, stalledMs, check.timeoutMs);
        if (verdict.kind === 'extend') {
          timer = setTimeout(onTimer, verdict.waitMs);
          return;
        }
        settle(
          verdict.kind === 'failed'
            ? { kind: 'fail', reason: `timeout: no answer in ${check.timeoutMs} ms` }
            : { kind: 'inconclusive', reason: `no answer in ${Math.round(now - started)} ms while this gateway's event loop was stalled ${Math.round(stalledMs)} ms` },
        );
      };
      timer = setTimeout(onTimer, check.timeoutMs);
      // The deadline is ours (above); the protocol's own only bounds a probe we forgot.
      const cap = MAX_PROBE_STRETCH * check.timeoutMs;
      const { endpoint } = probe.plan;
      const attempt =
        check.protocol === 'grpc'
          ? probeGrpc(this.grpcClient(endpoint), cap, abort.signal)
          : check.protocol === 'tcp'
            ? probeTcp(endpoint, abort.signal)
            : probeHttp(endpoint, check.path, this.agent, cap, abort.signal);
      attempt.then(
        (reason) => settle({ kind: 'pass', reason: `${reason} in ${Math.round(performance.now() - started)} ms` }),
        (err: Error) => settle({ kind: 'fail', reason: err.message }),
      );
    });
  }

  /** One channel per gRPC endpoint, whatever the number of services and checks on it. */
  private grpcClient(endpoint: string): HealthClient {
    let client = this.grpcClients.get(endpoint);
    if (client) return client;
    client = createHealthClient(endpoint);
    this.grpcClients.set(endpoint, client);
    return client;
  }

  private acquireSlot(): Promise<void> {
    if (this.inFlight < MAX_PROBES_IN_FLIGHT) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot straight to the next waiting probe, or frees it. */
  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight--;
  }
}

function checkRequests(services: readonly ServiceConfig[]): CheckRequest[] {
  const out: CheckRequest[] = [];
  for (const service of services) {
    const hc = service.healthCheck;
    if (!hc) continue;
    const check = {
      protocol: service.protocol,
      path: hc.path,
      intervalMs: hc.intervalMs,
      timeoutMs: hc.timeoutMs,
      healthyThreshold: hc.healthyThreshold,
      unhealthyThreshold: hc.unhealthyThreshold,
    };
    for (const endpoint of service.endpoints) out.push({ service: service.name, endpoint: formatHostPort(endpoint), check });
  }
  return out;
}

const UNCHECKED: EndpointCheck = { healthy: true, reason: 'no health check configured' };
const NOT_CHECKED: EndpointCheck = { healthy: false, reason: 'not checked' };

function verdictOf(health: EndpointHealth): EndpointCheck {
  const view = health.view();
  return { healthy: health.healthy, reason: view.reason, ...(view.since !== undefined && { since: view.since }) };
}

function checkName(plan: PlannedProbe): string {
  const { protocol, path } = plan.check;
  return protocol === 'grpc' ? 'grpc.health.v1' : protocol === 'tcp' ? 'tcp connect' : `GET ${path}`;
}
