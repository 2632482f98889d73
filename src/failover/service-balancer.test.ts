import { describe, expect, it } from 'vitest';
import { mulberry32 as seeded } from '../../test/harness/seeded-random.js';
import { ServiceBalancer, type BalancerEvent, type BalancerSettings, type Pick, type RemoteCluster, type Target } from './service-balancer.js';

const ENDPOINTS = ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80'];
const settings = (over: Partial<BalancerSettings> = {}): BalancerSettings => ({
  service: 'pay',
  cluster: 'a',
  region: 'us',
  order: ['local', 'region', 'any'],
  overprovisioning: 1.4,
  endpoints: ENDPOINTS,
  maxInFlightPerTarget: 1_000,
  peakEwma: { decayMs: 10_000, defaultRttMs: 30 },
  ejection: { consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000 },
  retryBudget: { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 },
  failback: { holdMs: 10_000, rampMs: 10_000, jitterMs: 0 },
  random: seeded(7),
  now: 0,
  ...over,
});
const remote = (cluster: string, over: Partial<RemoteCluster> = {}): RemoteCluster => ({
  cluster,
  region: 'us',
  exported: true,
  healthy: 2,
  total: 2,
  stale: false,
  replicas: [`${cluster}.r1`, `${cluster}.r2`],
  ...over,
});
const ok = { rttMs: 5, failed: false, overloaded: false };
const failed = { rttMs: 1, failed: true, overloaded: false };

/** A target as tests name it: `local:<endpoint>` or `<cluster>/<replica>`. */
const label = (t: Target | undefined): string | undefined => (t === undefined ? undefined : t.kind === 'local' ? `local:${t.endpoint}` : `${t.cluster}/${t.replica}`);

/** The pick of the target named `want`: the others are excluded as tried (and finish at once, fine). */
function pickOf(b: ServiceBalancer, now: number, want: string): Pick {
  const tried = new Set<Target>();
  for (let i = 0; i < 50; i++) {
    const p = b.pick(now, tried);
    if (!p) break;
    if (label(p.target) === want) return p;
    tried.add(p.target);
    p.done(now, ok);
  }
  throw new Error(`${want} never picked`);
}

/** `n` failed tries on the target named `want`. */
function failOn(b: ServiceBalancer, from: number, want: string, failure: string, n = 5): void {
  for (let i = 0; i < n; i++) pickOf(b, from + i, want).done(from + i, failed, failure);
}

/** Where `n` requests go, as fractions by tier name. */
function split(b: ServiceBalancer, now: number, n = 2_000): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const c = b.pick(now);
    const name = c ? c.tier : 'none';
    c?.done(now, ok);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / n]));
}

