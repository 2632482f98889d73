/**
 * Signed gossip envelopes (docs/architecture.md, Membership: "Security"): every
 * membership message crosses NATS as
 * `{v, from, seq, ts, kind, body, fp, sig, chain?}`, signed ES256 by the
 * sender's X509-SVID key. A receiver accepts it only when the chain anchors
 * in the bundle of the leaf's own trust domain, the SPIFFE ID names a gateway
 * (`spiffe://<td>/meshgate/gateway/<cluster>/<replica>`), `from` is that
 * gateway, the timestamp is within the skew allowance and the sequence number
 * is new. Anything else is a rejection with a stable reason, never a throw.
 *
 * What is signed (canonicalBytes): the UTF-8 bytes of
 *   "meshgate-envelope-v1\n" + canonicalJson({v, from, seq, ts, kind, body, fp})
 * where canonicalJson sorts object keys (UTF-16 code-unit order), writes no
 * whitespace and formats numbers and strings as JSON.stringify does, which
 * for JSON data is RFC 8785 (JCS). The prefix keeps these signatures from
 * ever being valid for another use of the same SVID key. `chain` is not
 * signed itself: `fp`, which is, commits to it (a chain that does not hash to
 * `fp` is malformed).
 *
 * `fp` (the chain fingerprint, which lets most messages leave `chain` out) is
 * base64url(SHA-256(for each certificate, leaf first: its DER length as a
 * 4-byte big-endian integer, then the DER)). The full `chain` (base64 DER,
 * leaf first) travels on a sender's first message, whenever its SVID
 * changes, every `chainEvery` messages, and on any message sealed with
 * `withChain`; otherwise only `fp`, and receivers use the chain they
 * verified and cached under it.
 */
