/**
 * Membership under faults, with real processes: a cut NATS gateway link, a
 * NATS server restart, a gateway paused again and again (SIGSTOP), a leaf-node
 * topology, and hostile gossip injected straight onto the gossip subjects.
 *
 * Nothing here asserts a duration: each episode is watched by polling
 * /debug/members every 200 ms and recording every status each gateway reports
 * for the others; the assertions are about which statuses were (never) seen
 * and about what holds once things settle. Deadlines are only there to bound
 * the waits.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Msg, NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority, loadCaDir, type X509Svid } from '../../src/identity/index.js';
import { EnvelopeSigner, encodeEnvelope } from '../../src/membership/envelope.js';
import {
  gatewayConfig,
  getJson,
  httpRequest,
  sharedRootTrust,
  sleep,
  useHarness,
  waitUntil,
  type GatewayProcess,
} from '../harness/index.js';

const h = useHarness();

const FEDERATION = 'test'; // gatewayConfig's
const GOSSIP = `meshgate.${FEDERATION}.gossip`;
const memberSubject = (id: string) => `meshgate.${FEDERATION}.member.${id}`;
const CLUSTERS = ['a', 'b', 'c'] as const;
const DAY = 24 * 3_600_000;

interface MemberRow {
  id: string;
  status: string;
  incarnation: number;
  reachable: boolean;
  why: string;
  lastHeardMs: number | null;
}
interface MembersView {
  self: string;
  members: MemberRow[];
  dropped: Record<string, number>;
}
interface ServicesView {
  services: Record<string, Record<string, unknown>>;
}

const members = (gw: GatewayProcess) => getJson<MembersView>(`${gw.adminUrl}/debug/members`);
const services = (gw: GatewayProcess) => getJson<ServicesView>(`${gw.adminUrl}/debug/services`);
const dropped = async (gw: GatewayProcess) => (await members(gw)).dropped;

// ---------------------------------------------------------------------------
// Setup

type Gateways = Map<string, GatewayProcess>;

/** One gateway (replica r1) per cluster, each on the NATS server `natsUrl(cluster)` gives. */
async function startGateways(natsUrl: (cluster: string) => string, opts: { sequential?: boolean } = {}) {
  const trust = await sharedRootTrust(await h.tempDir(), CLUSTERS);
  const start = (cluster: string) =>
    h.gateway(
      gatewayConfig(
        {},
        {
          cluster,
          replica: 'r1',
          nats: { servers: [natsUrl(cluster)] },
          identity: trust.get(cluster)!.identity(),
        },
      ),
    );
  const gateways: Gateways = new Map();
  if (opts.sequential) {
    for (const cluster of CLUSTERS) gateways.set(cluster, await start(cluster));
  } else {
    const started = await Promise.all(CLUSTERS.map(start));
    CLUSTERS.forEach((cluster, i) => gateways.set(cluster, started[i]!));
  }
  return { gateways, trust };
}

const gw = (gateways: Gateways, cluster: string) => gateways.get(cluster)!;

/** The log lines of the gateways that talk about membership, for failure messages. */
function membershipLogs(gateways: Gateways, max = 40): string {
  return [...gateways]
    .map(([cluster, g]) => {
      const lines = g.process
        .output()
        .split('\n')
        .filter((l) => /membership|suspect|dead|refut|gossip transport|alive/i.test(l))
        .slice(-max);
      return `--- gateway ${cluster} (${lines.length} membership lines, newest last)\n${lines.join('\n')}`;
    })
    .join('\n');
}

/** Every gateway sees every member alive (and, when asked, reachable). */
async function waitAllAlive(gateways: Gateways, what: string, opts: { reachable?: boolean; timeoutMs?: number; recorder?: StatusRecorder } = {}) {
  let last = '';
  await waitUntil(
    async () => {
      const views = await Promise.all([...gateways].map(async ([cluster, g]) => [cluster, await members(g)] as const));
      last = views.map(([cluster, v]) => `${cluster}: ${v.members.map((m) => `${m.id}=${m.status}${m.reachable ? '' : '(unreachable)'}`).join(' ')}`).join('; ');
      return views.every(
        ([, v]) =>
          v.members.length === gateways.size &&
          v.members.every((m) => m.status === 'alive' && (!opts.reachable || m.id === v.self || m.reachable)),
      );
    },
    {
      what,
      timeoutMs: opts.timeoutMs ?? 30_000,
      intervalMs: 200,
      detail: () => `last views: ${last}\n${opts.recorder ? `${opts.recorder.summary()}\n` : ''}${membershipLogs(gateways)}`,
    },
  );
}

