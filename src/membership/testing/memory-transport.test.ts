import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../test/harness/seeded-random.js';
import { InvalidTokenError } from '../subjects.js';
import { isTransportError, TransportError, type TransportErrorKind, type TransportHandlers, type TransportStatus } from '../transport.js';
import { ManualScheduler } from './manual-scheduler.js';
import { MemoryNetwork, type MemoryNetworkOptions, type MemoryTransport } from './memory-transport.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A network on a manual clock, with members that record broadcasts and echo requests. */
function setup(opts: Omit<MemoryNetworkOptions, 'schedule'> = {}) {
  const clock = new ManualScheduler();
  const network = new MemoryNetwork({ ...opts, schedule: clock.schedule });
  const inbox = new Map<string, string[]>();
  async function member(id: string, handlers: Partial<TransportHandlers> = {}): Promise<MemoryTransport> {
    const t = network.transport(id);
    inbox.set(id, []);
    await t.start({
      broadcast: (data) => inbox.get(id)!.push(dec(data)),
      request: (data) => enc(`${id} got ${dec(data)}`),
      ...handlers,
    });
    return t;
  }
  return { clock, network, inbox, member };
}

/** The settled outcome of a promise, for asserting after the clock moved. */
function outcome<T>(p: Promise<T>): { value?: T; error?: unknown; settled: boolean } {
  const o: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (value) => Object.assign(o, { value, settled: true }),
    (error) => Object.assign(o, { error, settled: true }),
  );
  return o;
}

function kindOf(o: { error?: unknown }): TransportErrorKind | undefined {
  return isTransportError(o.error) ? o.error.kind : undefined;
}

describe('MemoryTransport request/reply', () => {
  it('answers after a round trip of latency, driven by the clock', async () => {
    const { clock, member } = await setup({ latency: 10 });
    const a = await member('a.1');
    await member('b.1');
    const reply = outcome(a.request('b.1', enc('ping'), 500));
    await clock.advance(19);
    expect(reply.settled).toBe(false);
    await clock.advance(1);
    expect(reply.settled).toBe(true);
    expect(dec(reply.value!)).toBe('b.1 got ping');
  });

  it('supports per-direction latency (an asymmetric path)', async () => {
    const { clock, member } = await setup({ latency: (from, to) => (from === 'a.1' && to === 'b.1' ? 100 : 5) });
    const a = await member('a.1');
    await member('b.1');
    const reply = outcome(a.request('b.1', enc('x'), 500));
    await clock.advance(104);
    expect(reply.settled).toBe(false);
    await clock.advance(1);
    expect(reply.settled).toBe(true);
  });

  it('waits for an async handler', async () => {
    const { clock, member } = await setup();
    const a = await member('a.1');
    await member('b.1', {
      request: (data) => new Promise((resolve) => clock.schedule(() => resolve(enc(`late ${dec(data)}`)), 50)),
    });
    const reply = outcome(a.request('b.1', enc('q'), 500));
    await clock.advance(49);
    expect(reply.settled).toBe(false);
    await clock.advance(1);
    expect(dec(reply.value!)).toBe('late q');
  });

  it("says 'no-responders' for a member that is not receiving: unknown, not started, closed", async () => {
    const { clock, network, member } = await setup({ latency: 1 });
    const a = await member('a.1');
    network.transport('b.1'); // exists, never started
    const closed = await member('c.1');
    await closed.close();
    const results = ['z.9', 'b.1', 'c.1', 'a.1'].map((id) => outcome(a.request(id, enc('?'), 1_000)));
    await clock.advance(2);
    // …and ourselves, as over NATS (noEcho).
    expect(results.map(kindOf)).toEqual(['no-responders', 'no-responders', 'no-responders', 'no-responders']);
  });

  it("times out when the handler sends no reply", async () => {
    const { clock, member } = await setup();
    const a = await member('a.1');
    await member('b.1', { request: () => undefined });
    const reply = outcome(a.request('b.1', enc('?'), 300));
    await clock.advance(299);
    expect(reply.settled).toBe(false);
    await clock.advance(1);
    expect(kindOf(reply)).toBe('timeout');
  });

  it('counts a handler that throws or rejects, replies nothing, and keeps serving', async () => {
    const { clock, member } = await setup();
    const a = await member('a.1');
    let calls = 0;
    const b = await member('b.1', {
      request: (data) => {
        calls++;
        if (dec(data) === 'throw') throw new Error('bug');
        if (dec(data) === 'reject') return Promise.reject(new Error('async bug'));
        return enc('fine');
      },
    });
    const thrown = outcome(a.request('b.1', enc('throw'), 100));
    const rejected = outcome(a.request('b.1', enc('reject'), 100));
    const fine = outcome(a.request('b.1', enc('ok'), 100));
    await clock.advance(100);
    expect([kindOf(thrown), kindOf(rejected)]).toEqual(['timeout', 'timeout']);
    expect(dec(fine.value!)).toBe('fine');
    expect(calls).toBe(3);
    expect(b.stats().dropped['handler-error']).toBe(2);
    expect(b.stats().received.requests).toBe(3);
  });

  it('refuses a malformed member id or timeout as a caller bug', async () => {
    const { member } = await setup();
    const a = await member('a.1');
    await expect(a.request('nodot', enc('x'), 100)).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(a.request('a.*', enc('x'), 100)).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(a.request('b.1', enc('x'), 0)).rejects.toBeInstanceOf(RangeError);
  });

  it('does not let the receiver see the sender mutate its buffer, or the reverse', async () => {
    const { clock, member } = await setup({ latency: 5 });
    const a = await member('a.1');
    let seen = '';
    await member('b.1', {
      request: (data) => {
        seen = dec(data);
        data.fill(0);
        return data;
      },
    });
    const buf = enc('abc');
    const reply = outcome(a.request('b.1', buf, 100));
    buf.fill(120); // 'xxx', after sending
    await clock.advance(10);
    expect(seen).toBe('abc');
    expect([...reply.value!]).toEqual([0, 0, 0]);
  });
});

