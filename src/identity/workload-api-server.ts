/**
 * The SPIFFE Workload API (SpiffeWorkloadAPI, the official proto in
 * workload-api.proto) on a Unix socket, so that go-spiffe, java-spiffe or
 * spiffe-helper can fetch this cluster's identities from us as from a SPIRE
 * agent.
 *
 * Callers are attested by the kernel, not by anything they send: grpc-js
 * cannot tell who is on a Unix socket (getPeer() is "unknown"), so we accept
 * connections ourselves, read SO_PEERCRED, tag the socket through its
 * remoteAddress (which grpc-js reports as the call's peer) and only then hand
 * it to grpc-js through a connection injector.
 */
import net from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { concatDer } from './encoding.js';
import { IdentityError } from './errors.js';
import { ensurePeerCredentialsAvailable, readPeerCredentials, type PeerCredentials } from './peer-credentials.js';
import { compileEntries, matchingSpiffeIds, type CompiledEntry, type WorkloadEntry } from './selectors.js';

/** Where the Workload API gets what it hands out; the identity part implements it over its CA and trust store. */
export interface WorkloadIdentitySource {
  /** X509-SVIDs (leaf-first DER chain + PKCS#8 DER key) for these SPIFFE IDs, current at call time. */
  x509Svids(spiffeIds: readonly string[]): Promise<{ spiffeId: string; chain: Uint8Array[]; keyPkcs8: Uint8Array }[]>;
  /** trust domain → DER X.509 authorities, own domain and federated ones. */
  x509Bundles(): Map<string, Uint8Array[]>;
  jwtSvid(spiffeId: string, audience: string[]): Promise<string>;
  /** trust domain → JWKS JSON. */
  jwtBundles(): Map<string, string>;
  /** Rejects with the reason when the token is not a valid JWT-SVID for the audience. */
  validateJwtSvid(token: string, audience: string): Promise<{ spiffeId: string; claims: Record<string, unknown> }>;
  /** Called whenever SVIDs or bundles change (rotation, federation refresh); returns an unsubscribe. */
  onChange(listener: () => void): () => void;
}

export interface WorkloadApiServerOptions {
  /** Absolute path of the Unix socket. */
  readonly socketPath: string;
  /** Our trust domain: its bundle goes in each X509SVID, every other one in federated_bundles. */
  readonly trustDomain: string;
  readonly source: WorkloadIdentitySource;
  readonly entries: readonly WorkloadEntry[];
  /**
   * SPIRE's public socket is 0777: anyone may connect, and what they get is
   * decided per caller by the entries, so the file mode is not the access
   * control. Narrow it to keep unattested local users from even asking.
   */
  readonly socketMode?: number;
  /** Upper bound of the random delay before pushing a change to each stream, so that clients don't all reload at once. Default 100 ms. */
  readonly updateJitterMs?: number;
  /**
   * SPIRE's allow_unauthenticated_verifiers: let callers that match no entry
   * still fetch bundles and validate JWT-SVIDs. Default false.
   */
  readonly allowUnauthenticatedVerifiers?: boolean;
  /** Problems that have no caller to answer (a connection we could not attest, a push that failed). */
  readonly onError?: (err: Error) => void;
  /** A connection that has made no call this long after it was accepted is closed. Default 10 s. */
  readonly firstCallTimeoutMs?: number;
  /** A connection with no call open for this long is closed (GOAWAY). Default 75 s. */
  readonly idleTimeoutMs?: number;
}

/** Which Workload API rule a setting broke, or what kept the server from serving. */
export type WorkloadApiRule = 'endpoint' | 'socket-path' | 'socket-in-use' | 'already-started';

export class WorkloadApiError extends IdentityError {
  override name = 'WorkloadApiError';
  readonly rule: WorkloadApiRule;

  constructor(rule: WorkloadApiRule, message: string, context: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('workload-api', message, { rule, ...context }, options);
    this.rule = rule;
  }
}

const SECURITY_HEADER = 'workload.spiffe.io';
const NO_IDENTITY = 'no identity issued';
const DEFAULT_SOCKET_MODE = 0o777;
const DEFAULT_JITTER_MS = 100;
// sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH_BYTES = 107;
// Shutdown waits this long for clients to go away before cutting them off.
const SHUTDOWN_GRACE_MS = 1_000;
// The gateway passes its limits.headersTimeout and limits.idleTimeout; these are their defaults.
const DEFAULT_FIRST_CALL_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 75_000;

