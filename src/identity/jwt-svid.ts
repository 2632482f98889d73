/**
 * JWT-SVIDs (SPIFFE JWT-SVID spec): we sign ES256, and
 * validate any algorithm the spec allows, against the JWT authorities of the
 * bundle of the token's own trust domain only.
 *
 * A token is a bearer credential: no error message or context ever quotes it.
 */
import { constants, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { parseStrictJson, decodeUtf8Strict } from './strict-json.js';
import { JwtSvidError, type JwtSvidRule } from './errors.js';
import { SpiffeId } from './spiffe-id.js';
import type { BundleLookup, SpiffeIdLike } from './types.js';

export const DEFAULT_JWT_LEEWAY_SECONDS = 60;

/** Far above any real JWT-SVID (a few hundred bytes); caps the work a hostile caller can cause. */
const MAX_TOKEN_LENGTH = 64 * 1024;

type Family = 'ES' | 'RS' | 'PS';
interface AlgSpec {
  readonly family: Family;
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  /** ES only: the curve the key must be on, and the size of r||s. */
  readonly curve?: string;
  readonly signatureBytes?: number;
}

const ALGS: Readonly<Record<string, AlgSpec>> = {
  ES256: { family: 'ES', hash: 'sha256', curve: 'prime256v1', signatureBytes: 64 },
  ES384: { family: 'ES', hash: 'sha384', curve: 'secp384r1', signatureBytes: 96 },
  ES512: { family: 'ES', hash: 'sha512', curve: 'secp521r1', signatureBytes: 132 },
  RS256: { family: 'RS', hash: 'sha256' },
  RS384: { family: 'RS', hash: 'sha384' },
  RS512: { family: 'RS', hash: 'sha512' },
  PS256: { family: 'PS', hash: 'sha256' },
  PS384: { family: 'PS', hash: 'sha384' },
  PS512: { family: 'PS', hash: 'sha512' },
};

const HEADER_PARAMS = new Set(['alg', 'kid', 'typ']);

export interface SignJwtSvidOptions {
  readonly spiffeId: SpiffeIdLike | string;
  /** One or more audiences; each a non-empty string. */
  readonly audience: readonly string[];
  /** Whole seconds from now to `exp`. */
  readonly ttlSeconds: number;
  /** EC P-256 private key of one of our JWT authorities. */
  readonly key: KeyObject;
  /** The authority's `kid` as published in our bundle. */
  readonly kid: string;
  /** Epoch milliseconds. */
  readonly now?: () => number;
}

/** A compact ES256 JWS: header `{alg, kid, typ: "JWT"}`, claims `{sub, aud, exp, iat}`. */
export function signJwtSvid(options: SignJwtSvidOptions): string {
  const { audience, ttlSeconds, key, kid } = options;
  const sub = SpiffeId.parse(options.spiffeId.toString()).toString();
  if (audience.length === 0 || audience.some((a) => typeof a !== 'string' || a === '')) {
    throw new JwtSvidError('aud', 'a JWT-SVID needs at least one audience, each a non-empty string');
  }
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new JwtSvidError('ttl', `ttl ${ttlSeconds} is not a positive whole number of seconds`);
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new JwtSvidError('key', 'JWT-SVIDs are signed with ES256: the key must be an EC P-256 private key');
  }
  if (typeof kid !== 'string' || kid === '') throw new JwtSvidError('kid', 'the signing key needs a non-empty kid');

  const iat = Math.floor((options.now ?? Date.now)() / 1000);
  const header = encodeJson({ alg: 'ES256', kid, typ: 'JWT' });
  const claims = encodeJson({ sub, aud: [...audience], exp: iat + ttlSeconds, iat });
  const signingInput = `${header}.${claims}`;
  const signature = sign('sha256', Buffer.from(signingInput, 'ascii'), { key, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${signature.toString('base64url')}`;
}

export interface ValidateJwtSvidOptions {
  /** The audience this validator answers to; the token's `aud` must contain it. */
  readonly audience: string;
  /** The bundle of a trust domain, or undefined when we do not federate with it. */
  readonly bundles: BundleLookup;
  /** Epoch milliseconds. */
  readonly now?: () => number;
  readonly leewaySeconds?: number;
}

export interface ValidatedJwtSvid {
  /** The `sub` claim, as the Workload API's ValidateJWTSVID returns it. */
  readonly spiffeId: string;
  /** The same, parsed. */
  readonly id: SpiffeId;
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * Validate a JWT-SVID or throw a JwtSvidError naming the rule. The order is
 * deliberate: structure and header first (cheap, and they decide which key
 * may be used), then the signature, and only then the claims, so that a
 * forged token is reported as forged rather than as "expired".
 * `iat` is never a bound (py-spiffe#443: skewed clocks rejected fresh tokens).
 */
export function validateJwtSvid(token: string, options: ValidateJwtSvidOptions): ValidatedJwtSvid {
  const { audience, bundles } = options;
  const leeway = options.leewaySeconds ?? DEFAULT_JWT_LEEWAY_SECONDS;
  const nowMs = (options.now ?? Date.now)();
  if (typeof audience !== 'string' || audience === '') throw new JwtSvidError('aud', 'the expected audience must be a non-empty string');
  // NaN would make every time comparison false, i.e. never expired: fail closed instead.
  if (!Number.isFinite(leeway) || leeway < 0) throw new RangeError(`leewaySeconds must be a finite number >= 0, not ${leeway}`);
  if (!Number.isFinite(nowMs)) throw new RangeError(`the clock returned ${nowMs}`);

  const { header, claims, signingInput, signature } = split(token);

  const algName = header['alg'];
  if (typeof algName !== 'string') fail('alg', 'the header has no "alg"');
  const alg = Object.hasOwn(ALGS, algName) ? ALGS[algName] : undefined;
  if (!alg) fail('alg', `alg ${JSON.stringify(algName)} is not allowed (use RS, ES or PS with 256, 384 or 512)`, { alg: algName });
  const extra = Object.keys(header).filter((k) => !HEADER_PARAMS.has(k));
  if (extra.length > 0) fail('header', `header parameters other than alg, kid and typ are not allowed: ${extra.join(', ')}`, { params: extra });
  const typ = header['typ'];
  if (typ !== undefined && typ !== 'JWT' && typ !== 'JOSE') fail('typ', `typ ${JSON.stringify(typ)} is not "JWT" or "JOSE"`);
  const kid = header['kid'];
  // Optional in the spec, required by SPIRE and go-spiffe (spiffe#358): without it every key would have to be tried.
  if (kid === undefined) fail('kid', 'the header has no "kid"');
  if (typeof kid !== 'string' || kid === '') fail('kid', '"kid" must be a non-empty string');
  if (signature.length === 0) fail('malformed', 'the signature is empty');

  const sub = claims['sub'];
  if (sub === undefined) fail('sub', 'the token has no "sub" claim');
  if (typeof sub !== 'string') fail('sub', '"sub" must be a string');
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(sub);
  } catch (err) {
    throw new JwtSvidError('sub', `"sub" is not a SPIFFE ID: ${(err as Error).message}`, {}, { cause: err });
  }

  // Only the bundle of the subject's own trust domain may vouch for it.
  const bundle = bundles(id.trustDomain);
  if (!bundle) fail('no-bundle', `no bundle for trust domain ${id.trustDomain}`, { trustDomain: id.trustDomain });
  if (bundle.trustDomain !== id.trustDomain) {
    fail('no-bundle', `asked for the bundle of ${id.trustDomain}, got the bundle of ${bundle.trustDomain}`, {
      trustDomain: id.trustDomain,
    });
  }
  const authority = bundle.jwtAuthorities.find((a) => a.kid === kid);
  if (!authority) fail('unknown-kid', `kid ${JSON.stringify(kid)} is not a JWT authority of ${id.trustDomain}`, { kid, trustDomain: id.trustDomain });

  checkKeyFitsAlg(authority.publicKey, algName, alg, kid);
  if (!verifySignature(alg, authority.publicKey, signingInput, signature)) {
    fail('signature', `the signature does not verify with key ${JSON.stringify(kid)} of ${id.trustDomain}`, { kid, trustDomain: id.trustDomain });
  }

  const nowSeconds = nowMs / 1000;
  const exp = claims['exp'];
  if (exp === undefined) fail('exp', 'the token has no "exp" claim');
  if (typeof exp !== 'number' || !Number.isFinite(exp)) fail('exp', '"exp" must be a number of seconds');
  if (nowSeconds - leeway > exp) fail('expired', `expired at ${isoSeconds(exp)}`, { exp });
  const nbf = claims['nbf'];
  if (nbf !== undefined) {
    if (typeof nbf !== 'number' || !Number.isFinite(nbf)) fail('not-yet-valid', '"nbf" must be a number of seconds');
    if (nowSeconds + leeway < nbf) fail('not-yet-valid', `not valid before ${isoSeconds(nbf)}`, { nbf });
  }

  const aud = claims['aud'];
  if (aud === undefined) fail('aud', 'the token has no "aud" claim');
  const auds = typeof aud === 'string' ? [aud] : aud;
  if (!Array.isArray(auds) || auds.length === 0 || !auds.every((a) => typeof a === 'string')) {
    fail('aud', '"aud" must be a string or a non-empty list of strings');
  }
  if (!auds.includes(audience)) fail('aud', `the token is not for audience ${JSON.stringify(audience)}`, { audience });

  return Object.freeze({ spiffeId: id.toString(), id, claims: Object.freeze(claims) });
}

// ---------------------------------------------------------------------------

function fail(rule: JwtSvidRule, message: string, context: Record<string, unknown> = {}): never {
  throw new JwtSvidError(rule, `invalid JWT-SVID: ${message}`, context);
}

interface Parts {
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
  readonly signingInput: string;
  readonly signature: Uint8Array;
}

function split(token: string): Parts {
  if (typeof token !== 'string' || token === '') fail('malformed', 'the token is empty');
  if (token.length > MAX_TOKEN_LENGTH) fail('malformed', `the token is ${token.length} bytes; at most ${MAX_TOKEN_LENGTH}`);
  if (token.trimStart().startsWith('{')) fail('json-serialization', 'JWS JSON serialization is not allowed; JWT-SVIDs use the compact form');
  const parts = token.split('.');
  if (parts.length === 5) fail('malformed', 'five parts: an encrypted JWT (JWE) is not a JWT-SVID');
  if (parts.length !== 3) fail('malformed', `expected three dot-separated parts, found ${parts.length}`);
  const [h, c, s] = parts as [string, string, string];
  const header = decodeJsonPart(h, 'header');
  const claims = decodeJsonPart(c, 'claims');
  return { header, claims, signingInput: `${h}.${c}`, signature: decodeBase64Url(s, 'signature') };
}

function decodeJsonPart(part: string, what: string): Record<string, unknown> {
  const bytes = decodeBase64Url(part, what);
  let value: unknown;
  try {
    // Strict: a duplicate "alg" or "sub" would let two parsers read two different tokens.
    value = parseStrictJson(decodeUtf8Strict(bytes)).value;
  } catch (err) {
    throw new JwtSvidError('malformed', `invalid JWT-SVID: the ${what} is not valid JSON: ${(err as Error).message}`, {}, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('malformed', `the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Unpadded base64url only; Node's decoder alone skips junk, which would let two spellings of one token exist. */
function decodeBase64Url(part: string, what: string): Uint8Array {
  const bytes = Buffer.from(part, 'base64url');
  if (!/^[A-Za-z0-9_-]*$/.test(part) || bytes.toString('base64url') !== part) {
    fail('malformed', `the ${what} is not unpadded base64url`);
  }
  return bytes;
}

function checkKeyFitsAlg(key: KeyObject, algName: string, alg: AlgSpec, kid: string): void {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const type = pub.asymmetricKeyType;
  if (alg.family === 'ES') {
    const curve = pub.asymmetricKeyDetails?.namedCurve;
    if (type !== 'ec' || curve !== alg.curve) {
      fail('key-mismatch', `alg ${algName} needs an EC ${alg.curve} key; key ${JSON.stringify(kid)} is ${type === 'ec' ? `EC ${curve}` : type}`, {
        kid,
        alg: algName,
      });
    }
    return;
  }
  const ok = type === 'rsa' || (alg.family === 'PS' && type === 'rsa-pss');
  if (!ok) fail('key-mismatch', `alg ${algName} needs an RSA key; key ${JSON.stringify(kid)} is ${type}`, { kid, alg: algName });
}

function verifySignature(alg: AlgSpec, key: KeyObject, signingInput: string, signature: Uint8Array): boolean {
  const data = Buffer.from(signingInput, 'ascii');
  try {
    switch (alg.family) {
      case 'ES':
        // JOSE carries r||s of fixed width; anything else is not a signature of this alg.
        if (signature.length !== alg.signatureBytes) return false;
        return verify(alg.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
      case 'RS':
        return verify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'PS':
        return verify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
    }
  } catch {
    return false;
  }
}

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function isoSeconds(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString();
}
