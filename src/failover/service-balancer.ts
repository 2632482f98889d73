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
import { DrainRamp } from './drain-ramp.js';
import { FailbackGate, type FailbackView } from './failback.js';
import { OutlierEjection, type OutlierView } from './outlier-ejection.js';
import { PeakEwma, type PeakEwmaView, type RequestOutcome } from './peak-ewma.js';
import { RetryBudget, type RetryBudgetView } from './retry-budget.js';
import { pickTier, tierShares } from './tier-weights.js';

export interface BalancerSettings {
  readonly service: string;
  readonly cluster: string;
  readonly region: string | undefined;
  /** Tier keywords (`local`, `region`, `any`) or cluster names, most preferred first. */
  readonly order: readonly string[];
  readonly overprovisioning: number;
  /**
   * Each cluster's weight inside its tier (Envoy's locality weights): a
   * cluster gets weight × min(1, healthy fraction × overprovisioning) of the
   * tier's traffic, over the sum of those; clusters left out get none while
   * a weighted one can serve. Undefined: inside a tier, latency alone decides.
   */
  readonly weights?: Readonly<Record<string, number>>;
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
  /** The cluster announced itself drained for the service: its share moves away over the failback ramp. */
  readonly drained?: boolean;
  readonly healthy: number;
  readonly total: number;
  /** True when no live replica vouches for the numbers any more. */
  readonly stale: boolean;
  /** How old the numbers are, by the local clock. */
  readonly ageMs?: number;
  /** Their member ids. */
  readonly replicas: readonly string[];
}

export interface Observation {
  readonly endpoints: (endpoint: string) => EndpointCheck;
  /** This cluster is drained for the service (config `drain`): its endpoints' share moves away over the ramp. */
  readonly drained?: boolean;
  readonly remotes: readonly RemoteCluster[];
}

/** One of this cluster's endpoints, by its host:port. */
export interface LocalTarget {
  readonly kind: 'local';
  readonly endpoint: string;
}

/** One gateway replica of another cluster: requests for the cluster go through one of them. */
export interface ReplicaTarget {
  readonly kind: 'remote';
  readonly cluster: string;
  /** The replica's member id. */
  readonly replica: string;
}

/** Where one try goes. The same object stands for the same target for the balancer's life, so tried-sets hold targets. */
export type Target = LocalTarget | ReplicaTarget;

/** A target chosen for one try, with how to report the try's end. */
export interface Pick {
  readonly target: Target;
  readonly tier: string;
  readonly why: string;
  /**
   * The try ended. `failure` names a failure that counts toward ejection
   * (connect error, reset, timeout, a gateway's 5xx); leave it out for a
   * success, or for an end that says nothing about the target (the client
   * left, the peer closed the session on purpose).
   */
  done(now: number, outcome: RequestOutcome, failure?: string): void;
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
  /** Names the target in /debug/routes and events: `local:<endpoint>` or `cluster:<name>`. */
  readonly key: string;
  readonly kind: 'local' | 'remote';
  /** The cluster the target belongs to: ours for a local endpoint. */
  readonly cluster: string;
  /** For a local endpoint, its target; for a cluster, none (its replicas are the targets). */
  readonly local: LocalTarget | undefined;
  /** For a cluster: the replicas usable now, in a stable order. */
  replicas: ReplicaTarget[];
  /** Rotates requests over the replicas. */
  turn: number;
  /** healthy units (endpoints) this target contributes, after ejections */
  healthy: number;
  total: number;
  usable: boolean;
  /** Usable but for a drain: a request held to our own cluster (from another cluster, or pinned here) may still use it. */
  serving: boolean;
  reason: string;
  /** When the health this state rests on was observed (check change, or membership record). */
  since: number | undefined;
  /** Every replica membership lists, usable or not, for /debug/routes. */
  allReplicas: readonly string[];
}

/** One cluster's targets inside a weighted tier, with its configured and health-scaled weight. */
interface WeightedCluster {
  readonly cluster: string;
  readonly targets: TargetState[];
  readonly configured: number;
  readonly effective: number;
}

interface Tier {
  readonly name: string;
  readonly targets: TargetState[];
  /** Set when `weights` names a cluster of this tier: picks choose a cluster by weight first. */
  readonly weighted: WeightedCluster[] | undefined;
  /** Whether any target is a local endpoint: only those serve a request that already crossed a cluster. */
  readonly hasLocal: boolean;
  healthyFraction: number;
}

