import { describe, expect, it } from 'vitest';
import { shareChartSvg } from './share-chart.js';

describe('shareChartSvg', () => {
  const chart = shareChartSvg({
    title: 'a <title> & more',
    bucketMs: 1_000,
    series: ['us-east', 'us-west', 'failed'],
    marks: [{ at: 1_000, label: '1 failover' }],
    panels: [
      {
        service: 'hello',
        buckets: [
          { at: 0, requests: 10, shares: { 'us-east': 1 } },
          { at: 1_000, requests: 10, shares: { 'us-west': 0.9, failed: 0.1 } },
          { at: 2_000, requests: 0, shares: {} },
        ],
      },
    ],
  });

  it('is one SVG document with text escaped', () => {
    expect(chart.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(chart.trim().endsWith('</svg>')).toBe(true);
    expect(chart).toContain('a &lt;title&gt; &amp; more');
    expect(chart).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('draws one area per series that had traffic, and the step marks', () => {
    expect(chart.match(/<polygon /g)).toHaveLength(3);
    expect(chart).toContain('1 failover');
    expect(chart).toContain('stroke-dasharray');
  });
});
