/**
 * Trust bundles: SPIFFE bundle JSON (a JWK Set; identity.md §1.4, §5.3), the
 * bundle map `{"trust_domains": {...}}`, PEM files of CA certificates, and
 * the encodings they share (strict JSON, PEM, concatenated DER).
 *
 * Bundles arrive from other clusters, files and bundle endpoints, so every
 * byte is hostile until checked: the parsers here are strict where the
 * formats let a producer be ambiguous (duplicate keys, several `x5c`
 * elements, corrupt base64) and lenient only where the spec says to ignore
 * (unknown `use` or `kty`, a missing `x5c`).
 */
import { createPublicKey, type JsonWebKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BundleError, EncodingError, IdentityError, type BundleRule } from './errors.js';
import { parseTrustDomain } from './spiffe-id.js';
import type { JwtAuthority, TrustBundle } from './types.js';

// ===========================================================================
// Strict JSON

/** A parsed JSON document that remembers the source text of its numbers. */
export interface StrictJson {
  readonly value: unknown;
  /**
   * The number token as written for `holder[key]`, e.g. to read a 64-bit
   * integer that a JS number would round. Undefined unless that member is a number.
   */
  rawNumber(holder: object, key: string): string | undefined;
}

const MAX_JSON_DEPTH = 64;
const SIMPLE_ESCAPES = new Map([
  ['"', '"'],
  ['\\', '\\'],
  ['/', '/'],
  ['b', '\b'],
  ['f', '\f'],
  ['n', '\n'],
  ['r', '\r'],
  ['t', '\t'],
]);
const NUMBER_TOKEN = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * RFC 8259 JSON, rejecting duplicate object keys (JSON.parse silently keeps
 * the last, which lets two readers of one document see two different
 * bundles or JWT headers). Throws EncodingError ('json' or
 * 'json-duplicate-key') with the offset or the key's path.
 */
export function parseStrictJson(text: string): StrictJson {
  const raw = new WeakMap<object, Map<string, string>>();
  const reader = new JsonReader(text, raw);
  const value = reader.document();
  return {
    value,
    rawNumber: (holder, key) => raw.get(holder)?.get(key),
  };
}

class JsonReader {
  private pos = 0;
  private lastNumber: string | undefined;
  private readonly path: (string | number)[] = [];

  constructor(
    private readonly text: string,
    private readonly raw: WeakMap<object, Map<string, string>>,
  ) {}

  document(): unknown {
    this.ws();
    const value = this.value(0);
    this.ws();
    if (this.pos < this.text.length) this.fail('unexpected data after the JSON value');
    return value;
  }

  private value(depth: number): unknown {
    if (depth > MAX_JSON_DEPTH) this.fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    this.lastNumber = undefined;
    const c = this.text[this.pos];
    switch (c) {
      case '{':
        return this.object(depth);
      case '[':
        return this.array(depth);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        return this.number();
    }
  }

