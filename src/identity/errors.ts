/**
 * The errors the identity part throws. Callers branch on `code` (one per kind
 * of input or operation) and, where given, `rule` (which check failed); both
 * are stable strings that appear in logs and metrics. Messages are for people.
 *
 * Other modules of this part add their own subclasses next to these by
 * extending IdentityError, so the base stays small: a code, a context object
 * and the standard `cause`.
 */

/** Codes used by this part; the open string lets new modules add theirs without editing this file. */
export type KnownIdentityErrorCode =
  | 'spiffe-id'
  | 'bundle'
  | 'encoding'
  | 'jwt-svid'
  | 'x509-svid'
  | 'ca'
  | 'workload-api'
  | 'federation';
export type IdentityErrorCode = KnownIdentityErrorCode | (string & {});

/**
 * Marks this part's errors. Symbol.for gives every copy of this module (tests,
 * bundlers) the same symbol, so isIdentityError holds where `instanceof` would
 * not, and no other part's error passes for one (a GatewayError also has a
 * code and a context).
 */
const IDENTITY_ERROR: unique symbol = Symbol.for('meshgate.identity.error');

export class IdentityError extends Error {
  override name = 'IdentityError';
  readonly [IDENTITY_ERROR] = true;
  readonly code: IdentityErrorCode;
  /** Facts about the failure (never secrets, tokens or keys). */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: IdentityErrorCode, message: string, context: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.context = Object.freeze({ ...context });
  }
}

/** The one way to recognise this part's errors, optionally of one `code`. */
export function isIdentityError(err: unknown, code?: IdentityErrorCode): err is IdentityError {
  return (err as { [IDENTITY_ERROR]?: unknown } | null)?.[IDENTITY_ERROR] === true && (code === undefined || (err as IdentityError).code === code);
}

/** Which SPIFFE ID rule (SPIFFE-ID §2) an input broke. */
export type SpiffeIdRule =
  | 'empty'
  | 'scheme'
  | 'non-ascii'
  | 'too-long'
  | 'trust-domain-empty'
  | 'trust-domain-too-long'
  | 'trust-domain-char'
  | 'userinfo'
  | 'port'
  | 'path-char'
  | 'empty-segment'
  | 'dot-segment'
  | 'trailing-slash'
  | 'percent-encoding'
  | 'query'
  | 'fragment'
  /** Patterns only: `**`, `?`, `[` … (only `*` is a wildcard). */
  | 'wildcard';

/** What kind of text was being checked, for the message. */
export type SpiffeIdSubject = 'SPIFFE ID' | 'trust domain' | 'path segment' | 'SPIFFE ID pattern';

/** Longest input quoted in full in a message; longer ones are cut (the context keeps the whole input). */
const QUOTE_LIMIT = 120;

export class SpiffeIdError extends IdentityError {
  override name = 'SpiffeIdError';
  readonly rule: SpiffeIdRule;
  readonly input: string;

  constructor(rule: SpiffeIdRule, input: string, detail: string, subject: SpiffeIdSubject = 'SPIFFE ID', options?: ErrorOptions) {
    super('spiffe-id', `invalid ${subject} ${quoteInput(input)}: ${detail}`, { rule, input, subject }, options);
    this.rule = rule;
    this.input = input;
  }
}

/** Which rule of the bundle formats (SPIFFE Trust Domain and Bundle §4, §5) or of our loaders broke. */
export type BundleRule =
  | 'json'
  | 'duplicate-key'
  | 'keys'
  | 'jwk'
  | 'x5c'
  | 'kid'
  | 'sequence'
  | 'refresh-hint'
  | 'trust-domain'
  | 'trust-domains'
  | 'pem'
  | 'format'
  | 'file';

export class BundleError extends IdentityError {
  override name = 'BundleError';
  readonly rule: BundleRule;

  constructor(rule: BundleRule, message: string, context: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('bundle', message, { rule, ...context }, options);
    this.rule = rule;
  }
}

/** Byte-level encodings shared by bundles, SVIDs and the Workload API. */
export type EncodingRule = 'json' | 'json-duplicate-key' | 'utf8' | 'base64' | 'pem' | 'der';

export class EncodingError extends IdentityError {
  override name = 'EncodingError';
  readonly rule: EncodingRule;

  constructor(rule: EncodingRule, message: string, context: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('encoding', message, { rule, ...context }, options);
    this.rule = rule;
  }
}

/** Which JWT-SVID rule (JWT-SVID spec) a token or a signing request broke. */
export type JwtSvidRule =
  | 'malformed'
  | 'json-serialization'
  | 'alg'
  | 'header'
  | 'typ'
  | 'kid'
  | 'unknown-kid'
  | 'sub'
  | 'no-bundle'
  | 'key-mismatch'
  | 'signature'
  | 'exp'
  | 'expired'
  | 'not-yet-valid'
  | 'aud'
  /** Signing only: the key is not an EC P-256 private key. */
  | 'key'
  /** Signing only: the TTL is not a positive whole number of seconds. */
  | 'ttl';

export class JwtSvidError extends IdentityError {
  override name = 'JwtSvidError';
  readonly rule: JwtSvidRule;

  /** Never put the token in `context`: a JWT-SVID is a bearer credential. */
  constructor(rule: JwtSvidRule, message: string, context: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('jwt-svid', message, { rule, ...context }, options);
    this.rule = rule;
  }
}

/** JSON quoting shows control characters; very long inputs are cut so a log line stays readable. */
export function quoteInput(input: string): string {
  if (input.length <= QUOTE_LIMIT) return JSON.stringify(input);
  return `${JSON.stringify(input.slice(0, QUOTE_LIMIT))}… (${input.length} characters)`;
}
