/**
 * A raw HTTP/2-over-TLS client for hostile-input tests of an (m)TLS HTTP/2
 * listener. Node's own http2 client is too well-behaved for that: it queues
 * streams beyond the peer's SETTINGS_MAX_CONCURRENT_STREAMS, splits and
 * validates headers, and answers SETTINGS on its own. Here every frame is
 * written by hand (RFC 9113), and every frame the server sends back is
 * recorded so a test can assert on RST_STREAM / GOAWAY codes.
 *
 * Header blocks use only HPACK "literal header field without indexing — new
 * name" (RFC 7541 §6.2.2) with no Huffman coding: the server's dynamic table is
 * never touched, so each block decodes on its own and a test can send blocks in
 * any order, or drop some, without desynchronising the HPACK state.
 *
 * Loopback only, like the rest of the harness.
 */
import net from 'node:net';
import tls from 'node:tls';
import { assertLoopback } from './http-client.js';

// ------------------------------------------------------------ RFC 9113 constants

/** The client connection preface (RFC 9113 §3.4), sent before any frame. */
export const CONNECTION_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Frame types (RFC 9113 §6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (RFC 9113 §6). ACK shares bit 0x1 with END_STREAM; the frame type tells them apart. */
export const FrameFlag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes carried by RST_STREAM and GOAWAY (RFC 9113 §7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** Every frame starts with a 9-byte header: 24-bit length, type, flags, R + 31-bit stream id. */
export const FRAME_HEADER_BYTES = 9;
/**
 * SETTINGS_MAX_FRAME_SIZE's initial value. A server may advertise more, but it
 * must always accept this much, so outgoing header blocks are split at it.
 */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;

// ------------------------------------------------------------ encoding

export interface H2Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** One frame on the wire. The reserved bit of the stream id is always sent as 0. */
export function encodeFrame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > 0xffffff) throw new RangeError(`frame payload of ${payload.length} bytes does not fit 24 bits`);
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/**
 * HPACK integer with an N-bit prefix (RFC 7541 §5.1). `firstByte` carries the
 * bits above the prefix (the representation's pattern, or the Huffman flag).
 * Values that do not fit the prefix continue in 7-bit groups, least
 * significant first, so a 100 KiB header value's length is 3 bytes long.
 */
export function encodeHpackInteger(value: number, prefixBits: number, firstByte = 0): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`HPACK integer must be a non-negative integer, got ${value}`);
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const bytes = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** HPACK string literal (RFC 7541 §5.2), never Huffman-coded: H bit 0, 7-bit prefix length. */
function encodeHpackString(text: string): Buffer {
  // latin1 maps each char to one byte, so a test can send any octet (obs-text, NUL, CR/LF).
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([encodeHpackInteger(bytes.length, 7, 0x00), bytes]);
}

/**
 * A header block of "literal header field without indexing — new name"
 * representations (RFC 7541 §6.2.2: 0x00, then name and value strings).
 * Names are sent exactly as given: no lower-casing or validation, since
 * hostile tests want to send what a real client would not.
 */
export function encodeHeaderBlock(headers: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    parts.push(Buffer.from([0x00]), encodeHpackString(name), encodeHpackString(value));
  }
  return Buffer.concat(parts);
}

/**
 * A header block as HEADERS followed by as many CONTINUATION frames as it takes
 * to keep each payload within `maxFrameSize` (RFC 9113 §4.3). END_STREAM goes on
 * the HEADERS frame (it belongs to the stream, not the block); END_HEADERS on
 * the last frame only, and only if `endHeaders`.
 */
export function headerFrames(
  streamId: number,
  block: Buffer,
  { endStream = false, endHeaders = true, maxFrameSize = DEFAULT_MAX_FRAME_SIZE } = {},
): Buffer[] {
  const frames: Buffer[] = [];
  let offset = 0;
  do {
    const chunk = block.subarray(offset, offset + maxFrameSize);
    offset += chunk.length;
    const first = frames.length === 0;
    const last = offset >= block.length;
    let flags = 0;
    if (first && endStream) flags |= FrameFlag.END_STREAM;
    if (last && endHeaders) flags |= FrameFlag.END_HEADERS;
    frames.push(encodeFrame(first ? FrameType.HEADERS : FrameType.CONTINUATION, flags, streamId, chunk));
  } while (offset < block.length);
  return frames;
}