  private object(depth: number): Record<string, unknown> {
    this.pos++;
    const obj: Record<string, unknown> = {};
    const seen = new Set<string>();
    let numbers: Map<string, string> | undefined;
    this.ws();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return obj;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] !== '"') this.fail('expected a string key');
      const key = this.string();
      if (seen.has(key)) {
        throw new EncodingError('json-duplicate-key', `duplicate key ${JSON.stringify(key)} in ${this.where()}`, {
          key,
          path: this.where(),
        });
      }
      seen.add(key);
      this.ws();
      if (this.text[this.pos] !== ':') this.fail('expected ":"');
      this.pos++;
      this.ws();
      this.path.push(key);
      const value = this.value(depth + 1);
      this.path.pop();
      if (this.lastNumber !== undefined) (numbers ??= new Map()).set(key, this.lastNumber);
      // defineProperty, not assignment: a "__proto__" key must stay data, not swap the prototype.
      Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
      this.ws();
      const sep = this.text[this.pos++];
      if (sep === '}') break;
      if (sep !== ',') this.fail('expected "," or "}"', this.pos - 1);
    }
    if (numbers) this.raw.set(obj, numbers);
    this.lastNumber = undefined;
    return obj;
  }

  private array(depth: number): unknown[] {
    this.pos++;
    const arr: unknown[] = [];
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return arr;
    }
    for (;;) {
      this.ws();
      this.path.push(arr.length);
      arr.push(this.value(depth + 1));
      this.path.pop();
      this.ws();
      const sep = this.text[this.pos++];
      if (sep === ']') break;
      if (sep !== ',') this.fail('expected "," or "]"', this.pos - 1);
    }
    this.lastNumber = undefined;
    return arr;
  }

  private string(): string {
    const start = ++this.pos;
    let out = '';
    let chunk = start;
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated string', start - 1);
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x22) {
        out += this.text.slice(chunk, this.pos++);
        return out;
      }
      if (c < 0x20) this.fail('control character in a string');
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += this.text.slice(chunk, this.pos);
      const e = this.text[this.pos + 1] ?? '';
      const simple = SIMPLE_ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
        this.pos += 2;
      } else if (e === 'u') {
        const hex = this.text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 6;
      } else {
        this.fail('bad escape');
      }
      chunk = this.pos;
    }
  }

  private number(): number {
    NUMBER_TOKEN.lastIndex = this.pos;
    const m = NUMBER_TOKEN.exec(this.text);
    if (!m) this.fail(this.pos >= this.text.length ? 'unexpected end of input' : 'unexpected character');
    this.pos += m[0].length;
    this.lastNumber = m[0];
    return Number(m[0]);
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('unexpected character');
    this.pos += word.length;
    return value;
  }

  private ws(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.pos++;
    }
  }

  private where(): string {
    return '$' + this.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
  }

  private fail(message: string, at = this.pos): never {
    const near = at < this.text.length ? ` near ${JSON.stringify(this.text.slice(at, at + 12))}` : '';
    throw new EncodingError('json', `invalid JSON: ${message} at offset ${at}${near}`, { offset: at });
  }
}

/** Bytes must be valid UTF-8 (RFC 8259 §8.1); a lenient decode would turn garbage into U+FFFD silently. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    throw new EncodingError('utf8', 'not valid UTF-8', {}, { cause: err });
  }
}

// ===========================================================================
// Base64, PEM and DER

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Standard padded base64 only; Buffer.from(…, 'base64') alone skips junk and would accept corrupt text. */
export function decodeBase64Strict(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64');
  // Re-encoding catches stray characters, missing padding and non-zero trailing bits in one test.
  if (text.length % 4 !== 0 || !BASE64.test(text) || bytes.toString('base64') !== text) {
    throw new EncodingError('base64', 'not valid base64');
  }
  return new Uint8Array(bytes);
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
}

// RFC 7468 labelchar: printable ASCII except "-", with single inner "-" or space.
const PEM_LABEL = /^[\x21-\x2c\x2e-\x7e](?:[- ]?[\x21-\x2c\x2e-\x7e])*$/;
const PEM_BEGIN = /^-----BEGIN (.*)-----$/;

/**
 * Every PEM block in `pem`, in order. Text between blocks is allowed (RFC
 * 7468, and what `openssl x509 -text` writes) but any other line that looks
 * like a boundary is an error, as are unterminated blocks, mismatched END
 * labels, corrupt base64 and a body that is not exactly one DER element:
 * a damaged file must fail loudly rather than load fewer certificates.
 */
export function parsePemBlocks(pem: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const lines = pem.split(/\r?\n/);
  let label: string | undefined;
  let body: string[] = [];
  let beganAt = 0;
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (label === undefined) {
      if (!line.startsWith('-----')) continue;
      const m = PEM_BEGIN.exec(line);
      if (!m || !PEM_LABEL.test(m[1] as string)) throw pemError(`line ${n + 1}: malformed PEM boundary ${JSON.stringify(line)}`);
      label = m[1] as string;
      body = [];
      beganAt = n + 1;
      continue;
    }
    if (line === `-----END ${label}-----`) {
      blocks.push({ label, der: pemBody(body.join(''), label, beganAt) });
      label = undefined;
      continue;
    }
    if (line.startsWith('-----')) throw pemError(`line ${n + 1}: expected "-----END ${label}-----" for the block begun on line ${beganAt}`);
    body.push(line.replace(/[ \t]/g, ''));
  }
  if (label !== undefined) throw pemError(`the ${label} block begun on line ${beganAt} has no END line`);
  return blocks;
}

