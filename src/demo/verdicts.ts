/**
 * Each story step's expectation, judged from what was observed: the app's
 * outcomes during the step and what us-east's gateway said about itself.
 * Pure, so that the rules are tested without a federation.
 */
import { movedAt, serviceStats } from './traffic-stats.js';
import type { Outcome } from './traffic.js';

export interface Verdict {
  readonly passed: boolean;
  /** Requests that failed during the step, all services. */
  readonly failed: number;
  /** Of those, idempotent ones (GET to hello): the ones failover promises to save. */
  readonly failedIdempotent: number;
  readonly requests: number;
  /** From the step's action until traffic had moved; undefined if it never did. */
  readonly movedAfterMs: number | undefined;
  /** The buckets that time was read in, when not the default 250 ms. */
  readonly movedResolutionMs?: number;
  /** What was seen, in one line. */
  readonly seen: string;
  /** Each expectation that did not hold. */
  readonly missed: readonly string[];
}

const BUCKET_MS = 250;
const LATENCY_BUCKET_MS = 1_000;
const NEGLIGIBLE = 0.05;
/** Traffic has moved when four buckets in a row (1 s) say so and it stays so. */
const MIN_BUCKETS = 4;
export const pct = (x: number): string => `${(Math.round(x * 1000) / 10).toFixed(1)} %`;
const secs = (ms: number | undefined): string => (ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`);

/** How long until traffic moved, as the buckets allow telling it. */
export function movedText(ms: number | undefined, resolutionMs = BUCKET_MS): string {
  const within = resolutionMs < 1_000 ? `${resolutionMs} ms` : `${resolutionMs / 1_000} s`;
  return ms === undefined ? 'never' : ms < resolutionMs ? `at once (< ${within})` : `after ${secs(ms)}`;
}

function counts(outcomes: readonly Outcome[]): Pick<Verdict, 'failed' | 'failedIdempotent' | 'requests'> {
  return {
    requests: outcomes.length,
    failed: outcomes.filter((o) => !o.ok).length,
    failedIdempotent: outcomes.filter((o) => !o.ok && o.idempotent).length,
  };
}

function verdict(outcomes: readonly Outcome[], movedAfterMs: number | undefined, seen: string, checks: readonly [boolean, string][]): Verdict {
  const missed = checks.filter(([ok]) => !ok).map(([, what]) => what);
  return { ...counts(outcomes), movedAfterMs, seen, missed, passed: missed.length === 0 };
}

const share = (outcomes: readonly Outcome[], service: string, cluster: string): number =>
  serviceStats(service, outcomes, [cluster]).clusters[0]?.share ?? 0;

/** Step 1: every local endpoint killed at `from`: hello moves to `to` (same region) and not to `farAway`, no idempotent request fails. */
export function judgeFailover(outcomes: readonly Outcome[], a: { from: number; until: number; to: string; farAway: string }): Verdict {
  const during = outcomes.filter((o) => o.at >= a.from && o.at < a.until);
  const moved = movedAt(during, { service: 'hello', cluster: a.to, from: a.from, to: a.until, bucketMs: BUCKET_MS, holds: (s) => s >= 0.99, minBuckets: MIN_BUCKETS });
  const far = share(during, 'hello', a.farAway);
  const c = counts(during);
  return verdict(during, moved === undefined ? undefined : moved - a.from, `hello ${moved === undefined ? 'did not move' : 'moved'} to ${a.to}, ${a.farAway} got ${pct(far)} of it`, [
    [moved !== undefined, `hello traffic moved to ${a.to}`],
    [far <= 0.01, `${a.to} (same region) before ${a.farAway}`],
    [c.failedIdempotent === 0, 'no idempotent request failed'],
  ]);
}

/** Step 2: the endpoints back at `from`: hello returns to `home` only after a hold and a ramp, and says so in a failback event. */
export function judgeFailback(outcomes: readonly Outcome[], a: { from: number; until: number; home: string; phases: readonly string[]; failbackEvent: boolean }): Verdict {
  const during = outcomes.filter((o) => o.at >= a.from && o.at < a.until);
  const moved = movedAt(during, { service: 'hello', cluster: a.home, from: a.from, to: a.until, bucketMs: BUCKET_MS, holds: (s) => s >= 0.99, minBuckets: MIN_BUCKETS });
  const c = counts(during);
  const heldAndRamped = a.phases.includes('holding') && a.phases.includes('ramping') && a.phases.at(-1) === 'steady';
  return verdict(during, moved === undefined ? undefined : moved - a.from, `hello ${moved === undefined ? 'not yet' : 'all'} back in ${a.home}; failback phases ${a.phases.join(' → ') || 'none seen'}`, [
    [moved !== undefined, `hello traffic back in ${a.home}`],
    [heldAndRamped, 'failback went through its hold and ramp to steady'],
    [a.failbackEvent, 'a failback event in /debug/events'],
    [c.failedIdempotent === 0, 'no idempotent request failed'],
  ]);
}

/**
 * Step 3: `slow`'s endpoints 50 ms slower at `from`: its latency estimate
 * rises and its share of echo (routed by latency alone) falls to under half
 * of what it had in the `before` outcomes, or stays negligible (≤ 5 %) when
 * it had little to lose: on a busy machine the latency order of the clusters
 * is noisy before the slow-down, never after it. Picking regardless of
 * latency would give it about a third either way.
 */
export function judgeLatencyShift(
  before: readonly Outcome[],
  outcomes: readonly Outcome[],
  a: { from: number; until: number; slow: string; estimateMs: number | undefined; minEstimateMs: number; others: readonly string[]; othersEstimates?: string },
): Verdict {
  const during = outcomes.filter((o) => o.at >= a.from && o.at < a.until);
  const was = share(before, 'echo', a.slow);
  // After the first second: the shift itself happens within it.
  const settled = during.filter((o) => o.at >= a.from + 1_000);
  const after = share(settled, 'echo', a.slow);
  const others = a.others.map((c) => `${c} ${pct(share(before, 'echo', c))} → ${pct(share(settled, 'echo', c))}`).join(', ');
  // Seconds: echo's 30 calls a second make quarter-second shares too coarse (one call in seven is 14 %).
  const moved = movedAt(during, { service: 'echo', cluster: a.slow, from: a.from, to: a.until, bucketMs: LATENCY_BUCKET_MS, holds: (s) => s <= was / 2, minBuckets: 2 });
  const estimate = a.estimateMs === undefined ? 'unknown' : `${a.estimateMs.toFixed(0)} ms`;
  const v = verdict(during, moved === undefined ? undefined : moved - a.from, `${a.slow}'s share of echo ${pct(was)} → ${pct(after)} (${others}); its latency estimate ${estimate}${a.othersEstimates ? ` (others: ${a.othersEstimates})` : ''}`, [
    [a.estimateMs !== undefined && a.estimateMs >= a.minEstimateMs, `${a.slow}'s latency estimate rose to ≥ ${a.minEstimateMs} ms`],
    [after < was / 2 || after <= NEGLIGIBLE, `${a.slow}'s share of echo fell to under half (or stayed ≤ 5 %)`],
  ]);
  return { ...v, movedResolutionMs: LATENCY_BUCKET_MS };
}