// ---------------------------------------------------------------------------
// Watching an episode

interface Transition {
  atMs: number;
  observer: string;
  target: string;
  status: string;
  reachable: boolean;
  incarnation: number;
  why: string;
}

/**
 * Polls /debug/members of each observer every `intervalMs` (each observer in
 * its own loop, so a paused one does not hold up the others) and records
 * every status seen for every other member, and each change of (status,
 * reachable) with its reason.
 */
class StatusRecorder {
  private readonly started = Date.now();
  private running = true;
  private readonly loops: Promise<void>[];
  /** "a→c.r1" → status → samples */
  readonly seen = new Map<string, Map<string, number>>();
  readonly unreachableSamples = new Map<string, number>();
  readonly transitions: Transition[] = [];
  readonly pollErrors = new Map<string, number>();
  readonly polls = new Map<string, number>();
  private readonly lastState = new Map<string, string>();

  constructor(
    private readonly observers: ReadonlyMap<string, GatewayProcess>,
    private readonly intervalMs = 200,
  ) {
    this.loops = [...observers].map(([name, g]) => this.loop(name, g));
  }

  private async loop(observer: string, g: GatewayProcess): Promise<void> {
    while (this.running) {
      try {
        const view = await getJson<MembersView>(`${g.adminUrl}/debug/members`, 3_000);
        this.polls.set(observer, (this.polls.get(observer) ?? 0) + 1);
        for (const m of view.members) {
          if (m.id === view.self) continue;
          const key = `${observer}→${m.id}`;
          const counts = this.seen.get(key) ?? new Map<string, number>();
          counts.set(m.status, (counts.get(m.status) ?? 0) + 1);
          this.seen.set(key, counts);
          if (!m.reachable) this.unreachableSamples.set(key, (this.unreachableSamples.get(key) ?? 0) + 1);
          const state = `${m.status}/${m.reachable}/${m.incarnation}`;
          if (this.lastState.get(key) !== state) {
            this.lastState.set(key, state);
            this.transitions.push({
              atMs: Date.now() - this.started,
              observer,
              target: m.id,
              status: m.status,
              reachable: m.reachable,
              incarnation: m.incarnation,
              why: m.why,
            });
          }
        }
      } catch {
        this.pollErrors.set(observer, (this.pollErrors.get(observer) ?? 0) + 1);
      }
      await sleep(this.intervalMs);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Statuses `observer` reported for `target` (a member id). */
  statuses(observer: string, target: string): string[] {
    return [...(this.seen.get(`${observer}→${target}`)?.keys() ?? [])].sort();
  }

  /** How many samples each status got, e.g. "alive×120 suspect×3". */
  counts(observer: string, target: string): string {
    return [...(this.seen.get(`${observer}→${target}`) ?? new Map<string, number>())].map(([s, n]) => `${s}×${n}`).join(' ');
  }

  timeline(filter: (t: Transition) => boolean = () => true): string {
    return this.transitions
      .filter(filter)
      .map((t) => `  +${(t.atMs / 1000).toFixed(1)}s ${t.observer} sees ${t.target} ${t.status}${t.reachable ? '' : ' (unreachable)'} inc=${t.incarnation} why=${JSON.stringify(t.why)}`)
      .join('\n');
  }

  summary(): string {
    const pairs = [...this.seen.keys()].sort().map((k) => `  ${k}: ${[...this.seen.get(k)!].map(([s, n]) => `${s}×${n}`).join(' ')}${this.unreachableSamples.get(k) ? ` (unreachable in ${this.unreachableSamples.get(k)} samples)` : ''}`);
    const polls = [...this.observers.keys()].map((o) => `${o}: ${this.polls.get(o) ?? 0} polls, ${this.pollErrors.get(o) ?? 0} failed`).join('; ');
    return `statuses seen:\n${pairs.join('\n')}\npolls: ${polls}\ntransitions:\n${this.timeline()}`;
  }
}

/**
 * No observer ever reported any other member dead. The pairs named in
 * `focus` come first in the report; every pair must have been sampled.
 */
function expectNeverDead(recorder: StatusRecorder, focus: readonly [string, string, string][], evidence: string): void {
  const pairs: [string, string, string][] = [...focus];
  for (const observer of CLUSTERS) {
    for (const target of CLUSTERS) {
      if (target !== observer && !focus.some(([o, t]) => o === observer && t === `${target}.r1`)) pairs.push([observer, `${target}.r1`, `${observer}'s view of ${target}`]);
    }
  }
  for (const [observer, target, what] of pairs) {
    const seen = recorder.statuses(observer, target);
    expect.soft(seen.length, `${what}: sampled at all${evidence}`).toBeGreaterThan(0);
    expect.soft(seen, `${what}: statuses seen ${recorder.counts(observer, target)}${evidence}`).not.toContain('dead');
  }
}

/** A recorder that is stopped at teardown too, should the test fail before it stops it. */
function record(gateways: Gateways): StatusRecorder {
  const recorder = new StatusRecorder(gateways);
  h.onCleanup(() => recorder.stop(), 'status recorder');
  return recorder;
}

// ---------------------------------------------------------------------------
// Forging envelopes

/** A gateway SVID `spiffe://<td>/meshgate/gateway/<cluster>/<replica>` from `ca`. */
function gatewaySvid(ca: CertificateAuthority, cluster: string, replica: string): Promise<X509Svid> {
  return ca.issueX509Svid({ spiffeId: `spiffe://${ca.trustDomain}/meshgate/gateway/${cluster}/${replica}`, ttlMs: DAY, now: new Date() });
}

/** Seals like a gateway would, with the chain attached, and returns the wire bytes. */
function forge(svid: X509Svid, from: string, kind: string, body: unknown): Uint8Array {
  const signer = new EnvelopeSigner({ svid: () => svid, from });
  return encodeEnvelope(signer.seal(kind, body, Date.now(), { withChain: true }));
}

/** A request that must go unanswered: resolves with what happened instead of a reply. */
async function unanswered(nc: NatsConnection, subject: string, data: Uint8Array): Promise<string> {
  try {
    const reply = await nc.request(subject, data, { timeout: 1_500 });
    return `REPLIED (${reply.data.length} bytes): ${new TextDecoder().decode(reply.data).slice(0, 200)}`;
  } catch (err) {
    return `no reply (${(err as { code?: string }).code ?? String(err)})`;
  }
}

// ===========================================================================

describe('membership under faults', () => {
  it('a cut a↔c NATS gateway link: a and c stay alive to each other through b, and all heal after', async () => {
    const sc = await h.natsSuperCluster([...CLUSTERS], { proxiedLinks: true });
    const { gateways } = await startGateways((cluster) => sc.server(cluster).url);
    await waitAllAlive(gateways, 'all three gateways to see each other alive', { reachable: true });

    const recorder = record(gateways);
    try {
      sc.link('a', 'c').mode('blackhole');
      // The cut is real at the NATS level: a and c drop their gateway connections to each other.
      await waitUntil(
        async () => {
          const [za, zc] = await Promise.all([sc.gatewayz('a'), sc.gatewayz('c')]);
          return !za.inbound_gateways?.['c']?.length && !zc.inbound_gateways?.['a']?.length;
        },
        { what: 'NATS a and c to drop their gateway connections to each other', timeoutMs: 20_000, intervalMs: 200 },
      );
      await sleep(20_000);
    } finally {
      sc.link('a', 'c').mode('pass');
    }
    await sc.waitConnected(30_000);
    await waitAllAlive(gateways, 'all three alive and reachable after the link is restored', { reachable: true, recorder });
    await recorder.stop();

    const evidence = `\n${recorder.summary()}\n${membershipLogs(gateways)}`;
    console.info(`[a↔c cut] ${recorder.summary()}`);
    expectNeverDead(
      recorder,
      [
        ['a', 'c.r1', "a's view of c during the cut"],
        ['c', 'a.r1', "c's view of a during the cut"],
      ],
      evidence,
    );
  }, 110_000);

  it("a NATS server restart: b's gateway is never declared dead, and all are alive after", async () => {
    const sc = await h.natsSuperCluster([...CLUSTERS]);
    const { gateways } = await startGateways((cluster) => sc.server(cluster).url);
    await waitAllAlive(gateways, 'all three gateways to see each other alive');

    const recorder = record(gateways);
    const server = sc.server('b');
    const iso = (t: number) => new Date(t).toISOString();
    const down = Date.now();
    await server.stop();
    await sleep(1_000);
    await server.restart(); // same ports, same config
    const up = Date.now();
    const outageMs = up - down;
    await sc.waitConnected(30_000);
    const linked = Date.now();
    const episode = `NATS b stopped at ${iso(down)}, healthy again at ${iso(up)} (down ${outageMs} ms), its gateway links to a and c back by ${iso(linked)}`;
    await waitAllAlive(gateways, "all alive after b's NATS server came back", { recorder });
    // Suspicions raised during the outage may only expire later: keep watching a while.
    await sleep(8_000);
    await recorder.stop();
    await waitAllAlive(gateways, 'all alive at the end', { timeoutMs: 10_000, recorder });

    const evidence = `\n${episode}\n${recorder.summary()}\n${membershipLogs(gateways)}`;
    console.info(`[NATS b restart] ${episode}\n${recorder.summary()}`);
    // b was the one cut off: it must not condemn the others either (expectNeverDead checks every pair).
    expectNeverDead(
      recorder,
      [
        ['a', 'b.r1', "a's view of b"],
        ['c', 'b.r1', "c's view of b"],
      ],
      evidence,
    );
  }, 90_000);

  it('a gateway paused 300 ms at a time for 60 s is never declared dead', async () => {
    const sc = await h.natsSuperCluster([...CLUSTERS]);
    const { gateways } = await startGateways((cluster) => sc.server(cluster).url);
    await waitAllAlive(gateways, 'all three gateways to see each other alive');
    const c = gw(gateways, 'c');

    const recorder = record(gateways);
    let pauses = 0;
    const until = Date.now() + 60_000;
    try {
      for (let i = 0; i < 80 && Date.now() < until; i++) {
        c.process.pause();
        pauses++;
        try {
          await sleep(300);
        } finally {
          c.process.resume();
        }
        await sleep(700);
      }
    } finally {
      c.process.resume();
    }
    expect(c.process.exitStatus, 'the paused gateway is still running').toBeUndefined();
    // Any suspicion must end refuted: everyone alive again.
    await waitAllAlive(gateways, 'all alive after the pauses (suspicions refuted)', { recorder });
    await recorder.stop();

    const evidence = `\n${pauses} pauses\n${recorder.summary()}\n${membershipLogs(gateways)}`;
    console.info(`[SIGSTOP c ×${pauses}] ${recorder.summary()}`);
    // The paused one's own view too: its late timers must not condemn the others.
    expectNeverDead(
      recorder,
      [
        ['a', 'c.r1', "a's view of the paused c"],
        ['b', 'c.r1', "b's view of the paused c"],
      ],
      evidence,
    );
  }, 130_000);

  it('a gateway that stands still 6 s, three times the shortest suspicion, is suspected but held (NATS still delivers to it), never declared dead, and refutes when it moves again', async () => {
    const sc = await h.natsSuperCluster([...CLUSTERS]);
    const { gateways } = await startGateways((cluster) => sc.server(cluster).url);
    await waitAllAlive(gateways, 'all three gateways to see each other alive');
    const c = gw(gateways, 'c');

    const recorder = record(gateways);
    c.process.pause();
    try {
      await sleep(6_000);
    } finally {
      c.process.resume();
    }
    await waitAllAlive(gateways, 'all alive after the stop (the suspicion refuted)', { recorder });
    await recorder.stop();

    const evidence = `\n${recorder.summary()}\n${membershipLogs(gateways)}`;
    // Suspected: the shortest suspicion (2 s with three members) ran out while it stood still.
    expect(recorder.statuses('a', 'c.r1'), `a's view of c${evidence}`).toContain('suspect');
    expectNeverDead(
      recorder,
      [
        ['a', 'c.r1', "a's view of the stopped c"],
        ['b', 'c.r1', "b's view of the stopped c"],
      ],
      evidence,
    );
  }, 90_000);

  it('over leaf nodes of one hub: converges, and a SIGKILLed gateway is marked dead by the others', async () => {
    const topo = await h.natsHubWithLeaves([...CLUSTERS]);
    const { gateways } = await startGateways((cluster) => topo.leaf(cluster).url);
    await waitAllAlive(gateways, 'all three gateways (one per leaf) to see each other alive');

    gw(gateways, 'c').process.kill('SIGKILL');
    for (const observer of ['a', 'b']) {
      await waitUntil(async () => (await members(gw(gateways, observer))).members.find((m) => m.id === 'c.r1')?.status === 'dead', {
        what: `${observer} to declare the killed c dead`,
        timeoutMs: 30_000,
        intervalMs: 200,
        detail: () => membershipLogs(gateways),
      });
    }
    for (const [observer, other] of [
      ['a', 'b.r1'],
      ['b', 'a.r1'],
    ] as const) {
      expect((await members(gw(gateways, observer))).members.find((m) => m.id === other)?.status, `${observer}'s view of ${other}`).toBe('alive');
    }
  }, 60_000);

  it('hostile gossip is dropped and counted by reason, and the gateways keep probing and serving', async () => {
    const sc = await h.natsSuperCluster([...CLUSTERS]);
    const nc = await h.natsConnect(sc.server('a').url);

    // Capture gossip from the start: broadcasts happen on joins and changes, not on a timer.
    const captured: { data: Uint8Array; from: string; at: number }[] = [];
    const capture = nc.subscribe(GOSSIP, {
      callback: (err, msg: Msg) => {
        if (err) return;
        try {
          const from = String((JSON.parse(new TextDecoder().decode(msg.data)) as { from?: unknown }).from);
          captured.push({ data: msg.data.slice(), from, at: Date.now() });
        } catch {
          // our own garbage, later
        }
      },
    });
    await nc.flush();

    // In order, so that a hears every later member's join broadcast.
    const { gateways, trust } = await startGateways((cluster) => sc.server(cluster).url, { sequential: true });
    const [a, b, c] = CLUSTERS.map((x) => gw(gateways, x)) as [GatewayProcess, GatewayProcess, GatewayProcess];
    await waitAllAlive(gateways, 'all three gateways to see each other alive');
    const baseline = new Map(await Promise.all([...gateways].map(async ([x, g]) => [x, await dropped(g)] as const)));

    /** Waits (bounded) until `reason` at `g` rose by `by`; returns the counts seen last, never throws. */
    const countRises = async (g: GatewayProcess, cluster: string, reason: string, by = 1, timeoutMs = 5_000) => {
      const before = baseline.get(cluster)?.[reason] ?? 0;
      let last: Record<string, number> = {};
      await waitUntil(
        async () => {
          last = await dropped(g);
          return (last[reason] ?? 0) >= before + by;
        },
        { what: `${cluster}'s dropped.${reason} to rise by ${by}`, timeoutMs, intervalMs: 100 },
      ).catch(() => undefined);
      return { before, after: last[reason] ?? 0, all: last };
    };
    const expectCounted = async (g: GatewayProcess, cluster: string, reason: string, what: string, by = 1) => {
      const r = await countRises(g, cluster, reason, by);
      expect.soft(r.after - r.before, `${what}: counted under dropped.${reason} at ${cluster} (dropped now ${JSON.stringify(r.all)})`).toBeGreaterThanOrEqual(by);
      // The next case counts from here.
      baseline.set(cluster, r.all);
    };

    const noReplies: string[] = [];

    // --- replay: a valid message a already accepted, published again.
    const fromOthers = captured.filter((m) => m.from === 'b.r1' || m.from === 'c.r1');
    expect(fromOthers.length, `a captured gossip broadcast from b or c (captured from: ${captured.map((m) => m.from).join(', ')})`).toBeGreaterThan(0);
    const replayed = fromOthers[fromOthers.length - 1]!;
    nc.publish(GOSSIP, replayed.data);
    await expectCounted(a, 'a', 'replay', `a replay of ${replayed.from}'s broadcast captured ${Date.now() - replayed.at} ms before`);

    // --- random garbage bytes, on the gossip subject and as a request to a.
    nc.publish(GOSSIP, randomBytes(512));
    await expectCounted(a, 'a', 'malformed', 'random bytes on the gossip subject');
    await expectCounted(b, 'b', 'malformed', 'random bytes on the gossip subject');
    noReplies.push(`garbage request: ${await unanswered(nc, memberSubject('a.r1'), randomBytes(512))}`);
    await expectCounted(a, 'a', 'malformed', 'random bytes as a request to a');

    // --- malformed JSON, and JSON that is not an envelope.
    nc.publish(GOSSIP, new TextEncoder().encode('{"v":1,"from":"b.r1","seq":'));
    await expectCounted(a, 'a', 'malformed', 'truncated JSON on the gossip subject');
    noReplies.push(`non-envelope request: ${await unanswered(nc, memberSubject('a.r1'), new TextEncoder().encode('{"kind":"ping","hello":"world"}'))}`);
    await expectCounted(a, 'a', 'malformed', 'a JSON object that is not an envelope, as a request to a');

    // --- oversized: a well-formed-looking JSON envelope above 64 KiB.
    const big = new TextEncoder().encode(JSON.stringify({ v: 1, from: 'b.r1', seq: 1, ts: Date.now(), kind: 'gossip', body: { pad: 'x'.repeat(70 * 1024) } }));
    expect(big.length).toBeGreaterThan(64 * 1024);
    nc.publish(GOSSIP, big);
    await expectCounted(a, 'a', 'oversized', `a ${big.length}-byte message on the gossip subject`);
    noReplies.push(`oversized request: ${await unanswered(nc, memberSubject('a.r1'), big)}`);
    await expectCounted(a, 'a', 'oversized', `a ${big.length}-byte request to a`);

    // --- signed with a key that is not the one its chain certifies.
    const caB = await loadCaDir(trust.get('b')!.caDir);
    const b9 = await gatewaySvid(caB, 'b', 'r9');
    const wrongKey = { ...b9, privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey };
    nc.publish(GOSSIP, forge(wrongKey, 'b.r9', 'gossip', { updates: [] }));
    await expectCounted(a, 'a', 'bad-signature', "an envelope whose signature is not by its chain's key");
    noReplies.push(`wrong-key ping: ${await unanswered(nc, memberSubject('a.r1'), forge(wrongKey, 'b.r9', 'ping', { target: 'a.r1', updates: [] }))}`);
    await expectCounted(a, 'a', 'bad-signature', "a ping to a whose signature is not by its chain's key");

    // --- a valid gateway SVID of a trust domain nobody here trusts.
    const evilRoot = await CertificateAuthority.createRoot({ trustDomain: 'evil.example', ttlMs: DAY, now: new Date() });
    const evil = await gatewaySvid(evilRoot, 'evil', 'r1');
    nc.publish(GOSSIP, forge(evil, 'evil.r1', 'gossip', { updates: [] }));
    await expectCounted(a, 'a', 'untrusted-chain', 'a gossip message signed by a gateway SVID of a foreign trust domain');
    // … and one of a rogue root that calls itself a's trust domain, speaking as a.r1 to b.
    const rogueRoot = await CertificateAuthority.createRoot({ trustDomain: trust.get('a')!.trustDomain, ttlMs: DAY, now: new Date() });
    const rogueA = await gatewaySvid(rogueRoot, 'a', 'r1');
    noReplies.push(`rogue a.r1 ping to b: ${await unanswered(nc, memberSubject('b.r1'), forge(rogueA, 'a.r1', 'ping', { target: 'b.r1', updates: [] }))}`);
    await expectCounted(b, 'b', 'untrusted-chain', "a ping to b as a.r1, signed under a rogue root for a's trust domain");

    // --- foreign claim: b's trusted gateway SVID asserting a health record for cluster a.
    const claim = {
      origin: 'a.r1',
      cluster: 'a',
      generation: Date.now(),
      version: 1_000_000,
      writtenAt: Date.now(),
      services: { payments: { healthy: 0, total: 9, inFlight: 0, exported: true } },
    };
    // The record travels as the body of the gossip (one `record`) or, signed by its
    // claimed owner, as a 'health' envelope among `records`: both forms are sent, and
    // a gateway reads only one of them, so exactly one claim is counted.
    const claimBody = { updates: [], record: claim, records: [new TextDecoder().decode(forge(b9, 'b.r9', 'health', claim))] };
    nc.publish(GOSSIP, forge(b9, 'b.r9', 'gossip', claimBody));
    await expectCounted(a, 'a', 'foreign-claim', "b.r9's signed gossip claiming a health record of cluster a");
    await expectCounted(c, 'c', 'foreign-claim', "b.r9's signed gossip claiming a health record of cluster a");
    for (const [x, g] of gateways) {
      const seen = (await services(g)).services['payments']?.['a'];
      expect.soft(seen, `${x} took no payments health for cluster a from b's forged claim`).toBeUndefined();
    }

    // --- a trusted CA minting an identity for another cluster: b's CA issues
    // spiffe://b.test.example/meshgate/gateway/a/r2 and speaks as a.r2, for cluster a
    // (an SVID from a foreign trust domain claiming ours; a gateway may only
    // assert its own cluster's state). a knows its own trust domain; c must not
    // take b's word for cluster a either.
    const fakeA = await gatewaySvid(caB, 'a', 'r2');
    const fakeRecord = { ...claim, origin: 'a.r2', services: { impostor: { healthy: 1, total: 1, inFlight: 0, exported: true } } };
    const fakeBody = { updates: [], record: fakeRecord, records: [new TextDecoder().decode(forge(fakeA, 'a.r2', 'health', fakeRecord))] };
    const dropsBeforeImpostor = new Map(await Promise.all([...gateways].map(async ([x, g]) => [x, await dropped(g)] as const)));
    nc.publish(GOSSIP, forge(fakeA, 'a.r2', 'gossip', fakeBody));
    await expectCounted(a, 'a', 'wrong-trust-domain', "a.r2's gossip signed under b's CA, at a (which knows its own trust domain)");
    noReplies.push(`a.r2 (b's CA) ping to c: ${await unanswered(nc, memberSubject('c.r1'), forge(fakeA, 'a.r2', 'ping', { target: 'c.r1', updates: [] }))}`);
    await sleep(500);
    for (const [x, g] of gateways) {
      const total = (d: Record<string, number>) => Object.values(d).reduce((n, v) => n + v, 0);
      const before = total(dropsBeforeImpostor.get(x)!);
      const now = await dropped(g);
      expect.soft(total(now) - before, `${x} dropped b's impostor of a.r2 (gossip and, for c, a ping): dropped now ${JSON.stringify(now)}`).toBeGreaterThanOrEqual(1);
      const taken = (await services(g)).services['impostor'];
      expect.soft(taken, `${x} took no health for cluster a from b's impostor of a.r2, but shows ${JSON.stringify(taken)}`).toBeUndefined();
      baseline.set(x, now);
    }

    // --- none of the hostile requests got an answer.
    for (const result of noReplies) expect.soft(result, 'a hostile request went unanswered').toMatch(/: no reply/);

    // --- a flood of 2,000 garbage messages.
    capture.unsubscribe();
    const malformedBefore = new Map(await Promise.all([...gateways].map(async ([x, g]) => [x, (await dropped(g))['malformed'] ?? 0] as const)));
    for (let i = 0; i < 2_000; i++) nc.publish(GOSSIP, randomBytes(64 + (i % 200)));
    await nc.flush();
    const floodEnded = Date.now();
    for (const [x, g] of gateways) {
      let now = 0;
      await waitUntil(
        async () => {
          now = (await dropped(g))['malformed'] ?? 0;
          return now >= malformedBefore.get(x)! + 2_000;
        },
        { what: `${x} to count the 2,000 garbage messages`, timeoutMs: 20_000, intervalMs: 200 },
      ).catch(() => undefined);
      expect.soft(now - malformedBefore.get(x)!, `${x} counted the flood under dropped.malformed`).toBeGreaterThanOrEqual(2_000);
    }
    // Probing goes on: every member is heard from again after the flood, and stays alive.
    for (const [x, g] of gateways) {
      let last = '';
      const heardAll = await waitUntil(
        async () => {
          const view = await members(g);
          const others = view.members.filter((m) => m.id !== view.self);
          last = others.map((m) => `${m.id}=${m.status} heard ${m.lastHeardMs} ms ago`).join(', ');
          const sinceFlood = Date.now() - floodEnded;
          return others.length === 2 && others.every((m) => m.status === 'alive' && m.lastHeardMs !== null && m.lastHeardMs < sinceFlood);
        },
        { what: `${x} to hear from every member after the flood`, timeoutMs: 15_000, intervalMs: 200 },
      ).then(
        () => true,
        () => false,
      );
      expect.soft(heardAll, `${x} heard every member (alive) after the flood: ${last}`).toBe(true);
    }

    // --- and every gateway still serves.
    for (const [x, g] of gateways) {
      expect(g.process.exitStatus, `${x} is still running`).toBeUndefined();
      expect((await httpRequest(`${g.adminUrl}/ready`)).status, `${x} /ready`).toBe(200);
      expect((await dropped(g))['internal-error'] ?? 0, `${x} dropped.internal-error`).toBe(0);
    }
    await waitAllAlive(gateways, 'all alive after the hostile gossip', { timeoutMs: 10_000 });
    console.info(
      `[hostile gossip] dropped: ${JSON.stringify(Object.fromEntries(await Promise.all([...gateways].map(async ([x, g]) => [x, await dropped(g)] as const))))}\n${noReplies.join('\n')}`,
    );
  }, 120_000);
});
