/**
 * The summary's chart: each service's traffic share per destination cluster
 * over time, as stacked areas in an SVG (one panel per service), with the
 * story's steps marked. Plain SVG 1.1 text, no library.
 */
import type { ShareBucket } from './traffic-stats.js';

export interface ChartPanel {
  readonly service: string;
  readonly buckets: readonly ShareBucket[];
}

export interface ChartMark {
  readonly at: number;
  readonly label: string;
}

const COLORS: Readonly<Record<string, string>> = { 'us-east': '#2b7bb9', 'us-west': '#52a447', 'eu-west': '#e0a526', failed: '#d43c3c' };
const WIDTH = 900;
const PANEL_H = 180;
const LEFT = 60;
const RIGHT = 20;
const TOP = 70;
const GAP = 50;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (x: number): string => (Math.round(x * 10) / 10).toString();

export interface Chart {
  readonly title: string;
  readonly panels: readonly ChartPanel[];
  /** The clusters, bottom to top (and "failed"). */
  readonly series: readonly string[];
  readonly marks: readonly ChartMark[];
  readonly bucketMs: number;
}

export function shareChartSvg({ title, panels, series, marks, bucketMs: step }: Chart): string {
  const start = Math.min(...panels.map((p) => p.buckets[0]?.at ?? Number.POSITIVE_INFINITY));
  const last = Math.max(...panels.map((p) => p.buckets.at(-1)?.at ?? Number.NEGATIVE_INFINITY));
  const span = Number.isFinite(start) && Number.isFinite(last) ? Math.max(step, last + step - start) : 1;
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (at: number): number => LEFT + ((at - start) / span) * plotW;
  const height = TOP + panels.length * (PANEL_H + GAP) + 30;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  series.forEach((name, i) => {
    const lx = LEFT + i * 95;
    out.push(`<rect x="${lx}" y="30" width="12" height="12" fill="${COLORS[name] ?? '#888'}"/><text x="${lx + 16}" y="41">${esc(name)}</text>`);
  });
  panels.forEach((panel, p) => {
    const top = TOP + p * (PANEL_H + GAP);
    const y = (share: number): number => top + PANEL_H - share * PANEL_H;
    out.push(`<text x="${LEFT}" y="${top - 6}" font-weight="bold">${esc(panel.service)}: share of requests per cluster</text>`);
    // Stacked areas, bottom to top in the order of `series`; an empty bucket draws nothing.
    const below = panel.buckets.map(() => 0);
    for (const name of series) {
      const poly: string[] = [];
      const tops: string[] = [];
      panel.buckets.forEach((b, i) => {
        if (b.requests === 0) return;
        const lo = below[i] as number;
        const hi = lo + (b.shares[name] ?? 0);
        below[i] = hi;
        tops.push(`${fmt(x(b.at))},${fmt(y(hi))} ${fmt(x(b.at + step))},${fmt(y(hi))}`);
        poly.unshift(`${fmt(x(b.at + step))},${fmt(y(lo))} ${fmt(x(b.at))},${fmt(y(lo))}`);
      });
      if (tops.length > 0) out.push(`<polygon fill="${COLORS[name] ?? '#888'}" fill-opacity="0.85" points="${[...tops, ...poly].join(' ')}"/>`);
    }
    out.push(`<rect x="${LEFT}" y="${top}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#333"/>`);
    for (const share of [0, 0.5, 1]) out.push(`<text x="${LEFT - 6}" y="${fmt(y(share) + 4)}" text-anchor="end">${share * 100} %</text>`);
    for (const m of marks) {
      const mx = fmt(x(m.at));
      out.push(`<line x1="${mx}" y1="${top}" x2="${mx}" y2="${top + PANEL_H}" stroke="#000" stroke-dasharray="4 3"/>`);
      if (p === 0) out.push(`<text x="${fmt(x(m.at) + 3)}" y="${top + 12}">${esc(m.label)}</text>`);
    }
  });
  // Time axis under the last panel, in seconds from the start.
  const axisY = TOP + panels.length * (PANEL_H + GAP) - GAP + 16;
  const seconds = span / 1000;
  const tick = seconds > 240 ? 60 : seconds > 60 ? 10 : 5;
  for (let s = 0; s <= seconds; s += tick) out.push(`<text x="${fmt(x(start + s * 1000))}" y="${axisY}" text-anchor="middle">${s} s</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
