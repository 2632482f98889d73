/**
 * Where one service's requests go, and why: the failover part's decisions
 * for a service, composed from its pieces. Targets are this cluster's
 * endpoints and other clusters (through their gateway replicas), ordered in
 * tiers by `failover.order`; traffic spills from a tier by its healthy
 * fraction (Envoy priority levels, overprovisioning 1.4), goes back to the
 * preferred tier only through a hold and a ramp, and inside a tier goes to
 * the cheaper of two random targets by peak-EWMA. Passive failures eject
 * endpoints and gateway replicas; a retry budget bounds retries.
 *
 * Pure: the caller passes the time, the randomness and every outcome.
 */
import { FailbackGate, type FailbackView } from './failback.js';
import { OutlierEjection, type OutlierView } from './outlier-ejection.js';
import { chooseP2C, PeakEwma, type PeakEwmaView, type RequestOutcome } from './peak-ewma.js';
import { RetryBudget, type RetryBudgetView } from './retry-budget.js';
import { pickTier, tierShares } from './tier-weights.js';

export interface BalancerSettings {
  readonly service: string;
  readonly cluster: string;
  readonly region: string | undefined;
  /** Tier keywords (`local`, `region`, `any`) or cluster names, most preferred first. */
  readonly order: readonly string[];
  readonly overprovisioning: number;
  /** This cluster's endpoints (host:port); empty when the service runs elsewhere only. */
  readonly endpoints: readonly string[];
  /** Requests one target may have in flight before it is passed over (circuit breaking). */
  readonly maxInFlightPerTarget: number;
  readonly peakEwma: { readonly decayMs: number; readonly defaultRttMs: number };
  readonly ejection: { readonly consecutiveFailures: number; readonly baseEjectionMs: number; readonly maxEjectionMs: number };
  readonly retryBudget: { readonly ratio: number; readonly minPerSecond: number; readonly windowMs: number };
  readonly failback: { readonly holdMs: number; readonly rampMs: number; readonly jitterMs: number };
  readonly random: () => number;
  readonly now: number;
}

/** An active check's verdict on a local endpoint, with its reason and age for /debug/routes. */
export interface EndpointCheck {
  readonly healthy: boolean;
  readonly reason: string;
  /** When the check's verdict last changed; undefined when not checked. */
  readonly since?: number;
}

/** Another cluster's view of the service, as membership sees it, with the gateway replicas that could carry a request. */
export interface RemoteCluster {
  readonly cluster: string;
  readonly region?: string;
  readonly exported: boolean;
  readonly healthy: number;
  readonly total: number;
  /** Gateway replicas of that cluster we can send to now. */
  readonly liveReplicas: number;
  /** True when no live replica vouches for the numbers any more. */
  readonly stale: boolean;
  /** How old the numbers are, by the local clock. */
  readonly ageMs?: number;
  /** Their member ids. */
  readonly replicas: readonly string[];
}

export interface Observation {
  readonly endpoints: (endpoint: string) => EndpointCheck;
  readonly remotes: readonly RemoteCluster[];
}

export type Target = { readonly kind: 'local'; readonly endpoint: string } | { readonly kind: 'remote'; readonly cluster: string; readonly replicas: readonly string[] };

export interface Choice {
  readonly target: Target;
  /** Identifies the target in start/finish and in tried-sets: `local:<endpoint>` or `cluster:<name>`. */
  readonly key: string;
  readonly tier: string;
  readonly why: string;
}

export type BalancerEventKind = 'failover' | 'failback' | 'ejection' | 'return' | 'panic' | 'budget-exhausted';

export interface BalancerEvent {
  readonly at: number;
  readonly kind: BalancerEventKind;
  readonly service: string;
  readonly target?: string;
  readonly reason: string;
}

interface TargetState {
  readonly key: string;
  readonly target: Target;
  /** healthy units (endpoints) this target contributes, after ejections */
  healthy: number;
  total: number;
  usable: boolean;
  reason: string;
  /** When the health this state rests on was observed (check change, or membership record). */
  since: number | undefined;
}

