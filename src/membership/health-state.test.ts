import { describe, expect, it } from 'vitest';
import {
  DEFAULT_STALE_AFTER_MS,
  HealthState,
  HealthWriter,
  chunkBySize,
  compareVersions,
  parseHealthRecord,
  type MemberStatusLookup,
} from './health-state.js';
import { MAX_PARTS, PART_LIMIT_BYTES, parsePartKey, partOf } from './record-parts.js';
import type { HealthDigest, HealthRecord, MemberStatus, ServiceHealth } from './types.js';
import { mulberry32 } from '../../test/harness/seeded-random.js';

const clockAt = (start = 1_000_000) => {
  const clock = { t: start, now: () => clock.t };
  return clock;
};

const health = (healthy: number, total: number, extra: Partial<ServiceHealth> = {}): ServiceHealth => ({
  healthy,
  total,
  inFlight: 0,
  exported: true,
  ...extra,
});

const record = (origin: string, generation: number, version: number, services: Record<string, ServiceHealth> = {}, writtenAt = 0): HealthRecord => ({
  origin,
  cluster: origin.split('.')[0] as string,
  generation,
  version,
  writtenAt,
  services,
});

const stateOf = (records: readonly HealthRecord[], clock = clockAt()): HealthState => {
  const state = new HealthState({ clock });
  for (const r of records) state.merge(r);
  return state;
};

// --------------------------------------------------------------------------
// Seeded randomness: the same seed replays the same case when a property fails.


const ORIGINS = ['us-east.a', 'us-east.b', 'eu-west.a', 'ap-south.x'];
const SERVICES = ['payments', 'orders', 'search'];

function randomRecord(rand: () => number): HealthRecord {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const services: Record<string, ServiceHealth> = {};
  for (const name of SERVICES) {
    if (rand() < 0.5) continue;
    const total = Math.floor(rand() * 4);
    services[name] = health(Math.floor(rand() * (total + 1)), total, { inFlight: Math.floor(rand() * 3) });
  }
  // Few generations and versions, so equal (generation, version) with other
  // contents (a duplicate replica id) comes up often too.
  return record(pick(ORIGINS), 1 + Math.floor(rand() * 2), Math.floor(rand() * 4), services, Math.floor(rand() * 3));
}

const randomRecords = (rand: () => number, n: number) => Array.from({ length: n }, () => randomRecord(rand));