// The build copies the proto beside the compiled file (dist/identity/), and
// under vitest this file sits beside the source proto, so one relative URL
// serves both.
export const WORKLOAD_API_PROTO_PATH = fileURLToPath(new URL('./workload-api.proto', import.meta.url));

/** A call's outcome as a gRPC status; what handlers throw to answer the caller. */
class RpcFailure extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
  }
}

interface X509SvidMessage {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}
interface X509SvidResponse {
  svids: X509SvidMessage[];
  crl: Buffer[];
  federated_bundles: Record<string, Buffer>;
}
interface BundlesResponse {
  bundles: Record<string, Buffer>;
}
// Optional because a client may leave out any field; `defaults: true` at load
// time fills them in, and the handlers don't rely on it.
interface JwtSvidRequest {
  audience?: string[];
  spiffe_id?: string;
}
interface ValidateJwtSvidRequest {
  audience?: string;
  svid?: string;
}

export class WorkloadApiServer {
  private readonly options: WorkloadApiServerOptions;
  private entries: CompiledEntry[];
  private readonly callers = new Map<string, Promise<PeerCredentials>>();
  /** Connections that have made no call yet, by tag: the timer that closes them. */
  private readonly awaitingCall = new Map<string, NodeJS.Timeout>();
  private readonly sockets = new Set<net.Socket>();
  private readonly streams = new Set<StreamPusher>();
  private nextTag = 0;
  private starting = false;
  private running?: {
    grpcServer: grpc.Server;
    injector: grpc.ConnectionInjector;
    listener: net.Server;
    unsubscribe: () => void;
  };

