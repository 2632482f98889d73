import { describe, it, expect } from 'vitest';
import {
  DEAD_RETENTION_MS,
  MemberTable,
  REPROBE_INTERVAL_MS,
  RTT_EWMA_WEIGHT,
  updatesFromRemoteState,
} from './member-table.js';
import type { MemberInfo, MembershipUpdate, Random } from './types.js';
import { mulberry32 as seeded } from '../../test/harness/seeded-random.js';

class FakeClock {
  constructor(public t = 1_000_000) {}
  now(): number {
    return this.t;
  }
}


function info(id: string, extra: Partial<MemberInfo> = {}): MemberInfo {
  const cluster = id.split('.')[0] as string;
  return {
    id,
    cluster,
    trustDomain: `${cluster}.acme.example`,
    federationAddr: `${id}:4143`,
    adminAddr: `${id}:9901`,
    ...extra,
  };
}

const alive = (id: string, incarnation: number, extra: Partial<MemberInfo> = {}): MembershipUpdate => ({
  kind: 'alive',
  member: info(id, extra),
  incarnation,
});
const suspect = (id: string, incarnation: number, from: string): MembershipUpdate => ({ kind: 'suspect', id, incarnation, from });
const dead = (id: string, incarnation: number, from: string): MembershipUpdate => ({ kind: 'dead', id, incarnation, from });
const left = (id: string, incarnation: number): MembershipUpdate => ({ kind: 'left', id, incarnation });

const SELF = 'us.a';

function setup(peers: string[] = ['eu.a'], options: { incarnation?: number } = {}) {
  const clock = new FakeClock();
  const table = new MemberTable({ self: info(SELF), clock, random: seeded(42), ...options });
  for (const id of peers) table.apply(alive(id, 1));
  return { clock, table };
}

describe('MemberTable: alive (memberlist aliveNode)', () => {
  it('adds a new member whatever its incarnation, and passes the news on', () => {
    const { table } = setup([]);
    expect(table.apply(alive('eu.a', 0))).toEqual({ changed: true, rebroadcast: true });
    expect(table.get('eu.a')).toMatchObject({ status: 'alive', incarnation: 0, cluster: 'eu' });
  });

  it('ignores an alive at the same or a lower incarnation', () => {
    const { table } = setup();
    expect(table.apply(alive('eu.a', 1))).toEqual({ changed: false, rebroadcast: false });
    expect(table.apply(alive('eu.a', 0))).toEqual({ changed: false, rebroadcast: false });
  });

  it('lets a higher incarnation win and takes its new facts', () => {
    const { table } = setup();
    const result = table.apply(alive('eu.a', 2, { federationAddr: '10.0.0.9:4143' }));
    expect(result).toEqual({ changed: true, rebroadcast: true });
    expect(table.get('eu.a')).toMatchObject({ incarnation: 2, federationAddr: '10.0.0.9:4143' });
  });

  it('ignores rumours with a malformed incarnation', () => {
    const { table } = setup();
    expect(table.apply(alive('eu.a', -1)).changed).toBe(false);
    expect(table.apply(alive('eu.a', 1.5)).changed).toBe(false);
    expect(table.apply(suspect('eu.a', Number.NaN, 'x')).changed).toBe(false);
    expect(table.get('eu.a')?.status).toBe('alive');
  });
});