describe('ServiceBalancer', () => {
  it('keeps everything local while healthy and spills by the overprovisioning rule when half is down', () => {
    const b = new ServiceBalancer(settings());
    const down = new Set<string>();
    const seen = () => ({ endpoints: (e: string) => ({ healthy: !down.has(e), reason: down.has(e) ? 'connect refused' : '200' }), remotes: [remote('b')] });
    b.update(0, seen());
    expect(split(b, 0)).toEqual({ local: 1 });
    down.add(ENDPOINTS[0] as string).add(ENDPOINTS[1] as string);
    b.update(1, seen());
    // 2 of 4 healthy: 0.5 × 1.4 = 70 % stays, 30 % spills to the region tier.
    const { local, region } = split(b, 1, 5_000);
    expect(local).toBeGreaterThan(0.67);
    expect(local).toBeLessThan(0.73);
    expect(region).toBeCloseTo(1 - (local as number), 5);
    expect(b.explain(1).tiers.map((t) => [t.name, t.share])).toEqual([
      ['local', 0.7],
      ['region', 0.3],
    ]);
  });

  it('fails over at once, then fails back only after the hold and over the ramp, without flapping', () => {
    const events: BalancerEvent[] = [];
    const b = new ServiceBalancer(settings(), (e) => events.push(e));
    let healthy = true;
    const seen = () => ({ endpoints: () => ({ healthy, reason: healthy ? '200' : 'down' }), remotes: [remote('b')] });
    b.update(0, seen());
    healthy = false;
    b.update(1_000, seen());
    expect(split(b, 1_000)).toEqual({ region: 1 });
    expect(events.map((e) => e.kind)).toEqual(['failover']);

    healthy = true;
    b.update(2_000, seen());
    expect(split(b, 2_000)).toEqual({ region: 1 }); // holding
    healthy = false; // a relapse inside the hold
    b.update(9_000, seen());
    healthy = true;
    b.update(10_000, seen());
    b.update(19_000, seen());
    expect(split(b, 19_000)).toEqual({ region: 1 }); // the hold restarted at 10 s
    b.update(25_000, seen()); // hold over at 20 s; half-way through the ramp
    const mid = split(b, 25_000, 5_000);
    expect(mid['local']).toBeGreaterThan(0.45);
    expect(mid['local']).toBeLessThan(0.55);
    b.update(30_001, seen());
    expect(split(b, 30_001)).toEqual({ local: 1 });
    expect(events.map((e) => e.kind)).toEqual(['failover', 'failback']);
    expect(b.explain(30_001).failback.phase).toBe('steady');
  });

  it('holds failback traffic on the next tier in order, not spread over every later tier', () => {
    const b = new ServiceBalancer(settings());
    let healthy = true;
    const seen = () => ({
      endpoints: () => ({ healthy, reason: healthy ? '200' : 'down' }),
      remotes: [remote('b'), remote('c', { region: 'eu' })],
    });
    b.update(0, seen());
    healthy = false;
    b.update(1_000, seen());
    expect(split(b, 1_000)).toEqual({ region: 1 });
    healthy = true;
    b.update(2_000, seen());
    expect(split(b, 2_000)).toEqual({ region: 1 }); // holding: the region tier, as while failed over
    b.update(25_000, seen()); // half-way through the ramp
    const mid = split(b, 25_000, 5_000);
    expect(mid['any']).toBeUndefined();
    expect((mid['local'] ?? 0) + (mid['region'] ?? 0)).toBe(1);
  });

  it('ejects an endpoint after 5 failures, lets one probe through later, and takes it back', () => {
    const events: BalancerEvent[] = [];
    const b = new ServiceBalancer(settings({ endpoints: ['e1:80', 'e2:80'] }), (e) => events.push(e));
    const seen = { endpoints: () => ({ healthy: true, reason: '200' }), remotes: [] };
    b.update(0, seen);
    failOn(b, 0, 'local:e1:80', 'upstream-reset');
    expect(events.at(-1)).toMatchObject({ kind: 'ejection', target: 'local:e1:80', reason: '5 consecutive failures (last: upstream-reset)' });
    // The ejection took effect in the snapshot at once, without waiting for an update.
    for (let i = 0; i < 100; i++) expect(label(b.pick(10)?.target)).toBe('local:e2:80');
    expect(b.explain(10).tiers[0]?.targets[0]).toMatchObject({ usable: false, reason: 'ejected: 5 consecutive failures (last: upstream-reset)' });

    b.update(30_010, seen);
    const probe = b.pick(30_010);
    expect(probe).toMatchObject({ why: 'half-open probe after ejection' });
    expect(label(probe?.target)).toBe('local:e1:80');
    expect(label(b.pick(30_010)?.target)).toBe('local:e2:80'); // one probe at a time
    probe?.done(30_020, ok);
    expect(events.at(-1)).toMatchObject({ kind: 'return', target: 'local:e1:80' });
  });

  it('probes an ejected endpoint even while its tier gets no traffic, so the tier can come back', () => {
    const b = new ServiceBalancer(settings({ endpoints: ['e1:80'] }));
    const seen = { endpoints: () => ({ healthy: true, reason: '200' }), remotes: [remote('b')] };
    b.update(0, seen);
    failOn(b, 0, 'local:e1:80', 'upstream-connect');
    b.update(10, seen);
    expect(split(b, 10)).toEqual({ region: 1 });
    b.update(30_010, seen);
    const probe = b.pick(30_010);
    expect(probe).toMatchObject({ why: 'half-open probe after ejection' });
    expect(label(probe?.target)).toBe('local:e1:80');
    probe?.done(30_011, ok);
    b.update(30_012, seen);
    expect(b.explain(30_012).tiers[0]).toMatchObject({ name: 'local', healthyFraction: 1 });
  });

  it('takes back an ejected endpoint once its active check goes from failing to passing', () => {
    const events: BalancerEvent[] = [];
    const b = new ServiceBalancer(settings({ endpoints: ['e1:80', 'e2:80'] }), (e) => events.push(e));
    let up = true;
    const seen = () => ({ endpoints: (e: string) => ({ healthy: e === 'e2:80' || up, reason: up ? '200' : 'refused' }), remotes: [] });
    b.update(0, seen());
    failOn(b, 0, 'local:e1:80', 'upstream-connect');
    up = false;
    b.update(10, seen());
    up = true;
    b.update(2_000, seen());
    expect(events.at(-1)).toMatchObject({ kind: 'return', target: 'local:e1:80', reason: 'active check passed again: 200' });
    expect(b.explain(2_000).tiers[0]?.targets[0]).toMatchObject({ usable: true });
  });

  it('gives a slower endpoint less traffic', () => {
    const b = new ServiceBalancer(settings({ endpoints: ['fast:80', 'slow:80'] }));
    b.update(0, { endpoints: () => ({ healthy: true, reason: '200' }), remotes: [] });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 2_000; i++) {
      const now = i * 5;
      const c = b.pick(now) as Pick;
      const key = label(c.target) as string;
      counts[key] = (counts[key] ?? 0) + 1;
      c.done(now, { ...ok, rttMs: key === 'local:slow:80' ? 50 : 5 });
    }
    expect((counts['local:fast:80'] ?? 0) / 2_000).toBeGreaterThan(0.8);
  });

  it('ejects one gateway replica without removing its cluster, and weighs the cluster down', () => {
    const b = new ServiceBalancer(settings({ endpoints: [] }));
    const seen = { endpoints: () => ({ healthy: true, reason: '' }), remotes: [remote('b', { healthy: 4, total: 4 })] };
    b.update(0, seen);
    failOn(b, 0, 'b/b.r1', 'upstream-connect');
    b.update(10, seen);
    const target = b.explain(10).tiers[0]?.targets[0];
    expect(target).toMatchObject({ key: 'cluster:b', usable: true, healthy: 2, reason: '4/4 endpoints healthy, 1/2 replicas usable' });
    for (let i = 0; i < 20; i++) expect(label(b.pick(10)?.target)).toBe('b/b.r2');
  });

  it('never leaves a healthy cluster unusable because every replica was ejected', () => {
    const b = new ServiceBalancer(settings({ endpoints: [] }));
    const seen = { endpoints: () => ({ healthy: true, reason: '' }), remotes: [remote('b', { healthy: 1, total: 1, replicas: ['b.r1'] })] };
    b.update(0, seen);
    failOn(b, 0, 'b/b.r1', 'upstream-reset');
    b.update(10, seen);
    expect(b.explain(10).tiers[0]?.targets[0]).toMatchObject({ usable: true, reason: '1/1 endpoints healthy, every replica ejected: using all 1 anyway' });
    expect(label(b.pick(10)?.target)).toBe('b/b.r1');
  });

  it('moves to another replica of the same cluster when one was tried', () => {
    const b = new ServiceBalancer(settings({ endpoints: [] }));
    b.update(0, { endpoints: () => ({ healthy: true, reason: '' }), remotes: [remote('b')] });
    const first = b.pick(0) as Pick;
    const second = b.pick(0, new Set([first.target])) as Pick;
    expect(second.target).not.toBe(first.target);
    expect(b.pick(0, new Set([first.target, second.target]))).toBeUndefined();
  });

  it('bounds retries by the budget during an outage and says so once a second', () => {
    const events: BalancerEvent[] = [];
    const b = new ServiceBalancer(settings(), (e) => events.push(e));
    let granted = 0;
    let requests = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      b.recordRequest(ms);
      requests++;
      if (b.tryRetry(ms)) granted++;
    }
    expect(granted).toBeLessThanOrEqual(0.2 * requests + 10 * 10);
    expect(granted).toBeGreaterThan(100);
    const exhausted = events.filter((e) => e.kind === 'budget-exhausted');
    expect(exhausted.length).toBeGreaterThan(0);
    expect(exhausted.length).toBeLessThanOrEqual(10);
  });

  it('passes over a target at its in-flight limit, and says the service is saturated when all are', () => {
    const b = new ServiceBalancer(settings({ endpoints: ['e1:80', 'e2:80'], maxInFlightPerTarget: 2 }));
    b.update(0, { endpoints: () => ({ healthy: true, reason: '200' }), remotes: [] });
    // Picks left open are requests in flight.
    pickOf(b, 0, 'local:e1:80');
    pickOf(b, 0, 'local:e1:80');
    for (let i = 0; i < 20; i++) {
      const p = b.pick(0);
      expect(label(p?.target)).toBe('local:e2:80');
      p?.done(0, ok);
    }
    expect(b.saturated()).toBe(false);
    b.pick(0);
    b.pick(0);
    expect(b.pick(0)).toBeUndefined();
    expect(b.saturated()).toBe(true);
  });

  it('uses every endpoint in panic, when nothing anywhere is healthy', () => {
    const events: BalancerEvent[] = [];
    const b = new ServiceBalancer(settings({ endpoints: ['e1:80'] }), (e) => events.push(e));
    b.update(0, { endpoints: () => ({ healthy: false, reason: 'down' }), remotes: [remote('b', { healthy: 0 })] });
    const p = b.pick(0);
    expect(p).toMatchObject({ why: 'panic: using every endpoint' });
    expect(label(p?.target)).toBe('local:e1:80');
    expect(events.map((e) => e.kind)).toContain('panic');
  });
});

