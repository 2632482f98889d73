/** The end of a demo: one line per step, and the chart of traffic share over time. */
import { CLUSTERS } from './gateway-config.js';
import { shareChartSvg } from './share-chart.js';
import type { StepState } from './story.js';
import { shareSeries, type TrafficLog } from './traffic-stats.js';
import { movedText } from './verdicts.js';

/** One line per step: verdict, failed requests, time until traffic moved, what was seen. */
export function summaryLine(s: StepState): string {
  const head = `step ${s.n} ${s.name}: ${s.status.toUpperCase()}`;
  const v = s.verdict;
  if (!v) return `${head} (${s.note ?? 'not run'})`;
  if (s.status === 'skipped') return `${head} (${s.note ?? 'stopped'}); failed requests ${v.failed} of ${v.requests} (idempotent: ${v.failedIdempotent}) until then`;
  const missed = v.missed.length ? `; missed: ${v.missed.join('; ')}` : '';
  return `${head}; failed requests ${v.failed} of ${v.requests} (idempotent: ${v.failedIdempotent}); traffic moved ${movedText(v.movedAfterMs, v.movedResolutionMs)}; ${v.seen}${missed}`;
}

export const CHART_BUCKET_MS = 1_000;

export function chartSvg(traffic: TrafficLog, steps: readonly StepState[], from: number, to: number): string {
  const series = [...CLUSTERS.map((c) => c.name), 'failed'];
  const panels = ['hello', 'echo'].map((service) => ({ service, buckets: shareSeries(traffic.between(from, to), service, from, to, CHART_BUCKET_MS) }));
  const marks = steps.filter((s) => s.startedAt !== undefined).map((s) => ({ at: s.startedAt as number, label: `${s.n} ${s.name}` }));
  return shareChartSvg({ title: 'meshgate demo: traffic from us-east by the cluster that answered', panels, series, marks, bucketMs: CHART_BUCKET_MS });
}
