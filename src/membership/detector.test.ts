import { describe, it, expect } from 'vitest';
import { Awareness } from './awareness.js';
import { FailureDetector, NO_RESPONDERS_GRACE_MS } from './detector.js';
import { MemberTable, REPROBE_INTERVAL_MS } from './member-table.js';
import type { MemberInfo, MembershipUpdate, Random } from './types.js';
import { mulberry32 as seeded } from '../../test/harness/seeded-random.js';

class FakeClock {
  constructor(public t = 5_000_000) {}
  now(): number {
    return this.t;
  }
}


function info(id: string): MemberInfo {
  const cluster = id.split('.')[0] as string;
  return { id, cluster, trustDomain: `${cluster}.acme.example`, federationAddr: `${id}:4143`, adminAddr: `${id}:9901` };
}

const SELF = 'us.a';

function setup(peers: string[] = ['us.b', 'eu.a', 'eu.b', 'ap.a'], self = SELF) {
  const clock = new FakeClock();
  const random = seeded(9);
  const table = new MemberTable({ self: info(self), clock, random });
  for (const id of peers) table.apply({ kind: 'alive', member: info(id), incarnation: 1 });
  clock.t += 10_000; // past every grace period that keys off a recent join
  const awareness = new Awareness();
  const detector = new FailureDetector({ table, awareness, clock, random });
  return { clock, table, awareness, detector };
}

const NO_ANSWER = { acked: false, indirectAcks: 0, nacks: 0, expectedNacks: 3 } as const;
const ACK = { acked: true, indirectAcks: 0, nacks: 0, expectedNacks: 0, rttMs: 12 } as const;

describe('FailureDetector.nextProbe', () => {
  it('walks the other members round-robin with the memberlist LAN timings', () => {
    const { detector } = setup();
    const targets = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const plan = detector.nextProbe();
      expect(plan).toMatchObject({ timeoutMs: 500, interval: 1000 });
      expect(plan?.piggyback).toBeUndefined();
      targets.add(plan?.target.id as string);
    }
    expect([...targets].sort()).toEqual(['ap.a', 'eu.a', 'eu.b', 'us.b']);
  });

  it('stretches the interval, not the direct timeout, by local health', () => {
    const { detector, awareness } = setup();
    awareness.apply(3);
    expect(detector.nextProbe()).toMatchObject({ timeoutMs: 500, interval: 4000 });
    expect(detector.intervalMs()).toBe(4000);
  });

  it('has nothing to probe when alone', () => {
    const { detector } = setup([]);
    expect(detector.nextProbe()).toBeUndefined();
  });
});

