import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  ALL_GATEWAYS,
  gatewayConfig,
  getJson,
  metricValue,
  metricWith,
  redisCli,
  startFederation,
  startRedis,
  useHarness,
  waitForService,
  waitUntil,
  type GatewayProcess,
} from '../harness/index.js';

const h = useHarness();

/** The port a gateway bound for a TCP service, from its `listening` line. */
function tcpPort(gw: GatewayProcess, service: string): number {
  const line = gw.logs().find((l) => l.msg === 'listening' && l.listener === 'tcp' && l.service === service);
  if (!line) throw new Error(`${service} has no tcp listener in the gateway's log`);
  return Number(String(line.address).split(':').pop());
}

/**
 * A client that keeps one connection open, as an app's connection pool does,
 * sending commands in RESP and reading integer, status or bulk-string replies.
 */
async function redisConnection(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  h.onCleanup(() => socket.destroy(), 'redis client connection');
  let buffered = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => (buffered += chunk.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  return {
    get closed() {
      return closed;
    },
    /** Ends the connection as a client that is done with it does, and waits for it to close. */
    async end(): Promise<void> {
      socket.end();
      await waitUntil(() => closed, { timeoutMs: 10_000, what: 'the connection to close' });
    },
    async command(...args: string[]): Promise<string> {
      const line = args.join(' ').slice(0, 40);
      buffered = '';
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
      let reply: string | undefined;
      await waitUntil(
        () => {
          reply = parseReply(buffered);
          if (reply === undefined && closed) throw new Error(`the connection closed before a reply to ${line}`);
          return reply !== undefined;
        },
        { timeoutMs: 10_000, intervalMs: 10, what: `a reply to ${line}` },
      );
      return reply as string;
    },
  };
}

function parseReply(text: string): string | undefined {
  const eol = text.indexOf('\r\n');
  if (eol === -1) return undefined;
  const head = text.slice(0, eol);
  if (head[0] !== '$') return head.slice(1);
  const length = Number(head.slice(1));
  if (length < 0) return '(nil)';
  return text.length >= eol + 2 + length + 2 ? text.slice(eol + 2, eol + 2 + length) : undefined;
}

const exported = (address: string, extra: Record<string, unknown> = {}) => ({
  protocol: 'tcp',
  listen: '127.0.0.1:0',
  endpoints: [address],
  export: true,
  allow: [ALL_GATEWAYS],
  healthCheck: { interval: '300ms' },
  ...extra,
});

describe('TCP services', () => {
  it("redis-cli reaches, through cluster a, a Redis that runs only in cluster b: one CONNECT stream per connection over the mTLS session", async () => {
    const redisB = await startRedis(h, 'b');
    const { gw } = await startFederation(h, {
      clusters: ['a', 'b'],
      services: (c) => ({ cache: c === 'a' ? { protocol: 'tcp', listen: '127.0.0.1:0' } : exported(redisB.address) }),
    });
    await waitForService(gw('a'), 'cache', 'b');
    const port = tcpPort(gw('a'), 'cache');

    expect(await redisCli(port, 'SET', 'greeting', 'hello from a')).toBe('OK');
    expect(await redisCli(redisB.port, 'GET', 'greeting')).toBe('hello from a');
    expect(await redisCli(port, 'GET', 'greeting')).toBe('hello from a');
    // A value larger than any one HTTP/2 frame or socket read.
    const big = 'x'.repeat(300_000);
    const conn = await redisConnection(port);
    expect(await conn.command('SET', 'big', big)).toBe('OK');
    expect(await conn.command('STRLEN', 'big')).toBe('300000');
    await conn.end();

    // HTTP for a TCP service is refused with a reason.
    const res = await gw('a').request('cache', '/');
    expect(res.status).toBe(400);
    expect(res.headers['meshgate-error']).toBe('bad-request');

    expect(await metricWith(gw('a'), 'meshgate_tcp_connections_total', { service: 'cache', cluster: 'b', outcome: 'connected' })).toBe(3);
    // Counted when a connection ends: all three have, or are about to.
    await waitUntil(async () => (await metricWith(gw('a'), 'meshgate_tcp_bytes_total', { service: 'cache', cluster: 'b', direction: 'sent' })) > 300_000, {
      timeoutMs: 5_000,
      what: 'the bytes sent to b counted',
    });
    expect(await metricWith(gw('a'), 'meshgate_tcp_bytes_total', { service: 'cache', cluster: 'b', direction: 'received' })).toBeGreaterThan(20);
    expect(await metricWith(gw('b'), 'meshgate_federation_tcp_tunnels_total', { service: 'cache', outcome: 'connected' })).toBe(3);
  });

  it('a local Redis serves while it is up; stopped, every new connection is served by b; a connection once made is never moved', async () => {
    const [redisA, redisB] = await Promise.all([startRedis(h, 'a'), startRedis(h, 'b')]);
    const { gw } = await startFederation(h, {
      clusters: ['a', 'b'],
      services: (c) => ({ kv: exported(c === 'a' ? redisA.address : redisB.address) }),
    });
    await waitForService(gw('a'), 'kv', 'b');
    await redisCli(redisA.port, 'SET', 'where', 'a');
    await redisCli(redisB.port, 'SET', 'where', 'b');
    const port = tcpPort(gw('a'), 'kv');
    expect(await redisCli(port, 'GET', 'where')).toBe('a');
    const heldOnA = await redisConnection(port);
    expect(await heldOnA.command('GET', 'where')).toBe('a');

    await redisA.stop();
    // From the moment it stops, before any health check has noticed: a refused connect tries b.
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) answers.push(await redisCli(port, 'GET', 'where'));
    expect(answers).toEqual(Array(20).fill('b'));
    // The connection to the Redis that stopped ends with it.
    await waitUntil(() => heldOnA.closed, { timeoutMs: 10_000, what: 'the connection held to the stopped Redis to close' });

    const heldOnB = await redisConnection(port);
    expect(await heldOnB.command('GET', 'where')).toBe('b');

    // Down long enough for its check to fail: coming back, it passes again, which ends its ejection.
    await waitUntil(async () => (await getJson<Record<string, Record<string, { state: string }>>>(`${gw('a').adminUrl}/debug/endpoints`)).kv?.[redisA.address]?.state === 'unhealthy', {
      timeoutMs: 10_000,
      what: "a's check to find its Redis down",
    });
    await redisA.restart();
    await redisCli(redisA.port, 'SET', 'where', 'a');
    await waitUntil(async () => (await getJson<{ failback: { phase: string } }>(`${gw('a').adminUrl}/debug/routes?service=kv`)).failback.phase === 'steady', {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'failback to a to finish',
    });
    await waitUntil(async () => (await redisCli(port, 'GET', 'where')) === 'a', { timeoutMs: 10_000, what: 'new connections on a again' });
    // Established before the failback, it stays with b.
    expect(await heldOnB.command('GET', 'where')).toBe('b');
    expect(heldOnB.closed).toBe(false);

    expect(await metricWith(gw('a'), 'meshgate_tcp_connections_total', { service: 'kv', cluster: 'b', outcome: 'connected' })).toBeGreaterThanOrEqual(21);
    expect(await metricWith(gw('a'), 'meshgate_tcp_connections_total', { service: 'kv', cluster: 'a', outcome: 'connected' })).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it('half-close passes both ways through the tunnel, an idle connection is closed, and a caller the allow list leaves out is refused', async () => {
    // Reads until the client's FIN, then answers with what it read and ends: only a relay that keeps half-open connections passes this.
    const counter = net.createServer({ allowHalfOpen: true }, (socket) => {
      let n = 0;
      socket.on('data', (chunk: Buffer) => (n += chunk.length));
      socket.on('end', () => socket.end(`read ${n} bytes`));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => counter.listen(0, '127.0.0.1', resolve));
    h.onCleanup(() => new Promise((resolve) => counter.close(resolve)), 'counting server');
    const address = `127.0.0.1:${(counter.address() as net.AddressInfo).port}`;

    const { gw } = await startFederation(h, {
      clusters: ['a', 'b'],
      services: (c) =>
        c === 'a'
          ? { count: { protocol: 'tcp', listen: '127.0.0.1:0', timeouts: { idle: '1s' } }, secret: { protocol: 'tcp', listen: '127.0.0.1:0' } }
          : {
              count: exported(address, { timeouts: { idle: '1s' } }),
              secret: exported(address, { allow: ['spiffe://c.test.example/meshgate/gateway/*/*'] }),
            },
    });
    await waitForService(gw('a'), 'count', 'b');
    await waitForService(gw('a'), 'secret', 'b');

    const payload = Buffer.alloc(200_000, 7);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: tcpPort(gw('a'), 'count'), allowHalfOpen: true });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => {
        socket.end();
        resolve(text);
      });
      socket.on('error', reject);
      // Our FIN goes first; the answer can only come after it.
      socket.end(payload);
    });
    expect(answer).toBe('read 200000 bytes');

    const idle = net.connect({ host: '127.0.0.1', port: tcpPort(gw('a'), 'count') });
    idle.on('error', () => {});
    const openedAt = Date.now();
    await new Promise((resolve) => idle.once('close', resolve));
    // Closed for having carried nothing for a second (the deadline is generous: the bound is the timer's, not ours).
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(900);

    const refused = net.connect({ host: '127.0.0.1', port: tcpPort(gw('a'), 'secret') });
    refused.on('error', () => {});
    let received = 0;
    refused.on('data', (chunk: Buffer) => (received += chunk.length));
    await new Promise((resolve) => refused.once('close', resolve));
    expect(received).toBe(0);
    expect(await metricValue(gw('b'), 'meshgate_federation_denied_total', 'spiffe://a.test.example/meshgate/gateway/a/r1')).toBe(1);
    expect(await metricWith(gw('a'), 'meshgate_tcp_connections_total', { service: 'secret', cluster: '', outcome: 'forbidden' })).toBe(1);
    expect(await metricWith(gw('b'), 'meshgate_federation_tcp_tunnels_total', { service: 'secret', outcome: 'forbidden' })).toBe(1);
  });

  it('a reload opens the port of a TCP service it adds and closes the port of one it removes; open connections stay', async () => {
    const [redisA, redisB] = await Promise.all([startRedis(h, 'a'), startRedis(h, 'b')]);
    await redisCli(redisA.port, 'SET', 'where', 'a');
    await redisCli(redisB.port, 'SET', 'where', 'b');
    const tcp = (redis: string) => ({ protocol: 'tcp', listen: '127.0.0.1:0', endpoints: [redis] });
    const gw = await h.gateway(gatewayConfig({ first: tcp(redisA.address) }));
    const first = tcpPort(gw, 'first');
    const held = await redisConnection(first);
    expect(await held.command('GET', 'where')).toBe('a');

    const reload = async (services: Record<string, unknown>, logLine: RegExp) => {
      await writeFile(gw.configPath, stringify(gatewayConfig(services)));
      gw.process.kill('SIGHUP');
      await gw.process.waitForLine(logLine, 10_000);
    };
    await reload({ first: tcp(redisA.address), second: tcp(redisB.address) }, /"listener":"tcp","service":"second"/);
    expect(await redisCli(tcpPort(gw, 'second'), 'GET', 'where')).toBe('b');
    expect(await held.command('GET', 'where')).toBe('a');

    await reload({ second: tcp(redisB.address) }, /"servicesChanged":\["first"\]/);
    await expect(redisCli(first, 'PING')).rejects.toThrow(/Connection refused/);
    // Its port is closed, its open connection is not.
    expect(await held.command('GET', 'where')).toBe('a');
    expect(held.closed).toBe(false);
  });
});