function pemBody(b64: string, label: string, line: number): Uint8Array {
  if (b64 === '') throw pemError(`the ${label} block on line ${line} is empty`);
  let der: Uint8Array;
  try {
    der = decodeBase64Strict(b64);
  } catch (err) {
    throw pemError(`the ${label} block on line ${line} is not valid base64`, err);
  }
  try {
    const end = derElementEnd(der, 0, false);
    if (end !== der.length) throw new EncodingError('der', `${der.length - end} bytes after the DER element`);
  } catch (err) {
    throw pemError(`the ${label} block on line ${line} is not one DER element: ${(err as Error).message}`, err);
  }
  return der;
}

function pemError(message: string, cause?: unknown): EncodingError {
  return new EncodingError('pem', `invalid PEM: ${message}`, {}, cause === undefined ? undefined : { cause });
}

/** The DER bodies of a PEM file whose blocks all carry `label` (another label is an error). */
export function pemToDers(pem: string, label = 'CERTIFICATE'): Uint8Array[] {
  return parsePemBlocks(pem).map((b, i) => {
    if (b.label !== label) throw pemError(`block ${i + 1} is ${JSON.stringify(b.label)}; expected only ${JSON.stringify(label)}`);
    return b.der;
  });
}

export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = encodeBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export function concatDer(ders: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(ders.reduce((n, d) => n + d.length, 0));
  let off = 0;
  for (const d of ders) {
    out.set(d, off);
    off += d.length;
  }
  return out;
}

/**
 * Split concatenated DER certificates (how the Workload API carries chains
 * and bundles) by walking the outer SEQUENCE headers. Empty input is an empty
 * list (an empty bundle is legal); a truncated element, a non-SEQUENCE or a
 * non-DER length is an EncodingError. Returns copies.
 */
export function splitConcatenatedDer(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < buf.length) {
    const end = derElementEnd(buf, off, true);
    out.push(buf.slice(off, end));
    off = end;
  }
  return out;
}

/** The offset just past the DER element starting at `off`. */
function derElementEnd(buf: Uint8Array, off: number, sequenceOnly: boolean): number {
  const fail = (message: string): never => {
    throw new EncodingError('der', `${message} (element at offset ${off})`, { offset: off });
  };
  const tag = buf[off] as number;
  if (sequenceOnly && tag !== 0x30) fail(`expected a SEQUENCE (0x30), found 0x${tag.toString(16).padStart(2, '0')}`);
  // Multi-byte tags never start a certificate, key or CRL; refusing them keeps the walk simple.
  if ((tag & 0x1f) === 0x1f) fail('high-tag-number form is not supported');
  if (off + 1 >= buf.length) fail('truncated: no length byte');
  const first = buf[off + 1] as number;
  let header = 2;
  let length = first;
  if (first === 0x80) fail('indefinite length is not DER');
  if (first > 0x80) {
    const n = first & 0x7f;
    // 4 length bytes is already 4 GiB; more is garbage, not a certificate.
    if (n > 4) fail(`length of ${n} bytes is too large`);
    if (off + 2 + n > buf.length) fail('truncated: length bytes missing');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (buf[off + 2 + i] as number);
    if (buf[off + 2] === 0 || length < 0x80) fail('length is not in minimal (DER) form');
    header = 2 + n;
  }
  const end = off + header + length;
  if (end > buf.length) fail(`truncated: declares ${length} content bytes but only ${buf.length - off - header} remain`);
  return end;
}

// ===========================================================================
// SPIFFE bundle JSON

export interface BundleParseOptions {
  /** Where the bundle came from (a path or URL), for messages. */
  readonly source?: string;
}

