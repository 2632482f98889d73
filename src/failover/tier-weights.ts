/**
 * How a service's traffic splits across locality tiers (local, region, any),
 * after Envoy's priority levels: a tier keeps all the traffic while it is
 * healthy enough and spills only the shortfall to the next one, so failover is
 * gradual instead of all-or-nothing (Consul and Cilium switch only at 0
 * healthy, and the whole load moves at once).
 *
 * What we follow from Envoy (load_balancer_impl.cc, priority load):
 * - health(tier) = min(1, healthyFraction × overprovisioning), default 1.4, so
 *   a tier keeps 100 % of the traffic while ≥ 1/1.4 ≈ 71.4 % healthy and 70 %
 *   of it at 50 % healthy;
 * - tiers are filled in order, each taking up to its health of what is left;
 * - when the healths add up to less than 1 they are divided by their sum, so
 *   all traffic is always assigned ("normalized total health");
 * - rounding leftovers go to the first tier with any health.
 * What we do not follow:
 * - Envoy's per-level panic (a level under 50 % healthy uses all its hosts) and
 *   its total panic that spreads load by host count. Our panic is simpler:
 *   only when nothing anywhere is healthy, all traffic goes to the first tier
 *   that has endpoints and the caller uses every endpoint of it.
 * - degraded hosts, and integer percentages: shares here are plain fractions.
 */

export interface TierHealth {
  readonly name: string;
  /** healthy / total endpoints of the tier, in [0, 1]; 0 for an empty tier. */
  readonly healthyFraction: number;
  /** Endpoints in the tier; omitted means "some". Only panic looks at it. */
  readonly endpoints?: number;
}

export interface TierShares {
  /** One share per tier, in the tiers' order; they add up to 1. */
  readonly shares: number[];
  /** True when nothing anywhere is healthy and the shares say where to use every endpoint. */
  readonly panic: boolean;
}

// Shares below this are float noise from subtracting, not traffic: without the
// snap a later tier could show a weight of 1e-17 in /debug/routes.
const EPSILON = 1e-12;

export function tierShares(tiers: readonly TierHealth[], overprovisioning = 1.4): TierShares {
  if (tiers.length === 0) throw new RangeError('tierShares: at least one tier is needed');
  if (!Number.isFinite(overprovisioning) || overprovisioning <= 0) {
    throw new RangeError(`tierShares: overprovisioning must be a positive number, got ${overprovisioning}`);
  }
  // Rejected rather than clamped: a fraction outside [0, 1] means a count was
  // computed wrongly upstream, and clamping would route on a silent lie.
  for (const t of tiers) {
    if (!(t.healthyFraction >= 0 && t.healthyFraction <= 1)) {
      throw new RangeError(`tierShares: tier ${t.name}: healthyFraction must be in [0, 1], got ${t.healthyFraction}`);
    }
    if (t.endpoints !== undefined && t.endpoints <= 0 && t.healthyFraction > 0) {
      throw new RangeError(`tierShares: tier ${t.name}: has no endpoints but healthyFraction ${t.healthyFraction}`);
    }
  }

  const health = tiers.map((t) => Math.min(1, t.healthyFraction * overprovisioning));
  const total = health.reduce((a, b) => a + b, 0);
  if (total === 0) {
    // Failing every request is worse than trying endpoints that checks call
    // unhealthy (checks can be wrong; the data plane will tell). With no tier
    // holding endpoints, tier 0 gets the traffic and the caller finds nothing.
    const first = Math.max(0, tiers.findIndex((t) => t.endpoints === undefined || t.endpoints > 0));
    return { shares: tiers.map((_, i) => (i === first ? 1 : 0)), panic: true };
  }

  const normalizedTotal = Math.min(1, total);
  let remaining = 1;
  const shares = health.map((h) => {
    const share = Math.min(remaining, h / normalizedTotal);
    remaining -= share;
    return share < EPSILON ? 0 : share;
  });
  const first = health.findIndex((h) => h > 0);
  shares[first] = (shares[first] ?? 0) + (1 - shares.reduce((a, b) => a + b, 0));
  return { shares, panic: false };
}

/**
 * The tier for one request, given a uniform random number in [0, 1): tier i
 * owns the slice [s0 + … + s(i-1), s0 + … + si). A tier with share 0 is never
 * picked. Returns -1 only when every share is 0 (tierShares never does that).
 */
export function pickTier(shares: readonly number[], random: number): number {
  let cumulative = 0;
  let lastPositive = -1;
  for (let i = 0; i < shares.length; i++) {
    const share = shares[i] ?? 0;
    if (share <= 0) continue;
    lastPositive = i;
    cumulative += share;
    if (random < cumulative) return i;
  }
  // Shares that add up to a hair under 1 must not drop the request.
  return lastPositive;
}