describe('MemoryTransport broadcast', () => {
  it('reaches every receiving member but the sender, at most once', async () => {
    const { clock, network, inbox, member } = await setup({ latency: 3 });
    const a = await member('a.1');
    await member('b.1');
    await member('c.1');
    network.transport('d.1'); // not started: no interest
    await a.broadcast(enc('hello'));
    await clock.advance(3);
    expect(Object.fromEntries(inbox)).toEqual({ 'a.1': [], 'b.1': ['hello'], 'c.1': ['hello'] });
  });

  it('goes to whoever receives when it is sent (like NATS interest), and not to one closed meanwhile', async () => {
    const { clock, inbox, member } = await setup({ latency: 10 });
    const a = await member('a.1');
    const b = await member('b.1');
    await member('c.1');
    await a.broadcast(enc('m1'));
    await b.close();
    await member('e.1'); // joined after the publish
    await clock.advance(10);
    expect(inbox.get('b.1')).toEqual([]);
    expect(inbox.get('c.1')).toEqual(['m1']);
    expect(inbox.get('e.1')).toEqual([]);
  });

  it('counts a broadcast handler that throws, and goes on delivering', async () => {
    const { clock, member, inbox } = await setup();
    const a = await member('a.1');
    const b = await member('b.1', {
      broadcast: (data) => {
        if (dec(data) === 'bad') throw new Error('bug');
        inbox.get('b.1')!.push(dec(data));
      },
    });
    await a.broadcast(enc('bad'));
    await a.broadcast(enc('good'));
    await clock.advance(0);
    expect(inbox.get('b.1')).toEqual(['good']);
    expect(b.stats()).toEqual({
      received: { broadcasts: 2, requests: 0 },
      dropped: { oversized: 0, 'no-reply-subject': 0, 'handler-error': 1, 'reply-too-large': 0, 'reply-failed': 0 },
    });
  });

  it('is asynchronous even with no latency: nothing is delivered inside broadcast()', async () => {
    const { clock, inbox, member } = await setup();
    const a = await member('a.1');
    await member('b.1');
    await a.broadcast(enc('x'));
    expect(inbox.get('b.1')).toEqual([]);
    await clock.advance(0);
    expect(inbox.get('b.1')).toEqual(['x']);
  });
});