function shuffled<T>(xs: readonly T[], rand: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** The join of two states: everything the first holds, merged with everything the second holds. */
const join = (a: HealthState, b: HealthState): HealthState => stateOf([...a.records(), ...b.records()]);
const plain = (state: HealthState) => JSON.parse(JSON.stringify(state.records())) as unknown;

describe('HealthState merge is a state CRDT (seeded property tests)', () => {
  const SEEDS = Array.from({ length: 200 }, (_, i) => i + 1);

  it('commutes: a ⊔ b = b ⊔ a', () => {
    for (const seed of SEEDS) {
      const rand = mulberry32(seed);
      const a = stateOf(randomRecords(rand, 1 + Math.floor(rand() * 6)));
      const b = stateOf(randomRecords(rand, 1 + Math.floor(rand() * 6)));
      expect(plain(join(a, b)), `seed ${seed}`).toEqual(plain(join(b, a)));
    }
  });

  it('is idempotent: a ⊔ a = a, and merging a held record again changes nothing', () => {
    for (const seed of SEEDS) {
      const rand = mulberry32(seed);
      const a = stateOf(randomRecords(rand, 1 + Math.floor(rand() * 8)));
      expect(plain(join(a, a)), `seed ${seed}`).toEqual(plain(a));
      for (const r of a.records()) expect(a.merge(r), `seed ${seed}`).toBe(false);
    }
  });

  it('associates: (a ⊔ b) ⊔ c = a ⊔ (b ⊔ c)', () => {
    for (const seed of SEEDS) {
      const rand = mulberry32(seed);
      const [a, b, c] = [0, 1, 2].map(() => stateOf(randomRecords(rand, 1 + Math.floor(rand() * 5)))) as [HealthState, HealthState, HealthState];
      expect(plain(join(join(a, b), c)), `seed ${seed}`).toEqual(plain(join(a, join(b, c))));
    }
  });

  it('reaches the same state for any delivery order, with duplicates and conflicting copies', () => {
    for (const seed of SEEDS) {
      const rand = mulberry32(seed);
      const records = randomRecords(rand, 20);
      const withDuplicates = [...records, ...records.slice(0, 5)];
      const reference = plain(stateOf(withDuplicates));
      for (let i = 0; i < 5; i++) {
        expect(plain(stateOf(shuffled(withDuplicates, rand))), `seed ${seed} order ${i}`).toEqual(reference);
      }
    }
  });

  it('keeps per origin exactly the highest (generation, version)', () => {
    for (const seed of SEEDS.slice(0, 50)) {
      const rand = mulberry32(seed);
      const records = randomRecords(rand, 15);
      const state = stateOf(records);
      for (const origin of ORIGINS) {
        const mine = records.filter((r) => r.origin === origin);
        const held = state.get(origin);
        if (mine.length === 0) {
          expect(held).toBeUndefined();
          continue;
        }
        const best = mine.reduce((m, r) => (compareVersions([r.generation, r.version], [m.generation, m.version]) > 0 ? r : m));
        expect([held?.generation, held?.version], `seed ${seed}`).toEqual([best.generation, best.version]);
      }
    }
  });

  it('converges two replicas by one digest exchange each way', () => {
    for (const seed of SEEDS.slice(0, 50)) {
      const rand = mulberry32(seed);
      const a = stateOf(randomRecords(rand, 8));
      const b = stateOf(randomRecords(rand, 8));
      // Push: a sends what b lacks. Pull: b sends what a asks for.
      for (const r of a.deltaFor(b.digest())) b.merge(r);
      const wanted = new Set(a.missingFrom(b.digest()));
      for (const r of b.records().filter((r) => wanted.has(r.origin))) a.merge(r);
      expect(a.digest(), `seed ${seed}`).toEqual(b.digest());
      expect(a.deltaFor(b.digest())).toEqual([]);
      expect(b.deltaFor(a.digest())).toEqual([]);
    }
  });
});

describe('HealthState', () => {
  it('keeps the higher (generation, version): a new generation beats any version of the old one', () => {
    const state = new HealthState({ clock: clockAt() });
    expect(state.merge(record('us-east.a', 1, 9))).toBe(true);
    expect(state.merge(record('us-east.a', 1, 3))).toBe(false);
    expect(state.merge(record('us-east.a', 2, 0))).toBe(true);
    expect(state.merge(record('us-east.a', 1, 100))).toBe(false);
    expect(state.get('us-east.a')).toMatchObject({ generation: 2, version: 0 });
  });

  it('counts records with the same version but other contents (duplicate replica ids) and still converges', () => {
    const a = record('us-east.a', 1, 1, { payments: health(1, 2) });
    const b = record('us-east.a', 1, 1, { payments: health(2, 2) });
    const ab = stateOf([a, b]);
    const ba = stateOf([b, a]);
    expect(plain(ab)).toEqual(plain(ba));
    expect(ab.conflicts).toBe(1);
    expect(ba.conflicts).toBe(1);
  });

  it('refuses a malformed record with a TypeError rather than corrupting the order', () => {
    const state = new HealthState({ clock: clockAt() });
    expect(() => state.merge({ ...record('us-east.a', 1, 1), version: Number.NaN })).toThrow(TypeError);
    expect(() => state.merge({ ...record('us-east.a', 1, 1), version: 1.5 })).toThrow(TypeError);
    expect(state.size).toBe(0);
  });

  it('makes a digest of every origin', () => {
    const state = stateOf([record('us-east.a', 1, 4), record('eu-west.a', 7, 2)]);
    expect(state.digest()).toEqual({ 'us-east.a': [1, 4], 'eu-west.a': [7, 2] });
  });

  it('sends what a peer lacks or holds older, and asks for what it holds newer', () => {
    const state = stateOf([record('us-east.a', 1, 4), record('us-east.b', 1, 4), record('eu-west.a', 2, 2)]);
    const theirs: HealthDigest = { 'us-east.a': [1, 4], 'us-east.b': [1, 2], 'eu-west.a': [3, 0], 'ap-south.x': [1, 1] };
    expect(state.deltaFor(theirs).map((r) => r.origin)).toEqual(['us-east.b']);
    expect(state.deltaFor({}).map((r) => r.origin)).toEqual(['eu-west.a', 'us-east.a', 'us-east.b']);
    expect(state.missingFrom(theirs)).toEqual(['ap-south.x', 'eu-west.a']);
  });

  it('reads a hostile digest safely: odd entries count as absent, prototype names are not entries', () => {
    const state = stateOf([record('us-east.a', 1, 4)]);
    const hostile = JSON.parse('{"us-east.a":[1,"4"],"constructor":[9,9],"__proto__":[9,9],"x":null,"eu-west.a":[1e400,1],"ap-south.x":[1,2,3]}') as HealthDigest;
    expect(state.deltaFor(hostile).map((r) => r.origin)).toEqual(['us-east.a']);
    expect(state.missingFrom(hostile)).toEqual([]);
    // Object.prototype.constructor is not an entry of an ordinary digest either.
    expect(stateOf([record('us-east.a', 1, 1)]).deltaFor({}).length).toBe(1);
  });

  it('forgets an origin on request', () => {
    const state = stateOf([record('us-east.a', 1, 1)]);
    expect(state.forget('us-east.a')).toBe(true);
    expect(state.get('us-east.a')).toBeUndefined();
  });
});

describe('parseHealthRecord', () => {
  const good = record('us-east.a', 1, 2, { payments: health(1, 2, { latencyMs: 3.5 }) }, 10);

  it('accepts a well-formed record and drops unknown fields', () => {
    const parsed = parseHealthRecord({ ...good, extra: 'x', services: { payments: { ...good.services.payments, junk: 1 } } });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(parsed.value).not.toHaveProperty('extra');
      expect(parsed.value.services.payments).toEqual({ healthy: 1, total: 2, inFlight: 0, latencyMs: 3.5, exported: true });
    }
  });

  it.each([
    ['not an object', null],
    ['an array', []],
    ['origin of another cluster', { ...good, origin: 'eu-west.a' }],
    ['origin without a replica', { ...good, origin: 'us-east' }],
    ['origin with two dots', { ...good, origin: 'us-east.a.b' }],
    ['bad cluster name', { ...good, cluster: 'us east', origin: 'us east.a' }],
    ['negative generation', { ...good, generation: -1 }],
    ['fractional version', { ...good, version: 1.5 }],
    ['string version', { ...good, version: '2' }],
    ['writtenAt not a number', { ...good, writtenAt: 'now' }],
    ['services an array', { ...good, services: [] }],
    ['service name not a DNS label', { ...good, services: { Payments: health(1, 1) } }],
    ['service named __proto__', JSON.parse(`{"origin":"us-east.a","cluster":"us-east","generation":1,"version":1,"writtenAt":0,"services":{"__proto__":{"healthy":1,"total":1,"inFlight":0,"exported":true}}}`) as unknown],
    ['healthy above total', { ...good, services: { payments: health(3, 2) } }],
    ['negative inFlight', { ...good, services: { payments: health(1, 2, { inFlight: -1 }) } }],
    ['latency NaN', { ...good, services: { payments: health(1, 2, { latencyMs: Number.NaN }) } }],
    ['exported missing', { ...good, services: { payments: { healthy: 1, total: 1, inFlight: 0 } } }],
  ])('rejects %s', (_what, value) => {
    expect(parseHealthRecord(value).ok).toBe(false);
  });
});