describe('FailureDetector.onProbeResult', () => {
  it('a direct ack heals awareness, records the RTT and reachability, and gossips nothing', () => {
    const { detector, awareness, table, clock } = setup();
    awareness.apply(1);
    const outcome = detector.onProbeResult('eu.a', ACK, clock.t);
    expect(outcome).toEqual({ updates: [], awarenessDelta: -1 });
    expect(awareness.score()).toBe(0);
    expect(table.views().find((v) => v.id === 'eu.a')).toMatchObject({ rttMs: 12, reachable: true, lastHeardMs: 0 });
  });

  it('no ack to ping or ping-req: suspect it, +1 per missed nack (memberlist Awareness_MissedNack)', () => {
    const { detector, awareness, table } = setup();
    const outcome = detector.onProbeResult('eu.a', NO_ANSWER);
    expect(outcome.updates).toEqual([{ kind: 'suspect', id: 'eu.a', incarnation: 1, from: SELF }]);
    expect(outcome.awarenessDelta).toBe(3);
    expect(awareness.score()).toBe(3);
    expect(table.views().find((v) => v.id === 'eu.a')).toMatchObject({
      status: 'suspect',
      reachable: false,
      suspectedBy: [SELF],
    });
    expect(table.views().find((v) => v.id === 'eu.a')?.why).toMatch(/^no ack to ping or 3 indirect pings/);
  });

  it('all helpers nacked: the target is silent, our health is untouched (memberlist Awareness_Degraded)', () => {
    const { detector, awareness } = setup();
    awareness.apply(1);
    const outcome = detector.onProbeResult('eu.a', { acked: false, indirectAcks: 0, nacks: 3, expectedNacks: 3 });
    expect(outcome.awarenessDelta).toBe(0);
    expect(awareness.score()).toBe(1);
    expect(outcome.updates).toHaveLength(1);
  });

  it('no helpers to ask: a failed probe costs +1', () => {
    const { detector } = setup();
    expect(detector.onProbeResult('eu.a', { acked: false, indirectAcks: 0, nacks: 0, expectedNacks: 0 }).awarenessDelta).toBe(1);
  });

  it('an indirect ack keeps it alive but unreachable from here', () => {
    const { detector, table, awareness } = setup();
    awareness.apply(2);
    const outcome = detector.onProbeResult('eu.a', { acked: false, indirectAcks: 1, nacks: 0, expectedNacks: 3 });
    expect(outcome).toEqual({ updates: [], awarenessDelta: -1 });
    const row = table.views().find((v) => v.id === 'eu.a');
    expect(row).toMatchObject({ status: 'alive', reachable: false });
    expect(row?.why).toContain('unreachable from here: no direct ack; reached through 1 of 3 helper(s)');
  });

  it('our failed probe of a member someone else suspects is an independent confirmation', () => {
    const { detector, table } = setup();
    detector.applyUpdate({ kind: 'suspect', id: 'eu.a', incarnation: 1, from: 'ap.a' });
    const before = table.suspicionOf('eu.a')?.deadline as number;
    const outcome = detector.onProbeResult('eu.a', NO_ANSWER);
    expect(outcome.updates).toEqual([{ kind: 'suspect', id: 'eu.a', incarnation: 1, from: SELF }]);
    expect(table.suspicionOf('eu.a')?.deadline).toBeLessThan(before);
  });

  it('ignores results for unknown, left or self targets', () => {
    const { detector, table } = setup();
    table.apply({ kind: 'left', id: 'eu.b', incarnation: 1 });
    expect(detector.onProbeResult('nobody.x', NO_ANSWER)).toEqual({ updates: [], awarenessDelta: 0 });
    expect(detector.onProbeResult('eu.b', NO_ANSWER)).toEqual({ updates: [], awarenessDelta: 0 });
    expect(detector.onProbeResult(SELF, NO_ANSWER)).toEqual({ updates: [], awarenessDelta: 0 });
  });
});

