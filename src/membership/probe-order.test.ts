import { describe, it, expect } from 'vitest';
import { ProbeOrder, pickIndirectHelpers, shuffle } from './probe-order.js';
import { mulberry32 as seeded } from '../../test/harness/seeded-random.js';
import type { MemberState, MemberStatus, Random } from './types.js';


function member(id: string, status: MemberStatus = 'alive'): MemberState {
  const cluster = id.split('.')[0] as string;
  return {
    id,
    cluster,
    trustDomain: `${cluster}.acme.example`,
    federationAddr: '127.0.0.1:4143',
    adminAddr: '127.0.0.1:9901',
    incarnation: 1,
    status,
    statusSince: 0,
  };
}

describe('shuffle', () => {
  it('permutes every element exactly once', () => {
    const out = shuffle([1, 2, 3, 4, 5, 6, 7, 8], seeded(1));
    expect([...out].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('survives a Random that returns 1', () => {
    expect(shuffle([1, 2, 3], () => 1).sort()).toEqual([1, 2, 3]);
  });
});

describe('ProbeOrder (memberlist probe / resetNodes)', () => {
  const self = 'us.a';
  const ids = ['us.a', 'us.b', 'eu.a', 'eu.b', 'ap.a', 'ap.b'];

  it('probes every other live member exactly once per round, never itself', () => {
    const order = new ProbeOrder(self, seeded(7));
    const members = ids.map((id) => member(id));
    for (let round = 0; round < 5; round++) {
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) seen.push(order.next(members)?.id as string);
      expect([...seen].sort()).toEqual(['ap.a', 'ap.b', 'eu.a', 'eu.b', 'us.b']);
    }
  });

  it('reshuffles between rounds', () => {
    const order = new ProbeOrder(self, seeded(3));
    const members = ids.map((id) => member(id));
    const rounds = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) seen.push(order.next(members)?.id as string);
      rounds.add(seen.join(','));
    }
    expect(rounds.size).toBeGreaterThan(1);
  });

  it('skips dead and left members but probes suspects', () => {
    const order = new ProbeOrder(self, seeded(11));
    const members = [member('us.a'), member('us.b', 'dead'), member('eu.a', 'left'), member('eu.b', 'suspect'), member('ap.a')];
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add(order.next(members)?.id as string);
    expect([...seen].sort()).toEqual(['ap.a', 'eu.b']);
  });

  it('skips a member that died mid-round', () => {
    const order = new ProbeOrder(self, seeded(5));
    let members = ids.map((id) => member(id));
    const first = order.next(members)?.id as string;
    const victim = ids.find((id) => id !== self && id !== first) as string;
    members = members.map((m) => (m.id === victim ? member(victim, 'dead') : m));
    const rest = [1, 2, 3].map(() => order.next(members)?.id);
    expect(rest).not.toContain(victim);
    expect(new Set([first, ...rest]).size).toBe(4);
  });

  it('probes a member that joined mid-round within the same round', () => {
    for (let seed = 0; seed < 20; seed++) {
      const order = new ProbeOrder(self, seeded(seed));
      const members = ids.map((id) => member(id));
      const seen = [order.next(members)?.id, order.next(members)?.id];
      const grown = [...members, member('sa.a')];
      for (let i = 0; i < 4; i++) seen.push(order.next(grown)?.id);
      expect([...seen].sort()).toEqual(['ap.a', 'ap.b', 'eu.a', 'eu.b', 'sa.a', 'us.b']);
    }
  });

  it('returns undefined when there is no one to probe', () => {
    const order = new ProbeOrder(self, seeded(1));
    expect(order.next([member(self)])).toBeUndefined();
    expect(order.next([member(self), member('eu.a', 'dead')])).toBeUndefined();
  });
});

describe('pickIndirectHelpers', () => {
  const self = member('us.a');
  const target = member('eu.a');

  it('prefers members of third clusters, one per cluster first', () => {
    const members = [
      self,
      target,
      member('us.b'),
      member('us.c'),
      member('eu.b'),
      member('ap.a'),
      member('ap.b'),
      member('sa.a'),
      member('af.a'),
    ];
    for (let seed = 0; seed < 20; seed++) {
      const helpers = pickIndirectHelpers(target, 3, members, seeded(seed), self);
      expect(helpers).toHaveLength(3);
      const clusters = helpers.map((h) => h.cluster);
      expect(new Set(clusters).size).toBe(3);
      for (const c of clusters) expect(['ap', 'sa', 'af']).toContain(c);
    }
  });

  it("falls back to the target's cluster, then our own", () => {
    const members = [self, target, member('us.b'), member('eu.b'), member('ap.a')];
    const helpers = pickIndirectHelpers(target, 3, members, seeded(2), self).map((h) => h.id);
    expect(helpers).toEqual(['ap.a', 'eu.b', 'us.b']);
  });

  it('takes a second member from a third cluster before any from ours or the target’s', () => {
    const members = [self, target, member('us.b'), member('eu.b'), member('ap.a'), member('ap.b')];
    const helpers = pickIndirectHelpers(target, 2, members, seeded(4), self).map((h) => h.id).sort();
    expect(helpers).toEqual(['ap.a', 'ap.b']);
  });

  it('never picks the target, ourselves, or a member that is not alive', () => {
    const members = [self, target, member('ap.a', 'suspect'), member('sa.a', 'dead'), member('af.a', 'left'), member('eu.b')];
    expect(pickIndirectHelpers(target, 3, members, seeded(1), self).map((h) => h.id)).toEqual(['eu.b']);
  });

  it('returns fewer than k when fewer are available, none for k = 0', () => {
    expect(pickIndirectHelpers(target, 3, [self, target], seeded(1), self)).toEqual([]);
    expect(pickIndirectHelpers(target, 0, [self, target, member('ap.a')], seeded(1), self)).toEqual([]);
  });

  it('within our own cluster, prefers other clusters for an intra-cluster target', () => {
    const localTarget = member('us.b');
    const members = [self, localTarget, member('us.c'), member('eu.a')];
    const helpers = pickIndirectHelpers(localTarget, 1, members, seeded(1), self).map((h) => h.id);
    expect(helpers).toEqual(['eu.a']);
  });
});