// ------------------------------------------------------------ connection

export interface RawH2ConnectOptions {
  host: string;
  port: number;
  /** Client key and certificate (PEM), for listeners that require mTLS. */
  key?: string | Buffer;
  cert?: string | Buffer;
  /** ALPN protocols offered; default ['h2']. */
  alpn?: string[];
  /** Deadline for the TLS handshake; default 5000 ms. */
  timeoutMs?: number;
  /**
   * Answer the server's SETTINGS with an ACK as they arrive (default true).
   * Tests of the window before the server's settings take effect pass false:
   * a server applies its own advertised limits only once they are acked.
   * An ACK is held back until our own preface SETTINGS are out and we are not
   * in the middle of a frame written piecemeal with write().
   */
  ackSettings?: boolean;
  /** SNI server name; default none for IP literals, `host` otherwise. */
  servername?: string;
}

export interface SendHeadersOptions {
  endStream?: boolean;
  /** Default true; false leaves the block open for sendContinuation(). */
  endHeaders?: boolean;
}

export interface RawH2Connection<S extends net.Socket = tls.TLSSocket> {
  /** The TLS socket, for checks such as `alpnProtocol` or `authorized` (a plain one for h2c). */
  readonly socket: S;
  /** Resolves when the socket has closed (for any reason; never rejects). */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  /** The last socket error (ECONNRESET, EPIPE…), recorded instead of thrown. */
  readonly error: Error | undefined;

  /** The client connection preface and an empty SETTINGS frame. */
  sendPreface(): void;
  sendSettingsAck(): void;
  /** HEADERS (+ CONTINUATION beyond 16 KiB) on `streamId`. */
  sendHeaders(streamId: number, headers: readonly (readonly [string, string])[], opts?: SendHeadersOptions): void;
  /** One CONTINUATION frame carrying `block` (already HPACK-encoded; see encodeHeaderBlock). */
  sendContinuation(streamId: number, block: Buffer, endHeaders: boolean): void;
  /** Bytes as they are, e.g. a frame from encodeFrame(). */
  sendRaw(buf: Buffer): void;
  /** A partial write (slowloris): any bytes, no framing. */
  write(bytes: Buffer | string): void;
  /**
   * `count` requests (HEADERS with END_STREAM) on odd stream ids from
   * `firstStreamId` (default 1: 1, 3, 5…) in a single socket write, so the
   * server reads them as one burst. Returns the stream ids used.
   */
  flood(count: number, headersFor: (streamId: number) => readonly (readonly [string, string])[], firstStreamId?: number): number[];

  /** Every frame received so far, in order. */
  frames(): H2Frame[];
  /** Stream id → error code of each RST_STREAM received (the last one per stream). */
  rstStreams(): Map<number, number>;
  /** The last GOAWAY received, if any. */
  goaway(): { lastStreamId: number; errorCode: number } | undefined;
  /** Stream ids that received a HEADERS frame (a response). */
  responses(): Set<number>;
  /** Polls `predicate` until true; rejects after `timeoutMs`, or at once if the socket closed first. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Sends FIN and waits for the socket to close; destroys it if the server has not closed within 250 ms. */
  close(): Promise<void>;
}

/** A TLS connection to an HTTP/2 listener; resolves once the handshake is done (rejects for a non-loopback host). */
export async function connectRawH2(opts: RawH2ConnectOptions): Promise<RawH2Connection> {
  assertLoopback(opts.host);
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const isIp = /^[\d.]+$|:/.test(opts.host);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: opts.host,
      port: opts.port,
      // Test listeners use throwaway certificates; what is under test is the server's side.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ALPNProtocols: opts.alpn ?? ['h2'],
      ...(opts.key !== undefined ? { key: opts.key } : {}),
      ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
      ...(opts.servername !== undefined ? { servername: opts.servername } : isIp ? {} : { servername: opts.host }),
    });
    // With TLS 1.3 the client finishes its handshake before the server has
    // checked the client certificate, so an mTLS rejection shows up after
    // this resolves, as an error/close on the connection.
    settleOnce(socket, 'secureConnect', `TLS handshake with ${opts.host}:${opts.port}`, timeoutMs, opts.ackSettings, resolve, reject);
  });
}