describe('FailureDetector.onSuspicionExpired', () => {
  it('a suspicion that runs out asks the suspect once; NATS saying no one subscribes lets the verdict come and be gossiped', () => {
    const { detector, table, clock } = setup(['us.b', 'eu.a']);
    detector.onProbeResult('eu.a', NO_ANSWER);
    const deadline = table.suspicionOf('eu.a')?.deadline as number;
    expect(deadline - clock.t).toBe(4000); // N=3 → k=0 → min 4 s from the start
    expect(detector.lastWordsDue(deadline - 1)).toEqual([]);
    clock.t = deadline;
    expect(detector.lastWordsDue().map((m) => m.id)).toEqual(['eu.a']);
    // Asked once: neither asked again nor declared while the ping is out.
    expect(detector.lastWordsDue(deadline + 100)).toEqual([]);
    expect(detector.onSuspicionExpired(deadline + 100)).toEqual([]);
    expect(detector.onLastWord('eu.a', 'no-responders', deadline + 100)).toEqual([{ kind: 'dead', id: 'eu.a', incarnation: 1, from: SELF }]);
    const row = table.views().find((v) => v.id === 'eu.a');
    expect(row?.status).toBe('dead');
    expect(row?.why).toBe(
      'suspicion timed out after 4100 ms with 0 of 0 independent confirmation(s); suspected for: no ack to ping or 3 indirect pings; its last ping: NATS: no responders on its subject; unreachable from here: no ack to ping or 3 indirect pings',
    );
    expect(detector.onSuspicionExpired(deadline + 1000)).toEqual([]);
  });

  it.each(['timed-out', 'answered', 'failed'] as const)('a last word "%s" (its connection stands) holds the suspicion to its longest, then the verdict comes unasked', (word) => {
    const { detector, table, clock } = setup(['us.b', 'eu.a']);
    detector.onProbeResult('eu.a', NO_ANSWER);
    const start = clock.t;
    const { maxMs } = table.suspicionOf('eu.a') as { maxMs: number };
    expect(maxMs).toBe(24_000);
    expect(detector.lastWordsDue(start + 4000)).toHaveLength(1);
    expect(detector.onLastWord('eu.a', word, start + 4200)).toEqual([]);
    expect(table.suspicionOf('eu.a')?.deadline).toBe(start + maxMs);
    expect(table.reasonOf('eu.a')).toMatch(/; its last ping: .*: held for the longest suspicion$/);
    expect(detector.lastWordsDue(start + maxMs)).toEqual([]);
    expect(detector.onSuspicionExpired(start + maxMs - 1)).toEqual([]);
    expect(detector.onSuspicionExpired(start + maxMs)).toEqual([{ kind: 'dead', id: 'eu.a', incarnation: 1, from: SELF }]);
  });

  it('a suspicion NATS already shortened, or one that ran its longest, is declared without a last word', () => {
    const { detector, table, clock } = setup(['us.b', 'eu.a', 'eu.b']);
    detector.onProbeResult('eu.a', NO_ANSWER);
    table.reviseSuspicion('eu.a', undefined, (s) => s.hasten(clock.t + 500));
    expect(detector.lastWordsDue(clock.t + 500)).toEqual([]);
    expect(detector.onSuspicionExpired(clock.t + 500)).toHaveLength(1);

    detector.onProbeResult('eu.b', NO_ANSWER);
    const { maxMs } = table.suspicionOf('eu.b') as { maxMs: number };
    table.reviseSuspicion('eu.b', undefined, (s) => s.hold(clock.t + maxMs));
    expect(detector.lastWordsDue(clock.t + maxMs)).toEqual([]);
    expect(detector.onSuspicionExpired(clock.t + maxMs)).toHaveLength(1);
  });

  it('a last word that comes back after a refutation and a new suspicion does not count for the new one', () => {
    const { detector, table, clock } = setup(['us.b', 'eu.a']);
    detector.onProbeResult('eu.a', NO_ANSWER);
    expect(detector.lastWordsDue(clock.t + 4000)).toHaveLength(1);
    detector.applyUpdate({ kind: 'alive', member: info('eu.a'), incarnation: 2 });
    clock.t += 4100;
    detector.onProbeResult('eu.a', NO_ANSWER);
    expect(detector.onLastWord('eu.a', 'no-responders')).toEqual([]);
    expect(table.get('eu.a')?.status).toBe('suspect');
    expect(detector.lastWordsDue(clock.t + 4000)).toHaveLength(1);
  });

  it('confirmations from others bring the verdict forward (dogpile)', () => {
    const { detector, table, clock } = setup(['us.b', 'eu.a', 'eu.b', 'ap.a', 'ap.b', 'sa.a']);
    // N = 7 → k = 2, min 4 s, max 24 s.
    detector.onProbeResult('eu.a', NO_ANSWER);
    const start = clock.t;
    expect(table.suspicionOf('eu.a')?.deadline).toBe(start + 24_000);
    detector.applyUpdate({ kind: 'suspect', id: 'eu.a', incarnation: 1, from: 'ap.a' });
    detector.applyUpdate({ kind: 'suspect', id: 'eu.a', incarnation: 1, from: 'sa.a' });
    expect(table.suspicionOf('eu.a')?.deadline).toBe(start + 4000);
    expect(detector.lastWordsDue(start + 4000)).toHaveLength(1);
    expect(detector.onLastWord('eu.a', 'no-responders', start + 4000)).toHaveLength(1);
  });

  it('a refutation before the deadline cancels the verdict', () => {
    const { detector, table, clock } = setup();
    detector.onProbeResult('eu.a', NO_ANSWER);
    detector.applyUpdate({ kind: 'alive', member: info('eu.a'), incarnation: 2 });
    expect(detector.lastWordsDue(clock.t + 60_000)).toEqual([]);
    expect(detector.onSuspicionExpired(clock.t + 60_000)).toEqual([]);
    expect(table.get('eu.a')?.status).toBe('alive');
  });
});

