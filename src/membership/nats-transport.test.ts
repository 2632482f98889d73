// The parts of NatsTransport that need no server; the rest is in
// test/integration/nats-transport.test.ts against real nats-servers.
import { ErrorCode, NatsError } from 'nats';
import { describe, expect, it } from 'vitest';
import { NatsTransport, natsConnectionOptions, natsErrorToTransportError } from './nats-transport.js';

describe('natsConnectionOptions', () => {
  it('uses our defaults: ping 5 s × 2, reconnect forever with jittered 250–1000 ms waits', () => {
    const opts = natsConnectionOptions({ servers: ['nats://127.0.0.1:4222'], federation: 'acme', memberId: 'us-east.gw-0' });
    expect(opts).toMatchObject({
      servers: ['nats://127.0.0.1:4222'],
      name: 'meshgate-gossip-us-east.gw-0',
      pingInterval: 5_000,
      maxPingOut: 2,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 750,
      noEcho: true,
    });
  });

  it('lets the caller add or override nats.js options (TLS, credentials, inbox prefix)', () => {
    const opts = natsConnectionOptions({
      servers: 'nats://127.0.0.1:4222',
      federation: 'acme',
      memberId: 'a.1',
      name: 'custom',
      connection: { inboxPrefix: '_INBOX_acme', pingInterval: 10_000 },
    });
    expect(opts).toMatchObject({ name: 'custom', inboxPrefix: '_INBOX_acme', pingInterval: 10_000, maxPingOut: 2 });
  });
});

describe('natsErrorToTransportError', () => {
  const nats = (code: string): NatsError => NatsError.errorForCode(code);

  it.each([
    [ErrorCode.NoResponders, false, 'no-responders'],
    [ErrorCode.Timeout, false, 'timeout'],
    [ErrorCode.Timeout, true, 'disconnected'],
    [ErrorCode.MaxPayloadExceeded, false, 'too-large'],
    [ErrorCode.Disconnect, false, 'disconnected'],
    [ErrorCode.ConnectionClosed, false, 'closed'],
    [ErrorCode.ConnectionDraining, false, 'closed'],
    [ErrorCode.PermissionsViolation, false, 'failed'],
  ] as const)('maps %s (disconnected meanwhile: %s) to %s', (code, disconnected, kind) => {
    const err = natsErrorToTransportError(nats(code), 'request to a.1', disconnected);
    expect(err.kind).toBe(kind);
    expect(err.message).toMatch(/^request to a\.1: /);
    expect(err.cause).toBeInstanceOf(NatsError);
  });

  it("maps what is not a NatsError to 'failed'", () => {
    expect(natsErrorToTransportError(new TypeError('boom'), 'broadcast', false)).toMatchObject({ kind: 'failed', message: 'broadcast: boom' });
    expect(natsErrorToTransportError('text', 'broadcast', false).kind).toBe('failed');
  });
});

describe('NatsTransport.connect', () => {
  it('refuses bad names and budgets before dialling anything', async () => {
    const base = { servers: 'nats://127.0.0.1:1', federation: 'acme', memberId: 'a.1' };
    await expect(NatsTransport.connect({ ...base, federation: 'ac.me' })).rejects.toThrow(/invalid federation/);
    await expect(NatsTransport.connect({ ...base, memberId: 'a' })).rejects.toThrow(/invalid member id/);
    await expect(NatsTransport.connect({ ...base, maxMessageBytes: 0 })).rejects.toThrow(RangeError);
  });
});