describe('HealthWriter', () => {
  it('starts at generation = clock and bumps the version once per batch of changes', () => {
    const clock = clockAt(5_000);
    const writer = new HealthWriter('us-east.a', 'us-east', clock);
    expect(writer.generation).toBe(5_000);
    const [first] = writer.snapshot();
    expect(first).toMatchObject({ origin: 'us-east.a', cluster: 'us-east', generation: 5_000, version: 1, writtenAt: 5_000, part: 0, parts: 1, services: {} });

    clock.t = 6_000;
    expect(writer.set('payments', health(1, 2))).toBe(true);
    expect(writer.set('orders', health(2, 2))).toBe(true);
    const [second] = writer.snapshot();
    expect(second).toMatchObject({ version: 2, writtenAt: 6_000 });
    expect(Object.keys(second!.services)).toEqual(['orders', 'payments']);
  });

  it('does not bump when nothing changed', () => {
    const writer = new HealthWriter('us-east.a', 'us-east', clockAt());
    writer.set('payments', health(1, 2));
    const a = writer.snapshot();
    expect(writer.set('payments', health(1, 2))).toBe(false);
    expect(writer.remove('orders')).toBe(false);
    expect(writer.snapshot()).toBe(a);
    expect(writer.snapshot()[0]?.version).toBe(1);
  });

  it('bumps on removal', () => {
    const writer = new HealthWriter('us-east.a', 'us-east', clockAt());
    writer.set('payments', health(1, 2));
    writer.snapshot();
    expect(writer.remove('payments')).toBe(true);
    expect(writer.snapshot()).toMatchObject([{ version: 2, services: {} }]);
  });

  it('writes records that merge over its earlier ones, and a restart outranks the previous run', () => {
    const clock = clockAt(1_000);
    const state = new HealthState({ clock });
    const writer = new HealthWriter('us-east.a', 'us-east', clock);
    writer.set('payments', health(2, 2));
    expect(state.merge(writer.snapshot()[0]!)).toBe(true);
    writer.set('payments', health(1, 2));
    expect(state.merge(writer.snapshot()[0]!)).toBe(true);
    clock.t = 2_000;
    const restarted = new HealthWriter('us-east.a', 'us-east', clock);
    expect(state.merge(restarted.snapshot()[0]!)).toBe(true);
    expect(state.get('us-east.a')).toMatchObject({ generation: 2_000, version: 1 });
  });

  it('jumps past a newer record of its own origin (clock went back across a restart)', () => {
    const clock = clockAt(1_000);
    const writer = new HealthWriter('us-east.a', 'us-east', clock);
    writer.snapshot();
    expect(writer.supersede([1_000, 1])).toBe(false); // our own record
    expect(writer.supersede([900, 50])).toBe(false); // an older run
    expect(writer.supersede([5_000, 3])).toBe(true);
    const [next] = writer.snapshot();
    expect(compareVersions([next!.generation, next!.version], [5_000, 3])).toBeGreaterThan(0);
    expect(writer.supersede([next!.generation, next!.version + 4])).toBe(true);
    expect(writer.snapshot()[0]?.version).toBe(next!.version + 5);
  });

  it('refuses invalid names and health', () => {
    expect(() => new HealthWriter('eu-west.a', 'us-east', clockAt())).toThrow(TypeError);
    expect(() => new HealthWriter('us-east', 'us-east', clockAt())).toThrow(TypeError);
    const writer = new HealthWriter('us-east.a', 'us-east', clockAt());
    expect(() => writer.set('Payments', health(1, 1))).toThrow(TypeError);
    expect(() => writer.set('payments', health(2, 1))).toThrow(TypeError);
  });
});