const KNOWN_KTY = new Set(['EC', 'RSA', 'OKP']);
const PUBLIC_KEY_FIELDS: Readonly<Record<string, readonly string[]>> = {
  EC: ['crv', 'x', 'y'],
  RSA: ['n', 'e'],
  OKP: ['crv', 'x'],
};
const PRIVATE_KEY_FIELDS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** Parse one trust domain's bundle (a JWK Set with the SPIFFE members). */
export function parseSpiffeBundle(json: string | Uint8Array, trustDomain: string, options: BundleParseOptions = {}): TrustBundle {
  const where = describe(options.source, trustDomain);
  const td = checkTrustDomain(trustDomain, where);
  const doc = parseJsonDocument(json, where);
  return bundleFromJson(doc, doc.value, td, where);
}

/**
 * Parse `{"trust_domains": {"<td>": <bundle>, ...}}`. Keys are bare trust
 * domain names; duplicates anywhere in the document are errors. Each bundle
 * is stored with its own trust domain and never merged with another.
 */
export function parseBundleMap(json: string | Uint8Array, options: BundleParseOptions = {}): ReadonlyMap<string, TrustBundle> {
  const where = options.source === undefined ? 'bundle map' : `bundle map ${options.source}`;
  const doc = parseJsonDocument(json, where);
  const root = doc.value;
  if (!isObject(root)) throw new BundleError('json', `${where}: expected a JSON object`);
  const domains = root['trust_domains'];
  if (domains === undefined) throw new BundleError('trust-domains', `${where}: "trust_domains" is missing`);
  if (!isObject(domains)) throw new BundleError('trust-domains', `${where}: "trust_domains" must be an object`);
  const out = new Map<string, TrustBundle>();
  for (const [key, value] of Object.entries(domains)) {
    const td = checkTrustDomain(key, `${where}: trust_domains key ${JSON.stringify(key)}`);
    out.set(td, bundleFromJson(doc, value, td, `${where}: trust domain ${td}`));
  }
  return out;
}

/**
 * SPIFFE bundle JSON for `bundle`: X.509 authorities as `use: "x509-svid"`
 * with `x5c` and the certificate's public key fields, JWT authorities as JWKs
 * with `use: "jwt-svid"` and `kid`. Compact, members in SPIRE's order.
 */
export function serializeSpiffeBundle(bundle: TrustBundle): string {
  return stringifyWithSequences(bundleToJson(bundle));
}

/** The map form of several bundles; two bundles of one trust domain are an error. */
export function serializeBundleMap(bundles: Iterable<TrustBundle>): string {
  const domains: Record<string, unknown> = {};
  for (const b of bundles) {
    if (Object.hasOwn(domains, b.trustDomain)) throw new BundleError('duplicate-key', `two bundles for trust domain ${b.trustDomain}`);
    Object.defineProperty(domains, b.trustDomain, { value: bundleToJson(b), enumerable: true });
  }
  return stringifyWithSequences({ trust_domains: domains });
}

/**
 * A bundle file's contents, SPIFFE JSON or PEM (the config's `bundle:`
 * accepts either): JSON if it starts with "{", PEM if it has a BEGIN line.
 */
export function parseBundleText(content: string | Uint8Array, trustDomain: string, options: BundleParseOptions = {}): TrustBundle {
  const where = describe(options.source, trustDomain);
  // Editors on some systems prepend a byte-order mark to files; the formats themselves forbid one.
  const text = (typeof content === 'string' ? content : decode(content, where)).replace(/^\uFEFF/, '');
  if (text.trimStart().startsWith('{')) return parseSpiffeBundle(text, trustDomain, options);
  if (text.includes('-----BEGIN')) return parsePemBundle(text, trustDomain, options);
  throw new BundleError('format', `${where}: neither SPIFFE bundle JSON nor PEM`);
}