describe('Lifeguard buddy system', () => {
  it('a ping to a suspect carries its suspicion; the suspect refutes at once', () => {
    const a = setup(['eu.a'], 'us.a');
    const b = setup(['us.a'], 'eu.a');
    a.detector.onProbeResult('eu.a', NO_ANSWER);

    let plan = a.detector.nextProbe();
    expect(plan?.target.id).toBe('eu.a');
    expect(plan?.piggyback).toEqual({ kind: 'suspect', id: 'eu.a', incarnation: 1, from: 'us.a' });

    // b receives the ping with its piggyback, refutes, and the refutation reaches a.
    const atB = b.detector.applyUpdate(plan?.piggyback as MembershipUpdate);
    expect(atB.refute).toMatchObject({ kind: 'alive', incarnation: 2 });
    expect(b.awareness.score()).toBe(1); // refuting costs the refuter health
    const atA = a.detector.applyUpdate(atB.refute as MembershipUpdate);
    expect(atA).toEqual({ changed: true, rebroadcast: true });
    expect(a.table.get('eu.a')?.status).toBe('alive');

    plan = a.detector.nextProbe();
    expect(plan?.piggyback).toBeUndefined();
  });

  it('no piggyback for an alive member', () => {
    const { detector } = setup();
    expect(detector.piggybackFor('eu.a')).toBeUndefined();
    expect(detector.piggybackFor('nobody.x')).toBeUndefined();
  });
});

describe('FailureDetector.onNoResponders', () => {
  it('starts a suspicion at once but never concludes it', () => {
    const { detector, table, clock } = setup();
    const updates = detector.onNoResponders('eu.a');
    expect(updates).toEqual([{ kind: 'suspect', id: 'eu.a', incarnation: 1, from: SELF }]);
    const deadline = table.suspicionOf('eu.a')?.deadline as number;
    // Repeated no-responders neither confirms nor kills.
    for (let i = 0; i < 5; i++) {
      clock.t += 100;
      expect(detector.onNoResponders('eu.a')).toEqual([]);
    }
    expect(table.suspicionOf('eu.a')?.deadline).toBe(deadline);
    expect(table.get('eu.a')?.status).toBe('suspect');
    expect(table.views().find((v) => v.id === 'eu.a')?.why).toContain('NATS: no responders');
  });

  it('leaves our health alone', () => {
    const { detector, awareness } = setup();
    detector.onNoResponders('eu.a');
    expect(awareness.score()).toBe(0);
  });

  it('is no evidence right after we heard from the member (interest still propagating)', () => {
    const { detector, table, clock } = setup();
    table.heard('eu.a', clock.t - (NO_RESPONDERS_GRACE_MS - 1));
    expect(detector.onNoResponders('eu.a')).toEqual([]);
    expect(table.get('eu.a')?.status).toBe('alive');
  });

  it('is no evidence right after the member joined', () => {
    const { detector, table, clock } = setup();
    table.apply({ kind: 'alive', member: info('sa.a'), incarnation: 1 });
    expect(detector.onNoResponders('sa.a')).toEqual([]);
    clock.t += NO_RESPONDERS_GRACE_MS;
    expect(detector.onNoResponders('sa.a')).toHaveLength(1);
  });
});

