/**
 * The Workload API over a real Unix socket, called by a grpc-js client built
 * only from the official proto, as an outside workload (go-spiffe,
 * spiffe-helper) would call it. The caller is this test process, attested by
 * the kernel through the native addon: build it first (npm run build:native).
 *
 * Certificates are made at test time with the openssl CLI, so no key is ever
 * committed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useHarness, waitUntil } from '../harness/index.js';
import { readPeerCredentials } from '../../src/identity/peer-credentials.js';
import {
  fromProtoStruct,
  WorkloadApiServer,
  type WorkloadApiServerOptions,
  type WorkloadIdentitySource,
} from '../../src/identity/workload-api-server.js';
import type { WorkloadEntry } from '../../src/identity/selectors.js';

const h = useHarness();

const TD = 'test.example';
const FEDERATED_TD = 'other.example';
const WORKLOAD_ID = `spiffe://${TD}/workload`;
const BINARY_ID = `spiffe://${TD}/node-binary`;
const STRANGER_ID = `spiffe://${TD}/stranger`;
const OUR_UID = process.getuid!();
const OUR_GID = process.getgid!();
const NOT_OUR_ID = 4242;
const CALL_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------- certificates

interface Pki {
  dir: string;
  root: X509Certificate;
  federatedRoot: X509Certificate;
  leaf(spiffeId: string): { cert: X509Certificate; keyPkcs8: Buffer };
}

function makePki(): Pki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-wlapi-pki-'));
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  };
  const p256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const makeRoot = (name: string, td: string): X509Certificate => {
    openssl('req', '-x509', ...p256, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1', '-subj', '/C=US/O=SPIFFE',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', `subjectAltName=URI:spiffe://${td}`);
    return new X509Certificate(readFileSync(path.join(dir, `${name}.pem`)));
  };
  const root = makeRoot('root', TD);
  const federatedRoot = makeRoot('federated-root', FEDERATED_TD);
  let n = 0;
  const leaf = (spiffeId: string): { cert: X509Certificate; keyPkcs8: Buffer } => {
    const name = `leaf-${++n}`;
    openssl('req', '-new', ...p256, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/C=US/O=SPIRE');
    writeFileSync(
      path.join(dir, `${name}.ext`),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement',
        'extendedKeyUsage=serverAuth,clientAuth',
        `subjectAltName=critical,URI:${spiffeId}`,
      ].join('\n'),
    );
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'root.pem', '-CAkey', 'root.key',
      '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
    const cert = new X509Certificate(readFileSync(path.join(dir, `${name}.pem`)));
    const keyPkcs8 = createPrivateKey(readFileSync(path.join(dir, `${name}.key`))).export({ type: 'pkcs8', format: 'der' });
    return { cert, keyPkcs8 };
  };
  return { dir, root, federatedRoot, leaf };
}

// ---------------------------------------------------------------- the source

/** A token that is only JSON in base64url; the source decides validity, not the server. */
function fakeJwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'ES256', kid: 'k1', typ: 'JWT' })}.${part(claims)}.c2ln`;
}

class TestSource implements WorkloadIdentitySource {
  readonly svids = new Map<string, { chain: Uint8Array[]; keyPkcs8: Uint8Array }>();
  readonly bundles = new Map<string, Uint8Array[]>();
  readonly jwks = new Map<string, string>();
  private readonly listeners = new Set<() => void>();

  async x509Svids(spiffeIds: readonly string[]) {
    return spiffeIds.flatMap((spiffeId) => {
      const svid = this.svids.get(spiffeId);
      return svid ? [{ spiffeId, ...svid }] : [];
    });
  }
  x509Bundles() {
    return new Map(this.bundles);
  }
  async jwtSvid(spiffeId: string, audience: string[]) {
    return fakeJwt({ sub: spiffeId, aud: audience, exp: 2_000_000_000 });
  }
  jwtBundles() {
    return new Map(this.jwks);
  }
  async validateJwtSvid(token: string, audience: string) {
    const payload = token.split('.')[1];
    if (!payload) throw new Error('malformed token: not JWS compact serialization');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    if ((claims['exp'] as number) < Date.now() / 1000) throw new Error('token has expired');
    if (!(claims['aud'] as string[]).includes(audience)) throw new Error(`expected audience in ${JSON.stringify(claims['aud'])}`);
    return { spiffeId: claims['sub'] as string, claims };
  }
  onChange(listener: () => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  get listenerCount(): number {
    return this.listeners.size;
  }
  changed(): void {
    for (const listener of this.listeners) listener();
  }
}

// ---------------------------------------------------------------- the client

const PROTO_PATH = fileURLToPath(new URL('../../src/identity/workload-api.proto', import.meta.url));
const WorkloadApiClient = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_PATH, { keepCase: true }))[
  'SpiffeWorkloadAPI'
] as grpc.ServiceClientConstructor;

interface X509SvidMsg {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}
interface X509SvidResponse {
  svids: X509SvidMsg[];
  federated_bundles: Record<string, Buffer>;
}
interface BundlesResponse {
  bundles: Record<string, Buffer>;
}

type ApiClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function connect(socketPath: string): ApiClient {
  const client = new WorkloadApiClient(`unix://${socketPath}`, grpc.credentials.createInsecure()) as ApiClient;
  h.onCleanup(() => client.close(), 'close workload API client');
  return client;
}

