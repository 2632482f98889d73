import { describe, it, expect } from 'vitest';
import {
  Suspicion,
  SuspicionNotStartedError,
  confirmationsWanted,
  remainingSuspicionMs,
  suspicionTimeoutMs,
  suspicionTimeouts,
} from './suspicion.js';

describe('suspicionTimeouts (memberlist util.go suspicionTimeout)', () => {
  it('matches memberlist TestSuspicionTimeout (mult 3, 1 s interval, divided by 3)', () => {
    const table: Array<[number, number]> = [
      [5, 1000],
      [10, 1000],
      [50, 1698],
      [100, 2000],
      [500, 2698],
      [1000, 3000],
    ];
    for (const [members, perMult] of table) {
      const { minMs } = suspicionTimeouts({ members, probeIntervalMs: 1000, suspicionMult: 3 });
      expect(minMs / 3).toBe(perMult);
    }
  });

  it('gives the LAN defaults for N = 1..1000 (mult 4, max mult 6)', () => {
    const table: Array<[number, number]> = [
      [0, 4000],
      [1, 4000],
      [2, 4000],
      [3, 4000],
      [10, 4000],
      [11, 4164],
      [20, 5204],
      [50, 6792],
      [100, 8000],
      [200, 9204],
      [500, 10792],
      [1000, 12000],
    ];
    for (const [members, min] of table) {
      const t = suspicionTimeouts({ members, probeIntervalMs: 1000 });
      expect(t).toEqual({ minMs: min, maxMs: 6 * min });
    }
  });

  it('is the reference N=100 figure: min 8 s, max 48 s', () => {
    expect(suspicionTimeouts({ members: 100, probeIntervalMs: 1000 })).toEqual({ minMs: 8000, maxMs: 48000 });
  });

  it('grows monotonically with N and never drops below 4 probe intervals', () => {
    let previous = 0;
    for (let n = 1; n <= 1000; n++) {
      const { minMs, maxMs } = suspicionTimeouts({ members: n, probeIntervalMs: 1000 });
      expect(minMs).toBeGreaterThanOrEqual(4000);
      expect(minMs).toBeGreaterThanOrEqual(previous);
      expect(maxMs).toBe(6 * minMs);
      previous = minMs;
    }
  });

  it('scales with the probe interval', () => {
    expect(suspicionTimeouts({ members: 6, probeIntervalMs: 100, suspicionMult: 5, maxTimeoutMult: 2 })).toEqual({
      minMs: 500,
      maxMs: 1000,
    });
  });
});

describe('confirmationsWanted', () => {
  it('is suspicionMult − 2, or 0 when N − 2 < k', () => {
    expect(confirmationsWanted(4, 100)).toBe(2);
    expect(confirmationsWanted(4, 4)).toBe(2);
    expect(confirmationsWanted(4, 3)).toBe(0);
    expect(confirmationsWanted(5, 5)).toBe(3);
    expect(confirmationsWanted(5, 4)).toBe(0);
    expect(confirmationsWanted(2, 10)).toBe(0);
  });
});

describe('remainingSuspicionMs (memberlist suspicion.go remainingSuspicionTime)', () => {
  it('matches memberlist TestSuspicion_remainingSuspicionTime, negatives clamped to 0', () => {
    const cases: Array<[n: number, k: number, elapsed: number, expected: number]> = [
      [0, 3, 0, 30000],
      [1, 3, 2000, 14000],
      [2, 3, 3000, 4810],
      [3, 3, 4000, 0], // memberlist: -2 s
      [4, 3, 5000, 0], // memberlist: -3 s
      [5, 3, 10000, 0], // memberlist: -8 s
    ];
    for (const [n, k, elapsedMs, expected] of cases) {
      expect(remainingSuspicionMs({ elapsedMs, confirmations: n, k, minMs: 2000, maxMs: 30000 })).toBe(expected);
    }
  });

  it('is min from the start when no confirmations are wanted (k = 0)', () => {
    expect(remainingSuspicionMs({ elapsedMs: 0, confirmations: 0, k: 0, minMs: 500, maxMs: 1000 })).toBe(500);
    expect(remainingSuspicionMs({ elapsedMs: 200, confirmations: 3, k: 0, minMs: 500, maxMs: 1000 })).toBe(300);
  });

  it('never goes below min, however many confirmations', () => {
    expect(suspicionTimeoutMs({ confirmations: 50, k: 2, minMs: 4000, maxMs: 24000 })).toBe(4000);
  });
});