describe('FailureDetector: re-probing the dead', () => {
  it('re-probes a dead member every 30 s with its death notice, and asks for a sync when it answers', () => {
    const { detector, table, clock, awareness } = setup();
    detector.applyUpdate({ kind: 'dead', id: 'eu.a', incarnation: 1, from: 'ap.a' });
    expect(detector.reprobesDue()).toEqual([]);
    clock.t += REPROBE_INTERVAL_MS * 1.1;
    const due = detector.reprobesDue();
    expect(due.map((m) => m.id)).toEqual(['eu.a']);
    expect(detector.piggybackFor('eu.a')).toEqual({ kind: 'dead', id: 'eu.a', incarnation: 1, from: SELF });

    // No answer: nothing changes, health untouched, next re-probe in 30 s.
    expect(detector.onProbeResult('eu.a', NO_ANSWER)).toEqual({ updates: [], awarenessDelta: 0 });
    expect(detector.reprobesDue()).toEqual([]);
    clock.t += REPROBE_INTERVAL_MS * 1.1;
    expect(detector.reprobesDue().map((m) => m.id)).toEqual(['eu.a']);

    // It answers: still dead until it refutes, but reachable and worth a sync.
    expect(detector.onProbeResult('eu.a', ACK)).toEqual({ updates: [], awarenessDelta: 0, syncWith: 'eu.a' });
    expect(table.views().find((v) => v.id === 'eu.a')).toMatchObject({ status: 'dead', reachable: true });
    expect(awareness.score()).toBe(0);
    detector.applyUpdate({ kind: 'alive', member: info('eu.a'), incarnation: 2 });
    expect(table.get('eu.a')?.status).toBe('alive');
  });

  it('does not put dead members in the regular probe rotation', () => {
    const { detector } = setup(['eu.a', 'eu.b']);
    detector.applyUpdate({ kind: 'dead', id: 'eu.a', incarnation: 1, from: 'ap.a' });
    for (let i = 0; i < 6; i++) expect(detector.nextProbe()?.target.id).toBe('eu.b');
  });
});

describe('FailureDetector: helpers and local health inputs', () => {
  it('asks IndirectChecks helpers, third clusters first', () => {
    const { detector } = setup(['us.b', 'eu.a', 'eu.b', 'ap.a', 'sa.a', 'af.a']);
    const helpers = detector.helpersFor('eu.a').map((h) => h.cluster);
    expect(helpers).toHaveLength(3);
    expect([...helpers].sort()).toEqual(['af', 'ap', 'sa']);
  });

  it('a refutation through applyUpdate costs +1 health', () => {
    const { detector, awareness } = setup();
    const result = detector.applyUpdate({ kind: 'suspect', id: SELF, incarnation: 0, from: 'eu.a' });
    expect(result.refute).toBeDefined();
    expect(awareness.score()).toBe(1);
  });

  it('event-loop lag stretches the probe interval', () => {
    const { detector } = setup();
    expect(detector.onEventLoopLag(400)).toBe(1);
    expect(detector.nextProbe()?.interval).toBe(2000);
  });
});