/** Step 4: `killed`'s gateway SIGKILLed at `from`: membership marks it dead, routing leaves it out, nothing is answered by it afterwards. */
export function judgeGatewayKilled(outcomes: readonly Outcome[], a: { from: number; until: number; killed: string; deadAt: number | undefined; leftOut: boolean }): Verdict {
  const during = outcomes.filter((o) => o.at >= a.from && o.at < a.until);
  const answeredAfter = during.filter((o) => o.ok && o.cluster === a.killed && o.at >= (a.deadAt ?? a.from)).length;
  const lastAnswer = during.filter((o) => o.ok && o.cluster === a.killed).at(-1);
  const movedAfterMs = lastAnswer ? Math.max(0, lastAnswer.at - a.from) : 0;
  const c = counts(during);
  return verdict(during, movedAfterMs, `${a.killed} marked dead after ${secs(a.deadAt === undefined ? undefined : a.deadAt - a.from)}; ${a.leftOut ? 'left out of routing' : 'still in routing'}; ${answeredAfter} answer(s) from it after that`, [
    [a.deadAt !== undefined, `${a.killed}'s gateway marked dead`],
    [a.leftOut, `${a.killed} left out of routing (/debug/routes)`],
    [answeredAfter === 0, `no request served by ${a.killed} after it was marked dead`],
    [c.failedIdempotent === 0, 'no idempotent request failed'],
  ]);
}