export async function loadBundleFile(path: string, trustDomain: string): Promise<TrustBundle> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new BundleError('file', `cannot read bundle file ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  return parseBundleText(bytes, trustDomain, { source: path });
}

/** A PEM file of CA certificates as a bundle with no JWT authorities. At least one certificate is required. */
export function parsePemBundle(pem: string, trustDomain: string, options: BundleParseOptions = {}): TrustBundle {
  const where = describe(options.source, trustDomain);
  const td = checkTrustDomain(trustDomain, where);
  let ders: Uint8Array[];
  try {
    ders = pemToDers(pem, 'CERTIFICATE');
  } catch (err) {
    throw new BundleError('pem', `${where}: ${(err as Error).message}`, {}, { cause: err });
  }
  // An empty JSON bundle is an explicit "all revoked"; an empty PEM file is far more likely a mistake.
  if (ders.length === 0) throw new BundleError('pem', `${where}: no certificates found`);
  ders.forEach((der, i) => checkCertificate(der, `${where}: certificate ${i + 1}`, 'pem'));
  return freezeBundle({ trustDomain: td, x509Authorities: ders, jwtAuthorities: [] });
}

// ---------------------------------------------------------------------------

const SEQUENCE_MARK = '\u0000spiffe_sequence:';
const SEQUENCE_SLOT = /"\\u0000spiffe_sequence:([0-9]+)"/g;

/**
 * JSON.stringify cannot write a bigint: each `spiffe_sequence` becomes a
 * string slot no real value can contain (an escaped NUL), and the slots are
 * then replaced by their digits.
 */
function stringifyWithSequences(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) => (key === 'spiffe_sequence' ? `${SEQUENCE_MARK}${String(v)}` : v)).replace(
    SEQUENCE_SLOT,
    (_slot, digits: string) => digits,
  );
}

function bundleToJson(bundle: TrustBundle): Record<string, unknown> {
  const where = `bundle of ${bundle.trustDomain}`;
  const keys: Record<string, unknown>[] = [];
  bundle.x509Authorities.forEach((der, i) => {
    const cert = checkCertificate(der, `${where}: x509 authority ${i + 1}`, 'x5c');
    const { kty, fields } = publicJwk(cert.publicKey);
    keys.push({ kty, use: 'x509-svid', x5c: [encodeBase64(der)], ...fields });
  });
  for (const a of bundle.jwtAuthorities) {
    if (a.kid === '') throw new BundleError('kid', `${where}: a JWT authority has an empty kid`);
    const pub = a.publicKey.type === 'private' ? createPublicKey(a.publicKey) : a.publicKey;
    if (pub.type !== 'public') throw new BundleError('jwk', `${where}: JWT authority ${a.kid} is not an asymmetric key`);
    const { kty, fields } = publicJwk(pub);
    keys.push({ kty, use: 'jwt-svid', kid: a.kid, ...fields });
  }
  const out: Record<string, unknown> = { keys };
  if (bundle.refreshHintSeconds !== undefined) {
    if (!Number.isSafeInteger(bundle.refreshHintSeconds) || bundle.refreshHintSeconds < 0) {
      throw new BundleError('refresh-hint', `${where}: refresh hint ${bundle.refreshHintSeconds} is not a whole number of seconds`);
    }
    out['spiffe_refresh_hint'] = bundle.refreshHintSeconds;
  }
  if (bundle.sequence !== undefined) {
    if (bundle.sequence < 0n || bundle.sequence > MAX_U64) throw new BundleError('sequence', `${where}: sequence ${bundle.sequence} is outside 0..2^64-1`);
    out['spiffe_sequence'] = bundle.sequence;
  }
  return out;
}

/** The key's public JWK members in a fixed order (Node's export order is not one a reader expects). */
function publicJwk(key: KeyObject): { kty: string; fields: Record<string, unknown> } {
  const jwk = key.export({ format: 'jwk' }) as Record<string, unknown>;
  const kty = String(jwk['kty']);
  const fields: Record<string, unknown> = {};
  for (const f of PUBLIC_KEY_FIELDS[kty] ?? Object.keys(jwk).filter((k) => k !== 'kty')) fields[f] = jwk[f];
  return { kty, fields };
}

const MAX_U64 = (1n << 64n) - 1n;
const UINT_TOKEN = /^(?:0|[1-9][0-9]*)$/;

function bundleFromJson(doc: StrictJson, root: unknown, trustDomain: string, where: string): TrustBundle {
  if (!isObject(root)) throw new BundleError('json', `${where}: expected a JSON object`);
  const keys = root['keys'];
  if (keys === undefined) throw new BundleError('keys', `${where}: "keys" is missing (an empty list would mean "all authorities revoked")`);
  if (!Array.isArray(keys)) throw new BundleError('keys', `${where}: "keys" must be a list`);

  const x509: Uint8Array[] = [];
  const jwt: JwtAuthority[] = [];
  keys.forEach((jwk, i) => {
    const at = `${where}: keys[${i}]`;
    if (!isObject(jwk)) throw new BundleError('jwk', `${at}: expected a JWK object`);
    const use = jwk['use'];
    // Spec: ignore a JWK whose use is missing or unknown (use is case-sensitive).
    if (use !== 'x509-svid' && use !== 'jwt-svid') return;
    const kty = jwk['kty'];
    if (typeof kty !== 'string') throw new BundleError('jwk', `${at}: "kty" is missing`);
    if (!KNOWN_KTY.has(kty)) return;
    for (const f of PRIVATE_KEY_FIELDS) {
      if (f in jwk) throw new BundleError('jwk', `${at}: holds private key material ("${f}"); a bundle carries public keys only`);
    }
    if (use === 'x509-svid') {
      const der = x509Entry(jwk, kty, at);
      if (der) x509.push(der);
    } else {
      const authority = jwtEntry(jwk, kty, at);
      if (jwt.some((a) => a.kid === authority.kid)) throw new BundleError('kid', `${at}: kid ${JSON.stringify(authority.kid)} appears twice`);
      jwt.push(authority);
    }
  });

  return freezeBundle({
    trustDomain,
    x509Authorities: x509,
    jwtAuthorities: jwt,
    sequence: readSequence(doc, root, where),
    refreshHintSeconds: readRefreshHint(doc, root, where),
  });
}

function x509Entry(jwk: Record<string, unknown>, kty: string, at: string): Uint8Array | undefined {
  if ('kid' in jwk) throw new BundleError('kid', `${at}: an x509-svid entry must not have "kid"`);
  const x5c = jwk['x5c'];
  if (x5c === undefined) return undefined;
  if (!Array.isArray(x5c)) throw new BundleError('x5c', `${at}: "x5c" must be a list`);
  if (x5c.length === 0) return undefined;
  // The spec says "use the first"; go-spiffe and grpc refuse, and a second
  // certificate that one reader uses and another ignores is a trap.
  if (x5c.length !== 1) throw new BundleError('x5c', `${at}: "x5c" has ${x5c.length} certificates; exactly one is allowed`);
  const b64 = x5c[0];
  if (typeof b64 !== 'string') throw new BundleError('x5c', `${at}: "x5c"[0] must be a base64 string`);
  let der: Uint8Array;
  try {
    der = decodeBase64Strict(b64);
  } catch (err) {
    throw new BundleError('x5c', `${at}: "x5c"[0] is not valid base64`, {}, { cause: err });
  }
  const cert = checkCertificate(der, `${at}: "x5c"[0]`, 'x5c');
  checkKeyFieldsMatch(jwk, kty, cert.publicKey, at);
  return der;
}

/** When the entry repeats the key, it must be the certificate's: two readers must not see two keys. */
function checkKeyFieldsMatch(jwk: Record<string, unknown>, kty: string, certKey: KeyObject, at: string): void {
  const certKty = certKey.export({ format: 'jwk' }).kty;
  if (certKty !== kty) throw new BundleError('jwk', `${at}: "kty" is ${kty} but the certificate's key is ${certKty}`);
  const fields = PUBLIC_KEY_FIELDS[kty] ?? [];
  if (!fields.some((f) => f in jwk)) return;
  if (!importPublicJwk(jwk, kty, at).equals(certKey)) {
    throw new BundleError('jwk', `${at}: the key fields (${fields.join(', ')}) do not match the certificate's public key`);
  }
}

