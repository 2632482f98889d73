import { describe, expect, it } from 'vitest';
import { CertificateAuthority, type TrustBundle } from '../identity/index.js';
import { EnvelopeSigner, EnvelopeVerifier } from './envelope.js';
import { Membership, type MembershipEvent } from './membership.js';
import { ManualScheduler, MemoryNetwork, seededRandom } from './memory-transport.js';

const DAY = 24 * 3_600_000;
const DOMAIN = 'test.example';

/** N gateways, one per cluster, on an in-memory network driven by a fake clock; real certificates. */
async function federation(clusters: string[]) {
  const scheduler = new ManualScheduler(Date.now());
  const network = new MemoryNetwork({ schedule: scheduler.schedule, latency: () => 2 });
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
        random: seededRandom(seed++),
        config: { probeIntervalMs: 1_000, probeTimeoutMs: 500, indirectChecks: 3, pushPullIntervalMs: 30_000 },
        onEvent: (e) => log.push(e),
      }),
    );
  }
  for (const m of members.values()) await m.start();
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
  return { scheduler, network, members, events, statusOf, run };
}

describe('Membership on an in-memory network', () => {
  it('converges: every member sees every other alive', async () => {
    const { run, members, statusOf } = await federation(['a', 'b', 'c']);
    await run(3_000);
    for (const viewer of members.keys()) {
      for (const target of members.keys()) expect(statusOf(viewer, target), `${viewer} sees ${target}`).toBe('alive');
    }
  });

  it('spreads a health change to every cluster', async () => {
    const { run, members } = await federation(['a', 'b', 'c']);
    await run(2_000);
    await members.get('a.r1')!.setLocalServices({ payments: { healthy: 1, total: 2, inFlight: 0, exported: true } });
    await run(100);
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
