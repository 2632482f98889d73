import { describe, expect, it } from 'vitest';
import { ANSI, clip, memberChanges, newEvents, PLAIN, renderScreen, trafficLine, type ViewModel } from './view.js';
import { newSteps } from './story.js';
import { serviceStats } from './traffic-stats.js';
import type { Outcome } from './traffic.js';

const outcomes: Outcome[] = [
  { at: 1, service: 'hello', cluster: 'us-east', ok: true, ms: 2, idempotent: true },
  { at: 2, service: 'hello', cluster: 'us-west', ok: true, ms: 8, idempotent: true },
  { at: 3, service: 'hello', ok: false, ms: 1, error: '502 upstream-reset', idempotent: true },
  { at: 4, service: 'echo', cluster: 'eu-west', ok: true, ms: 5, idempotent: false },
];
const clusters = ['us-east', 'us-west', 'eu-west'];
const traffic = ['hello', 'echo'].map((s) => serviceStats(s, outcomes, clusters));

function model(): ViewModel {
  const steps = newSteps();
  steps[0]!.status = 'passed';
  steps[0]!.verdict = { passed: true, failed: 0, failedIdempotent: 0, requests: 10, movedAfterMs: 0, seen: 'hello moved to us-west', missed: [] };
  steps[1]!.status = 'running';
  return {
    now: 61_000,
    startedAt: 1_000,
    appCluster: 'us-east',
    gateway: '127.0.0.1:4140',
    rates: 'GET hello 50/s',
    windowMs: 5_000,
    traffic,
    clusters: [
      { cluster: 'us-east', region: 'us', distanceMs: 0, endpointsUp: false, delayMs: 0, gatewayUp: true },
      { cluster: 'us-west', region: 'us', distanceMs: 0, endpointsUp: true, delayMs: 50, gatewayUp: true },
      { cluster: 'eu-west', region: 'eu', distanceMs: 10, endpointsUp: true, delayMs: 0, gatewayUp: false },
    ],
    admin: {
      at: 60_000,
      members: {
        self: 'us-east.gw1',
        members: [
          { id: 'eu-west.gw1', cluster: 'eu-west', status: 'dead', lastHeardMs: 6_000, statusSinceMs: 1_000 },
          { id: 'us-east.gw1', cluster: 'us-east', status: 'alive', lastHeardMs: null, statusSinceMs: 60_000 },
        ],
      },
      services: { services: { hello: { 'us-east': { healthy: 0, total: 2, stale: false }, 'eu-west': { healthy: 2, total: 2, stale: true } } } },
      events: { events: [{ time: '2026-01-01T10:00:00.000Z', kind: 'failover', service: 'hello', target: 'local', reason: 'traffic now local 0%, region 100%, any 0%' }] },
    },
    steps,
    narration: [{ at: 0, text: 'killing every endpoint of us-east' }],
    keys: '[q] quit',
  };
}

describe('renderScreen', () => {
  it('shows traffic per cluster, members, endpoints, events, the story and the keys', () => {
    const text = renderScreen(model(), PLAIN, 200).join('\n');
    expect(text).toContain('us-east (us), us-west (us), eu-west (eu, 10 ms away)');
    expect(text).toContain('t+60 s');
    expect(text).toMatch(/hello\s+us-east\s+█+·+\s+33\.3 %\s+100\.0 %\s+2\.0 ms/);
    expect(text).toContain('3 requests, 66.7 % ok, failed: 1× 502 upstream-reset');
    expect(text).toMatch(/eu-west\.gw1\s+dead\s+for 1\.0 s\s+heard 6\.0 s ago/);
    expect(text).toContain('(this gateway)');
    expect(text).toMatch(/us-east\s+hello 0\/2\s+endpoints killed/);
    expect(text).toMatch(/us-west\s+hello —\s+\+50 ms/);
    expect(text).toMatch(/eu-west\s+hello 2\/2 stale\s+gateway killed/);
    expect(text).toContain('10:00:00 failover  hello local: traffic now local 0%, region 100%, any 0%');
    expect(text).toContain("✓ 1 us-east's endpoints all die");
    expect(text).toContain('traffic moved at once (< 250 ms)');
    expect(text).toContain("▶ 2 us-east's endpoints return");
    expect(text).toContain('[q] quit');
  });

  it('keeps every line within the width, escape sequences whole', () => {
    const lines = renderScreen(model(), ANSI, 60);
    for (const line of lines) expect(line.replace(/\x1b\[[0-9;]*m/g, '').length).toBeLessThanOrEqual(60);
    expect(lines.join('\n')).toContain('\x1b[31m'); // dead in red
  });
});

describe('plain lines', () => {
  it('clip cuts visible characters only', () => {
    expect(clip('\x1b[1mabcdef\x1b[0m', 3)).toBe('\x1b[1mabc\x1b[0m');
  });

  it('trafficLine sums up each service', () => {
    expect(trafficLine(traffic)).toBe('hello: us-east 33.3 % us-west 33.3 % eu-west 0.0 %, 66.7 % ok (failed: 1× 502 upstream-reset) | echo: us-east 0.0 % us-west 0.0 % eu-west 100.0 %, 100.0 % ok');
  });

  it('memberChanges and newEvents report only what changed', () => {
    const a = { id: 'a', cluster: 'x', status: 'alive', lastHeardMs: 1 };
    expect(memberChanges([a], [{ ...a, status: 'suspect', why: 'no ack' }])).toEqual(['member a: alive → suspect (no ack)']);
    expect(memberChanges([a], [a])).toEqual([]);
    const seen = new Set<string>();
    const e = { time: 't', kind: 'failover', service: 'hello', reason: 'r' };
    expect(newEvents(seen, [e])).toEqual([e]);
    expect(newEvents(seen, [e, { ...e, kind: 'failback' }])).toEqual([{ ...e, kind: 'failback' }]);
  });
});