  constructor(options: WorkloadApiServerOptions) {
    if (!isAbsolute(options.socketPath)) {
      throw new WorkloadApiError('socket-path', `workload API socket ${options.socketPath} must be an absolute path`, {
        socketPath: options.socketPath,
      });
    }
    if (Buffer.byteLength(options.socketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new WorkloadApiError(
        'socket-path',
        `workload API socket ${options.socketPath} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix socket path may have`,
        { socketPath: options.socketPath },
      );
    }
    this.options = options;
    this.entries = compileEntries(options.entries);
  }

  get socketPath(): string {
    return this.options.socketPath;
  }

  /** Replaces the entries (config reload); open streams are re-evaluated against them. */
  setEntries(entries: readonly WorkloadEntry[]): void {
    this.entries = compileEntries(entries);
    this.pushToAll();
  }

  async start(): Promise<void> {
    if (this.running || this.starting) throw new WorkloadApiError('already-started', 'workload API server is already started');
    this.starting = true;
    try {
      // Fail now, not at the first caller, if the addon was never built.
      ensurePeerCredentialsAvailable();
      this.running = await this.listen();
    } finally {
      this.starting = false;
    }
  }

  private async listen(): Promise<NonNullable<WorkloadApiServer['running']>> {
    const { socketPath } = this.options;
    await removeStaleSocket(socketPath);
    // Idle connections are closed by grpc-js, counted from the end of the last call.
    const grpcServer = new grpc.Server({ 'grpc.max_connection_idle_ms': this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS });
    grpcServer.addService(loadService(), this.handlers());
    const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const listener = net.createServer((socket) => this.accept(socket, injector));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(socketPath, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    listener.on('error', (err) => this.report(err));
    try {
      await chmod(socketPath, this.options.socketMode ?? DEFAULT_SOCKET_MODE);
    } catch (err) {
      listener.close();
      throw err;
    }
    const unsubscribe = this.options.source.onChange(() => this.pushToAll());
    return { grpcServer, injector, listener, unsubscribe };
  }

  /** Stops accepting, ends open streams with UNAVAILABLE (clients reconnect elsewhere or later) and removes the socket. */
  async close(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    running.unsubscribe();
    const listenerClosed = new Promise<void>((resolve) => running.listener.close(() => resolve()));
    for (const stream of this.streams) stream.fail(new RpcFailure(grpc.status.UNAVAILABLE, 'workload API is shutting down'));
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        running.grpcServer.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      running.grpcServer.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    running.injector.destroy();
    for (const socket of this.sockets) socket.destroy();
    await listenerClosed;
    // libuv unlinks the socket on close; this is for a listener that died first.
    await unlink(this.options.socketPath).catch(() => undefined);
  }

  private accept(socket: net.Socket, injector: grpc.ConnectionInjector): void {
    const tag = `workload-api-caller-${++this.nextTag}`;
    // Called before anything else touches the socket: the SO_PEERCRED read
    // inside happens synchronously, on an fd that is certainly still open.
    const credentials = readPeerCredentials(socket);
    credentials.catch((err: Error) => {
      this.report(err);
      socket.destroy();
    });
    this.callers.set(tag, credentials);
    this.sockets.add(socket);
    // grpc-js has no timeout for a connection that never makes a call (or
    // never finishes the HTTP/2 preface): each would hold a descriptor forever.
    const firstCall = setTimeout(() => socket.destroy(), this.options.firstCallTimeoutMs ?? DEFAULT_FIRST_CALL_TIMEOUT_MS);
    this.awaitingCall.set(tag, firstCall);
    socket.once('close', () => {
      clearTimeout(firstCall);
      this.awaitingCall.delete(tag);
      this.callers.delete(tag);
      this.sockets.delete(socket);
    });
    // grpc-js reports a Unix socket's remoteAddress as the call's peer
    // (there is no port), so the tag is how a handler finds its caller.
    Object.defineProperty(socket, 'remoteAddress', { value: tag, configurable: true });
    injector.injectConnection(socket);
  }

  /** Every method starts here: the caller's connection has made a call. */
  private handlers(): grpc.UntypedServiceImplementation {
    const methods = this.methods();
    return Object.fromEntries(
      Object.entries(methods).map(([name, handler]) => [
        name,
        (call: { getPeer(): string }, ...rest: unknown[]) => {
          this.sawCall(call.getPeer());
          return (handler as (...args: unknown[]) => unknown)(call, ...rest);
        },
      ]),
    ) as grpc.UntypedServiceImplementation;
  }

  private sawCall(tag: string): void {
    clearTimeout(this.awaitingCall.get(tag));
    this.awaitingCall.delete(tag);
  }

  private methods(): grpc.UntypedServiceImplementation {
    return {
      FetchX509SVID: (call: grpc.ServerWritableStream<unknown, X509SvidResponse>) =>
        this.serveStream(call, false, (ids) => this.x509SvidResponse(ids)),
      FetchX509Bundles: (call: grpc.ServerWritableStream<unknown, BundlesResponse>) =>
        this.serveStream(call, true, async () => ({ bundles: x509BundleMap(this.options.source.x509Bundles()) })),
      FetchJWTBundles: (call: grpc.ServerWritableStream<unknown, BundlesResponse>) =>
        this.serveStream(call, true, async () => ({ bundles: jwtBundleMap(this.options.source.jwtBundles()) })),
      FetchJWTSVID: (call: grpc.ServerUnaryCall<JwtSvidRequest, unknown>, callback: grpc.sendUnaryData<unknown>) =>
        this.serveUnary(callback, () => this.fetchJwtSvid(call)),
      ValidateJWTSVID: (call: grpc.ServerUnaryCall<ValidateJwtSvidRequest, unknown>, callback: grpc.sendUnaryData<unknown>) =>
        this.serveUnary(callback, () => this.validateJwtSvid(call)),
      // The WIT-SVID profile is optional; the proto says to answer UNIMPLEMENTED,
      // after the same header check as every other method (as SPIRE does).
      FetchWITSVID: (call: grpc.ServerWritableStream<unknown, unknown>) => this.unimplemented(call),
      FetchWITBundles: (call: grpc.ServerWritableStream<unknown, unknown>) => this.unimplemented(call),
    };
  }

  private unimplemented(call: grpc.ServerWritableStream<unknown, unknown>): void {
    try {
      checkSecurityHeader(call.metadata);
      throw new RpcFailure(grpc.status.UNIMPLEMENTED, 'the WIT-SVID profile is not supported');
    } catch (err) {
      call.emit('error', toStatus(err));
    }
  }

  /** The SPIFFE IDs the caller may have; throws PERMISSION_DENIED when it has none and `verifierOnly` doesn't let it through. */
  private async authorize(call: { metadata: grpc.Metadata; getPeer(): string }, verifierOnly: boolean): Promise<string[]> {
    checkSecurityHeader(call.metadata);
    const credentials = this.callers.get(call.getPeer());
    if (!credentials) throw new RpcFailure(grpc.status.PERMISSION_DENIED, `${NO_IDENTITY}: the caller could not be attested`);
    let caller: PeerCredentials;
    try {
      caller = await credentials;
    } catch {
      throw new RpcFailure(grpc.status.PERMISSION_DENIED, `${NO_IDENTITY}: the caller could not be attested`);
    }
    const ids = matchingSpiffeIds(this.entries, caller);
    if (ids.length === 0 && !(verifierOnly && this.options.allowUnauthenticatedVerifiers)) {
      throw new RpcFailure(grpc.status.PERMISSION_DENIED, NO_IDENTITY);
    }
    return ids;
  }

  private serveUnary(callback: grpc.sendUnaryData<unknown>, handle: () => Promise<unknown>): void {
    handle().then(
      (response) => callback(null, response),
      (err: unknown) => callback(toStatus(err)),
    );
  }

  /**
   * Streams the full state at once and again after every change, until the
   * client cancels. Each message replaces the previous one entirely, so
   * changes that arrive close together are coalesced into one message.
   */
  private serveStream<Res>(
    call: grpc.ServerWritableStream<unknown, Res>,
    verifierOnly: boolean,
    build: (ids: string[]) => Promise<Res>,
  ): void {
    const pusher = new StreamPusher(
      // Re-authorised each time: entries may have changed since the stream opened.
      async () => build(await this.authorize(call, verifierOnly)),
      (message) => call.write(message as Res),
      (status) => call.emit('error', status),
      () => this.options.updateJitterMs ?? DEFAULT_JITTER_MS,
    );
    this.streams.add(pusher);
    const stop = (): void => {
      pusher.stop();
      this.streams.delete(pusher);
    };
    call.once('cancelled', stop);
    call.once('close', stop);
    call.on('drain', () => pusher.resume());
    pusher.pushNow();
  }

  private pushToAll(): void {
    for (const stream of this.streams) stream.pushLater();
  }

  private async x509SvidResponse(ids: string[]): Promise<X509SvidResponse> {
    const { source, trustDomain } = this.options;
    const bundles = source.x509Bundles();
    let svids: Awaited<ReturnType<WorkloadIdentitySource['x509Svids']>>;
    try {
      svids = await source.x509Svids(ids);
    } catch (err) {
      throw new RpcFailure(grpc.status.UNAVAILABLE, `X509-SVIDs not available: ${(err as Error).message}`);
    }
    // Never hand out a key the caller is not entitled to, whatever the source returned.
    const allowed = new Set(ids);
    const messages = svids
      .filter((svid) => allowed.has(svid.spiffeId))
      .map((svid): X509SvidMessage => {
        const td = trustDomainOf(svid.spiffeId);
        const roots = bundles.get(td);
        if (!roots || roots.length === 0) {
          throw new RpcFailure(grpc.status.UNAVAILABLE, `no X.509 bundle for trust domain ${td} yet`);
        }
        return {
          spiffe_id: svid.spiffeId,
          x509_svid: concatDer(svid.chain),
          x509_svid_key: Buffer.from(svid.keyPkcs8),
          bundle: concatDer(roots),
          hint: '',
        };
      });
    if (messages.length === 0) throw new RpcFailure(grpc.status.UNAVAILABLE, 'X509-SVIDs not issued yet');
    const federated = new Map([...bundles].filter(([td]) => td !== trustDomain));
    return { svids: messages, crl: [], federated_bundles: x509BundleMap(federated) };
  }

  // Arguments are checked before the caller is attested, as SPIRE does:
  // a malformed request is the same mistake whoever makes it.
  private async fetchJwtSvid(call: grpc.ServerUnaryCall<JwtSvidRequest, unknown>): Promise<unknown> {
    checkSecurityHeader(call.metadata);
    const audience = call.request.audience ?? [];
    const requested = call.request.spiffe_id ?? '';
    if (audience.length === 0) throw new RpcFailure(grpc.status.INVALID_ARGUMENT, 'audience must be specified');
    const ids = await this.authorize(call, false);
    if (requested !== '' && !ids.includes(requested)) {
      throw new RpcFailure(grpc.status.PERMISSION_DENIED, `${NO_IDENTITY} for ${requested}`);
    }
    const wanted = requested !== '' ? [requested] : ids;
    try {
      const svids = await Promise.all(
        wanted.map(async (id) => ({ spiffe_id: id, svid: await this.options.source.jwtSvid(id, audience), hint: '' })),
      );
      return { svids };
    } catch (err) {
      throw new RpcFailure(grpc.status.UNAVAILABLE, `JWT-SVID not available: ${(err as Error).message}`);
    }
  }

  private async validateJwtSvid(call: grpc.ServerUnaryCall<ValidateJwtSvidRequest, unknown>): Promise<unknown> {
    checkSecurityHeader(call.metadata);
    const audience = call.request.audience ?? '';
    const svid = call.request.svid ?? '';
    if (audience === '') throw new RpcFailure(grpc.status.INVALID_ARGUMENT, 'audience must be specified');
    if (svid === '') throw new RpcFailure(grpc.status.INVALID_ARGUMENT, 'svid must be specified');
    await this.authorize(call, true);
    let result: { spiffeId: string; claims: Record<string, unknown> };
    try {
      result = await this.options.source.validateJwtSvid(svid, audience);
    } catch (err) {
      throw new RpcFailure(grpc.status.INVALID_ARGUMENT, (err as Error).message);
    }
    return { spiffe_id: result.spiffeId, claims: toProtoStruct(result.claims) };
  }

  private report(err: Error): void {
    this.options.onError?.(err);
  }
}

/**
 * One open stream's sends: at most one in flight, changes coalesced into the
 * next full-state message, held back while the client is not reading.
 */
class StreamPusher {
  private dirty = false;
  private sending = false;
  private blocked = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly build: () => Promise<unknown>,
    private readonly write: (message: unknown) => boolean,
    private readonly end: (status: Partial<grpc.StatusObject>) => void,
    private readonly maxJitterMs: () => number,
  ) {}

  pushNow(): void {
    this.dirty = true;
    void this.drain();
  }

  /** After a random delay, so that a change doesn't make every client reload at the same instant. */
  pushLater(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pushNow();
    }, Math.random() * this.maxJitterMs());
  }

  resume(): void {
    this.blocked = false;
    void this.drain();
  }

  fail(failure: RpcFailure): void {
    if (this.stopped) return;
    this.stop();
    this.end(toStatus(failure));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.dirty && !this.blocked && !this.stopped) {
        this.dirty = false;
        const message = await this.build();
        if (this.stopped) return;
        this.blocked = !this.write(message);
      }
    } catch (err) {
      this.fail(err instanceof RpcFailure ? err : new RpcFailure(grpc.status.INTERNAL, (err as Error).message));
    } finally {
      this.sending = false;
    }
  }
}

