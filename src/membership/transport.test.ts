import { describe, expect, it } from 'vitest';
import { InboundGate, isTransportError, TransportError, type TransportHandlers } from './transport.js';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function gate(handlers: Partial<TransportHandlers>, max = 8): InboundGate {
  const g = new InboundGate(() => max);
  g.setHandlers({ broadcast: () => {}, request: () => undefined, ...handlers });
  return g;
}

describe('InboundGate', () => {
  it('ignores everything until handlers are set (nothing is counted)', () => {
    const g = new InboundGate(() => 8);
    g.broadcast(new Uint8Array(1));
    g.request(new Uint8Array(1), () => {});
    expect(g.started).toBe(false);
    expect(g.stats().received).toEqual({ broadcasts: 0, requests: 0 });
  });

  it('drops inbound messages above the budget before any handler sees them', () => {
    const seen: number[] = [];
    const g = gate({ broadcast: (d) => seen.push(d.length), request: (d) => (seen.push(d.length), undefined) });
    g.broadcast(new Uint8Array(9));
    g.request(new Uint8Array(9), () => {});
    g.broadcast(new Uint8Array(8));
    expect(seen).toEqual([8]);
    expect(g.stats().dropped['oversized']).toBe(2);
  });

  it('drops a "request" that carries no reply subject', () => {
    let called = false;
    const g = gate({ request: () => ((called = true), undefined) });
    g.request(new Uint8Array(1), undefined);
    expect(called).toBe(false);
    expect(g.stats().dropped['no-reply-subject']).toBe(1);
  });

  it('replies with what the handler returns or resolves, and nothing for undefined', async () => {
    const replies: string[] = [];
    const respond = (r: Uint8Array): void => void replies.push(new TextDecoder().decode(r));
    const g = gate({
      request: (d) => (d[0] === 1 ? new TextEncoder().encode('sync') : d[0] === 2 ? Promise.resolve(new TextEncoder().encode('async')) : undefined),
    });
    g.request(Uint8Array.of(1), respond);
    g.request(Uint8Array.of(2), respond);
    g.request(Uint8Array.of(3), respond);
    await settle();
    expect(replies.sort()).toEqual(['async', 'sync']);
    expect(g.stats().received.requests).toBe(3);
  });

  it('counts, and never throws, whatever goes wrong in handlers and replies', async () => {
    const g = gate({
      broadcast: () => {
        throw new Error('bug');
      },
      request: (d) => {
        if (d[0] === 1) throw new Error('bug');
        if (d[0] === 2) return Promise.reject(new Error('bug'));
        if (d[0] === 3) return new Uint8Array(9);
        if (d[0] === 4) return 'not bytes' as unknown as Uint8Array;
        return Uint8Array.of(0);
      },
    });
    const failingRespond = (): void => {
      throw new Error('connection gone');
    };
    expect(() => {
      g.broadcast(Uint8Array.of(0));
      for (const n of [1, 2, 3, 4]) g.request(Uint8Array.of(n), () => {});
      g.request(Uint8Array.of(5), failingRespond);
    }).not.toThrow();
    await settle();
    expect(g.stats().dropped).toEqual({
      oversized: 0,
      'no-reply-subject': 0,
      'handler-error': 4,
      'reply-too-large': 1,
      'reply-failed': 1,
    });
  });

  it('hands out snapshots', () => {
    const g = gate({});
    const before = g.stats();
    g.broadcast(Uint8Array.of(1));
    expect(before.received.broadcasts).toBe(0);
    expect(g.stats().received.broadcasts).toBe(1);
  });
});

describe('TransportError', () => {
  it('carries a kind and a cause', () => {
    const cause = new Error('503');
    const err = new TransportError('no-responders', 'request to a.1: no responders', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('TransportError');
    expect(err.cause).toBe(cause);
    expect(isTransportError(err)).toBe(true);
    expect(isTransportError(err, 'no-responders')).toBe(true);
    expect(isTransportError(err, 'timeout')).toBe(false);
    expect(isTransportError(cause)).toBe(false);
  });
});