interface Tier {
  readonly name: string;
  readonly targets: TargetState[];
  healthyFraction: number;
}

/** The failover decisions for one service. */
export class ServiceBalancer {
  private readonly ewma = new Map<string, PeakEwma>();
  private readonly ejections = new Map<string, OutlierEjection>();
  /** Each local endpoint's last active-check verdict, to see it come back. */
  private readonly lastCheck = new Map<string, boolean>();
  private readonly gate: FailbackGate;
  private readonly budget: RetryBudget;
  private tiers: Tier[] = [];
  private shares: number[] = [];
  private panic = false;
  private preferredFull = true;
  /** The lowest share the preferred tier had since it was last fully back. */
  private preferredFloor: number | undefined;
  private lastBudgetEvent = -Infinity;

  constructor(
    private readonly settings: BalancerSettings,
    private readonly onEvent: (event: BalancerEvent) => void = () => {},
  ) {
    this.gate = new FailbackGate({ random: settings.random, ...settings.failback });
    this.budget = new RetryBudget(settings.retryBudget);
  }

  /** Recomputes tiers and shares from the latest checks and membership view. */
  update(now: number, seen: Observation): void {
    this.tiers = this.buildTiers(now, seen);
    const { shares, panic } = tierShares(
      this.tiers.map((t) => ({ name: t.name, healthyFraction: t.healthyFraction, endpoints: t.targets.reduce((n, s) => n + s.total, 0) })),
      this.settings.overprovisioning,
    );
    if (panic !== this.panic) {
      this.event(now, 'panic', undefined, panic ? 'nothing anywhere is healthy: every endpoint of the first tier is used' : 'healthy endpoints again');
      this.panic = panic;
    }
    this.shares = this.withFailbackHold(now, shares);
    const full = (this.shares[0] ?? 1) >= 1 - 1e-9;
    if (full !== this.preferredFull && this.tiers[0]?.targets.length) {
      const split = this.tiers.map((t, i) => `${t.name} ${Math.round((this.shares[i] ?? 0) * 100)}%`).join(', ');
      this.event(now, full ? 'failback' : 'failover', this.tiers[0]?.name, full ? `all traffic back on ${this.tiers[0]?.name}` : `traffic now ${split}`);
    }
    this.preferredFull = full;
  }

  /**
   * The next target for a request, never one in `tried`: a tier by its share
   * (the next tier with anything left when that one is exhausted), then the
   * cheaper of two by peak-EWMA, or an ejected target's single half-open probe.
   */
  choose(now: number, tried: ReadonlySet<string> = new Set(), localOnly = false): Choice | undefined {
    const start = pickTier(this.shares, this.settings.random());
    const all = [...this.tiers.keys()];
    const order = (start < 0 ? all : [start, ...all.filter((i) => i !== start)]).filter(
      (i) => !localOnly || this.tiers[i]?.targets.some((t) => t.target.kind === 'local'),
    );
    // A target whose ejection ran out gets its one probe request whatever its
    // tier's share: a tier left with no traffic would otherwise never be
    // probed, and never come back.
    for (const i of order) {
      const tier = this.tiers[i] as Tier;
      const probe = tier.targets.find((t) => !tried.has(t.key) && this.ejections.get(t.key)?.state(now) === 'probing' && this.ejections.get(t.key)?.tryProbe(now));
      if (probe) return this.choice(probe, tier, 'half-open probe after ejection');
    }
    for (const i of order) {
      const tier = this.tiers[i] as Tier;
      const open = tier.targets.filter((t) => !tried.has(t.key) && this.cost(now, t.key).inFlight < this.settings.maxInFlightPerTarget);
      const usable = this.panic && i === start ? open : open.filter((t) => t.usable);
      const best = chooseP2C(usable, (t) => this.cost(now, t.key).cost, this.settings.random);
      if (best) return this.choice(best, tier, this.panic ? 'panic: using every endpoint' : i === start ? `tier share ${pct(this.shares[i])}` : `tier ${this.tiers[start]?.name ?? '?'} exhausted`);
    }
    return undefined;
  }