describe('MemberTable: suspect (memberlist suspectNode)', () => {
  it('suspects at an incarnation at or above the known one', () => {
    const { table, clock } = setup();
    expect(table.apply(suspect('eu.a', 1, 'ap.a'))).toEqual({ changed: true, rebroadcast: true });
    expect(table.get('eu.a')).toMatchObject({ status: 'suspect', incarnation: 1, statusSince: clock.t });
  });

  it('ignores a stale suspect (lower incarnation) and one about an unknown member', () => {
    const { table } = setup();
    table.apply(alive('eu.a', 5));
    expect(table.apply(suspect('eu.a', 4, 'ap.a')).changed).toBe(false);
    expect(table.get('eu.a')?.status).toBe('alive');
    expect(table.apply(suspect('nobody.x', 9, 'ap.a')).changed).toBe(false);
    expect(table.get('nobody.x')).toBeUndefined();
  });

  it('counts independent confirmations only, re-gossiping each new one', () => {
    const { table } = setup(['eu.a', 'ap.a', 'ap.b', 'sa.a', 'sa.b']);
    table.apply(suspect('eu.a', 1, 'ap.a'));
    expect(table.apply(suspect('eu.a', 1, 'ap.a'))).toEqual({ changed: false, rebroadcast: false });
    expect(table.apply(suspect('eu.a', 1, 'ap.b'))).toEqual({ changed: true, rebroadcast: true });
    expect(table.apply(suspect('eu.a', 1, 'ap.b'))).toEqual({ changed: false, rebroadcast: false });
    expect(table.suspicionOf('eu.a')).toMatchObject({ confirmations: 1, accusers: ['ap.a', 'ap.b'] });
  });

  it('sizes the suspicion from the live member count (N=6: k=2, 4 s … 24 s)', () => {
    const { table, clock } = setup(['eu.a', 'ap.a', 'ap.b', 'sa.a', 'sa.b']);
    table.apply(suspect('eu.a', 1, 'ap.a'));
    expect(table.suspicionOf('eu.a')).toMatchObject({ k: 2, minMs: 4000, maxMs: 24000, deadline: clock.t + 24000 });
    table.apply(suspect('eu.a', 1, 'ap.b'));
    table.apply(suspect('eu.a', 1, 'sa.a'));
    expect(table.suspicionOf('eu.a')?.deadline).toBe(clock.t + 4000);
  });

  it('with too few members to confirm, the suspicion runs the minimum (k = 0)', () => {
    const { table, clock } = setup(['eu.a']);
    table.apply(suspect('eu.a', 1, SELF));
    expect(table.suspicionOf('eu.a')).toMatchObject({ k: 0, deadline: clock.t + 4000 });
  });

  it('a suspicion that runs out is due for its last word at its deadline, not before, and only then for a verdict', () => {
    const { table, clock } = setup(['eu.a']);
    table.apply(suspect('eu.a', 1, SELF));
    expect(table.suspicionsDue(clock.t + 3999, 'last-word')).toEqual([]);
    expect(table.suspicionsDue(clock.t + 4000, 'last-word').map((m) => m.id)).toEqual(['eu.a']);
    expect(table.suspicionsDue(clock.t + 4000, 'verdict')).toEqual([]);
    table.reviseSuspicion('eu.a', undefined, (s) => s.askLastWord());
    expect(table.suspicionsDue(clock.t + 4000, 'last-word')).toEqual([]);
    table.reviseSuspicion('eu.a', undefined, (s) => s.hearLastWord(false));
    expect(table.suspicionsDue(clock.t + 4000, 'verdict').map((m) => m.id)).toEqual(['eu.a']);
  });

  it('an alive at a higher incarnation ends the suspicion (refuted)', () => {
    const { table } = setup();
    table.apply(suspect('eu.a', 1, 'ap.a'));
    expect(table.apply(alive('eu.a', 2))).toEqual({ changed: true, rebroadcast: true });
    expect(table.get('eu.a')?.status).toBe('alive');
    expect(table.suspicionOf('eu.a')).toBeUndefined();
    expect(table.views().find((v) => v.id === 'eu.a')).toMatchObject({ suspectedBy: [], why: 'refuted suspicion at incarnation 2' });
  });

  it('an alive at the same incarnation does not end the suspicion', () => {
    const { table } = setup();
    table.apply(suspect('eu.a', 1, 'ap.a'));
    expect(table.apply(alive('eu.a', 1)).changed).toBe(false);
    expect(table.get('eu.a')?.status).toBe('suspect');
  });
});