/** The failover decisions for one service. */
export class ServiceBalancer {
  private readonly ewma = new Map<string, PeakEwma>();
  private readonly ejections = new Map<string, OutlierEjection>();
  /** Each local endpoint's last active-check verdict, to see it come back. */
  private readonly lastCheck = new Map<string, boolean>();
  /** Targets by key, kept across refreshes so that a target keeps its identity. */
  private readonly states = new Map<string, TargetState>();
  private readonly replicaTargets = new Map<string, ReplicaTarget>();
  /** The key of each target's estimate: the endpoint's own, or for a replica its cluster's. */
  private readonly keys = new Map<Target, string>();
  /** Per cluster (ours as `local`), how much of its health a drain leaves. */
  private readonly drains = new Map<string, DrainRamp>();
  private readonly gate: FailbackGate;
  private readonly budget: RetryBudget;
  private tiers: Tier[] = [];
  private shares: number[] = [];
  private panic = false;
  private preferredFull = true;
  /** The lowest share the preferred tier had since it was last fully back. */
  private preferredFloor: number | undefined;
  private lastBudgetEvent = -Infinity;
  private lastSeen: Observation | undefined;
  private movingWithTime = false;

  constructor(
    private readonly settings: BalancerSettings,
    private readonly onEvent: (event: BalancerEvent) => void = () => {},
  ) {
    this.gate = new FailbackGate({ random: settings.random, ...settings.failback });
    this.budget = new RetryBudget(settings.retryBudget);
  }

  /**
   * Recomputes tiers and shares from the latest checks and membership view:
   * the routing snapshot every pick reads until the next update.
   */
  update(now: number, seen: Observation): void {
    this.lastSeen = seen;
    this.tiers = this.buildTiers(now, seen);
    if (this.tiers.length === 0) {
      this.shares = [];
      this.movingWithTime = false;
      return;
    }
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
    this.movingWithTime =
      this.gate.allowedShare(now) < 1 || [...this.ejections.values()].some((e) => e.state(now) !== 'active') || [...this.drains.values()].some((d) => d.moving(now));
  }

  /**
   * The next target for a try, never one in `tried`: a tier by its share
   * (the next tier with anything left when that one is exhausted), then the
   * cheaper of two by peak-EWMA, or an ejected target's single half-open
   * probe. `only` keeps the try in one cluster: ours (its endpoints) for a
   * request that already crossed a cluster, or the one a request is pinned
   * to. Reads the snapshot only: nothing is rebuilt per request.
   */
  pick(now: number, tried: ReadonlySet<Target> = EMPTY, only?: string): Pick | undefined {
    const tiers = this.tiers;
    if (tiers.length === 0) return undefined;
    const start = pickTier(this.shares, this.settings.random());
    // A target whose ejection ran out gets its one probe request whatever its
    // tier's share: a tier left with no traffic would otherwise never be
    // probed, and never come back.
    if (this.ejections.size > 0) {
      for (let n = 0; n < tiers.length; n++) {
        const tier = tiers[n === 0 ? Math.max(0, start) : n <= start ? n - 1 : n] as Tier;
        if (!this.tierServes(tier, only)) continue;
        const probe = this.probeIn(now, tier, tried, only);
        if (probe) return probe;
      }
    }
    for (let n = 0; n < tiers.length; n++) {
      const i = n === 0 ? Math.max(0, start) : n <= start ? n - 1 : n;
      const tier = tiers[i] as Tier;
      if (!this.tierServes(tier, only)) continue;
      const best = this.cheaperOfTwo(now, this.weightedChoice(now, tier, tried, only) ?? tier.targets, tried, this.panic && i === start, only);
      if (best) {
        // The tier's share stays a number until someone reads the reason: a string per request costs more than the pick.
        const why = this.panic ? 'panic: using every endpoint' : i === start ? (this.shares[i] ?? 0) : `tier ${tiers[start]?.name ?? '?'} exhausted`;
        return this.pickOf(now, best, tier, why);
      }
    }
    return undefined;
  }

  /** Whether a local endpoint is out of rotation by passive ejection. */
  endpointEjected(now: number, endpoint: string): boolean {
    return (this.ejections.get(`local:${endpoint}`)?.state(now) ?? 'active') !== 'active';
  }

