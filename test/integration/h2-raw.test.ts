/**
 * The raw HTTP/2 client of test/harness/h2-raw.ts against a plain Node
 * http2.createSecureServer, so the hostile-input tests built on it start from
 * known server behaviour. What Node (nghttp2) does, as asserted below:
 *  - a flood past maxConcurrentStreams before the client acks the server's
 *    SETTINGS: the excess streams get RST_STREAM REFUSED_STREAM, the
 *    connection lives on;
 *  - the same flood after the ack: a connection error, the socket is
 *    destroyed without a GOAWAY (the server sees sessionError 'Protocol error');
 *  - a header list over maxHeaderListSize (after the ack): RST_STREAM
 *    ENHANCE_YOUR_CALM on that stream only.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectRawH2, encodeHeaderBlock, encodeHpackInteger, ErrorCode, FrameFlag, FrameType, headerFrames, useHarness } from '../harness/index.js';

const h = useHarness();

const request = (streamId: number): [string, string][] =>
  [[':method', 'GET'], [':scheme', 'https'], [':authority', 'localhost'], [':path', `/s${streamId}`]];

/** A TLS HTTP/2 server with a fresh self-signed P-256 certificate; answers every stream with 200. */
async function startServer(settings: http2.Settings): Promise<number> {
  const dir = await h.tempDir('meshgate-h2raw-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost'], { cwd: dir, stdio: 'pipe' });
  const server = http2.createSecureServer({
    key: readFileSync(path.join(dir, 'key.pem')),
    cert: readFileSync(path.join(dir, 'cert.pem')),
    settings,
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  // Errors are the point of these tests; unhandled ones would fail the run.
  server.on('sessionError', () => {});
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  h.onCleanup(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const s of sessions) s.destroy();
  }), 'h2 test server');
  return (server.address() as AddressInfo).port;
}

/** Connects, sends the preface and waits for the server's SETTINGS (acked or not, per `ackSettings`). */
async function connect(port: number, ackSettings: boolean) {
  const conn = await connectRawH2({ host: '127.0.0.1', port, ackSettings });
  h.onCleanup(() => conn.close(), 'raw h2 connection');
  expect(conn.socket.alpnProtocol).toBe('h2');
  conn.sendPreface();
  const serverSettings = () => conn.frames().some((f) => f.type === FrameType.SETTINGS && (f.flags & FrameFlag.ACK) === 0);
  await conn.waitFor(serverSettings, 2_000, "the server's SETTINGS");
  return conn;
}

describe('raw HTTP/2 client against node:http2', () => {
  it('encodes HPACK integers per RFC 7541 C.1 and splits big blocks into CONTINUATION', () => {
    expect([...encodeHpackInteger(10, 5)]).toEqual([10]);
    expect([...encodeHpackInteger(1337, 5)]).toEqual([31, 154, 10]);
    const frames = headerFrames(1, Buffer.alloc(40_000), { endStream: true });
    expect(frames.map((f) => [f[3], f[4], f.length - 9])).toEqual([
      [FrameType.HEADERS, FrameFlag.END_STREAM, 16_384],
      [FrameType.CONTINUATION, 0, 16_384],
      [FrameType.CONTINUATION, FrameFlag.END_HEADERS, 7_232],
    ]);
  });

  it('a GET stream gets a response HEADERS', async () => {
    const conn = await connect(await startServer({}), true);
    conn.sendHeaders(1, request(1), { endStream: true });
    await conn.waitFor(() => conn.responses().has(1), 2_000, 'a response on stream 1');
  });

  it('a flood before the SETTINGS ack: streams past maxConcurrentStreams are refused, the connection lives', async () => {
    const conn = await connect(await startServer({ maxConcurrentStreams: 10 }), false);
    const ids = conn.flood(50, request);
    const [admitted, refused] = [ids.slice(0, 10), ids.slice(10)];
    await conn.waitFor(() => conn.rstStreams().size === 40 && conn.responses().size === 10, 2_000, '40 RST_STREAMs and 10 responses');
    expect([...conn.rstStreams()]).toEqual(refused.map((id) => [id, ErrorCode.REFUSED_STREAM]));
    expect([...conn.responses()].sort((a, b) => a - b)).toEqual(admitted);
    expect(conn.goaway()).toBeUndefined();
    expect(conn.isClosed).toBe(false);
  });

  it('a flood after the SETTINGS ack: the server drops the connection without a GOAWAY', async () => {
    const conn = await connect(await startServer({ maxConcurrentStreams: 10 }), true);
    await conn.waitFor(() => conn.frames().some((f) => f.type === FrameType.SETTINGS && (f.flags & FrameFlag.ACK) !== 0), 2_000, 'SETTINGS ACK');
    conn.flood(50, request);
    await conn.waitFor(() => conn.isClosed, 2_000, 'the server to close the connection');
    expect(conn.goaway()).toBeUndefined();
    expect(conn.rstStreams().size).toBe(0);
    expect([...conn.responses()].every((id) => id <= 19)).toBe(true);
  });

  it('a 100 KiB header block over CONTINUATION frames to maxHeaderListSize 16 KiB: RST_STREAM ENHANCE_YOUR_CALM', async () => {
    const conn = await connect(await startServer({ maxHeaderListSize: 16 * 1024 }), true);
    // 100 fields of ~1 KiB: under HPACK's per-field limits, over the list limit.
    const big: [string, string][] = Array.from({ length: 100 }, (_, i) => [`x-filler-${i}`, 'a'.repeat(1_024)]);
    expect(encodeHeaderBlock(big).length).toBeGreaterThan(100 * 1024);
    conn.sendHeaders(1, [...request(1), ...big], { endStream: true });
    conn.sendHeaders(3, request(3), { endStream: true });
    await conn.waitFor(() => conn.rstStreams().has(1) && conn.responses().has(3), 2_000, 'RST_STREAM on 1 and a response on 3');
    expect(conn.rstStreams().get(1)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(conn.responses().has(1)).toBe(false);
    expect(conn.goaway()).toBeUndefined();
  });
});
