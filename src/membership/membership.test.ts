import { describe, expect, it } from 'vitest';
import { CertificateAuthority, type TrustBundle } from '../identity/index.js';
import { EnvelopeSigner, EnvelopeVerifier } from './envelope.js';
import { Membership, memberListParts, type MembershipEvent } from './membership.js';
import type { MemberState } from './types.js';
import { mulberry32 } from '../../test/harness/seeded-random.js';
import { ManualScheduler } from './testing/manual-scheduler.js';
import { MemoryNetwork } from './testing/memory-transport.js';

const DAY = 24 * 3_600_000;
const DOMAIN = 'test.example';

/** N gateways, one per cluster, on an in-memory network driven by a fake clock; real certificates. */
async function federation(clusters: string[], opts: { late?: readonly string[]; maxMessageBytes?: number } = {}) {
  const scheduler = new ManualScheduler(Date.now());
  const network = new MemoryNetwork({ schedule: scheduler.schedule, latency: () => 2, ...(opts.maxMessageBytes && { maxMessageBytes: opts.maxMessageBytes }) });
  const now = new Date(scheduler.now());
  const root = await CertificateAuthority.createRoot({ trustDomain: DOMAIN, ttlMs: 30 * DAY, now });
  const bundleFor = (td: string): TrustBundle | undefined =>
    td.endsWith(`.${DOMAIN}`) ? { trustDomain: td, x509Authorities: [root.certificate], jwtAuthorities: [] } : undefined;
  const events = new Map<string, MembershipEvent[]>();
  const members = new Map<string, Membership>();
  let seed = 1;
  for (const cluster of clusters) {
    const trustDomain = `${cluster}.${DOMAIN}`;
    const ca = await root.createIntermediate({ trustDomain, ttlMs: 20 * DAY, now });
    const id = `${cluster}.r1`;
    const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${trustDomain}/meshgate/gateway/${cluster}/r1`, ttlMs: DAY, now });
    const log: MembershipEvent[] = [];
    events.set(id, log);
    members.set(
      id,
      new Membership({
        self: { id, cluster, trustDomain, federationAddr: `127.0.0.1:${4143}`, adminAddr: '127.0.0.1:9901' },
        transport: network.transport(id),
        signer: new EnvelopeSigner({ svid: () => svid, from: id }),
        verifier: new EnvelopeVerifier({ bundleFor, clock: scheduler }),
        clock: scheduler,
        schedule: scheduler.schedule,
        random: mulberry32(seed++),
        config: { probeIntervalMs: 1_000, probeTimeoutMs: 500, indirectChecks: 3, pushPullIntervalMs: 30_000 },
        onEvent: (e) => log.push(e),
      }),
    );
  }
  for (const [id, m] of members) if (!opts.late?.includes(id.split('.')[0]!)) await m.start();
  const statusOf = (viewer: string, target: string) => members.get(viewer)!.members().find((v) => v.id === target)?.status;
  /**
   * Advances fake time in 10 ms steps, yielding to the real event loop
   * between steps: verifying a chain the first time runs in webcrypto's
   * thread pool, which fake time cannot hurry.
   */
  const run = async (ms: number, stepMs = 10) => {
    for (let t = 0; t < ms; t += stepMs) {
      await scheduler.advance(stepMs);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  };
  /** Runs until `done` holds (checked every 100 ms of fake time), at most `maxMs`; true when it held. */
  const runUntil = async (done: () => boolean, maxMs: number) => {
    for (let t = 0; t < maxMs && !done(); t += 100) await run(100);
    return done();
  };
  return { scheduler, network, members, events, statusOf, run, runUntil };
}

describe('Membership on an in-memory network', { timeout: 30_000 }, () => {
  it('converges: every member sees every other alive', async () => {
    const { run, members, statusOf } = await federation(['a', 'b', 'c']);
    await run(3_000);
    for (const viewer of members.keys()) {
      for (const target of members.keys()) expect(statusOf(viewer, target), `${viewer} sees ${target}`).toBe('alive');
    }
  });

  it('spreads a health change to every cluster', async () => {
    const { run, runUntil, members } = await federation(['a', 'b', 'c']);
    await run(2_000);
    await members.get('a.r1')!.setLocalServices({ payments: { healthy: 1, total: 2, inFlight: 0, exported: true } });
    // One broadcast carries it; the wait is for the verification work, which runs in real time.
    await runUntil(() => ['b.r1', 'c.r1'].every((id) => members.get(id)!.services().get('payments')?.get('a') !== undefined), 2_000);
    for (const id of ['b.r1', 'c.r1']) {
      const view = members.get(id)!.services().get('payments')?.get('a');
      expect(view, id).toMatchObject({ healthy: 1, total: 2, stale: false, liveReplicas: 1 });
    }
  });

  it('declares a crashed member dead everywhere, and a leaving one left', async () => {
    const { run, network, members, statusOf } = await federation(['a', 'b', 'c', 'd']);
    await run(3_000);
    network.disconnect('c.r1');
    await run(15_000);
    expect(statusOf('a.r1', 'c.r1')).toBe('dead');
    expect(statusOf('b.r1', 'c.r1')).toBe('dead');
    expect(statusOf('d.r1', 'c.r1')).toBe('dead');

    await members.get('d.r1')!.leave();
    await run(1_000);
    expect(statusOf('a.r1', 'd.r1')).toBe('left');
  });

  it('a crashed member whose NATS server still answers is dead everywhere within one probe round and one interval of suspicion', async () => {
    const { run, runUntil, network, members, statusOf } = await federation(['a', 'b', 'c', 'd']);
    await runUntil(() => [...members.keys()].every((v) => [...members.keys()].every((t) => statusOf(v, t) === 'alive')), 5_000);
    await run(3_000); // past the grace after joining, when interest may still be crossing gateways
    network.disconnect('c.r1'); // its subscriptions are gone, as when the process dies
    const everywhere = () => ['a.r1', 'b.r1', 'd.r1'].every((v) => statusOf(v, 'c.r1') === 'dead');
    // Ordinary suspicion alone takes at least 4 s (suspicionMult 4 × 1 s) after the first failed probe.
    expect(await runUntil(everywhere, 3_500)).toBe(true);
  });

  it('the same silence while the member’s NATS server answers no one (a restart) gets the ordinary suspicion, long enough to come back', async () => {
    const { run, runUntil, network, statusOf, members } = await federation(['a', 'b', 'c', 'd']);
    await runUntil(() => [...members.keys()].every((v) => [...members.keys()].every((t) => statusOf(v, t) === 'alive')), 5_000);
    await run(3_000);
    network.setServerSilent('c', true);
    network.disconnect('c.r1');
    await run(3_500);
    expect(['a.r1', 'b.r1', 'd.r1'].map((v) => statusOf(v, 'c.r1'))).not.toContain('dead');
    network.setServerSilent('c', false);
    network.reconnect('c.r1');
    await run(10_000);
    expect(['a.r1', 'b.r1', 'd.r1'].map((v) => statusOf(v, 'c.r1'))).toEqual(['alive', 'alive', 'alive']);
  });

  it('in a federation of three, a member whose server restarts while its interest lingers (probes time out) is held, not declared dead', async () => {
    // With three members no one can confirm a suspicion independently, so an ordinary one runs the shortest time (4 s here).
    const { run, runUntil, network, statusOf, members } = await federation(['a', 'b', 'c']);
    await runUntil(() => [...members.keys()].every((v) => [...members.keys()].every((t) => statusOf(v, t) === 'alive')), 5_000);
    await run(3_000);
    network.setServerSilent('c', true);
    network.partition('c', 'a');
    network.partition('c', 'b');
    await run(8_000);
    expect(['a.r1', 'b.r1'].map((v) => statusOf(v, 'c.r1'))).toEqual(['suspect', 'suspect']);
    network.setServerSilent('c', false);
    network.healAll();
    await run(5_000);
    expect(['a.r1', 'b.r1'].map((v) => statusOf(v, 'c.r1'))).toEqual(['alive', 'alive']);
  });

  it('a member that stands still longer than a suspicion, its NATS connection up (pings time out), is held to the longest suspicion and refutes when it moves again', async () => {
    const { run, runUntil, network, statusOf, members } = await federation(['a', 'b', 'c']);
    await runUntil(() => [...members.keys()].every((v) => [...members.keys()].every((t) => statusOf(v, t) === 'alive')), 5_000);
    await run(3_000);
    network.partition('c.r1', 'a.r1');
    network.partition('c.r1', 'b.r1');
    await run(10_000); // the shortest suspicion here is 4 s, the longest 24 s
    expect(['a.r1', 'b.r1'].map((v) => statusOf(v, 'c.r1'))).toEqual(['suspect', 'suspect']);
    expect(members.get('a.r1')!.members().find((v) => v.id === 'c.r1')?.why).toMatch(/its last ping: no answer, but NATS still delivers to its subject .*held for the longest suspicion/);
    network.healAll();
    await run(5_000);
    expect(['a.r1', 'b.r1'].map((v) => statusOf(v, 'c.r1'))).toEqual(['alive', 'alive']);
  });

  it('a member whose NATS connection just came back accuses no one while its links may still be down', async () => {
    const { run, runUntil, network, statusOf, members } = await federation(['a', 'b', 'c', 'd']);
    await runUntil(() => [...members.keys()].every((v) => [...members.keys()].every((t) => statusOf(v, t) === 'alive')), 5_000);
    await run(3_000);
    network.disconnect('c.r1'); // its server restarts…
    await run(500);
    network.reconnect('c.r1'); // …and c is back on it before the server's gateway links are
    for (const other of ['a', 'b', 'd']) network.partition('c', other);
    await run(6_000);
    expect(['a.r1', 'b.r1', 'd.r1'].map((t) => statusOf('c.r1', t))).toEqual(['alive', 'alive', 'alive']);
  });

  it('keeps a member alive through a third cluster when the direct link between two is cut', async () => {
    const { run, network, members, statusOf } = await federation(['a', 'b', 'c']);
    await run(3_000);
    network.partition('a.r1', 'c.r1');
    await run(20_000);
    expect(statusOf('a.r1', 'c.r1')).toBe('alive');
    expect(statusOf('c.r1', 'a.r1')).toBe('alive');
    const seen = members.get('a.r1')!.members().find((v) => v.id === 'c.r1');
    expect(seen?.reachable).toBe(false);
  });

  it('repairs health through a third member by anti-entropy when the direct path is cut', async () => {
    const { run, network, members } = await federation(['a', 'b', 'c']);
    await run(3_000);
    network.partition('a.r1', 'c.r1');
    await members.get('c.r1')!.setLocalServices({ search: { healthy: 3, total: 3, inFlight: 0, exported: true } });
    await run(100);
    expect(members.get('b.r1')!.services().get('search')?.get('c')?.healthy).toBe(3);
    expect(members.get('a.r1')!.services().get('search')).toBeUndefined();

    // Push-pull runs every 30 s with a random member: b carries c's signed record to a.
    await run(65_000, 50);
    expect(members.get('a.r1')!.services().get('search')?.get('c')).toMatchObject({ healthy: 3, total: 3 });
  }, 60_000);
});

describe('Membership with big health records and joiners', () => {
  const many = (n: number) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`svc-${String(i).padStart(4, '0')}`, { healthy: 1, total: 1, inFlight: 0, exported: true }]));
  const seenBy = (m: Membership, cluster: string) => [...m.services().values()].filter((byCluster) => byCluster.get(cluster) !== undefined).length;

  it('carries 2,000 services of one member to the others in parts within 64 KiB messages, and to a member that joins later', async () => {
    const { members, runUntil } = await federation(['a', 'b', 'c'], { late: ['c'] });
    const [a, b, c] = ['a.r1', 'b.r1', 'c.r1'].map((id) => members.get(id)!) as [Membership, Membership, Membership];
    expect(await runUntil(() => b.members().filter((m) => m.status === 'alive').length === 2, 10_000)).toBe(true);
    await a.setLocalServices(many(2_000));
    expect(await runUntil(() => seenBy(b, 'a') === 2_000, 20_000), `b sees ${seenBy(b, 'a')}`).toBe(true);

    // A joiner gets it all through its first push-pull, and says so.
    await c.start();
    const first = await Promise.race([c.initialSync(), runUntil(() => false, 10_000).then(() => undefined)]);
    expect(first).toMatchObject({ outcome: 'synced', complete: true });
    expect(seenBy(c, 'a')).toBe(2_000);
    for (const m of [a, b, c]) {
      expect(m.unsentMessages(), m.id).toEqual({});
      expect(m.droppedMessages()['oversized'] ?? 0, m.id).toBe(0);
    }
  }, 120_000);

  it('sends the chain fingerprint, not the chain, once peers know it; a joiner that never saw a chain asks for it once', async () => {
    const { members, network, runUntil, run, statusOf } = await federation(['a', 'b', 'c'], { late: ['c'] });
    const withChain = { yes: 0, no: 0 };
    const count = (data: Uint8Array) => (JSON.parse(new TextDecoder().decode(data)).chain ? withChain.yes++ : withChain.no++);
    for (const id of members.keys()) {
      const t = network.transportOf(id)!;
      const [request, broadcast] = [t.request.bind(t), t.broadcast.bind(t)];
      t.request = (to, data, timeoutMs) => (count(data), request(to, data, timeoutMs));
      t.broadcast = (data) => (count(data), broadcast(data));
    }
    expect(await runUntil(() => statusOf('a.r1', 'b.r1') === 'alive' && statusOf('b.r1', 'a.r1') === 'alive', 10_000)).toBe(true);
    await run(10_000);
    // c joins after a and b have long stopped attaching their chains to every message.
    await members.get('c.r1')!.start();
    const all = ['a.r1', 'b.r1', 'c.r1'];
    expect(await runUntil(() => all.every((v) => all.every((t) => statusOf(v, t) === 'alive')), 10_000)).toBe(true);
    await run(5_000);
    // Steady state: one message in EnvelopeSigner's chainEvery (16) carries the chain.
    withChain.yes = withChain.no = 0;
    await run(20_000);
    for (const m of members.values()) expect(m.droppedMessages()['unknown-chain'] ?? 0, m.id).toBe(0);
    expect(withChain.no).toBeGreaterThan(30);
    expect(withChain.yes).toBeLessThanOrEqual(withChain.no / 8);
  }, 60_000);

  it('1,000 members make a list in parts of at most a quarter of a 64 KiB message each, all of them once, in order', () => {
    const members: MemberState[] = Array.from({ length: 1_000 }, (_, i) => {
      const cluster = `cluster-${String(i % 50).padStart(2, '0')}`;
      return {
        id: `${cluster}.replica-${String(i).padStart(4, '0')}`,
        cluster,
        region: 'europe-west4',
        zone: 'europe-west4-a',
        trustDomain: `${cluster}.prod.example.com`,
        federationAddr: `10.20.${i % 250}.${i % 200}:4143`,
        adminAddr: `10.20.${i % 250}.${i % 200}:9901`,
        incarnation: 1_790_000_000 + i,
        status: 'alive',
        statusSince: 0,
      } as MemberState;
    });
    expect(JSON.stringify(members).length).toBeGreaterThan(4 * 64 * 1024);
    const { parts, oversized } = memberListParts(members.slice().reverse(), 64 * 1024);
    expect(oversized).toEqual([]);
    for (const part of parts) expect(JSON.stringify(part).length).toBeLessThanOrEqual(16 * 1024);
    expect(parts.flat().map((m) => m.id)).toEqual(members.map((m) => m.id).sort());
  });

  it('a joiner learns a member list that travels in parts', async () => {
    const clusters = Array.from({ length: 16 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    // 16 KiB messages: the 16 members' states (about 4.6 KB of JSON) go in parts of a quarter of that.
    const { members, run, runUntil, statusOf } = await federation([...clusters, 'late'], { late: ['late'], maxMessageBytes: 16 * 1024 });
    const early = clusters.map((c) => `${c}.r1`);
    expect(await runUntil(() => early.every((v) => early.every((t) => statusOf(v, t) === 'alive')), 20_000)).toBe(true);
    await run(30_000, 50); // long enough that nobody piggybacks the old alive rumours any more
    await members.get('late.r1')!.start();
    expect(await runUntil(() => early.every((t) => statusOf('late.r1', t) === 'alive'), 5_000)).toBe(true);
    for (const m of members.values()) expect(m.unsentMessages(), m.id).toEqual({});
  }, 120_000);

  it('a lone member settles its first sync as no-peer after the bound', async () => {
    const { members, runUntil } = await federation(['a']);
    const a = members.get('a.r1')!;
    expect(a.initialSyncState()).toBeUndefined();
    expect(await runUntil(() => a.initialSyncState() !== undefined, 10_000)).toBe(true);
    expect(a.initialSyncState()).toMatchObject({ outcome: 'no-peer' });
    expect(a.initialSyncState()!.afterMs).toBeGreaterThanOrEqual(3_000);
  }, 60_000);
});