describe('MemoryNetwork faults', () => {
  it('drops a seeded share of deliveries, the same ones for the same seed', async () => {
    async function run(seed: number): Promise<string[]> {
      const { clock, inbox, member, network } = await setup({ dropRate: 0.3, seed });
      const a = await member('a.1');
      await member('b.1');
      for (let i = 0; i < 1_000; i++) await a.broadcast(enc(String(i)));
      await clock.advance(0);
      const got = inbox.get('b.1')!;
      expect(network.stats()).toEqual({ carried: got.length, dropped: 1_000 - got.length, blocked: 0 });
      return got;
    }
    const first = await run(7);
    expect(first.length).toBeGreaterThan(620);
    expect(first.length).toBeLessThan(780);
    expect(await run(7)).toEqual(first);
    expect(await run(8)).not.toEqual(first);
  });

  it('loses requests and replies to drops as timeouts', async () => {
    const { clock, member, network } = await setup({ dropRate: 1 });
    const a = await member('a.1');
    await member('b.1');
    const lost = outcome(a.request('b.1', enc('x'), 100));
    await clock.advance(100);
    expect(kindOf(lost)).toBe('timeout');
    network.setDropRate(0);
    const ok = outcome(a.request('b.1', enc('x'), 100));
    await clock.advance(0);
    expect(ok.value).toBeDefined();
  });

  it('partitions two members both ways until healed', async () => {
    const { clock, inbox, network, member } = await setup();
    const a = await member('a.1');
    const b = await member('b.1');
    network.partition('a.1', 'b.1');
    const ab = outcome(a.request('b.1', enc('x'), 100));
    const ba = outcome(b.request('a.1', enc('x'), 100));
    await a.broadcast(enc('lost'));
    await clock.advance(100);
    expect([kindOf(ab), kindOf(ba)]).toEqual(['timeout', 'timeout']);
    expect(inbox.get('b.1')).toEqual([]);
    expect(network.stats().blocked).toBe(3);

    network.heal('b.1', 'a.1'); // either order
    const healed = outcome(a.request('b.1', enc('x'), 100));
    await clock.advance(0);
    expect(healed.value).toBeDefined();
  });

  it('cuts one direction only: the request arrives, the reply is lost', async () => {
    const { clock, network, member } = await setup();
    const a = await member('a.1');
    let handled = 0;
    await member('b.1', {
      request: () => {
        handled++;
        return enc('ack');
      },
    });
    network.partition('b.1', 'a.1', { oneWay: true });
    const r = outcome(a.request('b.1', enc('ping'), 100));
    await clock.advance(100);
    expect(handled).toBe(1);
    expect(kindOf(r)).toBe('timeout');
  });

  it('cuts whole clusters: A↔C lost while A→B and B→C still work (the gap indirect probes bridge)', async () => {
    const { clock, network, member } = await setup();
    const a = await member('a.1');
    const b = await member('b.1');
    await member('c.1');
    await member('c.2');
    network.partition('a', 'c');
    const r = {
      ac1: outcome(a.request('c.1', enc('x'), 100)),
      ac2: outcome(a.request('c.2', enc('x'), 100)),
      ab: outcome(a.request('b.1', enc('x'), 100)),
      bc: outcome(b.request('c.1', enc('x'), 100)),
    };
    await clock.advance(100);
    expect(kindOf(r.ac1)).toBe('timeout');
    expect(kindOf(r.ac2)).toBe('timeout');
    expect(dec(r.ab.value!)).toBe('b.1 got x');
    expect(dec(r.bc.value!)).toBe('c.1 got x');
    network.healAll();
    const after = outcome(a.request('c.2', enc('x'), 100));
    await clock.advance(0);
    expect(dec(after.value!)).toBe('c.2 got x');
  });

  it('relays a request through a third member across a cut (an indirect probe), on the manual clock', async () => {
    const { clock, network, member } = await setup({ latency: 2 });
    const a = await member('a.r1');
    let b: MemoryTransport | undefined;
    // b's handler asks c on a's behalf and passes the answer back: SWIM's ping-req.
    b = await member('b.r1', { request: async (data) => enc(`via b: ${dec(await b!.request('c.r1', data, 500))}`) });
    await member('c.r1');
    network.partition('a.r1', 'c.r1');
    const direct = outcome(a.request('c.r1', enc('ping'), 500));
    const indirect = outcome(a.request('b.r1', enc('ping'), 1_000));
    await clock.advance(500);
    expect(kindOf(direct)).toBe('timeout');
    expect(dec(indirect.value!)).toBe('via b: c.r1 got ping');
  });

  it("answers 'no-responders' for an absent member even across a partition (it comes from the server)", async () => {
    const { clock, network, member } = await setup();
    const a = await member('a.1');
    network.partition('a', 'z');
    const r = outcome(a.request('z.1', enc('x'), 100));
    await clock.advance(100);
    // Blocked on the way out: a cut link gives a timeout, as a NATS gateway blackhole does.
    expect(kindOf(r)).toBe('timeout');
    network.healAll();
    const r2 = outcome(a.request('z.1', enc('x'), 100));
    await clock.advance(0);
    expect(kindOf(r2)).toBe('no-responders');
  });

  it('rejects bad knobs', () => {
    expect(() => new MemoryNetwork({ dropRate: 1.5 })).toThrow(RangeError);
    expect(() => new MemoryNetwork({ latency: -1 })).toThrow(RangeError);
    expect(() => new MemoryNetwork().setDropRate(Number.NaN)).toThrow(RangeError);
  });
});

