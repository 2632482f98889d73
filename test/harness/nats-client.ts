/**
 * nats.js connections for tests, and a bounded way to prove that a message
 * gets from one server to another. Interest crosses NATS gateways and leaf
 * links asynchronously, so a single publish right after subscribing may
 * legitimately be dropped: we publish again until it arrives or time runs out.
 */
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { assertLoopback } from './http-client.js';
import { sleep, withTimeout } from './wait.js';

export async function connectNats(serversOrOptions: string | string[] | ConnectionOptions): Promise<NatsConnection> {
  const opts: ConnectionOptions =
    typeof serversOrOptions === 'string' || Array.isArray(serversOrOptions)
      ? { servers: serversOrOptions }
      : serversOrOptions;
  const servers = opts.servers === undefined ? [] : Array.isArray(opts.servers) ? opts.servers : [opts.servers];
  if (servers.length === 0) throw new Error('connectNats: give the server URL(s), e.g. natsServer.url');
  for (const server of servers) assertLoopback(new URL(server.includes('://') ? server : `nats://${server}`).hostname);
  return withTimeout(
    connect({ name: 'meshgate-test', timeout: 5_000, ...opts }),
    10_000,
    `a NATS connection to ${servers.join(', ')}`,
  );
}

export interface DeliveryOptions {
  /** Overall deadline. Default 10 s. */
  timeoutMs?: number;
  /** Pause between publishes. Default 100 ms. */
  intervalMs?: number;
  /** Payload to send. Default a unique string. */
  payload?: string;
}

/**
 * Subscribes on `to`, then publishes on `from` until the subscriber gets the
 * message. Resolves with the payload received; rejects when time runs out.
 */
export async function publishUntilReceived(
  from: NatsConnection,
  to: NatsConnection,
  subject: string,
  opts: DeliveryOptions = {},
): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 100;
  const payload = opts.payload ?? `probe-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const sub = to.subscribe(subject, { max: 1 });
  let published = 0;
  let done = false;
  try {
    await to.flush();
    const received = (async () => {
      for await (const msg of sub) return new TextDecoder().decode(msg.data);
      throw new Error(`subscription to ${subject} closed before a message arrived`);
    })();
    void received.then(
      () => (done = true),
      () => (done = true),
    );
    const publisher = (async () => {
      const maxPublishes = Math.ceil(timeoutMs / intervalMs) + 1;
      for (; published < maxPublishes && !done; published++) {
        from.publish(subject, new TextEncoder().encode(payload));
        await sleep(intervalMs);
      }
    })();
    const text = await withTimeout(received, timeoutMs, `a message on ${subject} to arrive`, () => `published ${published} times`);
    done = true;
    await publisher;
    return text;
  } finally {
    done = true; // stops the publisher on failure too
    sub.unsubscribe();
  }
}
