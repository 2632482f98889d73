import type { Attributes } from '@opentelemetry/api';
import type { KeyedHistogram } from './keyed-histogram.js';

/** One series' bucket counts over a window: what it recorded between two looks. */
export interface WindowSeries {
  readonly attributes: Attributes;
  /** One per boundary, plus the bucket above the last; not cumulative. */
  readonly counts: readonly number[];
}

export interface WindowCounts {
  /** How long the window really is: shorter while the process is younger than it. */
  readonly spanMs: number;
  readonly boundaries: readonly number[];
  readonly series: readonly WindowSeries[];
}

interface Look {
  readonly at: number;
  readonly counts: ReadonlyMap<string, readonly number[]>;
}

/**
 * The recent part of a cumulative histogram, as Prometheus's `rate()` over a
 * range gives it: the histogram is looked at every step, and a window is
 * now's counts less those of the oldest look kept. Nothing is added to the
 * recording path. The caller runs the clock (`look` on a timer, `now` given).
 */
export class HistogramWindow {
  private readonly looks: Look[] = [];

  constructor(
    private readonly histogram: KeyedHistogram,
    private readonly windowMs: number,
    now: number,
  ) {
    this.look(now);
  }

  /** Keeps the counts as they are now, and forgets looks older than the window needs. */
  look(now: number): void {
    const counts = new Map<string, readonly number[]>();
    for (const s of this.histogram.series()) counts.set(s.key, [...s.counts]);
    this.looks.push({ at: now, counts });
    // The newest look at least a window old is the window's start; older ones are no longer needed.
    while (this.looks.length > 1 && (this.looks[1] as Look).at <= now - this.windowMs) this.looks.shift();
  }

  counts(now: number): WindowCounts {
    const start = this.looks[0] as Look;
    const series: WindowSeries[] = [];
    for (const { key, attributes, counts } of this.histogram.series()) {
      const before = start.counts.get(key);
      const recent = before ? counts.map((c, i) => c - (before[i] as number)) : [...counts];
      if (recent.some((c) => c > 0)) series.push({ attributes, counts: recent });
    }
    return { spanMs: now - start.at, boundaries: this.histogram.boundaries, series };
  }
}

/**
 * The q-quantile of bucketed observations, interpolated linearly within the
 * bucket it falls in, as Prometheus's histogram_quantile() estimates it (the
 * first bucket's lower bound is 0; one that falls above the last boundary is
 * that boundary). Undefined for no observations.
 */
export function histogramQuantile(q: number, boundaries: readonly number[], counts: readonly number[]): number | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i] as number;
    if (below + inBucket >= rank && inBucket > 0) {
      if (i >= boundaries.length) return boundaries[boundaries.length - 1];
      const lower = i === 0 ? 0 : (boundaries[i - 1] as number);
      const upper = boundaries[i] as number;
      return lower + ((upper - lower) * (rank - below)) / inBucket;
    }
    below += inBucket;
  }
  return boundaries[boundaries.length - 1];
}