describe('MemberTable: dead and left (memberlist deadNode)', () => {
  it('dead applies at an incarnation at or above the known one, over alive or suspect', () => {
    const { table } = setup(['eu.a', 'eu.b']);
    expect(table.apply(dead('eu.a', 1, 'ap.a'))).toEqual({ changed: true, rebroadcast: true });
    table.apply(suspect('eu.b', 1, 'ap.a'));
    expect(table.apply(dead('eu.b', 1, 'ap.b')).changed).toBe(true);
    expect(table.get('eu.b')?.status).toBe('dead');
    expect(table.suspicionOf('eu.b')).toBeUndefined();
    expect(table.views().find((v) => v.id === 'eu.b')?.suspectedBy).toEqual(['ap.a', 'ap.b']);
  });

  it('ignores a stale dead', () => {
    const { table } = setup();
    table.apply(alive('eu.a', 3));
    expect(table.apply(dead('eu.a', 2, 'ap.a')).changed).toBe(false);
    expect(table.get('eu.a')?.status).toBe('alive');
  });

  it('dead is sticky until a newer alive', () => {
    const { table } = setup();
    table.apply(dead('eu.a', 1, 'ap.a'));
    expect(table.apply(alive('eu.a', 1)).changed).toBe(false);
    expect(table.apply(suspect('eu.a', 1, 'ap.b')).changed).toBe(false);
    expect(table.apply(suspect('eu.a', 7, 'ap.b')).changed).toBe(false);
    expect(table.apply(dead('eu.a', 1, 'ap.b')).changed).toBe(false);
    expect(table.get('eu.a')?.status).toBe('dead');
    expect(table.apply(alive('eu.a', 2))).toEqual({ changed: true, rebroadcast: true });
    expect(table.get('eu.a')?.status).toBe('alive');
  });

  it('left marks a graceful leave and is sticky too', () => {
    const { table } = setup();
    expect(table.apply(left('eu.a', 1))).toEqual({ changed: true, rebroadcast: true });
    expect(table.get('eu.a')?.status).toBe('left');
    expect(table.apply(dead('eu.a', 1, 'ap.a')).changed).toBe(false);
    expect(table.apply(alive('eu.a', 1)).changed).toBe(false);
    expect(table.apply(alive('eu.a', 2)).changed).toBe(true);
  });

  it('a dead whose sender is the member itself means it left (memberlist)', () => {
    const { table } = setup();
    table.apply(dead('eu.a', 1, 'eu.a'));
    expect(table.get('eu.a')?.status).toBe('left');
  });

  it('upgrades a dead member to left when its own leave arrives late', () => {
    const { table } = setup();
    table.apply(dead('eu.a', 1, 'ap.a'));
    expect(table.apply(left('eu.a', 1)).changed).toBe(true);
    expect(table.get('eu.a')?.status).toBe('left');
  });
});

describe('MemberTable: refuting rumours about ourselves (memberlist refute)', () => {
  it('refutes a suspect about us with an incarnation past theirs', () => {
    const { table } = setup();
    const result = table.apply(suspect(SELF, 4, 'eu.a'));
    expect(result.changed).toBe(true);
    expect(result.rebroadcast).toBe(false);
    expect(result.refute).toEqual({ kind: 'alive', member: info(SELF), incarnation: 5 });
    expect(table.incarnation()).toBe(5);
    expect(table.get(SELF)?.status).toBe('alive');
    expect(table.refutations()).toBe(1);
  });

  it('raises by one when the accusation is at our current incarnation', () => {
    const { table } = setup([], { incarnation: 7 });
    expect(table.apply(suspect(SELF, 7, 'eu.a')).refute).toMatchObject({ incarnation: 8 });
  });

  it('ignores a stale suspect about us (lower incarnation): no refutation', () => {
    const { table } = setup([], { incarnation: 7 });
    expect(table.apply(suspect(SELF, 6, 'eu.a'))).toEqual({ changed: false, rebroadcast: false });
    expect(table.incarnation()).toBe(7);
    expect(table.refutations()).toBe(0);
  });

  it('refutes a dead about us, and never marks itself dead', () => {
    const { table } = setup();
    const result = table.apply(dead(SELF, 2, 'eu.a'));
    expect(result.refute).toMatchObject({ kind: 'alive', incarnation: 3 });
    expect(table.get(SELF)?.status).toBe('alive');
  });

  it('refutes an alive about us from a previous life (higher incarnation or other facts)', () => {
    const { table } = setup([], { incarnation: 2 });
    expect(table.apply(alive(SELF, 2))).toEqual({ changed: false, rebroadcast: false });
    expect(table.apply(alive(SELF, 9)).refute).toMatchObject({ incarnation: 10 });
    expect(table.apply(alive(SELF, 10, { federationAddr: 'old:1' })).refute).toMatchObject({ incarnation: 11 });
  });

  it('refutes a left about us that we did not make', () => {
    const { table } = setup();
    expect(table.apply(left(SELF, 0)).refute).toMatchObject({ incarnation: 1 });
  });

  it('after leave() it announces left and no longer rejoins or refutes', () => {
    const { table } = setup([], { incarnation: 3 });
    expect(table.leave()).toEqual({ kind: 'left', id: SELF, incarnation: 3 });
    expect(table.get(SELF)?.status).toBe('left');
    expect(table.apply(alive(SELF, 9)).changed).toBe(false);
    expect(table.apply(suspect(SELF, 3, 'eu.a')).changed).toBe(false);
    expect(table.apply(dead(SELF, 3, 'eu.a')).changed).toBe(false);
  });
});