function importPublicJwk(jwk: Record<string, unknown>, kty: string, at: string): KeyObject {
  const material: Record<string, unknown> = { kty };
  for (const f of PUBLIC_KEY_FIELDS[kty] ?? []) material[f] = jwk[f];
  try {
    return createPublicKey({ key: material as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new BundleError('jwk', `${at}: not a usable ${kty} public key: ${(err as Error).message}`, {}, { cause: err });
  }
}

function jwtEntry(jwk: Record<string, unknown>, kty: string, at: string): JwtAuthority {
  const kid = jwk['kid'];
  if (kid === undefined) throw new BundleError('kid', `${at}: a jwt-svid entry must have "kid"`);
  if (typeof kid !== 'string' || kid === '') throw new BundleError('kid', `${at}: "kid" must be a non-empty string`);
  return Object.freeze({ kid, publicKey: importPublicJwk(jwk, kty, at) });
}

function readSequence(doc: StrictJson, root: Record<string, unknown>, where: string): bigint | undefined {
  if (!('spiffe_sequence' in root)) return undefined;
  // Read from the source text: a JS number would round anything past 2^53.
  const raw = doc.rawNumber(root, 'spiffe_sequence');
  if (raw === undefined || !UINT_TOKEN.test(raw) || BigInt(raw) > MAX_U64) {
    throw new BundleError('sequence', `${where}: "spiffe_sequence" must be an integer in 0..2^64-1`, { raw: raw ?? null });
  }
  return BigInt(raw);
}

function readRefreshHint(doc: StrictJson, root: Record<string, unknown>, where: string): number | undefined {
  if (!('spiffe_refresh_hint' in root)) return undefined;
  const raw = doc.rawNumber(root, 'spiffe_refresh_hint');
  const value = Number(raw);
  if (raw === undefined || !UINT_TOKEN.test(raw) || !Number.isSafeInteger(value)) {
    throw new BundleError('refresh-hint', `${where}: "spiffe_refresh_hint" must be a whole number of seconds`, { raw: raw ?? null });
  }
  return value;
}

function checkCertificate(der: Uint8Array, what: string, rule: BundleRule): X509Certificate {
  try {
    // X509Certificate tolerates bytes after the certificate; the walk does not.
    if (splitConcatenatedDer(der).length !== 1) throw new EncodingError('der', 'more than one DER element');
    return new X509Certificate(der);
  } catch (err) {
    const reason = err instanceof IdentityError ? err.message : 'not a DER X.509 certificate';
    throw new BundleError(rule, `${what}: ${reason}`, {}, { cause: err });
  }
}

function checkTrustDomain(trustDomain: string, where: string): string {
  try {
    return parseTrustDomain(trustDomain);
  } catch (err) {
    throw new BundleError('trust-domain', `${where}: ${(err as Error).message}`, { trustDomain }, { cause: err });
  }
}

function parseJsonDocument(json: string | Uint8Array, where: string): StrictJson {
  const text = typeof json === 'string' ? json : decode(json, where);
  try {
    return parseStrictJson(text);
  } catch (err) {
    const rule: BundleRule = err instanceof EncodingError && err.rule === 'json-duplicate-key' ? 'duplicate-key' : 'json';
    throw new BundleError(rule, `${where}: ${(err as Error).message}`, {}, { cause: err });
  }
}

function decode(bytes: Uint8Array, where: string): string {
  try {
    return decodeUtf8Strict(bytes);
  } catch (err) {
    throw new BundleError('json', `${where}: ${(err as Error).message}`, {}, { cause: err });
  }
}

function describe(source: string | undefined, trustDomain: string): string {
  return source === undefined ? `bundle for ${trustDomain}` : `bundle ${source} (${trustDomain})`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function freezeBundle(b: {
  trustDomain: string;
  x509Authorities: Uint8Array[];
  jwtAuthorities: JwtAuthority[];
  sequence?: bigint | undefined;
  refreshHintSeconds?: number | undefined;
}): TrustBundle {
  const out: {
    trustDomain: string;
    x509Authorities: readonly Uint8Array[];
    jwtAuthorities: readonly JwtAuthority[];
    sequence?: bigint;
    refreshHintSeconds?: number;
  } = {
    trustDomain: b.trustDomain,
    x509Authorities: Object.freeze(b.x509Authorities),
    jwtAuthorities: Object.freeze(b.jwtAuthorities),
  };
  if (b.sequence !== undefined) out.sequence = b.sequence;
  if (b.refreshHintSeconds !== undefined) out.refreshHintSeconds = b.refreshHintSeconds;
  return Object.freeze(out);
}