describe('HealthState.serviceView', () => {
  type Status = { status: MemberStatus; reachable: boolean };
  const members = (entries: Record<string, Status>): MemberStatusLookup => (origin) => entries[origin];
  const alive: Status = { status: 'alive', reachable: true };

  it('takes endpoint counts from the freshest live replica, sums in-flight, and counts live replicas', () => {
    const clock = clockAt(100_000);
    const state = new HealthState({ clock });
    state.merge(record('eu-west.a', 1, 1, { payments: health(3, 4, { inFlight: 5, latencyMs: 12 }) }, 99_000));
    state.merge(record('eu-west.b', 1, 1, { payments: health(2, 4, { inFlight: 7, latencyMs: 15 }) }, 99_500));
    state.merge(record('us-east.a', 1, 1, { payments: health(1, 1) }, 99_000));
    const view = state.serviceView(100_000, members({ 'eu-west.a': alive, 'eu-west.b': alive, 'us-east.a': alive }));

    const eu = view.get('payments')?.get('eu-west');
    expect(eu).toMatchObject({ healthy: 2, total: 4, inFlight: 12, latencyMs: 15, replicas: 2, stale: false, source: 'eu-west.b', ageMs: 0 });
    expect(eu?.staleReason).toBeUndefined();
    expect(eu?.reports.map((r) => [r.origin, r.healthy, r.stale])).toEqual([
      ['eu-west.a', 3, false],
      ['eu-west.b', 2, false],
    ]);
    expect([...(view.get('payments')?.keys() ?? [])]).toEqual(['eu-west', 'us-east']);
  });

  it('leaves a dead or unreachable replica out of the live numbers and reports it stale with its age', () => {
    const clock = clockAt(100_000);
    const state = new HealthState({ clock });
    state.merge(record('eu-west.a', 1, 1, { payments: health(3, 4, { inFlight: 5 }) }, 1));
    clock.t = 110_000;
    state.merge(record('eu-west.b', 1, 1, { payments: health(0, 4, { inFlight: 9 }) }, 2));
    const view = state.serviceView(120_000, members({ 'eu-west.a': alive, 'eu-west.b': { status: 'dead', reachable: false } }));
    const eu = view.get('payments')?.get('eu-west');
    expect(eu).toMatchObject({ healthy: 3, total: 4, inFlight: 5, replicas: 2, stale: false, source: 'eu-west.a', ageMs: 20_000 });
    expect(eu?.reports.find((r) => r.origin === 'eu-west.b')).toMatchObject({ stale: true, staleReason: 'member-dead', ageMs: 10_000 });
  });

  it.each([
    ['dead', { status: 'dead', reachable: false }, 'member-dead'],
    ['left', { status: 'left', reachable: false }, 'member-left'],
    ['alive but unreachable from here', { status: 'alive', reachable: false }, 'unreachable'],
    ['suspect', { status: 'suspect', reachable: true }, 'member-suspect'],
    ['unknown to membership', undefined, 'unknown-member'],
  ] as const)('shows a cluster whose only replica is %s as stale, with its numbers, reason and age', (_what, status, reason) => {
    const clock = clockAt(50_000);
    const state = new HealthState({ clock });
    state.merge(record('eu-west.a', 1, 1, { payments: health(3, 4, { inFlight: 2 }) }));
    const view = state.serviceView(65_000, () => status);
    expect(view.get('payments')?.get('eu-west')).toMatchObject({
      healthy: 3,
      total: 4,
      inFlight: 2,
      stale: true,
      staleReason: reason,
      ageMs: 15_000,
    });
  });

  it('marks a record stale when not confirmed current for the staleness limit, and fresh again on confirmation', () => {
    const clock = clockAt(0);
    const state = new HealthState({ clock });
    state.merge(record('eu-west.a', 1, 3, { payments: health(3, 4) }));
    const lookup = members({ 'eu-west.a': alive });
    expect(state.serviceView(DEFAULT_STALE_AFTER_MS, lookup).get('payments')?.get('eu-west')?.stale).toBe(false);
    const old = state.serviceView(DEFAULT_STALE_AFTER_MS + 1, lookup).get('payments')?.get('eu-west');
    expect(old).toMatchObject({ stale: true, staleReason: 'too-old', ageMs: DEFAULT_STALE_AFTER_MS + 1 });

    clock.t = DEFAULT_STALE_AFTER_MS + 1;
    expect(state.confirm('eu-west.a', [1, 2])).toBe(false); // not what we hold: no evidence
    expect(state.confirm('eu-west.a', [1, 3])).toBe(true);
    expect(state.serviceView(clock.t + 5, lookup).get('payments')?.get('eu-west')).toMatchObject({ stale: false, ageMs: 5 });
  });

  it('honours a configured staleness limit', () => {
    const state = new HealthState({ clock: clockAt(0), staleAfterMs: 1_000 });
    state.merge(record('eu-west.a', 1, 1, { payments: health(1, 1) }));
    expect(state.serviceView(1_001, () => alive).get('payments')?.get('eu-west')?.staleReason).toBe('too-old');
  });

  it('reports each service only for the replicas that carry it', () => {
    const state = stateOf([record('eu-west.a', 1, 1, { payments: health(1, 1) }), record('eu-west.b', 1, 1, { orders: health(1, 1) })]);
    const view = state.serviceView(1_000_000, () => alive);
    expect(view.get('payments')?.get('eu-west')).toMatchObject({ replicas: 1, source: 'eu-west.a' });
    expect(view.get('orders')?.get('eu-west')).toMatchObject({ replicas: 1, source: 'eu-west.b' });
  });
});