  /** Whether a target (`local:<endpoint>` or `gateway:<memberId>`) is out of rotation by passive ejection. */
  ejected(now: number, key: string): boolean {
    return (this.ejections.get(key)?.state(now) ?? 'active') !== 'active';
  }

  /** Whether a usable target exists but every one is at its in-flight limit. */
  saturated(now: number): boolean {
    return this.tiers.some((t) => t.targets.some((x) => x.usable)) && this.tiers.every((t) => t.targets.every((x) => !x.usable || this.cost(now, x.key).inFlight >= this.settings.maxInFlightPerTarget));
  }

  /** Whether a remote gateway replica is in rotation (not ejected; a probing one is let back in). */
  replicaUsable(now: number, memberId: string): boolean {
    const state = this.ejections.get(`gateway:${memberId}`)?.state(now) ?? 'active';
    return state !== 'ejected';
  }

  start(now: number, key: string): void {
    this.ewmaOf(key, now).start(now);
  }

  /**
   * A finished try. `failure` names a failure that counts toward ejection
   * (connect error, reset, timeout, a gateway's 5xx); `replica` is the remote
   * gateway that carried it, ejected on its own, never the whole cluster.
   */
  finish(now: number, key: string, outcome: RequestOutcome, failure?: string, replica?: string): void {
    this.ewmaOf(key, now).finish(now, outcome);
    const ejectionKey = replica ? `gateway:${replica}` : key.startsWith('local:') ? key : undefined;
    if (!ejectionKey) return;
    let ejection = this.ejections.get(ejectionKey);
    if (!ejection) this.ejections.set(ejectionKey, (ejection = new OutlierEjection(this.settings.ejection)));
    const before = ejection.state(now);
    if (ejection.record(now, failure === undefined, failure)) {
      const after = ejection.state(now);
      if (after === 'ejected') this.event(now, 'ejection', ejectionKey, ejection.view(now).reason);
      else if (after === 'active' && before !== 'active') this.event(now, 'return', ejectionKey, 'half-open probe succeeded');
    }
  }

  /** Counts an original request for the budget. */
  recordRequest(now: number): void {
    this.budget.recordRequest(now);
  }

  /** Whether a retry fits in the budget; a refusal is an event (at most one a second). */
  tryRetry(now: number): boolean {
    if (this.budget.tryWithdraw(now)) return true;
    if (now - this.lastBudgetEvent >= 1_000) {
      this.lastBudgetEvent = now;
      const v = this.budget.view(now);
      this.event(now, 'budget-exhausted', undefined, `${v.retries} retries for ${v.requests} requests in the window`);
    }
    return false;
  }

  /** Mean peak-EWMA RTT of the local endpoints, for membership's health record. */
  localLatencyMs(now: number): number | undefined {
    const rtts = this.settings.endpoints.map((e) => this.ewma.get(`local:${e}`)?.view(now).rttMs).filter((v): v is number => v !== undefined);
    return rtts.length === 0 ? undefined : rtts.reduce((a, b) => a + b, 0) / rtts.length;
  }

