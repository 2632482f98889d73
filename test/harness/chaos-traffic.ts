/**
 * Steady mixed traffic from "apps" into one gateway's local listener, for
 * chaos tests: HTTP GETs, PUTs with small (replayable) bodies, large uploads
 * and downloads, gRPC server-streaming calls, and clients that give up on a
 * slow request. Every request carries an `x-chaos-id` header (gRPC metadata)
 * so a test can see which endpoint received it, and ends in one
 * RequestOutcome saying whether it fully succeeded and, if not, how it failed.
 *
 * One request is started every `intervalMs` while fewer than `maxInFlight`
 * are open (otherwise the slot is skipped and counted); kinds and sizes come
 * from the seeded generator, so a seed gives the same sequence of requests.
 * Every request has the client's own deadline: none can hang the test.
 */
import http from 'node:http';
import type { EchoClient, GrpcCallError } from './grpc-client.js';
import { patternBytes } from './backends.js';
import type { SeededRandom } from './seeded-random.js';
import { parseHostPort } from '../../src/config/index.js';

export type RequestKind = 'get' | 'put' | 'download' | 'upload' | 'grpc-stream' | 'give-up' | 'deadline' | 'remote-get';
export const REQUEST_KINDS: readonly RequestKind[] = ['get', 'put', 'download', 'upload', 'grpc-stream', 'give-up', 'deadline', 'remote-get'];

export interface RequestOutcome {
  readonly id: string;
  readonly kind: RequestKind;
  readonly service: string;
  /** What was asked, e.g. "PUT 12345 B". */
  readonly what: string;
  readonly startedAt: number;
  endedAt: number;
  ok: boolean;
  /**
   * The client gave up on purpose: a give-up request it hung up on before
   * any answer, or a deadline request that got the gateway's 504 for it.
   */
  gaveUp: boolean;
  /** HTTP status, or the gRPC status code. */
  status: number | undefined;
  meshgateError: string | undefined;
  /** How it failed, when it did. */
  error: string | undefined;
  /** The response head (HTTP) or a first message (gRPC) had arrived. */
  responseStarted: boolean;
  /** The endpoint that answered (x-backend, or the gRPC reply's backend). */
  servedBy: string | undefined;
}

export interface TrafficOptions {
  /** host:port of the gateway's local listener. */
  readonly localAddress: string;
  readonly httpService: string;
  readonly grpcService: string;
  /**
   * An HTTP service only other clusters run: 'give-up', 'deadline' and
   * 'remote-get' requests go there, so that they always cross to another
   * cluster (whose only gateway replica a client giving up must not get ejected).
   */
  readonly remoteService: string;
  /** An Echo client on the same gateway whose default authority is `grpcService`. */
  readonly grpc: EchoClient;
  readonly random: SeededRandom;
  readonly intervalMs: number;
  readonly maxInFlight: number;
  readonly weights: Readonly<Record<RequestKind, number>>;
  /** Small PUT bodies: at most 64 KiB, so the gateway may buffer and replay them. */
  readonly putBytes: readonly [number, number];
  /** Large uploads and downloads. */
  readonly largeBytes: readonly [number, number];
  /**
   * When a give-up client hangs up, and the budget a deadline client sets in
   * `meshgate-deadline`; both ask the endpoint for a far longer wait.
   */
  readonly giveUpAfterMs: number;
  /** Deadline requests are sent this many at once. */
  readonly deadlineBurst: number;
  /** The client's own deadline for any request, connect to last byte. */
  readonly deadlineMs: number;
}

const SLOW_MS = 3_000;

export class SteadyTraffic {
  readonly outcomes: RequestOutcome[] = [];
  /** Slots skipped because maxInFlight requests were open. */
  skipped = 0;
  private readonly pending = new Set<Promise<void>>();
  private readonly pattern: Buffer;
  private readonly uploadBody: Buffer;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;

  constructor(private readonly opts: TrafficOptions) {
    const max = opts.largeBytes[1];
    this.pattern = patternBytes(0, max);
    this.uploadBody = Buffer.alloc(max, 0x5a);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
  }