/**
 * SPIRE's rule: exactly one value, exactly "true" (case-sensitive). Node's
 * http2 folds a repeated header into one "true, true", which fails the
 * comparison just as a second value would.
 */
function checkSecurityHeader(metadata: grpc.Metadata): void {
  const values = metadata.get(SECURITY_HEADER);
  if (values.length !== 1 || values[0] !== 'true') {
    throw new RpcFailure(grpc.status.INVALID_ARGUMENT, 'security header missing from request');
  }
}

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof RpcFailure) return { code: err.code, details: err.details };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

let serviceDefinition: grpc.ServiceDefinition | undefined;

function loadService(): grpc.ServiceDefinition {
  if (!serviceDefinition) {
    // google/protobuf/struct.proto resolves to protobufjs's built-in copy.
    const definition = protoLoader.loadSync(WORKLOAD_API_PROTO_PATH, { keepCase: true, defaults: true });
    serviceDefinition = definition['SpiffeWorkloadAPI'] as grpc.ServiceDefinition;
  }
  return serviceDefinition;
}

/**
 * Removes a socket file left by a previous run, but refuses to remove a
 * socket that still answers (another server) or a file that is not a socket.
 */
async function removeStaleSocket(socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true });
  const stat = await lstat(socketPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!stat) return;
  if (!stat.isSocket()) {
    throw new WorkloadApiError('socket-path', `${socketPath} exists and is not a socket; not removing it`, { socketPath });
  }
  if (await answers(socketPath)) {
    throw new WorkloadApiError('socket-in-use', `${socketPath} is in use by another server`, { socketPath });
  }
  await unlink(socketPath);
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

