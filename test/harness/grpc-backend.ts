/**
 * A real @grpc/grpc-js server for the Echo service, on 127.0.0.1 with insecure
 * credentials, standing in for a gRPC endpoint behind a gateway. Requests can
 * ask it to fail with a status and trailers; replies carry its name.
 */
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import {
  echoServiceConstructor,
  metadataToRecord,
  recordToMetadata,
  type EchoReply,
  type EchoRequest,
  type Filled,
  type StreamRequest,
} from './grpc-echo.js';

export interface GrpcBackendOptions {
  /** Returned in every reply's `backend` field. */
  name?: string;
  /** Called as each call arrives, with its method and request metadata (e.g. to see where a request went). */
  onCall?: (method: string, metadata: Readonly<Record<string, string>>) => void;
}

export interface GrpcCallLog {
  /** Calls received, all methods. */
  readonly count: number;
  readonly byMethod: Readonly<Record<string, number>>;
  /** Request metadata of the latest call. */
  readonly lastMetadata: Readonly<Record<string, string>> | undefined;
}

export interface GrpcBackend {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** '127.0.0.1:PORT', usable as a grpc-js target. */
  readonly address: string;
  readonly calls: GrpcCallLog;
  /** grpc.health.v1 Check calls received (not counted in `calls`). */
  readonly healthChecks: number;
  /** Refuses new calls and waits (up to 5 s) for running ones, then forces. */
  close(): Promise<void>;
  /** Closes the listener and every connection at once. */
  stop(): Promise<void>;
  /** Serves again on the same port after stop()/close(). */
  restart(): Promise<void>;
  /** What grpc.health.v1 Check answers: SERVING (the default) or NOT_SERVING. */
  setServing(serving: boolean): void;
}

type Req = Filled<EchoRequest>;
type SReq = Filled<StreamRequest>;

const GRACEFUL_SHUTDOWN_MS = 5_000;

export async function startGrpcBackend(opts: GrpcBackendOptions = {}): Promise<GrpcBackend> {
  const backend = new Backend(opts.name ?? 'grpc-backend', opts.onCall);
  await backend.bind(0);
  return backend;
}

class CallLog implements GrpcCallLog {
  count = 0;
  byMethod: Record<string, number> = {};
  lastMetadata: Record<string, string> | undefined;
  constructor(private readonly onCall?: (method: string, metadata: Readonly<Record<string, string>>) => void) {}
  record(method: string, metadata: grpc.Metadata): void {
    this.count++;
    this.byMethod[method] = (this.byMethod[method] ?? 0) + 1;
    this.lastMetadata = metadataToRecord(metadata);
    this.onCall?.(method, this.lastMetadata);
  }
}

class Backend implements GrpcBackend {
  readonly host = '127.0.0.1';
  port = 0;
  readonly calls: CallLog;
  healthChecks = 0;
  private server: grpc.Server | undefined;
  private serving = true;

  constructor(
    readonly name: string,
    onCall?: (method: string, metadata: Readonly<Record<string, string>>) => void,
  ) {
    this.calls = new CallLog(onCall);
  }

