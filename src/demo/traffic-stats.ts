/**
 * What the app's outcomes say, computed from the outcomes alone: per service
 * and destination cluster the share, success rate and p50/p99 over a window,
 * the per-bucket series behind the summary's chart, and when traffic moved.
 */
import type { Outcome } from './traffic.js';

export interface ClusterStats {
  readonly cluster: string;
  /** Requests it answered. */
  readonly answered: number;
  /** Of all requests of the service in the window, in [0, 1]. */
  readonly share: number;
  /** Its answers that were successes, in [0, 1]; NaN with none. */
  readonly successRate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface ServiceStats {
  readonly service: string;
  readonly requests: number;
  readonly failed: number;
  /** Failures by reason ("502 upstream-reset": 2). */
  readonly failures: Readonly<Record<string, number>>;
  readonly clusters: readonly ClusterStats[];
}

/** The q-quantile (0 < q ≤ 1) of the values by the nearest-rank method; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Stats of one service's outcomes; `clusters` lists every cluster, answered or not, in that order. */
export function serviceStats(service: string, outcomes: readonly Outcome[], clusters: readonly string[]): ServiceStats {
  const mine = outcomes.filter((o) => o.service === service);
  const failures: Record<string, number> = {};
  for (const o of mine) if (!o.ok) failures[o.error ?? 'failed'] = (failures[o.error ?? 'failed'] ?? 0) + 1;
  return {
    service,
    requests: mine.length,
    failed: mine.filter((o) => !o.ok).length,
    failures,
    clusters: clusters.map((cluster) => {
      const answered = mine.filter((o) => o.cluster === cluster);
      const ms = answered.filter((o) => o.ok).map((o) => o.ms);
      return {
        cluster,
        answered: answered.length,
        share: mine.length === 0 ? 0 : answered.length / mine.length,
        successRate: answered.length === 0 ? Number.NaN : ms.length / answered.length,
        p50Ms: quantile(ms, 0.5),
        p99Ms: quantile(ms, 0.99),
      };
    }),
  };
}

/** Keeps the app's outcomes, in the order they were sent. */
export class TrafficLog {
  private readonly outcomes: Outcome[] = [];

  add(batch: readonly Outcome[]): void {
    for (const o of batch) this.outcomes.push(o);
    // Batches from the app arrive in send order per service; two services interleave.
    this.outcomes.sort((a, b) => a.at - b.at);
  }

  /** Outcomes sent in [from, to). */
  between(from: number, to = Number.POSITIVE_INFINITY): Outcome[] {
    return this.outcomes.slice(this.firstAtOrAfter(from), this.firstAtOrAfter(to));
  }

  /** Binary search: the view asks twice a second and the story every 200 ms, over a log that grows by 80 a second. */
  private firstAtOrAfter(at: number): number {
    let [lo, hi] = [0, this.outcomes.length];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.outcomes[mid] as Outcome).at < at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get size(): number {
    return this.outcomes.length;
  }

  get first(): number | undefined {
    return this.outcomes[0]?.at;
  }

  get last(): number | undefined {
    return this.outcomes.at(-1)?.at;
  }
}

/** Per bucket of `bucketMs` from `start`: each cluster's share of the service's requests (failed ones count as "failed"). */
export interface ShareBucket {
  readonly at: number;
  readonly requests: number;
  readonly shares: Readonly<Record<string, number>>;
}

export function shareSeries(outcomes: readonly Outcome[], service: string, start: number, end: number, bucketMs: number): ShareBucket[] {
  const n = Math.max(0, Math.ceil((end - start) / bucketMs));
  const counts = Array.from({ length: n }, () => ({ requests: 0, by: {} as Record<string, number> }));
  for (const o of outcomes) {
    if (o.service !== service || o.at < start || o.at >= end) continue;
    const b = counts[Math.floor((o.at - start) / bucketMs)];
    if (!b) continue;
    b.requests++;
    const key = o.ok && o.cluster ? o.cluster : 'failed';
    b.by[key] = (b.by[key] ?? 0) + 1;
  }
  return counts.map((b, i) => ({
    at: start + i * bucketMs,
    requests: b.requests,
    shares: Object.fromEntries(Object.entries(b.by).map(([k, v]) => [k, v / b.requests])),
  }));
}

/**
 * When traffic had moved: the start of the first bucket after `from` from
 * which `holds(share of cluster)` is true in every non-empty bucket up to
 * `to` (a move that reverts does not count), with at least `minBuckets` of
 * them. Undefined when it never settled so.
 */
export function movedAt(
  outcomes: readonly Outcome[],
  opts: { service: string; cluster: string; from: number; to: number; bucketMs: number; holds: (share: number) => boolean; minBuckets?: number },
): number | undefined {
  const buckets = shareSeries(outcomes, opts.service, opts.from, opts.to, opts.bucketMs).filter((b) => b.requests > 0);
  let k = buckets.length;
  while (k > 0 && opts.holds((buckets[k - 1] as ShareBucket).shares[opts.cluster] ?? 0)) k--;
  if (buckets.length - k < (opts.minBuckets ?? 1)) return undefined;
  return (buckets[k] as ShareBucket).at;
}