  /** Stops starting requests and waits for the open ones (each bounded by the client deadline). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.pending]);
  }

  private tick(): void {
    const { random } = this.opts;
    // Drawn whether or not the slot is used, so the sequence stays the seed's.
    const kind = random.weighted(this.opts.weights);
    const size = Math.round(random.between(...(kind === 'put' ? this.opts.putBytes : this.opts.largeBytes)));
    const count = random.int(5, 15);
    const intervalMs = random.int(20, 50);
    if (this.pending.size >= this.opts.maxInFlight) {
      this.skipped++;
      return;
    }
    // An app with a short deadline fans out: its calls give up together.
    const copies = kind === 'deadline' ? this.opts.deadlineBurst : 1;
    for (let i = 0; i < copies; i++) {
      const id = `r${++this.seq}`;
      const p = this.send(id, kind, size, count, intervalMs).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  private send(id: string, kind: RequestKind, size: number, count: number, intervalMs: number): Promise<void> {
    const service = kind === 'grpc-stream' ? this.opts.grpcService : kind === 'deadline' || kind === 'remote-get' || kind === 'give-up' ? this.opts.remoteService : this.opts.httpService;
    const what =
      kind === 'get' || kind === 'remote-get' ? 'GET /echo'
      : kind === 'put' ? `PUT /echo ${size} B`
      : kind === 'download' ? `GET /download ${size} B`
      : kind === 'upload' ? `POST /upload ${size} B`
      : kind === 'grpc-stream' ? `ServerStream ${count} × ${intervalMs} ms`
      : kind === 'give-up' ? `GET /slow, hang up after ${this.opts.giveUpAfterMs} ms`
      : `GET /slow with meshgate-deadline ${this.opts.giveUpAfterMs}`;
    const o: RequestOutcome = {
      id, kind, service, what, startedAt: Date.now(), endedAt: 0, ok: false, gaveUp: false,
      status: undefined, meshgateError: undefined, error: undefined, responseStarted: false, servedBy: undefined,
    };
    this.outcomes.push(o);
    switch (kind) {
      case 'get':
      case 'remote-get':
        return this.http(o, 'GET', `/echo?id=${o.id}`, undefined, (status) => (status === 200 ? undefined : `status ${status}`));
      case 'put':
        return this.http(o, 'PUT', `/echo?id=${o.id}`, this.uploadBody.subarray(0, size), (status, _bytes, text) =>
          status !== 200 ? `status ${status}` : bodyField(text, 'bodyBytes') === size ? undefined : `endpoint saw ${String(bodyField(text, 'bodyBytes'))} of ${size} bytes`,
        );
      case 'upload':
        return this.http(o, 'POST', `/upload?id=${o.id}`, this.uploadBody.subarray(0, size), (status, _bytes, text) =>
          status !== 200 ? `status ${status}` : bodyField(text, 'bytes') === size ? undefined : `endpoint saw ${String(bodyField(text, 'bytes'))} of ${size} bytes`,
        );
      case 'download':
        return this.http(
          o,
          'GET',
          `/download?bytes=${size}&id=${o.id}`,
          undefined,
          (status, bytes, _text, mismatchAt) =>
            status !== 200 ? `status ${status}`
            : bytes !== size ? `${bytes} of ${size} bytes`
            : mismatchAt !== undefined ? `wrong bytes from offset ${mismatchAt}`
            : undefined,
          { verifyPattern: true },
        );
      case 'give-up':
        return this.http(o, 'GET', `/slow?ms=${SLOW_MS}&id=${o.id}`, undefined, (status) => (status === 200 ? undefined : `status ${status}`), {
          giveUpAfterMs: this.opts.giveUpAfterMs,
        });
      case 'deadline':
        // The gateway answers 504 once the app's own budget is spent: that is the app giving up.
        return this.http(
          o,
          'GET',
          `/slow?ms=${SLOW_MS}&id=${o.id}`,
          undefined,
          (status) => (status === 200 ? undefined : `status ${status}`),
          { headers: { 'meshgate-deadline': String(this.opts.giveUpAfterMs) } },
        ).then(() => {
          if (o.status === 504 && (o.meshgateError === 'upstream-timeout' || o.meshgateError === 'deadline-exceeded')) o.gaveUp = true;
        });
      case 'grpc-stream':
        return this.grpcStream(o, count, intervalMs);
    }
  }

  private http(
    o: RequestOutcome,
    method: string,
    path: string,
    body: Buffer | undefined,
    check: (status: number, bytes: number, text: string, mismatchAt: number | undefined) => string | undefined,
    opts: { verifyPattern?: boolean; giveUpAfterMs?: number; headers?: Record<string, string> } = {},
  ): Promise<void> {
    const { host, port } = parseHostPort(this.opts.localAddress);
    return new Promise((resolve) => {
      let settled = false;
      const finish = (fields: Partial<RequestOutcome>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        clearTimeout(giveUp);
        Object.assign(o, fields, { endedAt: Date.now() });
        resolve();
      };
      const headers: Record<string, string> = { ...opts.headers, host: o.service, 'x-chaos-id': o.id };
      if (body) headers['content-length'] = String(body.length);
      const req = http.request({ host, port, method, path, headers, agent: false });
      let received = 0;
      const deadline = setTimeout(() => {
        const got = o.responseStarted ? ` (status ${o.status ?? '?'}, ${received} bytes of body so far)` : ' (no response head)';
        finish({ ok: false, error: `no complete answer within the client's ${this.opts.deadlineMs} ms${got}` });
        req.destroy();
      }, this.opts.deadlineMs);
      const giveUp =
        opts.giveUpAfterMs === undefined
          ? undefined
          : setTimeout(() => {
              finish({ ok: false, gaveUp: true });
              req.destroy();
            }, opts.giveUpAfterMs);
      req.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, error: `${err.code ?? 'error'}: ${err.message}` }));
      req.on('response', (res) => {
        o.responseStarted = true;
        o.status = res.statusCode;
        o.meshgateError = headerString(res.headers['meshgate-error']);
        o.servedBy = headerString(res.headers['x-backend']);
        let bytes = 0;
        let mismatchAt: number | undefined;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          if (opts.verifyPattern) {
            if (mismatchAt === undefined && !chunk.equals(this.pattern.subarray(bytes, bytes + chunk.length))) mismatchAt = bytes;
          } else if (bytes < 64 * 1024) {
            chunks.push(chunk);
          }
          bytes += chunk.length;
          received = bytes;
        });
        res.on('end', () => {
          const problem = check(res.statusCode ?? 0, bytes, Buffer.concat(chunks).toString('utf8'), mismatchAt);
          finish({ ok: problem === undefined, error: problem });
        });
        res.on('error', () => {});
        res.on('close', () => {
          if (!res.complete) finish({ ok: false, error: `the response broke off after ${bytes} bytes` });
        });
      });
      req.end(body);
    });
  }

  private async grpcStream(o: RequestOutcome, count: number, intervalMs: number): Promise<void> {
    try {
      const result = await this.opts.grpc.serverStream(
        { message: o.id, count, interval_ms: intervalMs },
        { metadata: { 'x-chaos-id': o.id }, deadlineMs: this.opts.deadlineMs },
      );
      const indices = result.replies.map((r) => r.index);
      const inOrder = indices.length === count && indices.every((x, i) => x === i);
      Object.assign(o, {
        ok: inOrder,
        status: result.status.code,
        responseStarted: result.replies.length > 0,
        servedBy: result.replies[0]?.backend,
        error: inOrder ? undefined : `replies ${indices.join(',')} of ${count}`,
      });
    } catch (err) {
      const e = err as GrpcCallError;
      Object.assign(o, {
        ok: false,
        status: e.code,
        meshgateError: metadataString(e, 'meshgate-error'),
        responseStarted: (e.replies?.length ?? 0) > 0,
        servedBy: e.replies?.[0]?.backend,
        error: `gRPC ${e.code}: ${e.details ?? e.message} after ${e.replies?.length ?? 0} of ${count} replies`,
      });
    } finally {
      o.endedAt = Date.now();
    }
  }
}

function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function metadataString(err: GrpcCallError, key: string): string | undefined {
  const values = err.metadata?.get(key) ?? [];
  return values.length > 0 ? values.map(String).join(', ') : undefined;
}

function bodyField(text: string, field: string): unknown {
  try {
    return (JSON.parse(text) as Record<string, unknown>)[field];
  } catch {
    return undefined;
  }
}