describe('MemberTable: dead members kept, re-probed and expired', () => {
  it('re-probes a dead member every 30 s (plus up to 10 % jitter)', () => {
    const { table, clock } = setup(['eu.a']);
    const diedAt = clock.t;
    table.apply(dead('eu.a', 1, 'ap.a'));
    expect(table.reprobeCandidates(diedAt + REPROBE_INTERVAL_MS - 1)).toEqual([]);
    expect(table.reprobeCandidates(diedAt + REPROBE_INTERVAL_MS * 1.1).map((m) => m.id)).toEqual(['eu.a']);

    let at = diedAt + REPROBE_INTERVAL_MS * 1.1;
    for (let i = 0; i < 5; i++) {
      table.noteReprobe('eu.a', at);
      expect(table.reprobeCandidates(at + REPROBE_INTERVAL_MS - 1)).toEqual([]);
      at += REPROBE_INTERVAL_MS * 1.1;
      expect(table.reprobeCandidates(at).map((m) => m.id)).toEqual(['eu.a']);
    }
  });

  it('keeps dead and left members in the list until 24 h have passed, then expires them', () => {
    const { table, clock } = setup(['eu.a', 'eu.b', 'eu.c']);
    const t0 = clock.t;
    table.apply(dead('eu.a', 1, 'ap.a'));
    table.apply(left('eu.b', 1));
    expect(table.members().map((m) => m.id).sort()).toEqual(['eu.a', 'eu.b', 'eu.c', SELF]);
    expect(table.expire(t0 + DEAD_RETENTION_MS)).toEqual([]);
    expect(table.reprobeCandidates(t0 + DEAD_RETENTION_MS).map((m) => m.id)).toEqual(['eu.a']);
    expect(table.reprobeCandidates(t0 + DEAD_RETENTION_MS + 1)).toEqual([]);
    expect(table.expire(t0 + DEAD_RETENTION_MS + 1).sort()).toEqual(['eu.a', 'eu.b']);
    expect(table.members().map((m) => m.id).sort()).toEqual(['eu.c', SELF]);
  });

  it('never re-probes left members, nor alive ones', () => {
    const { table, clock } = setup(['eu.a', 'eu.b']);
    table.apply(left('eu.a', 1));
    expect(table.reprobeCandidates(clock.t + 10 * REPROBE_INTERVAL_MS)).toEqual([]);
  });

  it('stops re-probing a dead member that comes back', () => {
    const { table, clock } = setup(['eu.a']);
    table.apply(dead('eu.a', 1, 'ap.a'));
    table.apply(alive('eu.a', 2));
    expect(table.reprobeCandidates(clock.t + 10 * REPROBE_INTERVAL_MS)).toEqual([]);
    expect(table.views().find((v) => v.id === 'eu.a')?.why).toBe('rejoined (was dead) at incarnation 2');
  });

  it('never expires ourselves or a live member', () => {
    const { table, clock } = setup(['eu.a']);
    expect(table.expire(clock.t + 10 * DEAD_RETENTION_MS)).toEqual([]);
  });
});