describe('MemoryTransport connection status', () => {
  it('reports disconnected then reconnected, refuses to send meanwhile, and receives again after', async () => {
    const { clock, network, inbox, member } = await setup();
    const a = await member('a.1');
    const b = await member('b.1');
    const statuses: TransportStatus[] = [];
    a.onStatus((s) => statuses.push(s));

    network.disconnect('a.1');
    network.disconnect('a.1'); // repeated: reported once
    expect(statuses).toEqual(['disconnected']);
    await expect(a.broadcast(enc('x'))).rejects.toMatchObject({ kind: 'disconnected' });
    await expect(a.request('b.1', enc('x'), 100)).rejects.toMatchObject({ kind: 'disconnected' });
    // Its subscriptions are gone from the server: no responders, no broadcasts.
    const toA = outcome(b.request('a.1', enc('x'), 100));
    await b.broadcast(enc('missed'));
    await clock.advance(0);
    expect(kindOf(toA)).toBe('no-responders');
    expect(inbox.get('a.1')).toEqual([]);

    network.reconnect('a.1');
    expect(statuses).toEqual(['disconnected', 'reconnected']);
    const again = outcome(b.request('a.1', enc('x'), 100));
    await b.broadcast(enc('seen'));
    await clock.advance(0);
    expect(dec(again.value!)).toBe('a.1 got x');
    expect(inbox.get('a.1')).toEqual(['seen']);
  });

  it("turns a timeout that spans our own disconnect into 'disconnected' (no evidence against the member)", async () => {
    const { clock, network, member } = await setup({ latency: 50 });
    const a = await member('a.1');
    await member('b.1');
    const r = outcome(a.request('b.1', enc('x'), 200));
    await clock.advance(10);
    network.disconnect('a.1');
    await clock.advance(140); // the reply (due at 100) finds the connection gone
    network.reconnect('a.1'); // back before the timeout, but the reply was lost
    await clock.advance(50);
    expect(kindOf(r)).toBe('disconnected');
  });

  it('still delivers a reply that arrives after we reconnected (the reply inbox is re-subscribed)', async () => {
    const { clock, network, member } = await setup({ latency: 50 });
    const a = await member('a.1');
    await member('b.1');
    const r = outcome(a.request('b.1', enc('x'), 200));
    await clock.advance(10);
    network.disconnect('a.1');
    await clock.advance(20);
    network.reconnect('a.1');
    await clock.advance(70);
    expect(dec(r.value!)).toBe('b.1 got x');
  });

  it('counts a reply the responder could not send because it disconnected', async () => {
    const { clock, network, member } = await setup();
    const a = await member('a.1');
    const b = await member('b.1', {
      request: () => new Promise((resolve) => clock.schedule(() => resolve(enc('late')), 50)),
    });
    const r = outcome(a.request('b.1', enc('x'), 100));
    await clock.advance(10);
    network.disconnect('b.1');
    await clock.advance(90);
    expect(kindOf(r)).toBe('timeout');
    expect(b.stats().dropped['reply-failed']).toBe(1);
  });

  it('keeps calling other status listeners when one throws, and unsubscribes', async () => {
    const { network, member } = await setup();
    const a = await member('a.1');
    const seen: TransportStatus[] = [];
    a.onStatus(() => {
      throw new Error('listener bug');
    });
    const off = a.onStatus((s) => seen.push(s));
    network.disconnect('a.1');
    off();
    network.reconnect('a.1');
    expect(seen).toEqual(['disconnected']);
  });
});