/** Resolves with a Connection once `ready` fires on the socket, or rejects on an error or after `timeoutMs`. */
function settleOnce<S extends net.Socket>(
  socket: S,
  ready: 'connect' | 'secureConnect',
  what: string,
  timeoutMs: number,
  ackSettings: boolean | undefined,
  resolve: (c: RawH2Connection<S>) => void,
  reject: (err: Error) => void,
): void {
  const timer = setTimeout(() => {
    socket.destroy();
    reject(new Error(`${what} timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  const onError = (err: Error): void => {
    clearTimeout(timer);
    socket.destroy();
    reject(err);
  };
  socket.once('error', onError);
  socket.once(ready, () => {
    clearTimeout(timer);
    socket.off('error', onError);
    resolve(new Connection(socket, ackSettings ?? true));
  });
}

/**
 * A cleartext (h2c, prior knowledge) connection; resolves once TCP is up.
 * Nothing is sent until the test says so.
 */
export async function connectRawH2c(opts: { host: string; port: number; ackSettings?: boolean; timeoutMs?: number }): Promise<RawH2Connection<net.Socket>> {
  assertLoopback(opts.host);
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: opts.host, port: opts.port });
    settleOnce(socket, 'connect', `connecting to ${opts.host}:${opts.port}`, timeoutMs, opts.ackSettings, resolve, reject);
  });
}

/**
 * Follows the bytes we have written (preface, then frame by frame) so that an
 * automatic SETTINGS ACK is only ever written between two whole frames. A test
 * writing a frame piecemeal (slowloris) would otherwise get an ACK spliced into
 * the middle of it, and the server would see garbage.
 */
class OutgoingCursor {
  private prefaceLeft = CONNECTION_PREFACE.length;
  private header = Buffer.alloc(0);
  private payloadLeft = 0;
  /** RFC 9113 §3.4: the client's preface ends with its SETTINGS; nothing may come before it. */
  settingsSent = false;

  advance(bytes: Buffer): void {
    let i = 0;
    while (i < bytes.length) {
      if (this.prefaceLeft > 0) {
        const n = Math.min(this.prefaceLeft, bytes.length - i);
        this.prefaceLeft -= n;
        i += n;
      } else if (this.payloadLeft > 0) {
        const n = Math.min(this.payloadLeft, bytes.length - i);
        this.payloadLeft -= n;
        i += n;
      } else {
        const part = bytes.subarray(i, i + FRAME_HEADER_BYTES - this.header.length);
        this.header = Buffer.concat([this.header, part]);
        i += part.length;
        if (this.header.length === FRAME_HEADER_BYTES) {
          this.payloadLeft = this.header.readUIntBE(0, 3);
          if (this.header.readUInt8(3) === FrameType.SETTINGS) this.settingsSent = true;
          this.header = Buffer.alloc(0);
        }
      }
    }
  }

  get atFrameBoundary(): boolean {
    return this.prefaceLeft === 0 && this.header.length === 0 && this.payloadLeft === 0;
  }
}

class Connection<S extends net.Socket> implements RawH2Connection<S> {
  readonly closed: Promise<void>;
  isClosed = false;
  error: Error | undefined;
  private readonly received: H2Frame[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private readonly outgoing = new OutgoingCursor();
  /** Server SETTINGS not yet acked, waiting for a frame boundary in what we write. */
  private acksOwed = 0;

  constructor(
    readonly socket: S,
    private readonly ackSettings: boolean,
  ) {
    // Hostile tests expect resets; record them rather than crash the test run.
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      });
    });
  }

  sendPreface(): void {
    this.sendRaw(Buffer.concat([CONNECTION_PREFACE, encodeFrame(FrameType.SETTINGS, 0, 0)]));
  }

  sendSettingsAck(): void {
    this.sendRaw(encodeFrame(FrameType.SETTINGS, FrameFlag.ACK, 0));
  }

  sendHeaders(streamId: number, headers: readonly (readonly [string, string])[], opts: SendHeadersOptions = {}): void {
    const block = encodeHeaderBlock(headers);
    this.sendRaw(Buffer.concat(headerFrames(streamId, block, opts)));
  }

  sendContinuation(streamId: number, block: Buffer, endHeaders: boolean): void {
    this.sendRaw(encodeFrame(FrameType.CONTINUATION, endHeaders ? FrameFlag.END_HEADERS : 0, streamId, block));
  }

  sendRaw(buf: Buffer): void {
    // Writing to a socket the server already closed would emit an error we
    // have recorded anyway; skip it so tests can keep sending blindly.
    if (this.socket.destroyed) return;
    this.socket.write(buf);
    this.outgoing.advance(buf);
    this.flushAcks();
  }

  write(bytes: Buffer | string): void {
    this.sendRaw(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  flood(count: number, headersFor: (streamId: number) => readonly (readonly [string, string])[], firstStreamId = 1): number[] {
    if (firstStreamId % 2 !== 1) throw new RangeError(`client stream ids are odd, got ${firstStreamId}`);
    const ids: number[] = [];
    const frames: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const id = firstStreamId + 2 * i;
      ids.push(id);
      frames.push(...headerFrames(id, encodeHeaderBlock(headersFor(id)), { endStream: true }));
    }
    this.sendRaw(Buffer.concat(frames));
    return ids;
  }

  frames(): H2Frame[] {
    return [...this.received];
  }

  rstStreams(): Map<number, number> {
    const out = new Map<number, number>();
    for (const f of this.received) {
      if (f.type === FrameType.RST_STREAM && f.payload.length >= 4) out.set(f.streamId, f.payload.readUInt32BE(0));
    }
    return out;
  }

  goaway(): { lastStreamId: number; errorCode: number } | undefined {
    let last: { lastStreamId: number; errorCode: number } | undefined;
    for (const f of this.received) {
      if (f.type === FrameType.GOAWAY && f.payload.length >= 8) {
        last = { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, errorCode: f.payload.readUInt32BE(4) };
      }
    }
    return last;
  }

  responses(): Set<number> {
    return new Set(this.received.filter((f) => f.type === FrameType.HEADERS).map((f) => f.streamId));
  }

  async waitFor(predicate: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (predicate()) return;
      // Every byte is handled before 'close' fires, so after close nothing can change.
      if (this.isClosed) throw new Error(`connection closed before ${what}; frames: ${this.describe()}`);
      if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; frames: ${this.describe()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    this.socket.end();
    // A peer that never answers our FIN must not hold the test up.
    const timer = setTimeout(() => this.socket.destroy(), 250);
    await this.closed;
    clearTimeout(timer);
  }

  /** Frame reader: the 9-byte header gives the length, then wait for the whole payload. */
  private onData(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= FRAME_HEADER_BYTES) {
      const length = this.pending.readUIntBE(0, 3);
      if (this.pending.length < FRAME_HEADER_BYTES + length) break;
      const frame: H2Frame = {
        type: this.pending.readUInt8(3),
        flags: this.pending.readUInt8(4),
        streamId: this.pending.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.pending.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length)),
      };
      this.pending = this.pending.subarray(FRAME_HEADER_BYTES + length);
      this.received.push(frame);
      if (this.ackSettings && frame.type === FrameType.SETTINGS && (frame.flags & FrameFlag.ACK) === 0) {
        this.acksOwed++;
      }
    }
    this.flushAcks();
  }

  /** Writes owed SETTINGS ACKs once our preface is out and no frame of ours is half-written. */
  private flushAcks(): void {
    if (this.acksOwed === 0 || !this.outgoing.settingsSent || !this.outgoing.atFrameBoundary) return;
    const acks = Array.from({ length: this.acksOwed }, () => encodeFrame(FrameType.SETTINGS, FrameFlag.ACK, 0));
    this.acksOwed = 0;
    this.sendRaw(Buffer.concat(acks));
  }

  /** A compact list of received frames for failure messages. */
  private describe(): string {
    const names = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k]));
    const text = this.received
      .map((f) => {
        const codeAt = f.type === FrameType.RST_STREAM ? 0 : f.type === FrameType.GOAWAY ? 4 : -1;
        const code = codeAt >= 0 && f.payload.length >= codeAt + 4 ? `:${f.payload.readUInt32BE(codeAt)}` : '';
        return `${names[f.type] ?? f.type}(${f.streamId}${code})`;
      })
      .slice(0, 40)
      .join(' ');
    return (text || '(none)') + (this.received.length > 40 ? ` …+${this.received.length - 40}` : '');
  }
}