/** Where `n` requests go, in percent by cluster (ours is `a`). */
function byCluster(b: ServiceBalancer, now: number, n = 2_000): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const p = b.pick(now);
    const name = p === undefined ? 'none' : p.target.kind === 'local' ? 'a' : p.target.cluster;
    p?.done(now, ok);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Math.round((v / n) * 100)]));
}

describe('ServiceBalancer with failover.weights (Envoy locality weights)', () => {
  const down = new Set<string>();
  const seen = (remotes: RemoteCluster[]) => ({ endpoints: (e: string) => ({ healthy: !down.has(e), reason: down.has(e) ? 'refused' : '200' }), remotes });

  it('splits a tier 90/10, then 50/50, between clusters while all are healthy, and shows it in /debug/routes', () => {
    down.clear();
    const b = new ServiceBalancer(settings({ order: ['any'], weights: { a: 90, b: 10 } }));
    b.update(0, seen([remote('b')]));
    const split1 = byCluster(b, 0);
    expect(split1['a']).toBeGreaterThanOrEqual(87);
    expect(split1['a']).toBeLessThanOrEqual(93);
    expect(b.explain(0).tiers[0]?.weights).toEqual([
      { cluster: 'a', configured: 90, share: 0.9 },
      { cluster: 'b', configured: 10, share: 0.1 },
    ]);
    const even = new ServiceBalancer(settings({ order: ['any'], weights: { a: 50, b: 50 } }));
    even.update(0, seen([remote('b')]));
    const split2 = byCluster(even, 0);
    expect(split2['b']).toBeGreaterThanOrEqual(47);
    expect(split2['b']).toBeLessThanOrEqual(53);
  });

  it('scales a weight by its cluster’s health (overprovisioned), and a cluster left out serves only when no weighted one can', () => {
    down.clear();
    const b = new ServiceBalancer(settings({ order: ['any'], weights: { a: 50, b: 50 } }));
    // b at 1/4 healthy: 50 × min(1, 0.25 × 1.4) = 17.5 against a's 50.
    b.update(0, seen([remote('b', { healthy: 1, total: 4 }), remote('c')]));
    const split = byCluster(b, 0);
    expect(split['b']).toBeGreaterThanOrEqual(23);
    expect(split['b']).toBeLessThanOrEqual(29);
    expect(split['c']).toBeUndefined();
    expect(b.explain(0).tiers[0]?.weights?.find((w) => w.cluster === 'c')).toEqual({ cluster: 'c', configured: 0, share: 0 });
    for (const e of ENDPOINTS) down.add(e);
    b.update(1, seen([remote('b', { healthy: 0, total: 4 }), remote('c')]));
    expect(byCluster(b, 1, 200)).toEqual({ c: 100 });
  });

  it('leaves a tier without a weighted cluster, and a pinned request, to latency and scope alone', () => {
    down.clear();
    const b = new ServiceBalancer(settings({ order: ['local', 'any'], weights: { b: 90, c: 10 } }));
    b.update(0, seen([remote('b'), remote('c')]));
    expect(b.explain(0).tiers.map((t) => t.weights === undefined)).toEqual([true, false]);
    expect(byCluster(b, 0, 200)).toEqual({ a: 100 });
    expect(label(b.pick(0, undefined, 'c')?.target)).toMatch(/^c\//);
  });
});

describe('ServiceBalancer: drained clusters', () => {
  const checks = { endpoints: () => ({ healthy: true, reason: '200' }) };

  it('our own drain moves local traffic to other clusters over the failback ramp, and falls back on us when nobody else can serve', () => {
    const b = new ServiceBalancer(settings());
    b.update(0, { ...checks, remotes: [remote('b')] });
    expect(byCluster(b, 0)).toEqual({ a: 100 });
    b.update(1_000, { ...checks, drained: true, remotes: [remote('b')] });
    expect(b.timeDependent()).toBe(true);
    // Half-way down the 10 s ramp: local health counts half (0.5 × 1.4 = 0.7 of the traffic).
    b.update(6_000, { ...checks, drained: true, remotes: [remote('b')] });
    const half = byCluster(b, 6_000);
    expect(half['a']).toBeGreaterThanOrEqual(65);
    expect(half['a']).toBeLessThanOrEqual(75);
    b.update(11_000, { ...checks, drained: true, remotes: [remote('b')] });
    expect(byCluster(b, 11_000)).toEqual({ b: 100 });
    expect(b.explain(11_000).tiers[0]?.targets.every((t) => t.reason === 'drained')).toBe(true);
    // What another cluster already sent here (held to our cluster) is still served.
    expect(b.pick(11_000, undefined, 'a')?.target.kind).toBe('local');
    // b gone too: the drained endpoints still serve rather than nothing.
    b.update(12_000, { ...checks, drained: true, remotes: [remote('b', { healthy: 0 })] });
    expect(byCluster(b, 12_000)).toEqual({ a: 100 });
  });

  it('another cluster drained loses its share over the ramp, shown as drained, and gets it back over the ramp when undrained', () => {
    const b = new ServiceBalancer(settings({ order: ['any'], endpoints: [] }));
    b.update(0, { ...checks, remotes: [remote('b'), remote('c')] });
    const even = byCluster(b, 0);
    expect(even['b']).toBeGreaterThan(30);
    b.update(1_000, { ...checks, remotes: [remote('b', { drained: true }), remote('c')] });
    b.update(11_000, { ...checks, remotes: [remote('b', { drained: true }), remote('c')] });
    expect(byCluster(b, 11_000)).toEqual({ c: 100 });
    expect(b.explain(11_000).tiers[0]?.targets.find((t) => t.key === 'cluster:b')?.reason).toBe('drained');
    b.update(12_000, { ...checks, remotes: [remote('b'), remote('c')] });
    b.update(13_000, { ...checks, remotes: [remote('b'), remote('c')] });
    expect(b.explain(13_000).tiers[0]?.targets.find((t) => t.key === 'cluster:b')?.reason).toMatch(/^drain ramp: 10 % of its health counts/);
    b.update(22_000, { ...checks, remotes: [remote('b'), remote('c')] });
    expect(b.explain(22_000).tiers[0]?.targets.find((t) => t.key === 'cluster:b')).toMatchObject({ usable: true, healthy: 2, reason: '2/2 endpoints healthy, 2/2 replicas usable' });
    expect(b.timeDependent()).toBe(false);
  });
});