describe('MemoryTransport budget and lifecycle', () => {
  it("refuses messages above the budget with 'too-large' before sending", async () => {
    const { network, member } = await setup({ maxMessageBytes: 100 });
    const a = await member('a.1');
    await member('b.1');
    expect(a.maxMessageBytes).toBe(100);
    await expect(a.broadcast(new Uint8Array(101))).rejects.toMatchObject({ kind: 'too-large' });
    await expect(a.request('b.1', new Uint8Array(101), 100)).rejects.toMatchObject({ kind: 'too-large' });
    await a.broadcast(new Uint8Array(100));
    expect(network.stats().carried).toBe(1);
  });

  it('defaults to the 64 KiB gossip message budget', () => {
    expect(new MemoryNetwork().transport('a.1').maxMessageBytes).toBe(65_536);
  });

  it('does not send a reply above the budget, and counts it', async () => {
    const { clock, member } = await setup({ maxMessageBytes: 10 });
    const a = await member('a.1');
    const b = await member('b.1', { request: () => new Uint8Array(11) });
    const r = outcome(a.request('b.1', enc('x'), 100));
    await clock.advance(100);
    expect(kindOf(r)).toBe('timeout');
    expect(b.stats().dropped['reply-too-large']).toBe(1);
  });

  it("rejects waiting requests with 'closed' on close, and everything after", async () => {
    const { clock, member } = await setup({ latency: 50 });
    const a = await member('a.1');
    await member('b.1');
    const r = outcome(a.request('b.1', enc('x'), 1_000));
    await a.close();
    await a.close(); // idempotent
    await clock.advance(0);
    expect(kindOf(r)).toBe('closed');
    await expect(a.broadcast(enc('x'))).rejects.toMatchObject({ kind: 'closed' });
    await expect(a.request('b.1', enc('x'), 10)).rejects.toMatchObject({ kind: 'closed' });
    await expect(a.start({ broadcast: () => {}, request: () => undefined })).rejects.toMatchObject({ kind: 'closed' });
    await clock.advance(1_000); // the late reply and the timer find nothing to do
  });

  it('lets a member id be reused once its transport is closed (a restarted replica), not before', async () => {
    const { network, member } = await setup();
    const first = await member('a.1');
    expect(() => network.transport('a.1')).toThrow(/already has a live transport/);
    await first.close();
    expect(network.transport('a.1')).not.toBe(first);
  });

  it('starts once', async () => {
    const { member } = await setup();
    const a = await member('a.1');
    await expect(a.start({ broadcast: () => {}, request: () => undefined })).rejects.toThrow(/already/);
  });

  it('sends without being started (starting is only about receiving)', async () => {
    const { clock, network, member } = await setup();
    const sender = network.transport('a.1');
    await member('b.1');
    const r = outcome(sender.request('b.1', enc('x'), 100));
    await clock.advance(0);
    expect(dec(r.value!)).toBe('b.1 got x');
  });

  it('works on real timers by default', async () => {
    const network = new MemoryNetwork();
    const a = network.transport('a.1');
    const b = network.transport('b.1');
    await b.start({ broadcast: () => {}, request: (d) => d });
    expect(dec(await a.request('b.1', enc('echo'), 1_000))).toBe('echo');
    await expect(a.request('c.1', enc('x'), 1_000)).rejects.toMatchObject({ kind: 'no-responders' });
  });
});

describe('mulberry32 (the default source of drops)', () => {
  it('repeats for a seed and stays in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1_000 }, () => a());
    expect(Array.from({ length: 1_000 }, () => b())).toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });
});
