import { describe, expect, it } from 'vitest';
import { HistogramWindow, histogramQuantile } from './histogram-window.js';
import { KeyedHistogram } from './keyed-histogram.js';

const BOUNDS = [0.01, 0.1, 1];

describe('histogramQuantile', () => {
  it('interpolates within the bucket the rank falls in, as histogram_quantile does', () => {
    // 100 observations: 90 up to 10 ms, 10 in (10 ms, 100 ms].
    expect(histogramQuantile(0.5, BOUNDS, [90, 10, 0, 0])).toBeCloseTo(0.01 * (50 / 90), 10);
    expect(histogramQuantile(0.99, BOUNDS, [90, 10, 0, 0])).toBeCloseTo(0.01 + 0.09 * (9 / 10), 10);
    expect(histogramQuantile(1, BOUNDS, [90, 10, 0, 0])).toBeCloseTo(0.1, 10);
  });

  it('skips empty buckets, answers the last boundary above it, and nothing for no observations', () => {
    expect(histogramQuantile(0.5, BOUNDS, [0, 0, 4, 0])).toBeCloseTo(0.1 + 0.9 * 0.5, 10);
    expect(histogramQuantile(0.99, BOUNDS, [1, 0, 0, 99])).toBe(1);
    expect(histogramQuantile(0.99, BOUNDS, [0, 0, 0, 0])).toBeUndefined();
  });
});

describe('HistogramWindow', () => {
  const attrs = (service: string) => () => ({ service });

  it('counts only what was recorded within the window, by series', () => {
    const h = new KeyedHistogram('d', { description: '', unit: 's', boundaries: BOUNDS });
    h.record('old', 0.5, attrs('old'));
    const w = new HistogramWindow(h, 60_000, 0);
    for (let i = 0; i < 3; i++) h.record('a', 0.005, attrs('a'));
    w.look(10_000);
    h.record('a', 0.05, attrs('a'));

    const early = w.counts(15_000);
    expect(early.spanMs).toBe(15_000);
    expect(early.boundaries).toEqual(BOUNDS);
    // `old` recorded nothing since the window began: it is left out.
    expect(early.series).toEqual([{ attributes: { service: 'a' }, counts: [3, 1, 0, 0] }]);

    // Looks every 10 s; at 70 s the window starts at the look of 10 s.
    for (let t = 20_000; t <= 70_000; t += 10_000) w.look(t);
    h.record('a', 2, attrs('a'));
    const later = w.counts(75_000);
    expect(later.spanMs).toBe(65_000);
    expect(later.series).toEqual([{ attributes: { service: 'a' }, counts: [0, 1, 0, 1] }]);
  });
});