import { X509Certificate, createHash, sign, verify, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import {
  MAX_CHAIN_LENGTH,
  parseGatewaySpiffeId,
  verifyX509Svid,
  type BundleLookup,
  type GatewayIdentity,
  type TrustBundle,
  type X509Svid,
} from '../identity/index.js';
import { fail, ok, type Result } from '../result/index.js';
import { isValidMemberId } from './subjects.js';
import type { Clock } from './types.js';

export const ENVELOPE_VERSION = 1;
/** The budget for one gossip message (docs/architecture.md, Membership): larger messages are dropped. */
export const MAX_ENVELOPE_BYTES = 64 * 1024;
/** Clock skew tolerated between clusters: timestamps more than 30 s off are refused (docs/architecture.md, Membership). */
export const DEFAULT_SKEW_MS = 30_000;
export const DEFAULT_REPLAY_WINDOW = 1024;
export const DEFAULT_CHAIN_CACHE_SIZE = 1024;
/** Senders tracked for replay; only verified gateways get an entry, so this is far above any federation's size. */
export const DEFAULT_SENDER_LIMIT = 4096;
/** A sender re-attaches its chain this often, so a member that joined late (or lost its cache) recovers within a few messages. */
export const DEFAULT_CHAIN_EVERY = 16;
const SIGNING_CONTEXT = 'meshgate-envelope-v1\n';
/**
 * seq starts at clock (ms) × 1024 and counts up by one: a restarted sender
 * begins above anything its previous run sent (unless it sent more than 1024
 * messages per millisecond of uptime) without persisting a counter, and
 * stays a safe integer until the year 2248.
 */
const SEQ_PER_MS = 1024;

const KIND = /^[A-Za-z0-9_.-]{1,64}$/;
const BASE64URL_SIG = /^[A-Za-z0-9_-]{86}$/; // 64 bytes: P-256 r ‖ s
const BASE64URL_FP = /^[A-Za-z0-9_-]{43}$/; // 32 bytes: SHA-256
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

// ===========================================================================
// Shapes

/** The envelope as it travels (JSON). */
export interface Envelope<B = unknown> {
  readonly v: 1;
  /** `<cluster>.<replica>` of the sending gateway. */
  readonly from: string;
  readonly seq: number;
  /** Sender's clock (ms) when sealed. */
  readonly ts: number;
  readonly kind: string;
  readonly body: B;
  /** Fingerprint of the sender's certificate chain (see the file comment). */
  readonly fp: string;
  /** base64url ES256 signature (IEEE P1363 r ‖ s) over canonicalBytes. */
  readonly sig: string;
  /** The chain, base64 DER leaf first, when attached. */
  readonly chain?: readonly string[];
}

export type SignedFields<B = unknown> = Pick<Envelope<B>, 'v' | 'from' | 'seq' | 'ts' | 'kind' | 'body' | 'fp'>;

/** Who signed an accepted envelope: a gateway of `cluster`, member id `<cluster>.<replica>`. */
export type SignerIdentity = GatewayIdentity;

/**
 * Why an envelope was dropped; stable strings for metrics and debug logs.
 * `wrong-trust-domain` is a gateway SVID naming a cluster whose trust domain
 * is known to be another; `internal-error` is a bug, never expected.
 */
export type EnvelopeRejectReason =
  | 'oversized'
  | 'malformed'
  | 'unknown-version'
  | 'unsigned'
  | 'bad-signature'
  | 'unknown-chain'
  | 'untrusted-chain'
  | 'not-a-gateway'
  | 'sender-mismatch'
  | 'wrong-trust-domain'
  | 'stale'
  | 'replay'
  | 'internal-error';

/** Why an envelope was refused: a stable reason to count, and a detail for people. */
export interface Rejection {
  readonly reason: EnvelopeRejectReason;
  readonly detail?: string;
  /**
   * For 'unknown-chain': the member the envelope says it is from, to ask for
   * the chain (its claim is unchecked until the chain has come and verifies).
   */
  readonly from?: string;
}

/** An accepted envelope and the gateway that signed it. */
export interface OpenedEnvelope<B = unknown> {
  readonly envelope: Envelope<B>;
  readonly signer: SignerIdentity;
}

export type OpenResult<B = unknown> = Result<OpenedEnvelope<B>, Rejection>;

// ===========================================================================
// Canonical bytes and fingerprints

/**
 * Deterministic JSON: sorted keys, no whitespace, JSON.stringify's number
 * and string forms. Properties whose value is undefined are left out and
 * undefined array items written as null, as JSON.stringify would, so the
 * bytes match what a receiver computes from the parsed message. Non-JSON
 * values (NaN, Infinity, bigint, functions, symbols) throw a TypeError, as
 * does nesting deeper than 64 levels.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, 0);
}

const MAX_DEPTH = 64;

function canonical(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new TypeError(`canonicalJson: nested deeper than ${MAX_DEPTH} levels`);
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item: unknown) => (item === undefined ? 'null' : canonical(item, depth + 1))).join(',')}]`;
      const record = value as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(record).sort()) {
        const item = record[key];
        if (item === undefined) continue;
        parts.push(`${JSON.stringify(key)}:${canonical(item, depth + 1)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} is not JSON`);
  }
}

const encoder = new TextEncoder();

/** The bytes `sig` covers (see the file comment); fields other than these seven are never signed. */
export function canonicalBytes(fields: SignedFields): Uint8Array {
  const { v, from, seq, ts, kind, body, fp } = fields;
  return encoder.encode(SIGNING_CONTEXT + canonicalJson({ v, from, seq, ts, kind, body, fp }));
}

/** base64url(SHA-256 over each certificate as 4-byte big-endian length ‖ DER), leaf first. */
export function chainFingerprint(chain: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  const length = Buffer.alloc(4);
  for (const der of chain) {
    length.writeUInt32BE(der.byteLength);
    hash.update(length);
    hash.update(der);
  }
  return hash.digest('base64url');
}

/** The envelope as bytes on the wire (UTF-8 JSON). */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return encoder.encode(JSON.stringify(envelope));
}

const isP256 = (key: KeyObject): boolean => key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';

// ===========================================================================
// Sealing

export interface EnvelopeSignerOptions {
  /** The current X509-SVID: read on every seal, so a renewal takes effect on the next message. */
  readonly svid: () => X509Svid;
  /** This gateway's member id, `<cluster>.<replica>`. */
  readonly from: string;
  /** Attach the chain every this many messages (default DEFAULT_CHAIN_EVERY). */
  readonly chainEvery?: number;
}

interface PreparedSvid {
  readonly svid: X509Svid;
  readonly fp: string;
  readonly chain: readonly string[];
}

export class EnvelopeSigner {
  readonly from: string;
  readonly #svid: () => X509Svid;
  readonly #chainEvery: number;
  #prepared: PreparedSvid | undefined;
  #seq: number | undefined;
  #sinceChain = 0;