  /** Whether a usable target exists but every one is at its in-flight limit. */
  saturated(): boolean {
    return this.tiers.some((t) => t.targets.some((x) => x.usable)) && this.tiers.every((t) => t.targets.every((x) => !x.usable || this.inFlight(x.key) >= this.settings.maxInFlightPerTarget));
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

  /**
   * Whether the snapshot was taken while something moved with time alone (a
   * failback hold or ramp, an ejection running out), so that it must be
   * refreshed even when nothing else changes; the refresh after it settled
   * clears this.
   */
  timeDependent(): boolean {
    return this.movingWithTime;
  }

  /** Mean peak-EWMA RTT of the local endpoints, for membership's health record. */
  localLatencyMs(now: number): number | undefined {
    let sum = 0;
    let n = 0;
    for (const e of this.settings.endpoints) {
      const ewma = this.ewma.get(`local:${e}`);
      if (!ewma) continue;
      sum += ewma.view(now).rttMs;
      n++;
    }
    return n === 0 ? undefined : sum / n;
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
        ...(tier.weighted && { weights: weightShares(tier.weighted, this.shares[i] ?? 0) }),
        targets: tier.targets.map((t) => ({
          key: t.key,
          usable: t.usable,
          healthy: t.healthy,
          total: t.total,
          reason: t.reason,
          ...(t.since !== undefined && { ageMs: Math.max(0, now - t.since) }),
          load: this.cost(now, t.key),
          ...(this.ejections.get(t.key) && { ejection: this.ejections.get(t.key)?.view(now) }),
          ...(t.kind === 'remote' && {
            replicas: t.allReplicas.map((r) => ({
              id: r,
              usable: t.replicas.some((x) => x.replica === r),
              ...(this.ejections.get(`gateway:${r}`) && { ejection: this.ejections.get(`gateway:${r}`)?.view(now) }),
            })),
          }),
        })),
      })),
      failback: this.gate.view(now),
      retryBudget: this.budget.view(now),
    };
  }

  /** Whether `cluster` (ours, or another) runs the service as far as the snapshot knows: a pinned request finds nothing elsewhere. */
  serves(cluster: string): boolean {
    return this.tiers.some((tier) => this.tierServes(tier, cluster));
  }

  private tierServes(tier: Tier, only: string | undefined): boolean {
    if (only === undefined) return true;
    if (only === this.settings.cluster) return tier.hasLocal;
    return tier.targets.some((t) => t.cluster === only);
  }

  /** Whether a try confined to `only` may go to `t`: a request that already crossed a cluster never goes to another one, not even as a probe. */
  private inScope(t: TargetState, only: string | undefined): boolean {
    return only === undefined || t.cluster === only;
  }

  private probeIn(now: number, tier: Tier, tried: ReadonlySet<Target>, only: string | undefined): Pick | undefined {
    for (const t of tier.targets) {
      if (!this.inScope(t, only)) continue;
      if (t.local) {
        if (!tried.has(t.local) && this.probing(now, t.key)) return this.pickOf(now, t.local, tier, PROBE_WHY);
        continue;
      }
      for (const r of t.replicas) {
        if (!tried.has(r) && this.probing(now, `gateway:${r.replica}`)) return this.pickOf(now, r, tier, PROBE_WHY);
      }
    }
    return undefined;
  }

  private probing(now: number, key: string): boolean {
    const e = this.ejections.get(key);
    return e !== undefined && e.state(now) === 'probing' && e.tryProbe(now);
  }

  /**
   * In a weighted tier, the targets of one cluster drawn by effective weight
   * among those with a target open to this try; undefined (the whole tier,
   * by latency) when the tier is not weighted or no weighted cluster can take it.
   */
  private weightedChoice(now: number, tier: Tier, tried: ReadonlySet<Target>, only: string | undefined): TargetState[] | undefined {
    const groups = tier.weighted;
    if (!groups || only !== undefined) return undefined;
    let sum = 0;
    for (const g of groups) if (g.effective > 0 && this.anyOpen(now, g.targets, tried)) sum += g.effective;
    if (sum === 0) return undefined;
    let r = this.settings.random() * sum;
    let last: WeightedCluster | undefined;
    for (const g of groups) {
      if (g.effective <= 0 || !this.anyOpen(now, g.targets, tried)) continue;
      last = g;
      r -= g.effective;
      if (r < 0) return g.targets;
    }
    return last?.targets;
  }

  private anyOpen(now: number, targets: readonly TargetState[], tried: ReadonlySet<Target>): boolean {
    for (const t of targets) if (this.open(now, t, tried, false, undefined)) return true;
    return false;
  }

  /** Power of two choices over the open targets, without building a candidate list. */
  private cheaperOfTwo(now: number, targets: readonly TargetState[], tried: ReadonlySet<Target>, anyHealth: boolean, only: string | undefined): Target | undefined {
    let count = 0;
    for (const t of targets) if (this.open(now, t, tried, anyHealth, only)) count++;
    if (count === 0) return undefined;
    const random = this.settings.random;
    let a: TargetState | undefined;
    let b: TargetState | undefined;
    if (count === 1) {
      for (const t of targets) if (this.open(now, t, tried, anyHealth, only)) a = t;
    } else {
      const i = Math.min(count - 1, Math.floor(random() * count));
      let j = Math.min(count - 2, Math.floor(random() * (count - 1)));
      if (j >= i) j++;
      let k = 0;
      for (const t of targets) {
        if (!this.open(now, t, tried, anyHealth, only)) continue;
        if (k === i) a = t;
        if (k === j) b = t;
        k++;
      }
      if (b && a && this.costNow(now, b.key) < this.costNow(now, a.key)) a = b;
    }
    if (!a) return undefined;
    if (a.local) return a.local;
    // Replicas in turn, skipping those already tried for this request.
    const n = a.replicas.length;
    for (let step = 0; step < n; step++) {
      const r = a.replicas[(a.turn + step) % n] as ReplicaTarget;
      if (tried.has(r)) continue;
      a.turn = (a.turn + step + 1) % n;
      return r;
    }
    return undefined;
  }

  private open(now: number, t: TargetState, tried: ReadonlySet<Target>, anyHealth: boolean, only: string | undefined): boolean {
    if (!this.inScope(t, only)) return false;
    // A drain moves other clusters' traffic away; what they already sent here is still served.
    if (!anyHealth && !(only === this.settings.cluster ? t.serving : t.usable)) return false;
    if (t.local) return !tried.has(t.local) && this.inFlight(t.key) < this.settings.maxInFlightPerTarget;
    if (this.inFlight(t.key) >= this.settings.maxInFlightPerTarget) return false;
    for (const r of t.replicas) if (!tried.has(r)) return true;
    return false;
  }

  private pickOf(now: number, target: Target, tier: Tier, why: string | number): Pick {
    const key = this.keys.get(target) as string;
    this.ewmaOf(key, now).start(now);
    return new TargetPick(this, target, key, tier.name, why);
  }

  /**
   * A pick's try ended (Pick.done): the target's estimate learns the round
   * trip; an endpoint, or for a cluster the one replica that carried it
   * (never the whole cluster), moves towards ejection on a failure.
   */
  finish(now: number, key: string, outcome: RequestOutcome, failure: string | undefined, replica: string | undefined): void {
    this.ewmaOf(key, now).finish(now, outcome);
    const ejectionKey = replica ? `gateway:${replica}` : key;
    let ejection = this.ejections.get(ejectionKey);
    if (!ejection) {
      if (failure === undefined) return;
      this.ejections.set(ejectionKey, (ejection = new OutlierEjection(this.settings.ejection)));
    }
    const before = ejection.state(now);
    if (ejection.record(now, failure === undefined, failure)) {
      const after = ejection.state(now);
      if (after === 'ejected') this.event(now, 'ejection', ejectionKey, ejection.view(now).reason);
      else if (after === 'active' && before !== 'active') this.event(now, 'return', ejectionKey, 'half-open probe succeeded');
      // An ejection or a return changes the snapshot now, not at the next refresh.
      if (this.lastSeen) this.update(now, this.lastSeen);
    }
  }

  /** The per-pick reads: plain numbers, no view object. */
  private inFlight(key: string): number {
    return this.ewma.get(key)?.requestsInFlight ?? 0;
  }

  private costNow(now: number, key: string): number {
    return this.ewma.get(key)?.cost(now) ?? this.settings.peakEwma.defaultRttMs;
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
      const drain = this.drainFactor(now, LOCAL_DRAIN_KEY, seen.drained === true);
      return this.settings.endpoints.map((e) => this.localState(now, e, seen.endpoints(e), drain));
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
      for (const t of targets) claimed.add(t.cluster);
      if (targets.length === 0) continue;
      const total = targets.reduce((n, t) => n + t.total, 0);
      const healthy = targets.reduce((n, t) => n + t.healthy, 0);
      tiers.push({
        name: entry,
        targets,
        weighted: this.weighClusters(targets),
        hasLocal: targets.some((t) => t.kind === 'local'),
        healthyFraction: total === 0 ? 0 : Math.min(1, healthy / total),
      });
    }
    return tiers;
  }

  /** A tier's targets by cluster, each with its weight scaled by its health, when `weights` names any of them. */
  private weighClusters(targets: readonly TargetState[]): WeightedCluster[] | undefined {
    const { weights, overprovisioning } = this.settings;
    if (!weights) return undefined;
    const byCluster = new Map<string, TargetState[]>();
    for (const t of targets) {
      const list = byCluster.get(t.cluster);
      if (list) list.push(t);
      else byCluster.set(t.cluster, [t]);
    }
    if (![...byCluster.keys()].some((name) => weights[name] !== undefined)) return undefined;
    return [...byCluster].map(([name, group]) => {
      const configured = weights[name] ?? 0;
      const total = group.reduce((n, t) => n + t.total, 0);
      const healthy = group.reduce((n, t) => n + t.healthy, 0);
      const health = total === 0 ? 0 : Math.min(1, (healthy / total) * overprovisioning);
      return { cluster: name, targets: group, configured, effective: configured * health };
    });
  }

  private stateOf(key: string, kind: 'local' | 'remote', cluster: string, local: LocalTarget | undefined): TargetState {
    let state = this.states.get(key);
    if (!state) {
      state = { key, kind, cluster, local, replicas: [], turn: 0, healthy: 0, total: 0, usable: false, serving: false, reason: '', since: undefined, allReplicas: [] };
      this.states.set(key, state);
    }
    return state;
  }

  private drainFactor(now: number, key: string, drained: boolean): number {
    let ramp = this.drains.get(key);
    if (!ramp) {
      if (!drained) return 1;
      this.drains.set(key, (ramp = new DrainRamp(this.settings.failback.rampMs)));
    }
    return ramp.update(now, drained);
  }

  private localState(now: number, endpoint: string, check: EndpointCheck, drain: number): TargetState {
    const key = `local:${endpoint}`;
    // Like Envoy's successful_active_health_check_uneject_host: an endpoint
    // the active checks saw go down and come back is back, without waiting
    // out an ejection earned while it was down.
    const wasHealthy = this.lastCheck.get(key);
    this.lastCheck.set(key, check.healthy);
    if (wasHealthy === false && check.healthy && this.endpointEjected(now, endpoint)) {
      this.ejections.delete(key);
      this.event(now, 'return', key, `active check passed again: ${check.reason}`);
    }
    // Every target's estimate starts when it is first seen and decays from
    // then on like the others'; one created at its first request would look
    // dearer than a used one for ever.
    this.ewmaOf(key, now);
    const ejection = this.ejections.get(key)?.view(now);
    const ejected = ejection !== undefined && ejection.state !== 'active';
    const serving = check.healthy && !ejected;
    const usable = serving && drain > 0;
    let state = this.states.get(key);
    if (!state) {
      const target: LocalTarget = { kind: 'local', endpoint };
      this.keys.set(target, key);
      state = this.stateOf(key, 'local', this.settings.cluster, target);
    }
    state.healthy = usable ? drain : 0;
    state.total = 1;
    state.usable = usable;
    state.serving = serving;
    state.reason = !check.healthy ? `active check: ${check.reason}` : ejected ? `ejected: ${ejection.reason}` : drainReason(drain, `healthy: ${check.reason}`);
    state.since = ejected ? ejection.since : check.since;
    return state;
  }

  /**
   * A cluster weighs its healthy endpoints scaled by the share of its live
   * gateway replicas not ejected: one bad replica never removes a cluster,
   * and a stale record counts for nothing. When every replica is ejected
   * while the cluster reports healthy endpoints, they are all used anyway:
   * ejections are about one replica against the others, and a cluster must
   * not be lost because its only replica had a bad moment.
   */
  private remoteState(now: number, r: RemoteCluster): TargetState {
    const key = clusterKey(r.cluster);
    const state = this.stateOf(key, 'remote', r.cluster, undefined);
    const usableIds = r.replicas.filter((id) => (this.ejections.get(`gateway:${id}`)?.state(now) ?? 'active') !== 'ejected');
    const replicaPanic = usableIds.length === 0 && r.replicas.length > 0 && !r.stale && r.healthy > 0;
    const ids = replicaPanic ? r.replicas : usableIds;
    const replicaShare = r.replicas.length === 0 ? 0 : replicaPanic ? 1 : usableIds.length / r.replicas.length;
    const drain = this.drainFactor(now, key, r.drained === true);
    state.replicas = ids.map((id) => this.replicaTarget(r.cluster, id));
    state.allReplicas = r.replicas;
    state.healthy = r.stale ? 0 : r.healthy * replicaShare * drain;
    state.total = r.total;
    state.usable = state.healthy > 0 && state.replicas.length > 0;
    state.serving = state.usable;
    state.reason = r.stale
      ? 'stale health record'
      : r.replicas.length === 0
        ? 'no live gateway replica'
        : replicaPanic
          ? `${r.healthy}/${r.total} endpoints healthy, every replica ejected: using all ${r.replicas.length} anyway`
          : drainReason(drain, `${r.healthy}/${r.total} endpoints healthy, ${usableIds.length}/${r.replicas.length} replicas usable`);
    state.since = r.ageMs === undefined ? undefined : now - r.ageMs;
    this.ewmaOf(key, now);
    return state;
  }

  private replicaTarget(cluster: string, replica: string): ReplicaTarget {
    const id = `${cluster}/${replica}`;
    let target = this.replicaTargets.get(id);
    if (!target) {
      this.replicaTargets.set(id, (target = { kind: 'remote', cluster, replica }));
      this.keys.set(target, clusterKey(cluster));
    }
    return target;
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
    const others = this.tiers.slice(1);
    const restTotal = rest.reduce((a, b) => a + b, 0);
    // With the preferred tier healthy again the later tiers' shares are all 0: the held-back
    // traffic goes where failover would send it, in tier order (the region before anywhere).
    const weights =
      restTotal > 0 || !others.some((t) => t.healthyFraction > 0)
        ? rest
        : tierShares(others.map((t) => ({ name: t.name, healthyFraction: t.healthyFraction })), this.settings.overprovisioning).shares;
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
    /** In a weighted tier, each cluster's configured weight and the share of all traffic it gets now (health and spill-over applied). */
    readonly weights?: readonly { readonly cluster: string; readonly configured: number; readonly share: number }[];
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
      readonly replicas?: readonly { readonly id: string; readonly usable: boolean; readonly ejection?: OutlierView | undefined }[];
    }[];
  }[];
  readonly failback: FailbackView;
  readonly retryBudget: RetryBudgetView;
}