function trustDomainOf(spiffeId: string): string {
  return spiffeId.slice('spiffe://'.length).split('/', 1)[0] ?? '';
}

/** Map keys are the trust domain's SPIFFE ID, as SPIRE sends them. */
function x509BundleMap(bundles: Map<string, Uint8Array[]>): Record<string, Buffer> {
  return Object.fromEntries([...bundles].map(([td, roots]) => [`spiffe://${td}`, concatDer(roots)]));
}

function jwtBundleMap(bundles: Map<string, string>): Record<string, Buffer> {
  return Object.fromEntries([...bundles].map(([td, jwks]) => [`spiffe://${td}`, Buffer.from(jwks, 'utf8')]));
}

// google.protobuf.Struct, as protobufjs's built-in definition names its
// fields (camelCase whatever keepCase says).
export type ProtoValue =
  | { nullValue: 0 }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: ProtoStruct }
  | { listValue: { values: ProtoValue[] } };
export interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

/** JSON-like claims → google.protobuf.Struct. Undefined members are dropped, as JSON.stringify would. */
export function toProtoStruct(object: Record<string, unknown>): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [key, value] of Object.entries(object)) {
    if (value !== undefined) fields[key] = toProtoValue(value);
  }
  return { fields };
}

function toProtoValue(value: unknown): ProtoValue {
  if (value === null || value === undefined) return { nullValue: 0 };
  switch (typeof value) {
    case 'number':
      return { numberValue: value };
    case 'bigint':
      return { numberValue: Number(value) };
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'object':
      if (Array.isArray(value)) return { listValue: { values: value.map(toProtoValue) } };
      return { structValue: toProtoStruct(value as Record<string, unknown>) };
    default:
      return { stringValue: String(value) };
  }
}