  setServing(serving: boolean): void {
    this.serving = serving;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  async bind(port: number): Promise<void> {
    const server = new grpc.Server();
    server.addService(echoServiceConstructor().service, this.implementation());
    server.addService(healthServiceConstructor().service, {
      Check: (_call: unknown, callback: grpc.sendUnaryData<{ status: string }>) => {
        this.healthChecks++;
        callback(null, { status: this.serving ? 'SERVING' : 'NOT_SERVING' });
      },
    });
    this.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${this.host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      );
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, GRACEFUL_SHUTDOWN_MS);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  async restart(): Promise<void> {
    if (this.server) throw new Error(`${this.name} is still serving on ${this.address}: stop() it first`);
    await this.bind(this.port);
  }

  private reply(message: string, index: number, metadata: grpc.Metadata): EchoReply {
    return { message, backend: this.name, index, headers: metadataToRecord(metadata) };
  }

  private implementation(): grpc.UntypedServiceImplementation {
    return {
      Unary: async (call: grpc.ServerUnaryCall<Req, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
        this.calls.record('Unary', call.metadata);
        const req = call.request;
        if (req.delay_ms > 0 && !(await delayUnlessCancelled(call, req.delay_ms))) return;
        const trailers = recordToMetadata(req.trailers);
        if (req.fail_code) {
          callback({ code: req.fail_code, details: req.fail_message, metadata: trailers });
          return;
        }
        callback(null, this.reply(req.message, 0, call.metadata), trailers);
      },

      ServerStream: async (call: grpc.ServerWritableStream<SReq, EchoReply>) => {
        this.calls.record('ServerStream', call.metadata);
        const req = call.request;
        for (let i = 0; i < req.count; i++) {
          if (call.cancelled) return;
          if (i > 0 && req.interval_ms > 0 && !(await delayUnlessCancelled(call, req.interval_ms))) return;
          if (!call.write(this.reply(req.message, i, call.metadata))) {
            await new Promise((resolve) => call.once('drain', resolve));
          }
        }
        endCall(call, req);
      },

      ClientStream: (call: grpc.ServerReadableStream<Req, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
        this.calls.record('ClientStream', call.metadata);
        const messages: string[] = [];
        let failure: Req | undefined;
        let trailers: Record<string, string> = {};
        call.on('data', (req: Req) => {
          messages.push(req.message);
          trailers = { ...trailers, ...req.trailers };
          if (req.fail_code && !failure) failure = req;
        });
        call.on('end', () => {
          const metadata = recordToMetadata(trailers);
          if (failure) callback({ code: failure.fail_code, details: failure.fail_message, metadata });
          else callback(null, this.reply(messages.join(' '), messages.length, call.metadata), metadata);
        });
      },

      Bidi: (call: grpc.ServerDuplexStream<Req, EchoReply>) => {
        this.calls.record('Bidi', call.metadata);
        let index = 0;
        let done = false;
        let trailers: Record<string, string> = {};
        call.on('data', (req: Req) => {
          if (done) return;
          trailers = { ...trailers, ...req.trailers };
          if (req.fail_code) {
            done = true;
            endCall(call, { ...req, trailers });
            return;
          }
          call.write(this.reply(req.message, index++, call.metadata));
        });
        call.on('end', () => {
          if (done) return;
          done = true;
          call.end(recordToMetadata(trailers));
        });
      },
    };
  }
}

/** Ends a server-side stream with OK or the requested failure, with the requested trailers. */
function endCall(
  call: grpc.ServerWritableStream<unknown, EchoReply> | grpc.ServerDuplexStream<unknown, EchoReply>,
  req: { fail_code: number; fail_message: string; trailers: Record<string, string> },
): void {
  const metadata = recordToMetadata(req.trailers);
  if (req.fail_code) {
    // grpc-js turns an 'error' event into the call's status (code, details, trailers).
    call.emit('error', { code: req.fail_code, details: req.fail_message, metadata });
  } else {
    call.end(metadata);
  }
}

/** Resolves true after `ms`, false as soon as the client cancels (no timer left behind). */
function delayUnlessCancelled(call: { once(event: 'cancelled', fn: () => void): unknown; off(event: 'cancelled', fn: () => void): unknown; cancelled: boolean }, ms: number): Promise<boolean> {
  if (call.cancelled) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onCancel = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      call.off('cancelled', onCancel);
      resolve(true);
    }, ms);
    call.once('cancelled', onCancel);
  });
}

// The gateway's own copy of grpc.health.v1: the harness speaks what real services speak.
const HEALTH_PROTO = fileURLToPath(new URL('../../src/gateway/control/health.proto', import.meta.url));
let healthService: grpc.ServiceClientConstructor | undefined;
function healthServiceConstructor(): grpc.ServiceClientConstructor {
  healthService ??= (
    grpc.loadPackageDefinition(protoLoader.loadSync(HEALTH_PROTO, { keepCase: true, enums: String })) as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    }
  ).grpc.health.v1.Health;
  return healthService;
}

/** How one call to a stalling backend ended, as the backend saw it. */
export interface StalledCall {
  /** Request headers as received (the gateway's `grpc-timeout`, if any, is here). */
  readonly headers: Readonly<Record<string, string>>;
  /** Replies written before the call stalled. */
  sent: number;
  /** Undefined while the call is open; then the RST_STREAM code it was closed with (8 = CANCEL). */
  closedWith: number | undefined;
}

export interface StallingGrpcBackend {
  readonly host: string;
  readonly port: number;
  readonly address: string;
  /** Every ServerStream call, in arrival order. */
  readonly calls: readonly StalledCall[];
  stop(): Promise<void>;
}

/**
 * An Echo endpoint whose ServerStream sends `count` replies `interval_ms`
 * apart and then neither sends nor ends: a handler stuck on something that
 * ignores its context. It speaks gRPC over h2c with node:http2 rather than
 * grpc-js because grpc-js ends a call itself when the caller's grpc-timeout
 * passes, which would hide whether a proxy in front honours the deadline;
 * grpc-go and grpc-java servers leave that to the handler. Only the client
 * (here: a gateway) can end such a call, with RST_STREAM, which is recorded.
 */
export async function startStallingGrpcBackend(): Promise<StallingGrpcBackend> {
  const method = echoServiceConstructor().service['ServerStream'] as grpc.MethodDefinition<SReq, EchoReply>;
  const calls: StalledCall[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (headers[':path'] !== method.path) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(grpc.status.UNIMPLEMENTED) }, { endStream: true });
      return;
    }
    const call: StalledCall = { headers: stringRecord(headers), sent: 0, closedWith: undefined };
    calls.push(call);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('close', () => (call.closedWith = stream.rstCode));
    stream.once('end', () => {
      const body = Buffer.concat(chunks);
      const req = method.requestDeserialize(body.subarray(5));
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      const send = () => {
        if (stream.closed || call.sent >= req.count) return;
        const message = method.responseSerialize({ message: req.message, backend: 'stalling', index: call.sent, headers: {} });
        const frame = Buffer.alloc(5 + message.length);
        frame.writeUInt32BE(message.length, 1);
        message.copy(frame, 5);
        stream.write(frame);
        call.sent++;
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
        }, req.interval_ms);
        timers.add(timer);
      };
      send();
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    calls,
    async stop() {
      for (const timer of timers) clearTimeout(timer);
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function stringRecord(headers: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  return out;
}