describe('MemberTable: local view (reachable, heard, rtt) and debug rows', () => {
  it('keeps "unreachable from here" apart from dead', () => {
    const { table } = setup(['eu.a']);
    table.setReachable('eu.a', false, 'no ack to ping or 3 indirect pings');
    // Others still vouch for it: a refutation arrives by gossip.
    table.apply(suspect('eu.a', 1, SELF));
    table.apply(alive('eu.a', 2));
    const row = table.views().find((v) => v.id === 'eu.a');
    expect(row).toMatchObject({ status: 'alive', reachable: false });
    expect(row?.why).toBe('refuted suspicion at incarnation 2; unreachable from here: no ack to ping or 3 indirect pings');
    table.setReachable('eu.a', true);
    expect(table.views().find((v) => v.id === 'eu.a')).toMatchObject({ reachable: true, why: 'refuted suspicion at incarnation 2' });
  });

  it('a dead member can be reachable (it answered a re-probe before refuting)', () => {
    const { table } = setup(['eu.a']);
    table.apply(dead('eu.a', 1, 'ap.a'));
    table.setReachable('eu.a', true);
    expect(table.views().find((v) => v.id === 'eu.a')).toMatchObject({ status: 'dead', reachable: true });
  });

  it('tracks last heard and the RTT EWMA', () => {
    const { table, clock } = setup(['eu.a']);
    table.heard('eu.a', clock.t - 500);
    table.heard('eu.a', clock.t - 900); // out-of-order: keeps the newest
    table.recordRtt('eu.a', 10);
    table.recordRtt('eu.a', 20);
    table.recordRtt('eu.a', -5); // ignored
    const row = table.views().find((v) => v.id === 'eu.a');
    expect(row?.lastHeardMs).toBe(500);
    expect(row?.rttMs).toBeCloseTo(10 + RTT_EWMA_WEIGHT * 10, 5);
  });

  it('gives every row an age and a reason, with nulls before the first message or ack', () => {
    const { table, clock } = setup(['eu.a']);
    clock.t += 2500;
    table.apply(suspect('eu.a', 1, SELF), 'no ack to ping or 3 indirect pings');
    clock.t += 1000;
    const rows = table.views();
    expect(rows.map((r) => r.id)).toEqual(['eu.a', SELF]);
    expect(rows[0]).toEqual({
      id: 'eu.a',
      cluster: 'eu',
      trustDomain: 'eu.acme.example',
      federationAddr: 'eu.a:4143',
      status: 'suspect',
      incarnation: 1,
      lastHeardMs: null,
      rttMs: null,
      reachable: true,
      suspectedBy: [SELF],
      why: 'no ack to ping or 3 indirect pings',
      statusSinceMs: 1000,
    });
    expect(rows[1]).toMatchObject({ id: SELF, status: 'alive', why: 'this process', statusSinceMs: 3500 });
  });

  it('counts alive and suspect members, ourselves included', () => {
    const { table } = setup(['eu.a', 'eu.b', 'eu.c', 'eu.d']);
    table.apply(suspect('eu.a', 1, 'x'));
    table.apply(dead('eu.b', 1, 'x'));
    table.apply(left('eu.c', 1));
    expect(table.aliveCount()).toBe(3);
  });

  it('hands out snapshots that cannot change the table', () => {
    const { table } = setup(['eu.a']);
    const m = table.get('eu.a') as { status: string };
    expect(() => {
      m.status = 'dead';
    }).toThrow(TypeError);
    expect(table.get('eu.a')?.status).toBe('alive');
  });
});

describe('updatesFromRemoteState (memberlist mergeState)', () => {
  it('keeps alive and left, and only suspects what a peer thinks dead', () => {
    const state = (id: string, status: 'alive' | 'suspect' | 'dead' | 'left') => ({
      ...info(id),
      incarnation: 3,
      status,
      statusSince: 0,
    });
    const updates = updatesFromRemoteState(
      [state('eu.a', 'alive'), state('eu.b', 'suspect'), state('eu.c', 'dead'), state('eu.d', 'left')],
      SELF,
    );
    expect(updates).toEqual([
      { kind: 'alive', member: info('eu.a'), incarnation: 3 },
      { kind: 'suspect', id: 'eu.b', incarnation: 3, from: SELF },
      { kind: 'suspect', id: 'eu.c', incarnation: 3, from: SELF },
      { kind: 'left', id: 'eu.d', incarnation: 3 },
    ]);
  });
});