describe('dogpile table (memberlist TestMemberList_ProbeNode_Suspect_Dogpile)', () => {
  // ProbeInterval 100 ms, SuspicionMult 5, SuspicionMaxTimeoutMult 2: min 500 ms, max 1000 ms.
  // numPeers + 1 members (the prober and its peers, one of which is the bad one).
  const cases: Array<[members: number, confirmations: number, expected: number]> = [
    [2, 0, 500], // k = 0: max timeout disabled
    [3, 0, 500],
    [4, 0, 500],
    [5, 0, 1000], // max timeout starts to take effect
    [6, 0, 1000],
    [6, 1, 750], // confirmations start to lower the timeout
    [6, 2, 603], // memberlist's table says 604 (see below)
    [6, 3, 500], // driven to the nominal value
    [6, 4, 500],
  ];

  for (const [members, confirmations, expected] of cases) {
    it(`n=${members}, ${confirmations} confirmation(s) → ${expected} ms`, () => {
      const { minMs, maxMs } = suspicionTimeouts({ members, probeIntervalMs: 100, suspicionMult: 5, maxTimeoutMult: 2 });
      const k = confirmationsWanted(5, members);
      const s = new Suspicion({ suspecter: 'prober', confirmationsWanted: k, minMs, maxMs });
      s.start(10_000);
      for (let i = 0; i < confirmations; i++) s.confirm(`peer-${i}`, 10_000);
      expect(s.deadline() - 10_000).toBe(expected);
    });
  }

  it("604 ms in memberlist's table is a timing test's rounding of the exact 603 ms (it allows ±25 ms)", () => {
    // max − log(3)/log(4)·(max − min) = 1000 − 0.7925·500 = 603.76, floored to 603 by remainingSuspicionTime.
    const exact = suspicionTimeoutMs({ confirmations: 2, k: 3, minMs: 500, maxMs: 1000 });
    expect(exact).toBe(603);
    expect(Math.abs(exact - 604)).toBeLessThan(25);
  });

  it('walks 1000 → 750 → 603 → 500 as confirmations arrive over time', () => {
    const s = new Suspicion({ suspecter: 'prober', confirmationsWanted: 3, minMs: 500, maxMs: 1000 });
    s.start(0);
    expect(s.deadline()).toBe(1000);
    expect(s.confirm('a', 100)).toBe(true);
    expect(s.deadline()).toBe(750);
    expect(s.remainingMs(100)).toBe(650);
    expect(s.confirm('b', 200)).toBe(true);
    expect(s.deadline()).toBe(603);
    expect(s.confirm('c', 300)).toBe(true);
    expect(s.deadline()).toBe(500);
    expect(s.remainingMs(300)).toBe(200);
  });
});

describe('Suspicion confirmations (memberlist TestSuspicion_Timer)', () => {
  const make = (k = 3) => {
    const s = new Suspicion({ suspecter: 'me', confirmationsWanted: k, minMs: 500, maxMs: 2000 });
    s.start(0);
    return s;
  };

  it('starts at max', () => {
    expect(make().deadline()).toBe(2000);
  });

  it("does not count the suspecter's own word gossiped back", () => {
    const s = make();
    expect(s.confirm('me', 10)).toBe(false);
    expect(s.confirmations).toBe(0);
    expect(s.deadline()).toBe(2000);
  });

  it('counts each other member once', () => {
    const s = make();
    expect(s.confirm('foo', 10)).toBe(true);
    expect(s.confirm('foo', 20)).toBe(false);
    expect(s.confirm('foo', 30)).toBe(false);
    expect(s.confirmations).toBe(1);
    expect(s.deadline()).toBe(1250);
  });

  it('two independent confirmations: 811 ms (memberlist expects ≈810 with timing fudge)', () => {
    const s = make();
    s.confirm('foo', 10);
    s.confirm('bar', 20);
    expect(s.deadline()).toBe(811);
  });

  it('stops accepting once k are in', () => {
    const s = make();
    s.confirm('foo', 10);
    s.confirm('bar', 20);
    s.confirm('baz', 30);
    expect(s.deadline()).toBe(500);
    expect(s.confirm('zoo', 40)).toBe(false);
    expect(s.confirmations).toBe(3);
    expect(s.accusers()).toEqual(['me', 'foo', 'bar', 'baz']);
  });

  it('ignores confirmations once the deadline has passed', () => {
    const s = make();
    expect(s.confirm('late', 2500)).toBe(false);
    expect(s.deadline()).toBe(2000);
  });

  it('with k = 0 the deadline is min and confirmations change nothing', () => {
    const s = make(0);
    expect(s.deadline()).toBe(500);
    expect(s.confirm('foo', 10)).toBe(false);
    expect(s.deadline()).toBe(500);
  });

  it('a confirmation that lands past the new deadline leaves nothing remaining', () => {
    // memberlist TestSuspicion_Timer_Immediate: k=1, min 100 ms, max 30 s, confirmed after 200 ms.
    const s = new Suspicion({ suspecter: 'me', confirmationsWanted: 1, minMs: 100, maxMs: 30_000 });
    s.start(0);
    expect(s.confirm('foo', 200)).toBe(true);
    expect(s.remainingMs(200)).toBe(0);
    expect(s.deadline()).toBeLessThanOrEqual(200);
  });

  it('throws a typed error when asked for a deadline before start', () => {
    const s = new Suspicion({ suspecter: 'me', confirmationsWanted: 2, minMs: 1, maxMs: 2 });
    expect(() => s.deadline()).toThrow(SuspicionNotStartedError);
    expect(s.started).toBe(false);
  });
});

describe('Suspicion.hasten and delay', () => {
  const make = () => {
    const s = new Suspicion({ suspecter: 'a', confirmationsWanted: 3, minMs: 2_000, maxMs: 12_000 });
    s.start(1_000);
    return s;
  };

  it('hasten brings the deadline forward, never back, and confirmations can still bring it earlier', () => {
    const s = make();
    expect(s.deadline()).toBe(13_000);
    s.hasten(5_000);
    expect(s.deadline()).toBe(5_000);
    s.hasten(9_000);
    expect(s.deadline()).toBe(5_000);
    for (const who of ['b', 'c', 'd']) s.confirm(who, 1_500);
    expect(s.deadline()).toBe(3_000);
  });

  it('delay adds up and applies to whatever the deadline is', () => {
    const s = make();
    s.delay(500);
    s.delay(250);
    s.delay(-100);
    expect(s.deadline()).toBe(13_750);
    s.hasten(2_000);
    expect(s.deadline()).toBe(2_750);
    expect(s.remainingMs(2_000)).toBe(750);
    expect(s.remainingMs(9_000)).toBe(0);
  });
});
