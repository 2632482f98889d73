// NatsTransport against real nats-servers: one server, a 3-cluster
// super-cluster (gateways), a hub with leaf nodes, a cut gateway link and a
// server restart. Interest crosses gateways and leaf links asynchronously, so
// positive cases across servers retry until delivered, within a deadline.
import { afterAll, describe, expect, it } from 'vitest';
import { NatsTransport } from '../../src/membership/nats-transport.js';
import { gossipSubject, memberSubject } from '../../src/membership/subjects.js';
import { isTransportError, type TransportErrorKind, type TransportStatus } from '../../src/membership/transport.js';
import { leakedProcesses, sleep, useHarness, waitUntil, type Harness } from '../harness/index.js';

const h = useHarness();

afterAll(async () => {
  expect(await leakedProcesses()).toEqual([]);
});
const FEDERATION = 'it';
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Member {
  readonly id: string;
  readonly transport: NatsTransport;
  /** Broadcasts received, decoded. */
  readonly inbox: string[];
  readonly statuses: TransportStatus[];
}

/**
 * A started member on `url`: it records broadcasts and answers a request
 * with `<id> got <request>`, except 'silent' (no reply) and 'throw'.
 */
async function member(hh: Harness, url: string, id: string, maxMessageBytes?: number): Promise<Member> {
  const transport = await NatsTransport.connect({ servers: url, federation: FEDERATION, memberId: id, maxMessageBytes });
  hh.onCleanup(() => transport.close(), `transport ${id}`);
  const inbox: string[] = [];
  const statuses: TransportStatus[] = [];
  transport.onStatus((s) => statuses.push(s));
  await transport.start({
    broadcast: (data) => inbox.push(dec(data)),
    request: async (data) => {
      const text = dec(data);
      if (text === 'silent') return undefined;
      if (text === 'throw') throw new Error('handler bug');
      return enc(`${id} got ${text}`);
    },
  });
  return { id, transport, inbox, statuses };
}

/** The kind of the TransportError `p` rejects with (fails the test if it resolves). */
async function failureKind(p: Promise<unknown>): Promise<TransportErrorKind> {
  try {
    await p;
  } catch (err) {
    if (isTransportError(err)) return err.kind;
    throw err;
  }
  throw new Error('expected the request to fail, but it was answered');
}

/** Requests until answered: a member's interest may not have reached `from`'s server yet. */
async function requestUntilAnswered(from: Member, to: Member, timeoutMs = 20_000): Promise<string> {
  const text = `hi from ${from.id}`;
  return waitUntil(async () => dec(await from.transport.request(to.id, enc(text), 500)), {
    what: `${to.id} to answer a request from ${from.id}`,
    timeoutMs,
    intervalMs: 100,
  });
}

/** Broadcasts until every member in `to` has it (at-most-once: one publish may land before interest). */
async function broadcastUntilReceived(from: Member, to: readonly Member[], timeoutMs = 20_000): Promise<void> {
  const text = `news from ${from.id} ${Math.random().toString(36).slice(2)}`;
  await waitUntil(
    async () => {
      await from.transport.broadcast(enc(text));
      await sleep(100);
      return to.every((m) => m.inbox.includes(text));
    },
    { what: `a broadcast from ${from.id} to reach ${to.map((m) => m.id).join(', ')}`, timeoutMs, intervalMs: 50 },
  );
}

async function allPairsAnswer(members: readonly Member[]): Promise<void> {
  for (const from of members) {
    for (const to of members) {
      if (from !== to) expect(await requestUntilAnswered(from, to)).toBe(`${to.id} got hi from ${from.id}`);
    }
  }
}