  constructor(options: EnvelopeSignerOptions) {
    if (!isValidMemberId(options.from)) {
      throw new TypeError(`from ${JSON.stringify(options.from)} is not a member id (<cluster>.<replica>)`);
    }
    const chainEvery = options.chainEvery ?? DEFAULT_CHAIN_EVERY;
    if (!Number.isSafeInteger(chainEvery) || chainEvery < 1) throw new TypeError(`chainEvery ${chainEvery} is not a positive integer`);
    this.from = options.from;
    this.#svid = options.svid;
    this.#chainEvery = chainEvery;
  }

  /**
   * Seal `body` (any JSON value; it is normalized through JSON so that what
   * is signed is what the receiver parses). Throws when the SVID cannot sign
   * as `from` (not a gateway SVID naming this member, or not a P-256 key):
   * a misconfiguration that would otherwise make every receiver drop us.
   */
  seal<B>(kind: string, body: B, now: number, options: { readonly withChain?: boolean } = {}): Envelope<B> {
    if (!KIND.test(kind)) throw new TypeError(`kind ${JSON.stringify(kind)} is not a valid message kind`);
    if (!Number.isFinite(now)) throw new TypeError(`now ${now} is not a time`);
    const prepared = this.#prepare();
    const svidChanged = prepared !== this.#prepared;
    this.#prepared = prepared;

    this.#seq = this.#seq === undefined ? Math.max(0, Math.floor(now)) * SEQ_PER_MS : this.#seq + 1;
    const attach = svidChanged || options.withChain === true || this.#sinceChain + 1 >= this.#chainEvery;
    this.#sinceChain = attach ? 0 : this.#sinceChain + 1;

    const normalized = JSON.parse(JSON.stringify(body) ?? 'null') as B;
    const fields: SignedFields<B> = { v: ENVELOPE_VERSION, from: this.from, seq: this.#seq, ts: now, kind, body: normalized, fp: prepared.fp };
    const sig = sign('sha256', canonicalBytes(fields), { key: prepared.svid.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return attach ? { ...fields, sig, chain: prepared.chain } : { ...fields, sig };
  }

  #prepare(): PreparedSvid {
    const svid = this.#svid();
    if (this.#prepared?.svid === svid) return this.#prepared;
    const gateway = parseGatewaySpiffeId(svid.spiffeId);
    if (!gateway) throw new Error(`EnvelopeSigner: the SVID ${svid.spiffeId} is not a gateway identity (spiffe://<td>/meshgate/gateway/<cluster>/<replica>)`);
    if (`${gateway.cluster}.${gateway.replica}` !== this.from) {
      throw new Error(`EnvelopeSigner: the SVID ${svid.spiffeId} names gateway ${gateway.cluster}.${gateway.replica}, not ${this.from}`);
    }
    if (!isP256(svid.privateKey)) throw new Error('EnvelopeSigner: the SVID key is not an EC P-256 key (ES256)');
    return {
      svid,
      fp: chainFingerprint(svid.chain),
      chain: svid.chain.map((der) => Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64')),
    };
  }
}

// ===========================================================================
// Reading an envelope off the wire

const decoder = new TextDecoder('utf-8', { fatal: true });
const FIELDS = new Set(['v', 'from', 'seq', 'ts', 'kind', 'body', 'fp', 'sig', 'chain']);

type Reject = Result<never, Rejection>;
const reject = (reason: EnvelopeRejectReason, detail?: string): Reject => fail(detail === undefined ? { reason } : { reason, detail });

interface ParsedEnvelope {
  readonly envelope: Envelope;
  /** The decoded chain when attached. */
  readonly chain: readonly Uint8Array[] | undefined;
}

/** Decode and check the shape; no cryptography, no state. */
function parseEnvelope(raw: Uint8Array): Result<ParsedEnvelope, Rejection> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(raw));
  } catch {
    return reject('malformed', 'not UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return reject('malformed', 'not a JSON object');
  const e = value as Record<string, unknown>;
  // The version first: a later version may have other fields.
  if (!Object.hasOwn(e, 'v')) return reject('malformed', 'no v');
  if (e.v !== ENVELOPE_VERSION) return reject(typeof e.v === 'number' ? 'unknown-version' : 'malformed', `v is ${JSON.stringify(e.v)}`);
  for (const key of Object.keys(e)) if (!FIELDS.has(key)) return reject('malformed', `unknown field ${JSON.stringify(key.slice(0, 40))}`);
  if (e.sig === undefined || e.sig === null || e.sig === '') return reject('unsigned');
  if (typeof e.sig !== 'string' || !BASE64URL_SIG.test(e.sig)) return reject('malformed', 'sig is not a base64url ES256 signature');
  const { from, seq, ts, kind, fp } = e;
  if (!isValidMemberId(from)) return reject('malformed', 'from is not a member id');
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) return reject('malformed', 'seq is not a non-negative safe integer');
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return reject('malformed', 'ts is not a number');
  if (typeof kind !== 'string' || !KIND.test(kind)) return reject('malformed', 'kind is not a valid kind');
  if (!Object.hasOwn(e, 'body')) return reject('malformed', 'no body');
  if (typeof fp !== 'string' || !BASE64URL_FP.test(fp)) return reject('malformed', 'fp is not a base64url SHA-256');

  let chain: Uint8Array[] | undefined;
  if (Object.hasOwn(e, 'chain')) {
    if (!Array.isArray(e.chain) || e.chain.length === 0 || e.chain.length > MAX_CHAIN_LENGTH) return reject('malformed', 'chain is not a list of 1 to 8 certificates');
    chain = [];
    for (const item of e.chain as unknown[]) {
      if (typeof item !== 'string' || item.length % 4 !== 0 || !BASE64.test(item)) return reject('malformed', 'chain holds something other than base64');
      const der = Buffer.from(item, 'base64');
      if (der.toString('base64') !== item) return reject('malformed', 'chain holds non-canonical base64');
      chain.push(new Uint8Array(der.buffer, der.byteOffset, der.byteLength));
    }
    if (chainFingerprint(chain) !== fp) return reject('malformed', 'chain does not match fp');
  }
  return ok({ envelope: e as unknown as Envelope, chain });
}

// ===========================================================================
// Replay protection

/**
 * The sequence numbers accepted from one sender, as IPsec's anti-replay
 * window (RFC 4303 §3.4.3): the highest seen and a bitmap of the `size`
 * below it. Anything at or below highest − size is refused: we can no longer
 * tell whether it was seen.
 */
class ReplayWindow {
  readonly #size: number;
  readonly #bits: Uint32Array;
  #highest = -1;
  /** The newest ts accepted: once it is older than the skew allowance, every message we accepted would be refused as stale anyway. */
  maxTs = Number.NEGATIVE_INFINITY;

  constructor(size: number) {
    this.#size = size;
    this.#bits = new Uint32Array(Math.ceil(size / 32));
  }

  seen(seq: number): boolean {
    if (seq > this.#highest) return false;
    if (seq <= this.#highest - this.#size) return true;
    return this.#bit(seq);
  }

  accept(seq: number, ts: number): void {
    if (seq > this.#highest) {
      if (this.#highest < 0 || seq - this.#highest >= this.#size) this.#bits.fill(0);
      else for (let s = this.#highest + 1; s < seq; s++) this.#setBit(s, false);
      this.#highest = seq;
    }
    this.#setBit(seq, true);
    if (ts > this.maxTs) this.maxTs = ts;
  }

  #bit(seq: number): boolean {
    const i = seq % this.#size;
    return ((this.#bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
  }

  #setBit(seq: number, on: boolean): void {
    const i = seq % this.#size;
    const word = this.#bits[i >>> 5] as number;
    this.#bits[i >>> 5] = on ? word | (1 << (i & 31)) : word & ~(1 << (i & 31));
  }
}

// ===========================================================================
// Opening

export interface EnvelopeVerifierOptions {
  /** The bundle of exactly this trust domain (TrustStore.bundleFor). */
  readonly bundleFor: BundleLookup;
  readonly clock: Clock;
  readonly maxBytes?: number;
  readonly skewMs?: number;
  readonly replayWindow?: number;
  readonly chainCacheSize?: number;
  readonly senderLimit?: number;
  /**
   * The trust domain a cluster's gateways must belong to, when known (our own
   * cluster's from config, others' from federation config). In the
   * shared-root model any cluster's CA can mint `…/meshgate/gateway/<any
   * cluster>/…` within its own domain: without this binding, eu-west's CA
   * could speak for us-east. Unknown (undefined) means no binding is checked.
   */
  readonly trustDomainOfCluster?: (cluster: string) => string | undefined;
}

/** A chain verified once and trusted by fingerprint until its NotAfter or a change of its bundle. */
interface VerifiedChain {
  readonly chain: readonly Uint8Array[];
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly gateway: SignerIdentity | undefined;
  readonly publicKey: KeyObject;
  /** Earliest NotAfter on the validated path (ms). */
  readonly notAfter: number;
  /** The bundle it was verified against: a different object means the bundle changed and the chain is checked again. */
  readonly bundle: TrustBundle | undefined;
}

type ChainOutcome = Result<VerifiedChain, Rejection>;

export class EnvelopeVerifier {
  readonly #bundleFor: BundleLookup;
  readonly #clock: Clock;
  readonly #maxBytes: number;
  readonly #skewMs: number;
  readonly #windowSize: number;
  readonly #trustDomainOfCluster: ((cluster: string) => string | undefined) | undefined;
  // Bounded by count only: lru-cache's TTLs run on their own timers and
  // clock, while expiry here must follow the injected Clock (checked on read).
  readonly #chains: LRUCache<string, VerifiedChain>;
  readonly #windows: LRUCache<string, ReplayWindow>;
  readonly #verifying = new Map<string, Promise<ChainOutcome>>();

  constructor(options: EnvelopeVerifierOptions) {
    this.#bundleFor = options.bundleFor;
    this.#clock = options.clock;
    this.#maxBytes = options.maxBytes ?? MAX_ENVELOPE_BYTES;
    this.#skewMs = options.skewMs ?? DEFAULT_SKEW_MS;
    this.#windowSize = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    if (!Number.isSafeInteger(this.#windowSize) || this.#windowSize < 1) throw new TypeError(`replayWindow ${this.#windowSize} is not a positive integer`);
    this.#trustDomainOfCluster = options.trustDomainOfCluster;
    this.#chains = new LRUCache({ max: options.chainCacheSize ?? DEFAULT_CHAIN_CACHE_SIZE });
    this.#windows = new LRUCache({ max: options.senderLimit ?? DEFAULT_SENDER_LIMIT });
  }

  /** Verified chains held (for /debug and tests). */
  get cachedChains(): number {
    return this.#chains.size;
  }

  /** Drop every cached chain, e.g. when a trust domain is removed from federation. */
  forgetChains(): void {
    this.#chains.clear();
  }

  /** Check one message off the wire. Never throws: a rejection carries a stable reason and a detail for the debug log. */
  async open<B = unknown>(raw: Uint8Array): Promise<OpenResult<B>> {
    return this.#guarded<B>(raw, false);
  }

  /**
   * Check an envelope another member passed on (an owner's signed health
   * record relayed by anti-entropy): everything but freshness and replay,
   * which cannot hold for a copy of an old message. Safe for records only:
   * their (generation, version) order makes a repeat or an old copy harmless.
   */
  async openRelayed<B = unknown>(raw: Uint8Array): Promise<OpenResult<B>> {
    return this.#guarded<B>(raw, true);
  }

  async #guarded<B>(raw: Uint8Array, relayed: boolean): Promise<OpenResult<B>> {
    try {
      return (await this.#open(raw, relayed)) as OpenResult<B>;
    } catch (err) {
      return reject('internal-error', err instanceof Error ? err.message : String(err));
    }
  }

  async #open(raw: Uint8Array, relayed: boolean): Promise<OpenResult> {
    if (!(raw instanceof Uint8Array)) return reject('malformed', 'not bytes');
    if (raw.byteLength > this.#maxBytes) return reject('oversized', `${raw.byteLength} bytes; at most ${this.#maxBytes}`);
    const parsed = parseEnvelope(raw);
    if (!parsed.ok) return parsed;
    const { envelope, chain } = parsed.value;

    // Cheap checks before any cryptography, so floods of old or repeated messages cost little.
    const now = this.#clock.now();
    if (!relayed && Math.abs(envelope.ts - now) > this.#skewMs) return reject('stale', `ts is ${Math.round(envelope.ts - now)} ms from our clock`);
    if (!relayed && this.#window(envelope.from, now)?.seen(envelope.seq)) return reject('replay', `seq ${envelope.seq} from ${envelope.from}`);

    const verified = await this.#chainFor(envelope.fp, chain, now);
    if (!verified.ok) return verified.error.reason === 'unknown-chain' ? fail({ ...verified.error, from: envelope.from }) : verified;
    const { gateway, trustDomain } = verified.value;
    if (!gateway) return reject('not-a-gateway', verified.value.spiffeId);
    if (`${gateway.cluster}.${gateway.replica}` !== envelope.from) return reject('sender-mismatch', `from ${envelope.from}, signed by ${gateway.spiffeId}`);
    const expected = this.#trustDomainOfCluster?.(gateway.cluster);
    if (expected !== undefined && expected !== trustDomain) {
      return reject('wrong-trust-domain', `cluster ${gateway.cluster} belongs to ${expected}, not ${trustDomain}`);
    }

    let bytes: Uint8Array;
    try {
      bytes = canonicalBytes(envelope);
    } catch (err) {
      return reject('malformed', (err as Error).message);
    }
    const signature = Buffer.from(envelope.sig, 'base64url');
    if (!verify('sha256', bytes, { key: verified.value.publicKey, dsaEncoding: 'ieee-p1363' }, signature)) {
      return reject('bad-signature', `from ${envelope.from}`);
    }

    if (relayed) return ok({ envelope, signer: gateway });
    // Check again and record in one synchronous step: another open of the
    // same message may have finished while this one awaited the chain.
    let window = this.#window(envelope.from, now);
    if (window?.seen(envelope.seq)) return reject('replay', `seq ${envelope.seq} from ${envelope.from}`);
    if (!window) this.#windows.set(envelope.from, (window = new ReplayWindow(this.#windowSize)));
    window.accept(envelope.seq, envelope.ts);
    return ok({ envelope, signer: gateway });
  }

  /**
   * The replay window of a sender, or undefined when there is none worth
   * keeping: once the newest message we accepted from it is beyond the skew
   * allowance, every message we ever accepted from it would be refused as
   * stale, so forgetting is safe, and it lets a sender whose clock (and so
   * whose starting seq) went back across a restart be heard again.
   */
  #window(from: string, now: number): ReplayWindow | undefined {
    const window = this.#windows.get(from);
    if (window && now - window.maxTs > this.#skewMs) {
      this.#windows.delete(from);
      return undefined;
    }
    return window;
  }

  async #chainFor(fp: string, chain: readonly Uint8Array[] | undefined, now: number): Promise<ChainOutcome> {
    const cached = this.#chains.get(fp);
    if (cached) {
      if (cached.notAfter <= now) {
        this.#chains.delete(fp);
        return reject('untrusted-chain', `the chain ${fp} expired at ${new Date(cached.notAfter).toISOString()}`);
      }
      if (this.#bundleFor(cached.trustDomain) === cached.bundle) return ok(cached);
      // The bundle changed (rotation, refresh, removal): check the chain we hold against the new one.
      // The entry stays meanwhile, so messages arriving during the check wait for it rather than miss.
      return this.#verifyOnce(fp, cached.chain, now);
    }
    if (!chain) return reject('unknown-chain', `no chain cached for ${fp}`);
    return this.#verifyOnce(fp, chain, now);
  }

  /** Many messages from one sender arrive together: check its chain once. */
  #verifyOnce(fp: string, chain: readonly Uint8Array[], now: number): Promise<ChainOutcome> {
    let pending = this.#verifying.get(fp);
    if (!pending) {
      pending = this.#verifyChain(fp, chain, now).finally(() => this.#verifying.delete(fp));
      this.#verifying.set(fp, pending);
    }
    return pending;
  }

  async #verifyChain(fp: string, chain: readonly Uint8Array[], now: number): Promise<ChainOutcome> {
    const outcome = await this.#checkChain(chain, now);
    if (outcome.ok) this.#chains.set(fp, outcome.value);
    else this.#chains.delete(fp);
    return outcome;
  }

  async #checkChain(chain: readonly Uint8Array[], now: number): Promise<ChainOutcome> {
    let result: Awaited<ReturnType<typeof verifyX509Svid>>;
    try {
      result = await verifyX509Svid(chain, this.#bundleFor, new Date(now));
    } catch (err) {
      const rule = (err as { rule?: unknown }).rule;
      return reject('untrusted-chain', typeof rule === 'string' ? `${rule}: ${(err as Error).message}` : String(err));
    }
    let publicKey: KeyObject;
    const notAfter = result.notAfter.getTime();
    try {
      publicKey = new X509Certificate(chain[0] as Uint8Array).publicKey;
    } catch (err) {
      return reject('untrusted-chain', `the chain does not parse: ${(err as Error).message}`);
    }
    if (!isP256(publicKey)) return reject('untrusted-chain', 'the leaf key is not EC P-256, so it cannot sign ES256');
    if (!Number.isFinite(notAfter)) return reject('untrusted-chain', 'the chain has no readable NotAfter');
    const value: VerifiedChain = {
      chain: chain.map((der) => der.slice()),
      spiffeId: result.spiffeId,
      trustDomain: result.trustDomain,
      gateway: parseGatewaySpiffeId(result.spiffeId),
      publicKey,
      notAfter,
      bundle: this.#bundleFor(result.trustDomain),
    };
    return ok(value);
  }
}
