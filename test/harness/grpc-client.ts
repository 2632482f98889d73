/**
 * A promise-friendly client for the Echo service (insecure credentials, loopback
 * only). Every call has a deadline, so no test waits forever on a stuck call;
 * results carry the trailing metadata, and failures are grpc-js ServiceErrors
 * (code, details, metadata = trailers) plus any stream replies that came first.
 */
import * as grpc from '@grpc/grpc-js';
import { assertLoopback } from './http-client.js';
import { echoServiceConstructor, recordToMetadata, type EchoReply, type EchoRequest, type StreamRequest } from './grpc-echo.js';

export interface GrpcCallOptions {
  /** Request metadata. */
  metadata?: Record<string, string> | grpc.Metadata;
  /** Deadline from now; default 30 s. */
  deadlineMs?: number;
}

export interface UnaryResult {
  reply: EchoReply;
  trailers: grpc.Metadata;
  status: grpc.StatusObject;
}

export interface StreamResult {
  replies: EchoReply[];
  trailers: grpc.Metadata;
  status: grpc.StatusObject;
}

/** A failed call: code, details, metadata (the trailers), and replies received before the failure. */
export type GrpcCallError = grpc.ServiceError & { replies: EchoReply[] };

/** The generated client's methods, typed. */
export interface RawEchoClient extends grpc.Client {
  Unary(req: EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<EchoReply>): grpc.ClientUnaryCall;
  ServerStream(req: StreamRequest, metadata: grpc.Metadata, options: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  ClientStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<EchoReply>): grpc.ClientWritableStream<EchoRequest>;
  Bidi(metadata: grpc.Metadata, options: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
}

export interface EchoClient {
  readonly target: string;
  readonly raw: RawEchoClient;
  unary(req: EchoRequest, opts?: GrpcCallOptions): Promise<UnaryResult>;
  serverStream(req: StreamRequest, opts?: GrpcCallOptions): Promise<StreamResult>;
  clientStream(reqs: readonly EchoRequest[], opts?: GrpcCallOptions): Promise<UnaryResult>;
  bidi(reqs: readonly EchoRequest[], opts?: GrpcCallOptions): Promise<StreamResult>;
  /** Resolves once the channel is connected. */
  waitForReady(timeoutMs?: number): Promise<void>;
  close(): void;
}

export interface GrpcClientOptions {
  channelOptions?: grpc.ChannelOptions;
  /** Deadline for calls that give none; default 30 s. */
  defaultDeadlineMs?: number;
}

const DEFAULT_DEADLINE_MS = 30_000;

export function createEchoClient(target: string, opts: GrpcClientOptions = {}): EchoClient {
  const host = target.replace(/:\d+$/, '');
  assertLoopback(host);
  const Ctor = echoServiceConstructor();
  const raw = new Ctor(target, grpc.credentials.createInsecure(), opts.channelOptions) as unknown as RawEchoClient;
  const defaultDeadline = opts.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
  const prepare = (call: GrpcCallOptions = {}): [grpc.Metadata, grpc.CallOptions] => {
    const metadata = call.metadata instanceof grpc.Metadata ? call.metadata : recordToMetadata(call.metadata);
    return [metadata, { deadline: Date.now() + (call.deadlineMs ?? defaultDeadline) }];
  };

  return {
    target,
    raw,
    unary(req, call) {
      const [metadata, options] = prepare(call);
      return settleUnary((cb) => raw.Unary(req, metadata, options, cb));
    },
    serverStream(req, call) {
      const [metadata, options] = prepare(call);
      return collectStream(raw.ServerStream(req, metadata, options));
    },
    clientStream(reqs, call) {
      const [metadata, options] = prepare(call);
      return settleUnary((cb) => {
        const stream = raw.ClientStream(metadata, options, cb);
        for (const req of reqs) stream.write(req);
        stream.end();
        return stream;
      });
    },
    bidi(reqs, call) {
      const [metadata, options] = prepare(call);
      const stream = raw.Bidi(metadata, options);
      const result = collectStream(stream);
      for (const req of reqs) stream.write(req);
      stream.end();
      return result;
    },
    waitForReady(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        raw.waitForReady(Date.now() + timeoutMs, (err) =>
          err ? reject(new Error(`gRPC channel to ${target} not ready within ${timeoutMs} ms: ${err.message}`)) : resolve(),
        );
      });
    },
    close() {
      raw.close();
    },
  };
}

/** grpc-js calls the callback, then emits 'status' (with the trailers): settle on the latter. */
function settleUnary(start: (cb: grpc.requestCallback<EchoReply>) => { on(event: 'status', fn: (s: grpc.StatusObject) => void): unknown }): Promise<UnaryResult> {
  return new Promise((resolve, reject) => {
    let error: grpc.ServiceError | null = null;
    let reply: EchoReply | undefined;
    const call = start((err, value) => {
      error = err;
      reply = value;
    });
    call.on('status', (status) => {
      if (error || status.code !== grpc.status.OK || reply === undefined) {
        reject(asCallError(error, status, []));
      } else {
        resolve({ reply, trailers: status.metadata, status });
      }
    });
  });
}

/** Collects a stream's replies; settles once both the status and the end of data have arrived. */
function collectStream(stream: grpc.ClientReadableStream<EchoReply> | grpc.ClientDuplexStream<EchoRequest, EchoReply>): Promise<StreamResult> {
  return new Promise((resolve, reject) => {
    const replies: EchoReply[] = [];
    let error: grpc.ServiceError | null = null;
    let status: grpc.StatusObject | undefined;
    let ended = false;
    const settle = (): void => {
      if (!status) return;
      if (status.code !== grpc.status.OK) {
        reject(asCallError(error, status, replies));
      } else if (ended) {
        resolve({ replies, trailers: status.metadata, status });
      }
    };
    stream.on('data', (reply: EchoReply) => replies.push(reply));
    stream.on('error', (err: grpc.ServiceError) => {
      error = err;
    });
    stream.on('end', () => {
      ended = true;
      settle();
    });
    stream.on('status', (s: grpc.StatusObject) => {
      status = s;
      // Let replies already queued in the stream be delivered first.
      setImmediate(settle);
    });
  });
}

function asCallError(error: grpc.ServiceError | null, status: grpc.StatusObject, replies: EchoReply[]): GrpcCallError {
  const base: grpc.ServiceError =
    error ??
    Object.assign(new Error(`${status.code} ${grpc.status[status.code] ?? ''}: ${status.details}`), {
      code: status.code,
      details: status.details,
      metadata: status.metadata,
    });
  return Object.assign(base, { replies });
}
