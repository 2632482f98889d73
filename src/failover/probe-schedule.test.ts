import { describe, expect, it } from 'vitest';
import { mulberry32 as seeded } from '../../test/harness/seeded-random.js';
import { ProbeSchedule } from './probe-schedule.js';

const probes = (n: number, intervalMs = 5_000) => Array.from({ length: n }, (_, i) => ({ key: `p${i}`, intervalMs }));

/** Drives the schedule with a fake clock, one wake-up at a time as the prober's timer would, and logs each start. */
function run(schedule: ProbeSchedule, until: number, wakeLateMs = 0): { key: string; at: number }[] {
  const starts: { key: string; at: number }[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    const next = schedule.nextAt();
    if (next === undefined || next > until) break;
    const now = next + wakeLateMs;
    for (const key of schedule.due(now)) starts.push({ key, at: now });
  }
  return starts;
}

describe('ProbeSchedule', () => {
  it('runs every probe once per interval', () => {
    const schedule = new ProbeSchedule(probes(20), 0, seeded(1));
    const starts = run(schedule, 5 * 5_000 - 1);
    const perKey = new Map<string, number>();
    for (const s of starts) perKey.set(s.key, (perKey.get(s.key) ?? 0) + 1);
    expect(perKey.size).toBe(20);
    expect([...new Set(perKey.values())]).toEqual([5]);
  });

  it('spreads probes evenly over the interval, none at once', () => {
    const schedule = new ProbeSchedule(probes(100), 0, seeded(7));
    const firsts = run(schedule, 4_999).map((s) => s.at);
    expect(firsts).toHaveLength(100);
    // The k-th of n starts within its own 1/n of the interval: each 50 ms slice holds exactly one.
    const slices = firsts.map((at) => Math.floor(at / 50));
    expect(new Set(slices).size).toBe(100);
    // …at a jittered place inside it, not on a grid two gateways would share.
    expect(new Set(firsts.map((at) => Math.round(at % 50))).size).toBeGreaterThan(10);
  });

  it('gives each interval its own spread', () => {
    const schedule = new ProbeSchedule([...probes(2, 1_000), { key: 'slow', intervalMs: 10_000 }], 0, () => 0.5);
    expect(run(schedule, 999)).toEqual([
      { key: 'p0', at: 250 },
      { key: 'p1', at: 750 },
    ]);
    expect(run(schedule, 5_000).filter((s) => s.key === 'slow')).toEqual([{ key: 'slow', at: 5_000 }]);
  });

  it('keeps a probe on its phase when the timer fires late', () => {
    const schedule = new ProbeSchedule([{ key: 'p', intervalMs: 1_000 }], 0, () => 0.3);
    expect(run(schedule, 3_500, 40).map((s) => s.at)).toEqual([340, 1_340, 2_340, 3_340]);
  });

  it('skips the slots missed during a stall instead of catching up in a burst', () => {
    const schedule = new ProbeSchedule(probes(10, 1_000), 0, () => 0.5);
    // The event loop was stalled for 3.5 s: every probe is due once now, not three or four times.
    const due = schedule.due(3_500);
    expect(due).toHaveLength(10);
    expect(new Set(due).size).toBe(10);
    // …and they keep their places, none run again within half an interval of the late run.
    expect(schedule.nextAt()).toBe(4_050);
    expect(schedule.due(4_049)).toEqual([]);
    expect(run(schedule, 4_999).map((s) => `${s.key}@${s.at}`)).toEqual(
      Array.from({ length: 10 }, (_, k) => `p${k}@${4_050 + 100 * k}`),
    );
  });

  it('rejects an interval that would never advance', () => {
    expect(() => new ProbeSchedule([{ key: 'p', intervalMs: 0 }], 0, Math.random)).toThrow(/interval must be > 0/);
  });
});