/** google.protobuf.Struct as it arrives (any of its oneof members) → plain JSON. */
export function fromProtoStruct(struct: { fields?: Record<string, unknown> } | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = fromProtoValue(value);
  return out;
}

function fromProtoValue(value: unknown): unknown {
  const v = (value ?? {}) as Record<string, unknown>;
  if ('numberValue' in v) return v['numberValue'];
  if ('stringValue' in v) return v['stringValue'];
  if ('boolValue' in v) return v['boolValue'];
  if ('structValue' in v) return fromProtoStruct(v['structValue'] as { fields?: Record<string, unknown> });
  if ('listValue' in v) return ((v['listValue'] as { values?: unknown[] }).values ?? []).map(fromProtoValue);
  return null;
}

export type EndpointSocket =
  | { readonly network: 'unix'; readonly path: string }
  | { readonly network: 'tcp'; readonly host: string; readonly port: number };

/**
 * Parses SPIFFE_ENDPOINT_SOCKET: `unix:///absolute/path` or `tcp://IP:port`,
 * with go-spiffe's rules (no query, fragment or userinfo; a tcp address has an
 * IP host, a port and no path), and a host-less unix URI only.
 */
export function parseEndpointSocket(value: string): EndpointSocket {
  function fail(why: string): never {
    throw new WorkloadApiError('endpoint', `SPIFFE_ENDPOINT_SOCKET ${JSON.stringify(value)}: ${why}`, { value });
  }
  // WHATWG-style parsers silently strip tabs and newlines; we refuse them.
  if (/[\x00-\x20\x7f]/.test(value)) fail('must not contain spaces or control characters');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(value)?.[1]?.toLowerCase();
  if (scheme !== 'unix' && scheme !== 'tcp') fail('must be unix:///absolute/path or tcp://IP:port');
  const rest = value.slice(scheme.length + 1);
  if (!rest.startsWith('//')) fail(`a ${scheme} URI must not be opaque (write ${scheme}://…)`);
  if (rest.includes('?')) fail('must not include a query');
  if (rest.includes('#')) fail('must not include a fragment');
  const slash = rest.indexOf('/', 2);
  const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (authority.includes('@')) fail('must not include user info');

  if (scheme === 'unix') {
    if (authority !== '') fail('a unix URI must have no host: write unix:///absolute/path');
    if (path === '' || path === '/') fail('a unix URI must include the socket path');
    let decoded = '';
    try {
      decoded = decodeURIComponent(path);
    } catch {
      fail('the socket path has invalid percent-encoding');
    }
    if (decoded.includes('\0')) fail('the socket path must not contain NUL');
    return { network: 'unix', path: decoded };
  }

  if (path !== '') fail('a tcp URI must not include a path');
  if (authority === '') fail('a tcp URI must include a host');
  const hostPort = /^(\[[^\]]*\]|[^:[\]]*)(?::([^:]*))?$/.exec(authority);
  if (!hostPort) fail('a tcp URI must be tcp://IP:port, with an IPv6 address in brackets');
  const rawHost = hostPort[1] ?? '';
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (host === '') fail('a tcp URI must include a host');
  if (net.isIP(host) === 0 || (rawHost.startsWith('[') && net.isIP(host) !== 6)) fail('the tcp host must be an IP address');
  const portText = hostPort[2];
  if (portText === undefined || portText === '') fail('a tcp URI must include a port');
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) fail('the tcp port must be a number from 1 to 65535');
  return { network: 'tcp', host, port };
}