  /** /debug/routes: every tier and target with its weight, health, EWMA, in-flight and ejection, each with a reason. */
  explain(now: number): RouteExplanation {
    return {
      service: this.settings.service,
      panic: this.panic,
      tiers: this.tiers.map((tier, i) => ({
        name: tier.name,
        share: round(this.shares[i] ?? 0),
        healthyFraction: round(tier.healthyFraction),
        targets: tier.targets.map((t) => ({
          key: t.key,
          usable: t.usable,
          healthy: t.healthy,
          total: t.total,
          reason: t.reason,
          ...(t.since !== undefined && { ageMs: Math.max(0, now - t.since) }),
          load: this.cost(now, t.key),
          ...(this.ejections.get(t.key) && { ejection: this.ejections.get(t.key)?.view(now) }),
          ...(t.target.kind === 'remote' && {
            replicas: t.target.replicas.map((r) => ({ id: r, ...(this.ejections.get(`gateway:${r}`) && { ejection: this.ejections.get(`gateway:${r}`)?.view(now) }) })),
          }),
        })),
      })),
      failback: this.gate.view(now),
      retryBudget: this.budget.view(now),
    };
  }

  private choice(t: TargetState, tier: Tier, why: string): Choice {
    return { target: t.target, key: t.key, tier: tier.name, why };
  }

  private cost(now: number, key: string): PeakEwmaView {
    return this.ewma.get(key)?.view(now) ?? { rttMs: this.settings.peakEwma.defaultRttMs, inFlight: 0, cost: this.settings.peakEwma.defaultRttMs };
  }

  private ewmaOf(key: string, now: number): PeakEwma {
    let e = this.ewma.get(key);
    if (!e) this.ewma.set(key, (e = new PeakEwma({ ...this.settings.peakEwma, now })));
    return e;
  }

  private buildTiers(now: number, seen: Observation): Tier[] {
    const { cluster, region, order } = this.settings;
    const claimed = new Set<string>();
    const tiers: Tier[] = [];
    const remotesFor = (keep: (r: RemoteCluster) => boolean) =>
      seen.remotes.filter((r) => r.exported && r.cluster !== cluster && !claimed.has(r.cluster) && keep(r)).map((r) => this.remoteState(now, r));
    // `region` and `any` include this cluster unless an earlier tier took it:
    // `order: [any]` puts every cluster in one tier, compared by latency alone.
    const localUnclaimed = (): TargetState[] => {
      if (claimed.has(cluster)) return [];
      claimed.add(cluster);
      return this.settings.endpoints.map((e) => this.localState(now, e, seen.endpoints(e)));
    };
    for (const entry of order) {
      let targets: TargetState[];
      if (entry === 'local' || entry === cluster) {
        targets = localUnclaimed();
      } else if (entry === 'region') {
        targets = region === undefined ? [] : [...localUnclaimed(), ...remotesFor((r) => r.region === region)];
      } else if (entry === 'any') {
        targets = [...localUnclaimed(), ...remotesFor(() => true)];
      } else {
        targets = remotesFor((r) => r.cluster === entry);
      }
      for (const t of targets) if (t.target.kind === 'remote') claimed.add(t.target.cluster);
      if (targets.length === 0) continue;
      const total = targets.reduce((n, t) => n + t.total, 0);
      const healthy = targets.reduce((n, t) => n + t.healthy, 0);
      tiers.push({ name: entry, targets, healthyFraction: total === 0 ? 0 : Math.min(1, healthy / total) });
    }
    return tiers;
  }

  private localState(now: number, endpoint: string, check: EndpointCheck): TargetState {
    const key = `local:${endpoint}`;
    // Like Envoy's successful_active_health_check_uneject_host: an endpoint
    // the active checks saw go down and come back is back, without waiting
    // out an ejection earned while it was down.
    const wasHealthy = this.lastCheck.get(key);
    this.lastCheck.set(key, check.healthy);
    if (wasHealthy === false && check.healthy && this.ejected(now, key)) {
      this.ejections.delete(key);
      this.event(now, 'return', key, `active check passed again: ${check.reason}`);
    }
    // Every target's estimate starts when it is first seen and decays from
    // then on like the others'; one created at its first request would look
    // dearer than a used one for ever.
    this.ewmaOf(key, now);
    const ejection = this.ejections.get(key)?.view(now);
    const ejected = ejection !== undefined && ejection.state !== 'active';
    const usable = check.healthy && !ejected;
    const reason = !check.healthy ? `active check: ${check.reason}` : ejected ? `ejected: ${ejection.reason}` : `healthy: ${check.reason}`;
    return { key, target: { kind: 'local', endpoint }, healthy: usable ? 1 : 0, total: 1, usable, reason, since: ejected ? ejection.since : check.since };
  }