describe('FailureDetector with NATS evidence (absence) and our own stalls', () => {
  const ABSENT = { ...NO_ANSWER, nacks: 3, absence: { natsClusters: ['US', 'EU'], serverAnswered: 'nats-eu-1' } } as const;

  it('no responders from two NATS clusters while the member’s server answers: the suspicion ends one probe interval from now', () => {
    const { detector, table, clock } = setup();
    const outcome = detector.onProbeResult('eu.a', ABSENT);
    expect(outcome.updates).toEqual([{ kind: 'suspect', id: 'eu.a', incarnation: 1, from: SELF }]);
    expect(table.suspicionOf('eu.a')?.deadline).toBe(clock.t + 1000);
    expect(table.views().find((v) => v.id === 'eu.a')?.why).toMatch(/no responders in 2 NATS clusters \(US, EU\) while its server nats-eu-1 answers/);
    clock.t += 999;
    expect(detector.onSuspicionExpired()).toEqual([]);
    clock.t += 1;
    expect(detector.onSuspicionExpired()).toEqual([{ kind: 'dead', id: 'eu.a', incarnation: 1, from: SELF }]);
  });

  it('is an ordinary suspicion when only one NATS cluster said it, or the member’s server did not answer (a restarting server)', () => {
    for (const absence of [
      { natsClusters: ['US'], serverAnswered: 'nats-eu-1' },
      { natsClusters: ['US', 'US'], serverAnswered: 'nats-eu-1' },
      { natsClusters: ['US', 'EU'] },
    ]) {
      const { detector, table, clock } = setup();
      detector.onProbeResult('eu.a', { ...NO_ANSWER, absence });
      const s = table.suspicionOf('eu.a');
      expect(s?.deadline, JSON.stringify(absence)).toBe(clock.t + (s?.maxMs ?? 0));
      expect(s?.maxMs).toBeGreaterThan(1000);
    }
  });

  it('a member that just became alive gets the ordinary suspicion: its interest may still be crossing NATS gateways', () => {
    const { detector, table, clock } = setup();
    table.apply({ kind: 'alive', member: info('eu.a'), incarnation: 2 });
    table.apply({ kind: 'suspect', id: 'eu.a', incarnation: 2, from: 'ap.a' });
    table.apply({ kind: 'alive', member: info('eu.a'), incarnation: 3 }); // refuted just now
    detector.onProbeResult('eu.a', ABSENT);
    expect(table.suspicionOf('eu.a')?.deadline).toBeGreaterThan(clock.t + 1000);
  });

  it('when the member’s own NATS server does not answer either, confirmations cannot bring its death before the longest suspicion', () => {
    const { detector, table, clock } = setup();
    detector.onProbeResult('eu.a', { ...NO_ANSWER, absence: { natsClusters: ['US', 'AP'], serverSilent: 'nats-eu-1' } });
    const s = table.suspicionOf('eu.a');
    for (const who of ['us.b', 'ap.a']) table.apply({ kind: 'suspect', id: 'eu.a', incarnation: 1, from: who });
    expect(table.suspicionOf('eu.a')?.confirmations).toBe(2);
    expect(table.suspicionOf('eu.a')?.deadline).toBe(clock.t + (s?.maxMs ?? 0));
    expect(table.views().find((v) => v.id === 'eu.a')?.why).toMatch(/its NATS server nats-eu-1 does not answer us either/);
  });

  it('a probe that failed while our own loop stood still accuses no one and costs our health', () => {
    const { detector, awareness, table } = setup();
    const outcome = detector.onProbeResult('eu.a', { ...ABSENT, ownFault: 'our own event loop stalled while waiting' });
    expect(outcome).toEqual({ updates: [], awarenessDelta: 1 });
    expect(awareness.score()).toBe(1);
    expect(table.get('eu.a')?.status).toBe('alive');
    expect(table.views().find((v) => v.id === 'eu.a')).toMatchObject({ reachable: false });
    expect(table.views().find((v) => v.id === 'eu.a')?.why).toMatch(/our own event loop stalled/);
  });

  it('our own stall moves every running suspicion back by as long', () => {
    const { detector, table, clock } = setup();
    detector.onProbeResult('eu.a', ABSENT);
    detector.onProbeResult('ap.a', NO_ANSWER);
    const before = [table.suspicionOf('eu.a')?.deadline ?? 0, table.suspicionOf('ap.a')?.deadline ?? 0];
    detector.onOwnStall(2_000);
    expect([table.suspicionOf('eu.a')?.deadline, table.suspicionOf('ap.a')?.deadline]).toEqual(before.map((d) => d + 2_000));
    clock.t += 1_000;
    expect(detector.onSuspicionExpired()).toEqual([]);
  });
});