describe('chunkBySize', () => {
  const utf8 = (r: HealthRecord): number => new TextEncoder().encode(JSON.stringify(r)).byteLength;
  const chunkRecords = (records: readonly HealthRecord[], budget: number, sizeOf = utf8) => chunkBySize(records, budget, sizeOf);

  const sized = (origin: string, services: number) =>
    record(origin, 1, 1, Object.fromEntries(Array.from({ length: services }, (_, i) => [`svc-${i}`, health(1, 2)])));

  it('puts everything in one chunk when it fits', () => {
    const records = [sized('us-east.a', 2), sized('us-east.b', 2)];
    expect(chunkRecords(records, 48 * 1024)).toEqual({ chunks: [records], oversized: [] });
  });

  it('splits into chunks whose JSON array fits the budget, keeping order and every record', () => {
    const records = Array.from({ length: 40 }, (_, i) => sized(`us-east.r${i}`, 1 + (i % 7)));
    const budget = 2_000;
    const { chunks, oversized } = chunkRecords(records, budget);
    expect(oversized).toEqual([]);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.flat()).toEqual(records);
    for (const chunk of chunks) expect(new TextEncoder().encode(JSON.stringify(chunk)).byteLength).toBeLessThanOrEqual(budget);
  });

  it('fills a 48 KiB budget without passing it', () => {
    const records = Array.from({ length: 100 }, (_, i) => sized(`us-east.r${i}`, 40));
    const { chunks } = chunkRecords(records, 48 * 1024);
    for (const chunk of chunks) expect(JSON.stringify(chunk).length).toBeLessThanOrEqual(48 * 1024);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.flat()).toHaveLength(100);
  });

  it('reports a record larger than the budget and still sends the others', () => {
    const small = sized('us-east.a', 1);
    const huge = sized('us-east.b', 200);
    const { chunks, oversized } = chunkRecords([small, huge, small], 4_000);
    expect(oversized).toEqual([huge]);
    expect(chunks.flat()).toEqual([small, small]);
  });

  it('uses the size function given', () => {
    const records = [sized('us-east.a', 1), sized('us-east.b', 1), sized('us-east.c', 1)];
    const { chunks } = chunkRecords(records, 2 + 10 + 1 + 10, () => 10);
    expect(chunks.map((c) => c.length)).toEqual([2, 1]);
  });

  it('returns nothing for nothing', () => {
    expect(chunkRecords([], 1_000)).toEqual({ chunks: [], oversized: [] });
  });
});