  /**
   * A cluster weighs its healthy endpoints scaled by the share of its live
   * gateway replicas not ejected: one bad replica never removes a cluster,
   * and a stale record counts for nothing.
   */
  private remoteState(now: number, r: RemoteCluster): TargetState {
    const replicas = r.replicas.filter((id) => this.replicaUsable(now, id));
    const replicaShare = r.replicas.length === 0 ? 0 : replicas.length / r.replicas.length;
    const healthy = r.stale ? 0 : r.healthy * replicaShare;
    const usable = healthy > 0;
    const reason = r.stale
      ? 'stale health record'
      : r.replicas.length === 0
        ? 'no live gateway replica'
        : `${r.healthy}/${r.total} endpoints healthy, ${replicas.length}/${r.replicas.length} replicas usable`;
    this.ewmaOf(`cluster:${r.cluster}`, now);
    const since = r.ageMs === undefined ? undefined : now - r.ageMs;
    return { key: `cluster:${r.cluster}`, target: { kind: 'remote', cluster: r.cluster, replicas }, healthy, total: r.total, usable, reason, since };
  }

  /**
   * The preferred tier loses traffic at once but takes it back only after a
   * hold and a ramp: its share may not rise above the lowest it had while
   * degraded until it has been fully healthy for the hold, then rises to its
   * full share over the ramp. The share held back stays on the other tiers.
   */
  private withFailbackHold(now: number, shares: number[]): number[] {
    if (this.tiers.length < 2 || !this.tiers[0]?.targets.length) return shares;
    const computed = shares[0] ?? 0;
    this.gate.observe(now, computed >= 1 - 1e-9);
    const allowed = this.gate.allowedShare(now);
    if (allowed >= 1) {
      this.preferredFloor = undefined;
      return shares;
    }
    const floor = (this.preferredFloor = Math.min(this.preferredFloor ?? computed, computed));
    const effective = floor + (computed - floor) * allowed;
    const withheld = computed - effective;
    const rest = shares.slice(1);
    const healthOthers = this.tiers.slice(1).map((t) => t.healthyFraction);
    const restTotal = rest.reduce((a, b) => a + b, 0);
    const weights = restTotal > 0 ? rest : healthOthers;
    const weightTotal = weights.reduce((a, b) => a + b, 0);
    if (withheld <= 0 || weightTotal === 0) return shares;
    return [effective, ...rest.map((s, i) => s + (withheld * (weights[i] ?? 0)) / weightTotal)];
  }

  private event(at: number, kind: BalancerEventKind, target: string | undefined, reason: string): void {
    this.onEvent({ at, kind, service: this.settings.service, ...(target !== undefined && { target }), reason });
  }
}

export interface RouteExplanation {
  readonly service: string;
  readonly panic: boolean;
  readonly tiers: readonly {
    readonly name: string;
    readonly share: number;
    readonly healthyFraction: number;
    readonly targets: readonly {
      readonly key: string;
      readonly usable: boolean;
      readonly healthy: number;
      readonly total: number;
      readonly reason: string;
      /** Age of the health behind `usable`/`reason`: since the check or ejection changed, or of the membership record. */
      readonly ageMs?: number;
      readonly load: PeakEwmaView;
      readonly ejection?: OutlierView | undefined;
      readonly replicas?: readonly { readonly id: string; readonly ejection?: OutlierView | undefined }[];
    }[];
  }[];
  readonly failback: FailbackView;
  readonly retryBudget: RetryBudgetView;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
const pct = (x: number | undefined): string => `${Math.round((x ?? 0) * 100)}%`;
