/**
 * Trust bundles: SPIFFE bundle JSON (a JWK Set; SPIFFE Trust Domain and
 * Bundle §4), the bundle map `{"trust_domains": {...}}` (same spec, §5), PEM
 * files of CA certificates, and the encodings they share (strict JSON, PEM,
 * concatenated DER).
 *
 * Bundles arrive from other clusters, files and bundle endpoints, so every
 * byte is hostile until checked: the parsers here are strict where the
 * formats let a producer be ambiguous (duplicate keys, several `x5c`
 * elements, corrupt base64) and lenient only where the spec says to ignore
 * (unknown `use` or `kty`, a missing `x5c`).
 */
import { createPublicKey, type JsonWebKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BundleError, EncodingError, isIdentityError, type BundleRule } from './errors.js';
import { parseTrustDomain } from './spiffe-id.js';
import type { JwtAuthority, TrustBundle } from './types.js';
import { decodeBase64Strict, encodeBase64, pemToDers, splitConcatenatedDer } from './encoding.js';
import { decodeUtf8Strict, parseStrictJson, type StrictJson } from './strict-json.js';

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
    const reason = isIdentityError(err) ? err.message : 'not a DER X.509 certificate';
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