// --------------------------------------------------------------------------
// Records in parts

describe('records in parts', () => {
  const services = (n: number, prefix = 'svc') =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}-${String(i).padStart(4, '0')}`, health(1, 2, { inFlight: i % 3 })]));
  const writerWith = (n: number, clock = clockAt(1_000)) => {
    const writer = new HealthWriter('us-east.a', 'us-east', clock);
    for (const [name, h] of Object.entries(services(n))) writer.set(name, h);
    return writer;
  };
  /** One part of `origin`'s record, holding those of `names` that belong in it. */
  const partRecord = (origin: string, generation: number, version: number, part: number, parts: number, names: readonly string[], writtenAt = 0): HealthRecord => ({
    ...record(origin, generation, version, Object.fromEntries(names.filter((n) => partOf(n, parts) === part).map((n) => [n, health(version % 3, 2)])), writtenAt),
    part,
    parts,
  });

  const NAMES = Array.from({ length: 12 }, (_, i) => `s${i}`);
  /** `recut`: now and then a generation cut another way too (a duplicate replica id). */
  function randomPart(rand: () => number, recut: boolean): HealthRecord {
    const origin = ORIGINS[Math.floor(rand() * ORIGINS.length)] as string;
    const generation = 1 + Math.floor(rand() * 3);
    const parts = recut && rand() < 0.1 ? generation + 1 : generation;
    const part = Math.floor(rand() * parts);
    return partRecord(origin, generation, Math.floor(rand() * 4), part, parts, NAMES, Math.floor(rand() * 3));
  }
  const randomParts = (rand: () => number, n: number, recut = true) => Array.from({ length: n }, () => randomPart(rand, recut));
  const SEEDS = Array.from({ length: 200 }, (_, i) => i + 1);

  it('merge of parts is a state CRDT: commutes, repeats and reorders to the same state', () => {
    for (const seed of SEEDS) {
      const rand = mulberry32(seed);
      const a = stateOf(randomParts(rand, 1 + Math.floor(rand() * 10)));
      const b = stateOf(randomParts(rand, 1 + Math.floor(rand() * 10)));
      const c = stateOf(randomParts(rand, 1 + Math.floor(rand() * 10)));
      expect(plain(join(a, b)), `seed ${seed}`).toEqual(plain(join(b, a)));
      expect(plain(join(a, a)), `seed ${seed}`).toEqual(plain(a));
      expect(plain(join(join(a, b), c)), `seed ${seed}`).toEqual(plain(join(a, join(b, c))));
      const all = [...a.records(), ...b.records(), ...b.records().slice(0, 3)];
      const reference = plain(stateOf(all));
      for (let i = 0; i < 3; i++) expect(plain(stateOf(shuffled(all, rand))), `seed ${seed} order ${i}`).toEqual(reference);
    }
  });

  it("converges two replicas by digest exchange once each owner's newest generation is whole at one of them", () => {
    for (const seed of SEEDS.slice(0, 80)) {
      const rand = mulberry32(seed);
      // One cut per generation, as one owner writes; older generations in any state of arrival.
      const older = () => randomParts(rand, 15, false).map((r) => ({ ...r, writtenAt: r.version }));
      const [a, b] = [stateOf(older()), stateOf(older())];
      for (const origin of ORIGINS) {
        const holder = rand() < 0.5 ? a : b;
        for (let part = 0; part < 4; part++) holder.merge(partRecord(origin, 4, 1 + Math.floor(rand() * 3), part, 4, NAMES, 9));
      }
      for (const r of a.deltaFor(b.digest())) b.merge(r);
      const wanted = new Set(a.missingFrom(b.digest()));
      for (const r of b.records().filter((r) => wanted.has(r.part ? `${r.origin}#${r.part}` : r.origin))) a.merge(r);
      expect(plain(a), `seed ${seed}`).toEqual(plain(b));
      expect(a.records().every((r) => r.generation === 4)).toBe(true);
      expect(a.deltaFor(b.digest())).toEqual([]);
      expect(a.missingFrom(b.digest())).toEqual([]);
    }
  });

  it('shows the newest complete generation until every part of a newer one is in, then drops the old', () => {
    const state = new HealthState({ clock: clockAt() });
    const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
    for (const part of [0, 1]) state.merge(partRecord('us-east.a', 1, 1, part, 2, names));
    expect(Object.keys(state.get('us-east.a')?.services ?? {}).sort()).toEqual(names);

    expect(state.merge(partRecord('us-east.a', 2, 1, 0, 3, names))).toBe(true);
    expect(state.get('us-east.a')).toMatchObject({ generation: 1 });
    expect(Object.keys(state.get('us-east.a')?.services ?? {}).sort()).toEqual(names);
    // An older generation's part is still taken while the newer is incomplete…
    expect(state.digest()).toMatchObject({ 'us-east.a': [2, 1], 'us-east.a#1': [1, 1] });

    state.merge(partRecord('us-east.a', 2, 1, 2, 3, names));
    state.merge(partRecord('us-east.a', 2, 1, 1, 3, names));
    expect(state.get('us-east.a')).toMatchObject({ generation: 2 });
    expect(Object.keys(state.get('us-east.a')?.services ?? {}).sort()).toEqual(names);
    expect(state.records().every((r) => r.generation === 2)).toBe(true);
    // …and none once the newer is complete.
    expect(state.merge(partRecord('us-east.a', 1, 9, 1, 2, names))).toBe(false);
    expect(Object.keys(state.digest())).toEqual(['us-east.a', 'us-east.a#1', 'us-east.a#2']);
  });

  it('a writer cuts 2,000 services into parts under the limit, each service in exactly one, and a reader joins them', () => {
    const writer = writerWith(2_000);
    const parts = writer.snapshot();
    expect(parts.length).toBeGreaterThan(1);
    const seen = new Set<string>();
    for (const part of parts) {
      expect(JSON.stringify(part.services).length).toBeLessThanOrEqual(PART_LIMIT_BYTES);
      expect(part.parts).toBe(parts.length);
      for (const name of Object.keys(part.services)) {
        expect(seen.has(name)).toBe(false);
        seen.add(name);
      }
    }
    expect(seen.size).toBe(2_000);
    const state = stateOf(shuffled(parts, mulberry32(7)));
    expect(Object.keys(state.get('us-east.a')?.services ?? {})).toHaveLength(2_000);
    expect(state.serviceView(1_000, () => ({ status: 'alive', reachable: true })).size).toBe(2_000);
  });

  it('gives a new version only to the parts whose services changed', () => {
    const writer = writerWith(2_000);
    const before = writer.snapshot();
    writer.set('svc-0042', health(0, 2));
    const after = writer.snapshot();
    const changed = after.filter((p, i) => p !== before[i]);
    expect(changed.map((p) => p.part)).toEqual([partOf('svc-0042', before.length)]);
    expect(changed[0]?.version).toBe((before[0]?.version ?? 0) + 1);
    expect(after[0]?.generation).toBe(before[0]?.generation);
  });

  it('cuts the record again, under a new generation, when a part outgrows its limit', () => {
    const clock = clockAt(1_000);
    const writer = new HealthWriter('us-east.a', 'us-east', clock, 1_000, { partTargetBytes: 1_000, partLimitBytes: 2_000 });
    for (const [name, h] of Object.entries(services(5))) writer.set(name, h);
    const small = writer.snapshot();
    expect(small.map((p) => [p.generation, p.parts])).toEqual([[1_000, 1]]);
    clock.t = 5_000;
    for (const [name, h] of Object.entries(services(100, 'more'))) writer.set(name, h);
    const big = writer.snapshot();
    expect(big.length).toBeGreaterThan(1);
    expect(big.every((p) => p.generation === 5_000 && p.version === 1 && p.parts === big.length)).toBe(true);
    for (const part of big) expect(JSON.stringify(part.services).length).toBeLessThanOrEqual(2_000);
    // A reader holding the old cut switches only when the new one is whole.
    const state = stateOf(small);
    for (const part of big.slice(0, -1)) state.merge(part);
    expect(Object.keys(state.get('us-east.a')?.services ?? {})).toHaveLength(5);
    state.merge(big.at(-1)!);
    expect(Object.keys(state.get('us-east.a')?.services ?? {})).toHaveLength(105);
  });

  it('moves a big record to an empty peer in bounded messages by pull rounds', () => {
    const a = stateOf(writerWith(2_000).snapshot());
    const b = new HealthState({ clock: clockAt() });
    let rounds = 0;
    for (; rounds < 100 && b.missingFrom(a.digest()).length > 0; rounds++) {
      // The peer answers each pull with what fits one message.
      const [first] = chunkBySize(a.deltaFor(b.digest()), 20 * 1024, (r) => JSON.stringify(r).length).chunks;
      for (const r of first ?? []) b.merge(r);
    }
    expect(rounds).toBeGreaterThan(1);
    expect(plain(b)).toEqual(plain(a));
  });

  it('confirms a record in parts only when every part is the owner\'s current one', () => {
    const clock = clockAt(0);
    const writer = writerWith(2_000, clock);
    const state = new HealthState({ clock });
    for (const part of writer.snapshot()) state.merge(part);
    clock.t = DEFAULT_STALE_AFTER_MS + 1;
    const view = () => state.serviceView(clock.t, () => ({ status: 'alive', reachable: true })).get('svc-0001')?.get('us-east');
    expect(view()?.staleReason).toBe('too-old');
    expect(state.confirm('us-east.a', writer.stamp())).toBe(true);
    expect(view()?.stale).toBe(false);

    writer.set('svc-0042', health(0, 2));
    writer.snapshot(); // the changed part never reaches `state`
    expect(state.confirm('us-east.a', writer.stamp())).toBe(false);
  });

  it('sends a peer nothing older than the newest generation it has heard of', () => {
    const names = ['alpha', 'bravo', 'charlie'];
    const state = stateOf([0, 1].map((part) => partRecord('us-east.a', 1, 1, part, 2, names)));
    expect(state.deltaFor({ 'us-east.a': [2, 1] })).toEqual([]);
    expect(state.deltaFor({ 'us-east.a': [1, 1] }).map((r) => r.part)).toEqual([1]);
  });

  it.each([
    ['a service in another part', { ...partRecord('us-east.a', 1, 1, 0, 2, []), services: { [['alpha', 'bravo', 'charlie'].find((n) => partOf(n, 2) === 1)!]: health(1, 1) } }],
    ['part not below parts', { ...record('us-east.a', 1, 1), part: 2, parts: 2 }],
    ['no parts', { ...record('us-east.a', 1, 1), part: 0, parts: 0 }],
    ['too many parts', { ...record('us-east.a', 1, 1), part: 0, parts: MAX_PARTS + 1 }],
    ['fractional part', { ...record('us-east.a', 1, 1), part: 0.5, parts: 2 }],
  ])('parseHealthRecord rejects %s', (_what, value) => {
    expect(parseHealthRecord(value).ok).toBe(false);
  });

  it('reads part keys of a hostile digest safely', () => {
    expect(parsePartKey('us-east.a')).toEqual({ origin: 'us-east.a', part: 0 });
    expect(parsePartKey('us-east.a#7')).toEqual({ origin: 'us-east.a', part: 7 });
    for (const bad of ['us-east.a#0', 'us-east.a#', 'us-east.a#x', 'us-east.a#07', `us-east.a#${MAX_PARTS}`, 'us-east#1', '__proto__#1']) {
      expect(parsePartKey(bad), bad).toBeUndefined();
    }
    const state = stateOf([record('us-east.a', 1, 1)]);
    expect(state.missingFrom({ 'us-east.a#99999': [9, 9], 'nope#1': [9, 9], 'us-east.b#3': [1, 1] } as HealthDigest)).toEqual(['us-east.b#3']);
  });
});