/** `null`: no header; an array: the header sent once per element. */
function header(value: string | string[] | null = 'true'): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const v of value === null ? [] : [value].flat()) md.add('workload.spiffe.io', v);
  return md;
}

const deadline = () => ({ deadline: Date.now() + CALL_TIMEOUT_MS });

function unary<T>(client: ApiClient, method: string, request: object, md = header()): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(request, md, deadline(), (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** A server stream read message by message; `next()` rejects with the status if the stream ends first. */
class StreamReader<T> {
  private readonly messages: T[] = [];
  private ended: grpc.ServiceError | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly call: grpc.ClientReadableStream<T>) {
    call.on('data', (m: T) => {
      this.messages.push(m);
      this.wake?.();
    });
    call.on('error', (err: grpc.ServiceError) => {
      this.ended = err;
      this.wake?.();
    });
    call.on('end', () => {
      this.ended ??= Object.assign(new Error('stream ended'), { code: grpc.status.OK }) as grpc.ServiceError;
      this.wake?.();
    });
  }

  async next(timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
    const until = Date.now() + timeoutMs;
    while (this.messages.length === 0) {
      if (this.ended) throw this.ended;
      if (Date.now() > until) throw new Error(`no stream message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.messages.shift()!;
  }

  /** Resolves with the status that ended the stream. */
  async status(timeoutMs = CALL_TIMEOUT_MS): Promise<grpc.ServiceError> {
    await waitUntil(() => this.ended !== undefined, { timeoutMs, what: 'the stream to end' });
    return this.ended!;
  }

  get pending(): number {
    return this.messages.length;
  }
}

function openStream<T>(client: ApiClient, method: string, md = header()): StreamReader<T> {
  // Streams stay open until cancelled, so no deadline; each test cancels its own.
  const call = client[method]!({}, md) as grpc.ClientReadableStream<T>;
  h.onCleanup(() => call.cancel(), `cancel ${method}`);
  return new StreamReader(call);
}

async function expectStatus(promise: Promise<unknown>, code: grpc.status, details?: string | RegExp): Promise<void> {
  const err = (await promise.then(
    () => expect.unreachable(`expected ${grpc.status[code]}`),
    (e: unknown) => e,
  )) as grpc.ServiceError;
  expect(grpc.status[err.code]).toBe(grpc.status[code]);
  if (details !== undefined) expect(err.details).toMatch(details);
}

// ---------------------------------------------------------------- fixtures

let pki: Pki;
let ourExe: string;

beforeAll(async () => {
  pki = makePki();
  ourExe = await readlink('/proc/self/exe');
});
afterAll(() => {
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

function sourceWithSvids(...ids: string[]): TestSource {
  const source = new TestSource();
  for (const id of ids) {
    const { cert, keyPkcs8 } = pki.leaf(id);
    source.svids.set(id, { chain: [cert.raw], keyPkcs8 });
  }
  source.bundles.set(TD, [pki.root.raw]);
  source.bundles.set(FEDERATED_TD, [pki.federatedRoot.raw]);
  source.jwks.set(TD, JSON.stringify({ keys: [{ kty: 'EC', use: 'jwt-svid', kid: 'k1' }] }));
  return source;
}

const OUR_ENTRIES: WorkloadEntry[] = [
  { spiffeId: WORKLOAD_ID, selectors: [`unix:uid:${OUR_UID}`] },
  { spiffeId: STRANGER_ID, selectors: [`unix:uid:${NOT_OUR_ID}`] },
];

async function startServer(
  source: WorkloadIdentitySource,
  entries: readonly WorkloadEntry[] = OUR_ENTRIES,
  extra: Partial<WorkloadApiServerOptions> = {},
): Promise<WorkloadApiServer> {
  const dir = await h.tempDir('meshgate-wlapi-');
  const server = new WorkloadApiServer({
    socketPath: path.join(dir, 'public', 'api.sock'),
    trustDomain: TD,
    source,
    entries,
    onError: (err) => {
      throw err;
    },
    ...extra,
  });
  await server.start();
  h.onCleanup(() => server.close(), 'close workload API server');
  return server;
}

// ---------------------------------------------------------------- tests

describe('peer credentials', () => {
  it('reads pid, uid, gid and executable of the process on the other end of a Unix socket', async () => {
    const dir = await h.tempDir('meshgate-peercred-');
    const socketPath = path.join(dir, 'peer.sock');
    const accepted = new Promise<net.Socket>((resolve) => {
      const server = net.createServer(resolve).listen(socketPath);
      h.onCleanup(() => new Promise((r) => server.close(r)), 'close peercred listener');
    });
    await new Promise((r) => setTimeout(r, 10));
    const client = net.connect(socketPath);
    h.onCleanup(() => client.destroy(), 'close peercred client');
    const socket = await accepted;
    h.onCleanup(() => socket.destroy(), 'close accepted socket');
    expect(await readPeerCredentials(socket)).toEqual({ pid: process.pid, uid: OUR_UID, gid: OUR_GID, path: ourExe });
  });
});

describe('Workload API server', () => {
  it('creates the socket 0777 (as SPIRE does) and removes a stale socket file at start', async () => {
    const first = await startServer(sourceWithSvids(WORKLOAD_ID));
    expect(statSync(first.socketPath).mode & 0o777).toBe(0o777);
    await expect(
      new WorkloadApiServer({ socketPath: first.socketPath, trustDomain: TD, source: new TestSource(), entries: OUR_ENTRIES }).start(),
    ).rejects.toThrow(/in use by another server/);
    await first.close();
    expect(existsSync(first.socketPath)).toBe(false);

    // A socket file with nobody behind it, as a crashed agent leaves: a
    // process killed while listening never unlinks its socket.
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(first.socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(statSync(first.socketPath).isSocket()).toBe(true);

    const second = new WorkloadApiServer({ socketPath: first.socketPath, trustDomain: TD, source: sourceWithSvids(WORKLOAD_ID), entries: OUR_ENTRIES });
    await second.start();
    h.onCleanup(() => second.close(), 'close second server');
    const reply = await openStream<X509SvidResponse>(connect(second.socketPath), 'FetchX509SVID').next();
    expect(reply.svids.map((s) => s.spiffe_id)).toEqual([WORKLOAD_ID]);
  });

  it('FetchX509SVID returns the SVID of the entry that selects our uid, its key, our bundle and the federated ones', async () => {
    const source = sourceWithSvids(WORKLOAD_ID, STRANGER_ID);
    const server = await startServer(source);
    const reply = await openStream<X509SvidResponse>(connect(server.socketPath), 'FetchX509SVID').next();

    expect(reply.svids).toHaveLength(1); // never the stranger's SVID
    const [svid] = reply.svids;
    expect(svid!.spiffe_id).toBe(WORKLOAD_ID);
    const leaf = new X509Certificate(svid!.x509_svid);
    expect(leaf.subjectAltName).toBe(`URI:${WORKLOAD_ID}`);
    expect(leaf.checkPrivateKey(createPrivateKey({ key: svid!.x509_svid_key, format: 'der', type: 'pkcs8' }))).toBe(true);
    expect(Buffer.compare(svid!.bundle, pki.root.raw)).toBe(0);
    expect(leaf.verify(new X509Certificate(svid!.bundle).publicKey)).toBe(true);
    expect(Object.keys(reply.federated_bundles)).toEqual([`spiffe://${FEDERATED_TD}`]);
    expect(Buffer.compare(reply.federated_bundles[`spiffe://${FEDERATED_TD}`]!, pki.federatedRoot.raw)).toBe(0);
  });

  it('matches path selectors against the caller executable, and needs every selector of an entry', async () => {
    const source = sourceWithSvids(WORKLOAD_ID, BINARY_ID, STRANGER_ID);
    const server = await startServer(source, [
      { spiffeId: WORKLOAD_ID, selectors: [`unix:uid:${OUR_UID}`, `unix:gid:${OUR_GID}`] },
      { spiffeId: BINARY_ID, selectors: [`unix:uid:${OUR_UID}`, `unix:path:${ourExe}`] },
      { spiffeId: STRANGER_ID, selectors: [`unix:uid:${OUR_UID}`, 'unix:path:/usr/bin/not-us'] },
    ]);
    const reply = await openStream<X509SvidResponse>(connect(server.socketPath), 'FetchX509SVID').next();
    expect(reply.svids.map((s) => s.spiffe_id)).toEqual([WORKLOAD_ID, BINARY_ID]);
  });

  describe('security header', () => {
    const bad: [string, string | string[] | null][] = [
      ['missing', null],
      ['True', 'True'],
      ['TRUE', 'TRUE'],
      ['sent twice', ['true', 'true']],
      ['false', 'false'],
      ['empty', ''],
      ['"true " with a space', 'true '],
    ];

    it.each(bad)('%s → InvalidArgument on the FetchX509SVID stream', async (_, value) => {
      const server = await startServer(sourceWithSvids(WORKLOAD_ID));
      const stream = openStream<X509SvidResponse>(connect(server.socketPath), 'FetchX509SVID', header(value));
      await expectStatus(stream.next(), grpc.status.INVALID_ARGUMENT, 'security header missing from request');
    });

    it('is required by every method, before anything else', async () => {
      const server = await startServer(sourceWithSvids(WORKLOAD_ID));
      const client = connect(server.socketPath);
      for (const method of ['FetchX509Bundles', 'FetchJWTBundles', 'FetchWITSVID', 'FetchWITBundles']) {
        await expectStatus(openStream(client, method, header(null)).next(), grpc.status.INVALID_ARGUMENT, 'security header missing');
      }
      await expectStatus(unary(client, 'FetchJWTSVID', { audience: [] }, header('True')), grpc.status.INVALID_ARGUMENT, 'security header missing');
      await expectStatus(unary(client, 'ValidateJWTSVID', { audience: 'a', svid: 'x' }, header(null)), grpc.status.INVALID_ARGUMENT, 'security header missing');
    });
  });

  it('answers PermissionDenied "no identity issued" to a caller no entry selects', async () => {
    const source = sourceWithSvids(WORKLOAD_ID);
    const server = await startServer(source, [{ spiffeId: WORKLOAD_ID, selectors: [`unix:uid:${NOT_OUR_ID}`] }]);
    expect(OUR_UID).not.toBe(NOT_OUR_ID);
    const client = connect(server.socketPath);
    for (const method of ['FetchX509SVID', 'FetchX509Bundles', 'FetchJWTBundles']) {
      await expectStatus(openStream(client, method).next(), grpc.status.PERMISSION_DENIED, /^no identity issued$/);
    }
    await expectStatus(unary(client, 'FetchJWTSVID', { audience: ['a'] }), grpc.status.PERMISSION_DENIED, 'no identity issued');
    await expectStatus(unary(client, 'ValidateJWTSVID', { audience: 'a', svid: 'x.y.z' }), grpc.status.PERMISSION_DENIED, 'no identity issued');
  });

  it('lets unattested verifiers fetch bundles when allowUnauthenticatedVerifiers is set, never SVIDs', async () => {
    const source = sourceWithSvids(WORKLOAD_ID);
    const server = await startServer(source, [{ spiffeId: WORKLOAD_ID, selectors: [`unix:uid:${NOT_OUR_ID}`] }], {
      allowUnauthenticatedVerifiers: true,
    });
    const client = connect(server.socketPath);
    const bundles = await openStream<BundlesResponse>(client, 'FetchX509Bundles').next();
    expect(Object.keys(bundles.bundles).sort()).toEqual([`spiffe://${FEDERATED_TD}`, `spiffe://${TD}`]);
    await expectStatus(openStream(client, 'FetchX509SVID').next(), grpc.status.PERMISSION_DENIED, 'no identity issued');
  });

  it('pushes a rotated SVID down the open FetchX509SVID stream', async () => {
    const source = sourceWithSvids(WORKLOAD_ID);
    const server = await startServer(source);
    const stream = openStream<X509SvidResponse>(connect(server.socketPath), 'FetchX509SVID');
    const first = new X509Certificate((await stream.next()).svids[0]!.x509_svid);
    expect(source.listenerCount).toBe(1);

    const rotated = pki.leaf(WORKLOAD_ID);
    source.svids.set(WORKLOAD_ID, { chain: [rotated.cert.raw], keyPkcs8: rotated.keyPkcs8 });
    source.changed();
    // Changes close together coalesce into one full-state message.
    source.changed();

    const second = (await stream.next()).svids[0]!;
    const secondCert = new X509Certificate(second.x509_svid);
    expect(secondCert.serialNumber).toBe(rotated.cert.serialNumber);
    expect(secondCert.serialNumber).not.toBe(first.serialNumber);
    expect(secondCert.checkPrivateKey(createPrivateKey({ key: second.x509_svid_key, format: 'der', type: 'pkcs8' }))).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(stream.pending).toBe(0);

    // The stream is still open: the next rotation arrives too.
    const third = pki.leaf(WORKLOAD_ID);
    source.svids.set(WORKLOAD_ID, { chain: [third.cert.raw], keyPkcs8: third.keyPkcs8 });
    source.changed();
    expect(new X509Certificate((await stream.next()).svids[0]!.x509_svid).serialNumber).toBe(third.cert.serialNumber);

    stream.call.cancel();
    await waitUntil(() => source.listenerCount === 1 && (server as unknown as { streams: Set<unknown> }).streams.size === 0, {
      timeoutMs: 5_000,
      what: 'the cancelled stream to be forgotten',
    });
  });

  it('ends a stream with PermissionDenied when new entries no longer select the caller', async () => {
    const source = sourceWithSvids(WORKLOAD_ID);
    const server = await startServer(source);
    const stream = openStream<X509SvidResponse>(connect(server.socketPath), 'FetchX509SVID');
    await stream.next();
    server.setEntries([{ spiffeId: WORKLOAD_ID, selectors: [`unix:uid:${NOT_OUR_ID}`] }]);
    await expectStatus(stream.next(), grpc.status.PERMISSION_DENIED, 'no identity issued');
  });

  it('FetchX509Bundles streams every trust domain bundle, and again on change', async () => {
    const source = sourceWithSvids(WORKLOAD_ID);
    const server = await startServer(source);
    const stream = openStream<BundlesResponse>(connect(server.socketPath), 'FetchX509Bundles');
    const first = await stream.next();
    expect(Object.keys(first.bundles).sort()).toEqual([`spiffe://${FEDERATED_TD}`, `spiffe://${TD}`]);
    expect(Buffer.compare(first.bundles[`spiffe://${TD}`]!, pki.root.raw)).toBe(0);

    // A new root published beside the old one: the bundle is both, concatenated DER.
    source.bundles.set(TD, [pki.root.raw, pki.federatedRoot.raw]);
    source.bundles.delete(FEDERATED_TD);
    source.changed();
    const second = await stream.next();
    expect(Object.keys(second.bundles)).toEqual([`spiffe://${TD}`]);
    expect(Buffer.compare(second.bundles[`spiffe://${TD}`]!, Buffer.concat([pki.root.raw, pki.federatedRoot.raw]))).toBe(0);
  });

  it('FetchJWTBundles streams JWKS JSON keyed by trust domain ID', async () => {
    const source = sourceWithSvids(WORKLOAD_ID);
    const server = await startServer(source);
    const stream = openStream<BundlesResponse>(connect(server.socketPath), 'FetchJWTBundles');
    const first = await stream.next();
    expect(JSON.parse(first.bundles[`spiffe://${TD}`]!.toString('utf8'))).toEqual({ keys: [{ kty: 'EC', use: 'jwt-svid', kid: 'k1' }] });
    source.jwks.set(FEDERATED_TD, '{"keys":[]}');
    source.changed();
    expect(Object.keys((await stream.next()).bundles).sort()).toEqual([`spiffe://${FEDERATED_TD}`, `spiffe://${TD}`]);
  });

  it('FetchJWTSVID: empty audience → InvalidArgument; otherwise one token per identity, or the one asked for', async () => {
    const source = sourceWithSvids(WORKLOAD_ID);
    const server = await startServer(source, [
      { spiffeId: WORKLOAD_ID, selectors: [`unix:uid:${OUR_UID}`] },
      { spiffeId: BINARY_ID, selectors: [`unix:path:${ourExe}`] },
      { spiffeId: STRANGER_ID, selectors: [`unix:uid:${NOT_OUR_ID}`] },
    ]);
    const client = connect(server.socketPath);
    await expectStatus(unary(client, 'FetchJWTSVID', { audience: [] }), grpc.status.INVALID_ARGUMENT, 'audience must be specified');
    await expectStatus(unary(client, 'FetchJWTSVID', {}), grpc.status.INVALID_ARGUMENT, 'audience must be specified');

    const all = await unary<{ svids: { spiffe_id: string; svid: string }[] }>(client, 'FetchJWTSVID', { audience: ['payments', 'audit'] });
    expect(all.svids.map((s) => s.spiffe_id)).toEqual([WORKLOAD_ID, BINARY_ID]);
    const claims = JSON.parse(Buffer.from(all.svids[0]!.svid.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ sub: WORKLOAD_ID, aud: ['payments', 'audit'] });

    const one = await unary<{ svids: { spiffe_id: string }[] }>(client, 'FetchJWTSVID', { audience: ['payments'], spiffe_id: BINARY_ID });
    expect(one.svids.map((s) => s.spiffe_id)).toEqual([BINARY_ID]);

    await expectStatus(
      unary(client, 'FetchJWTSVID', { audience: ['payments'], spiffe_id: STRANGER_ID }),
      grpc.status.PERMISSION_DENIED,
      `no identity issued for ${STRANGER_ID}`,
    );
  });

  it('ValidateJWTSVID: needs audience and svid, names the reason a token is invalid, returns ID and claims', async () => {
    const source = sourceWithSvids(WORKLOAD_ID);
    const server = await startServer(source);
    const client = connect(server.socketPath);
    await expectStatus(unary(client, 'ValidateJWTSVID', { svid: 'a.b.c' }), grpc.status.INVALID_ARGUMENT, 'audience must be specified');
    await expectStatus(unary(client, 'ValidateJWTSVID', { audience: 'payments' }), grpc.status.INVALID_ARGUMENT, 'svid must be specified');
    const expired = fakeJwt({ sub: WORKLOAD_ID, aud: ['payments'], exp: 1 });
    await expectStatus(unary(client, 'ValidateJWTSVID', { audience: 'payments', svid: expired }), grpc.status.INVALID_ARGUMENT, 'token has expired');
    await expectStatus(unary(client, 'ValidateJWTSVID', { audience: 'payments', svid: 'garbage' }), grpc.status.INVALID_ARGUMENT, /malformed/);

    const claims = { sub: WORKLOAD_ID, aud: ['payments'], exp: 2_000_000_000, extra: { nested: [1, 'two', true, null] } };
    const reply = await unary<{ spiffe_id: string; claims: { fields: Record<string, unknown> } }>(client, 'ValidateJWTSVID', {
      audience: 'payments',
      svid: fakeJwt(claims),
    });
    expect(reply.spiffe_id).toBe(WORKLOAD_ID);
    expect(fromProtoStruct(reply.claims)).toEqual(claims);
    expect(reply.claims.fields['exp']).toEqual({ numberValue: 2_000_000_000 });
  });

  it('answers Unimplemented for the WIT-SVID profile', async () => {
    const server = await startServer(sourceWithSvids(WORKLOAD_ID));
    const client = connect(server.socketPath);
    await expectStatus(openStream(client, 'FetchWITSVID').next(), grpc.status.UNIMPLEMENTED);
    await expectStatus(openStream(client, 'FetchWITBundles').next(), grpc.status.UNIMPLEMENTED);
  });

  it('answers Unavailable while the source has no SVID for the caller yet', async () => {
    const source = sourceWithSvids();
    const server = await startServer(source);
    await expectStatus(openStream(connect(server.socketPath), 'FetchX509SVID').next(), grpc.status.UNAVAILABLE, /not issued yet/);
  });

  it('close() ends open streams with Unavailable and removes the socket', async () => {
    const source = sourceWithSvids(WORKLOAD_ID);
    const server = await startServer(source);
    const stream = openStream<X509SvidResponse>(connect(server.socketPath), 'FetchX509SVID');
    await stream.next();
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    const status = await stream.status();
    expect(grpc.status[status.code]).toBe('UNAVAILABLE');
    expect(existsSync(server.socketPath)).toBe(false);
    expect(source.listenerCount).toBe(0);
  });
});