/** Ours is `local` among the drain ramps: a cluster's key cannot be it. */
const LOCAL_DRAIN_KEY = 'local';

/** A target's reason while a drain holds or ramps: `drained` once its share is gone. */
function drainReason(drain: number, healthy: string): string {
  if (drain >= 1) return healthy;
  return drain <= 0 ? 'drained' : `drain ramp: ${Math.round(drain * 100)} % of its health counts (${healthy})`;
}

function weightShares(groups: readonly WeightedCluster[], tierShare: number): { cluster: string; configured: number; share: number }[] {
  const sum = groups.reduce((n, g) => n + g.effective, 0);
  return groups.map((g) => ({ cluster: g.cluster, configured: g.configured, share: round(sum === 0 ? 0 : (tierShare * g.effective) / sum) }));
}

/** A cluster's key among the targets (and in /debug/routes and events). */
const clusterKey = (cluster: string): string => `cluster:${cluster}`;
const EMPTY: ReadonlySet<Target> = new Set();

const PROBE_WHY = 'half-open probe after ejection';

/** One pick: a class, so that done() is a method and not a closure made per request. */
class TargetPick implements Pick {
  constructor(
    private readonly balancer: ServiceBalancer,
    readonly target: Target,
    private readonly key: string,
    readonly tier: string,
    /** The reason, or the share of the tier it was picked from. */
    private readonly reason: string | number,
  ) {}

  get why(): string {
    return typeof this.reason === 'number' ? `tier share ${pct(this.reason)}` : this.reason;
  }

  done(now: number, outcome: RequestOutcome, failure?: string): void {
    this.balancer.finish(now, this.key, outcome, failure, this.target.kind === 'remote' ? this.target.replica : undefined);
  }
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
const pct = (x: number | undefined): string => `${Math.round((x ?? 0) * 100)}%`;