describe('NatsTransport on one nats-server', () => {
  it('carries request/reply and broadcasts between members, never echoing our own broadcast', async () => {
    const server = await h.natsServer();
    const a = await member(h, server.url, 'a.1');
    const b = await member(h, server.url, 'b.1');
    // One server: once start() resolved, the server holds b's subscription, so no retry is needed.
    expect(dec(await a.transport.request('b.1', enc('ping'), 2_000))).toBe('b.1 got ping');
    expect(dec(await b.transport.request('a.1', enc('ping'), 2_000))).toBe('a.1 got ping');

    await a.transport.broadcast(enc('delta-1'));
    await waitUntil(() => b.inbox.includes('delta-1'), { what: 'b to receive delta-1', timeoutMs: 5_000 });
    // b's own broadcast went out after a's: once a has b's, a's would have come back too if echoed.
    await b.transport.broadcast(enc('delta-2'));
    await waitUntil(() => a.inbox.includes('delta-2'), { what: 'a to receive delta-2', timeoutMs: 5_000 });
    expect(a.inbox).toEqual(['delta-2']);
    expect(b.inbox).toEqual(['delta-1']);
    expect(a.transport.stats().received).toEqual({ broadcasts: 1, requests: 1 });
  });

  it("says 'no-responders' for an absent member (and for ourselves), 'timeout' for a silent one, and survives handler errors", async () => {
    const server = await h.natsServer();
    const a = await member(h, server.url, 'a.1');
    const b = await member(h, server.url, 'b.1');
    expect(await failureKind(a.transport.request('z.9', enc('anyone?'), 2_000))).toBe('no-responders');
    // noEcho: our own subscription does not count, so a member cannot answer itself.
    expect(await failureKind(a.transport.request('a.1', enc('me?'), 2_000))).toBe('no-responders');

    const started = Date.now();
    expect(await failureKind(a.transport.request('b.1', enc('silent'), 300))).toBe('timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);

    expect(await failureKind(a.transport.request('b.1', enc('throw'), 300))).toBe('timeout');
    expect(b.transport.stats().dropped['handler-error']).toBe(1);
    // Still serving after the handler's error.
    expect(dec(await a.transport.request('b.1', enc('again'), 2_000))).toBe('b.1 got again');
  });

  it("refuses messages above the 64 KiB budget locally, and drops oversized and reply-less ones it receives", async () => {
    const server = await h.natsServer(); // max_payload 1 MB: the budget is the limit
    const a = await member(h, server.url, 'a.1');
    const b = await member(h, server.url, 'b.1');
    expect(a.transport.maxMessageBytes).toBe(64 * 1024);
    const tooBig = new Uint8Array(64 * 1024 + 1);
    const refusal = await a.transport.request('b.1', tooBig, 2_000).catch((e: unknown) => e);
    expect(refusal).toMatchObject({ kind: 'too-large' });
    expect((refusal as Error).cause).toBeUndefined(); // ours, not the client's or the server's
    expect(await failureKind(a.transport.broadcast(tooBig))).toBe('too-large');
    expect(dec(await a.transport.request('b.1', enc('small'), 2_000))).toBe('b.1 got small');
    expect(b.transport.stats().received.requests).toBe(1);

    // A peer that ignores the budget (a raw client) gets dropped and counted, not served.
    const raw = await h.natsConnect(server.url);
    raw.publish(gossipSubject(FEDERATION), new Uint8Array(70_000));
    raw.publish(memberSubject(FEDERATION, 'b.1'), new Uint8Array(70_000), { reply: '_INBOX.raw' });
    raw.publish(memberSubject(FEDERATION, 'b.1'), enc('no reply subject'));
    await raw.flush();
    await waitUntil(() => b.transport.stats().dropped['oversized'] === 2 && b.transport.stats().dropped['no-reply-subject'] === 1, {
      what: 'b to drop the oversized and reply-less messages',
      timeoutMs: 5_000,
    });
    expect(b.inbox).toEqual([]);
    expect(b.transport.stats().received).toEqual({ broadcasts: 0, requests: 1 });
  });

  it("never sends above the server's max_payload, whatever the configured budget", async () => {
    const server = await h.natsServer({ extraConfig: 'max_payload: 4096' });
    const a = await member(h, server.url, 'a.1');
    const b = await member(h, server.url, 'b.1');
    expect(a.transport.maxMessageBytes).toBe(4096);
    expect(await failureKind(a.transport.request('b.1', new Uint8Array(4097), 2_000))).toBe('too-large');
    expect(await failureKind(a.transport.broadcast(new Uint8Array(4097)))).toBe('too-large');
    expect((await a.transport.request('b.1', new Uint8Array(4000), 2_000)).length).toBe(4008);
    // The replier keeps to the limit too: 'b.1 got ' + 4096 bytes is not sent, and a hears nothing.
    expect(await failureKind(a.transport.request('b.1', new Uint8Array(4096), 500))).toBe('timeout');
    expect(b.transport.stats().dropped['reply-too-large']).toBe(1);
  });

  it('reports a server restart as disconnected then reconnected, and works again without being recreated', async () => {
    const server = await h.natsServer();
    const a = await member(h, server.url, 'a.1');
    const b = await member(h, server.url, 'b.1');
    expect(await requestUntilAnswered(a, b)).toBe('b.1 got hi from a.1');

    // In flight when the server goes: its timeout says nothing about b. (Long
    // enough that a slow stop still lands inside it.)
    const inFlight = failureKind(a.transport.request('b.1', enc('silent'), 4_000));
    await sleep(100);
    await server.stop();
    await waitUntil(() => a.statuses.includes('disconnected') && b.statuses.includes('disconnected'), {
      what: 'both transports to report the disconnect',
      timeoutMs: 10_000,
    });
    expect(await inFlight).toBe('disconnected');
    // Nothing is buffered for later while down: the caller hears at once.
    expect(await failureKind(a.transport.request('b.1', enc('x'), 1_000))).toBe('disconnected');
    expect(await failureKind(a.transport.broadcast(enc('x')))).toBe('disconnected');

    await server.restart();
    await waitUntil(() => a.statuses.includes('reconnected') && b.statuses.includes('reconnected'), {
      what: 'both transports to report the reconnect',
      timeoutMs: 15_000,
    });
    expect(a.statuses).toEqual(['disconnected', 'reconnected']);
    expect(b.statuses).toEqual(['disconnected', 'reconnected']);
    // nats.js re-sent our subscriptions: both members receive requests and broadcasts again.
    expect(await requestUntilAnswered(a, b)).toBe('b.1 got hi from a.1');
    expect(await requestUntilAnswered(b, a)).toBe('a.1 got hi from b.1');
    await broadcastUntilReceived(a, [b]);
    await broadcastUntilReceived(b, [a]);
  });

  it("rejects waiting requests with 'closed' on close, and reports no status after it", async () => {
    const server = await h.natsServer();
    const a = await member(h, server.url, 'a.1');
    await member(h, server.url, 'b.1');
    const waiting = failureKind(a.transport.request('b.1', enc('silent'), 5_000));
    await a.transport.close();
    expect(await waiting).toBe('closed');
    expect(await failureKind(a.transport.broadcast(enc('x')))).toBe('closed');
    expect(a.statuses).toEqual([]);
  });
});

describe('NatsTransport across a super-cluster (NATS gateways)', () => {
  it('carries requests and broadcasts between members on three clusters; an absent member has no responders', async () => {
    const sc = await h.natsSuperCluster(['a', 'b', 'c']);
    const members = [
      await member(h, sc.server('a').url, 'a.1'),
      await member(h, sc.server('b').url, 'b.1'),
      await member(h, sc.server('c').url, 'c.1'),
    ];
    await allPairsAnswer(members);
    for (const from of members) await broadcastUntilReceived(from, members.filter((m) => m !== from));
    expect(await failureKind(members[0]!.transport.request('z.9', enc('anyone?'), 2_000))).toBe('no-responders');
  });

  it('loses A↔C when that gateway link is cut while A↔B and B↔C still work, and regains it when healed', async () => {
    const sc = await h.natsSuperCluster(['a', 'b', 'c'], { proxiedLinks: true });
    const a = await member(h, sc.server('a').url, 'a.1');
    const b = await member(h, sc.server('b').url, 'b.1');
    const c = await member(h, sc.server('c').url, 'c.1');
    await allPairsAnswer([a, b, c]);

    sc.link('a', 'c').mode('blackhole');
    // The servers' pings (1 s, 3 missed) find the link dead and drop it on both sides.
    await waitUntil(
      async () => {
        const [ga, gc] = await Promise.all([sc.gatewayz('a'), sc.gatewayz('c')]);
        return !ga.inbound_gateways?.['c']?.length && !gc.inbound_gateways?.['a']?.length;
      },
      { what: 'a and c to drop their gateway connections to each other', timeoutMs: 30_000, intervalMs: 200 },
    );

    // NATS gateways do not relay through B: A and C cannot reach each other…
    for (let i = 0; i < 3; i++) {
      expect(['timeout', 'no-responders']).toContain(await failureKind(a.transport.request('c.1', enc('x'), 1_000)));
      expect(['timeout', 'no-responders']).toContain(await failureKind(c.transport.request('a.1', enc('x'), 1_000)));
    }
    // …while both still reach B, which can therefore relay an indirect probe.
    expect(await requestUntilAnswered(a, b)).toBe('b.1 got hi from a.1');
    expect(await requestUntilAnswered(b, c)).toBe('c.1 got hi from b.1');
    expect(await requestUntilAnswered(c, b)).toBe('b.1 got hi from c.1');
    expect(await requestUntilAnswered(b, a)).toBe('a.1 got hi from b.1');
    // A broadcast from A reaches B, not C.
    await broadcastUntilReceived(a, [b]);
    await sleep(500);
    expect(c.inbox.filter((m) => m.startsWith('news from a.1'))).toEqual([]);

    sc.link('a', 'c').mode('pass');
    await sc.waitConnected(30_000);
    expect(await requestUntilAnswered(a, c)).toBe('c.1 got hi from a.1');
    expect(await requestUntilAnswered(c, a)).toBe('a.1 got hi from c.1');
    await broadcastUntilReceived(a, [b, c]);
  });
});

describe('NatsTransport across a hub with leaf nodes', () => {
  it('carries requests and broadcasts leaf to leaf and leaf to hub; an absent member has no responders', async () => {
    const topo = await h.natsHubWithLeaves(['leaf1', 'leaf2']);
    const members = [
      await member(h, topo.leaf('leaf1').url, 'x.1'),
      await member(h, topo.leaf('leaf2').url, 'y.1'),
      await member(h, topo.hub.url, 'h.1'),
    ];
    await allPairsAnswer(members);
    for (const from of members) await broadcastUntilReceived(from, members.filter((m) => m !== from));
    expect(await failureKind(members[0]!.transport.request('z.9', enc('anyone?'), 2_000))).toBe('no-responders');
  });
});
