/**
 * SPIFFE IDs (SPIFFE-ID §2) and the `allow` patterns of the
 * config. One scanner checks both, so a pattern is exactly an ID in which `*`
 * is also a legal character.
 *
 * Case: the spec calls the scheme and trust domain case-insensitive, but
 * go-spiffe rejects uppercase and implementations disagree; we reject
 * uppercase on input and compare byte for byte (the rule proposed in
 * spiffe#215), so two spellings of one identity can never both pass.
 */
import { SpiffeIdError, type SpiffeIdRule, type SpiffeIdSubject } from './errors.js';
import type { SpiffeIdLike } from './types.js';

/** Longest ID we accept (the spec's "must support" size). */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** Longest trust domain name. */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const SCHEME = 'spiffe://';

type Mode = 'id' | 'pattern';
type Problem = readonly [rule: SpiffeIdRule, detail: string];

export class SpiffeId implements SpiffeIdLike {
  readonly #text: string;

  private constructor(
    readonly trustDomain: string,
    /** '' for the trust domain's own ID, else '/seg/seg'. */
    readonly path: string,
  ) {
    this.#text = SCHEME + trustDomain + path;
  }

  /** Parse and validate; throws a SpiffeIdError naming the rule and quoting the input. */
  static parse(text: string): SpiffeId {
    const { trustDomain, path } = scan(text, 'id');
    return new SpiffeId(trustDomain, path);
  }

  /** Like parse, but undefined instead of an error: for checks on hostile input where the reason is not needed. */
  static tryParse(text: string): SpiffeId | undefined {
    try {
      return SpiffeId.parse(text);
    } catch {
      return undefined;
    }
  }

  /** `fromSegments('td', 'ns', 'shop')` → `spiffe://td/ns/shop`; each segment is one path segment, never a path. */
  static fromSegments(trustDomain: string, ...segments: string[]): SpiffeId {
    const td = parseTrustDomain(trustDomain);
    for (const segment of segments) {
      const problem = segmentProblem(segment);
      if (problem) throw new SpiffeIdError(problem[0], segment, problem[1], 'path segment');
    }
    const path = segments.map((s) => `/${s}`).join('');
    const text = SCHEME + td + path;
    if (text.length > MAX_SPIFFE_ID_BYTES) {
      throw new SpiffeIdError('too-long', text, `is ${text.length} bytes; at most ${MAX_SPIFFE_ID_BYTES}`);
    }
    return new SpiffeId(td, path);
  }

  /** The ID of a trust domain itself (`spiffe://td`, no path): what signing authorities carry. */
  static trustDomainId(trustDomain: string): SpiffeId {
    return new SpiffeId(parseTrustDomain(trustDomain), '');
  }

  /** The path's segments; [] for a trust domain ID. */
  get segments(): string[] {
    return this.path === '' ? [] : this.path.slice(1).split('/');
  }

  /** True for `spiffe://td` (no path). */
  get isTrustDomainId(): boolean {
    return this.path === '';
  }

  isMemberOf(trustDomain: string): boolean {
    return this.trustDomain === trustDomain;
  }

  /** Byte-for-byte comparison; a string is compared as given, so a differently cased one never matches. */
  equals(other: SpiffeIdLike | string): boolean {
    return this.#text === (typeof other === 'string' ? other : other.toString());
  }

  toString(): string {
    return this.#text;
  }

  toJSON(): string {
    return this.#text;
  }
}

/** Validate a bare trust domain name (`example.org`, not `spiffe://example.org`) and return it. */
export function parseTrustDomain(text: string): string {
  const subject = 'trust domain';
  if (text === '') throw new SpiffeIdError('trust-domain-empty', text, 'is empty', subject);
  if (text.length > MAX_TRUST_DOMAIN_BYTES) {
    throw new SpiffeIdError('trust-domain-too-long', text, `is ${text.length} bytes; at most ${MAX_TRUST_DOMAIN_BYTES}`, subject);
  }
  const nonAscii = firstNonAscii(text);
  if (nonAscii >= 0) throw new SpiffeIdError('non-ascii', text, nonAsciiDetail(text, nonAscii), subject);
  if (text.toLowerCase().startsWith(SCHEME)) {
    throw new SpiffeIdError('trust-domain-char', text, 'expected a bare trust domain name such as "example.org", not a SPIFFE ID', subject);
  }
  if (text.includes('@')) throw new SpiffeIdError('userinfo', text, 'must not contain userinfo ("@")', subject);
  for (let i = 0; i < text.length; i++) {
    const problem = trustDomainCharProblem(text.charCodeAt(i), i, 'id');
    if (problem) throw new SpiffeIdError(problem[0], text, problem[1], subject);
  }
  return text;
}

// ---------------------------------------------------------------------------
// Patterns

/** A compiled `allow` pattern. */
export interface SpiffePattern {
  readonly pattern: string;
  /** False for an ID that is not a valid SPIFFE ID: authorization never matches garbage. */
  matches(id: SpiffeIdLike | string): boolean;
}

/**
 * Throws a SpiffeIdError (subject "SPIFFE ID pattern") unless `pattern` is a
 * SPIFFE ID in which `*` may stand for any run of characters (possibly none)
 * inside the trust domain or inside one path segment.
 */
export function validateSpiffePattern(pattern: string): void {
  scan(pattern, 'pattern');
}

/**
 * Compile once, match often. The match is anchored and segment-wise: the
 * pattern and the ID must have the same number of segments, so `*` can never
 * cross a `/` (and `spiffe://td/ns/*` does not match `spiffe://td/ns/a/b`).
 */
export function compileSpiffePattern(pattern: string): SpiffePattern {
  const parsed = scan(pattern, 'pattern');
  const tdGlob = parsed.trustDomain;
  const segGlobs = parsed.path === '' ? [] : parsed.path.slice(1).split('/');
  const literal = !pattern.includes('*');
  return {
    pattern,
    matches(id) {
      const target = id instanceof SpiffeId ? id : SpiffeId.tryParse(typeof id === 'string' ? id : id.toString());
      if (!target) return false;
      if (literal) return target.toString() === pattern;
      const segs = target.segments;
      if (segs.length !== segGlobs.length || !globMatch(tdGlob, target.trustDomain)) return false;
      return segGlobs.every((g, i) => globMatch(g, segs[i] as string));
    },
  };
}

/** One-off match; throws on a malformed pattern (config validation should have caught it). */
export function matchSpiffePattern(pattern: string, id: SpiffeIdLike | string): boolean {
  return compileSpiffePattern(pattern).matches(id);
}

/**
 * `*` matches any run (possibly empty) of characters. Greedy with one
 * backtrack point, so the cost stays O(n·m) whatever the pattern: no regex,
 * no catastrophic backtracking on hostile IDs.
 */
function globMatch(glob: string, text: string): boolean {
  let g = 0;
  let t = 0;
  let star = -1;
  let starT = 0;
  while (t < text.length) {
    if (g < glob.length && glob[g] === '*') {
      star = g++;
      starT = t;
    } else if (g < glob.length && glob[g] === text[t]) {
      g++;
      t++;
    } else if (star >= 0) {
      g = star + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
}

// ---------------------------------------------------------------------------
// The scanner

interface Parts {
  readonly trustDomain: string;
  readonly path: string;
}

function scan(text: string, mode: Mode): Parts {
  const subject: SpiffeIdSubject = mode === 'id' ? 'SPIFFE ID' : 'SPIFFE ID pattern';
  const fail = (rule: SpiffeIdRule, detail: string): never => {
    throw new SpiffeIdError(rule, text, detail, subject);
  };

  if (text === '') fail('empty', 'is empty');
  // Checked before anything else so that a huge hostile input costs nothing
  // more; a non-ASCII input short enough here is rejected just below anyway.
  if (text.length > MAX_SPIFFE_ID_BYTES) fail('too-long', `is ${text.length} bytes; at most ${MAX_SPIFFE_ID_BYTES}`);
  const nonAscii = firstNonAscii(text);
  if (nonAscii >= 0) fail('non-ascii', nonAsciiDetail(text, nonAscii));
  if (!text.startsWith(SCHEME)) {
    fail(
      'scheme',
      text.toLowerCase().startsWith(SCHEME)
        ? 'the scheme must be written "spiffe://" in lowercase'
        : 'must start with "spiffe://"',
    );
  }

  const rest = text.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);

  if (trustDomain === '') fail('trust-domain-empty', 'has no trust domain');
  // Userinfo is looked for over the whole authority first, because in
  // `john:doe@td` the ':' comes first and "port" would mislead.
  const authorityEnd = trustDomain.search(/[?#]/);
  if ((authorityEnd < 0 ? trustDomain : trustDomain.slice(0, authorityEnd)).includes('@')) {
    fail('userinfo', 'must not contain userinfo ("@") in the trust domain');
  }
  if (trustDomain.length > MAX_TRUST_DOMAIN_BYTES) {
    fail('trust-domain-too-long', `has a trust domain of ${trustDomain.length} bytes; at most ${MAX_TRUST_DOMAIN_BYTES}`);
  }
  for (let i = 0; i < trustDomain.length; i++) {
    const problem = trustDomainCharProblem(trustDomain.charCodeAt(i), SCHEME.length + i, mode);
    if (problem) fail(problem[0], problem[1]);
  }

  const pathProblem = pathProblemOf(path, SCHEME.length + trustDomain.length, mode);
  if (pathProblem) fail(pathProblem[0], pathProblem[1]);

  if (mode === 'pattern' && text.includes('**')) {
    fail('wildcard', '"**" is not supported: "*" matches within one segment and never crosses "/"');
  }
  return { trustDomain, path };
}

/**
 * go-spiffe's path walk: segments start at each '/', checked when the next
 * '/' (or the end) closes them, so `//` is an empty segment and a final '/'
 * a trailing slash.
 */
function pathProblemOf(path: string, offset: number, mode: Mode): Problem | undefined {
  if (path === '') return undefined;
  let start = 0;
  for (let i = 1; i <= path.length; i++) {
    if (i < path.length && path[i] !== '/') {
      const problem = pathCharProblem(path.charCodeAt(i), offset + i, mode);
      if (problem) return problem;
      continue;
    }
    const segment = path.slice(start + 1, i);
    if (segment === '') {
      return i === path.length
        ? ['trailing-slash', 'must not end with "/"']
        : ['empty-segment', `has an empty path segment ("//") at offset ${offset + start}`];
    }
    if (segment === '.' || segment === '..') {
      return ['dot-segment', `has a "${segment}" path segment at offset ${offset + start + 1}`];
    }
    start = i;
  }
  return undefined;
}

function segmentProblem(segment: string): Problem | undefined {
  if (segment === '') return ['empty-segment', 'is empty'];
  if (segment === '.' || segment === '..') return ['dot-segment', `"${segment}" is not allowed as a segment`];
  const nonAscii = firstNonAscii(segment);
  if (nonAscii >= 0) return ['non-ascii', nonAsciiDetail(segment, nonAscii)];
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === 0x2f) return ['path-char', 'contains "/": pass each segment as its own argument'];
    const problem = pathCharProblem(c, i, 'id');
    if (problem) return problem;
  }
  return undefined;
}

function trustDomainCharProblem(c: number, at: number, mode: Mode): Problem | undefined {
  if (isLower(c) || isDigit(c) || c === 0x2e || c === 0x5f || c === 0x2d) return undefined;
  if (mode === 'pattern' && c === 0x2a) return undefined;
  const common = commonCharProblem(c, at, mode);
  if (common) return common;
  if (c === 0x3a) return ['port', `must not have a port (":" at offset ${at})`];
  if (isUpper(c)) return ['trust-domain-char', `the trust domain must be lowercase (${charName(c)} at offset ${at})`];
  if (c === 0x5b || c === 0x5d) return ['trust-domain-char', `IPv6 addresses are not valid trust domains (${charName(c)} at offset ${at})`];
  return ['trust-domain-char', `the trust domain may hold only a-z, 0-9, ".", "-" and "_" (${charName(c)} at offset ${at})`];
}

function pathCharProblem(c: number, at: number, mode: Mode): Problem | undefined {
  if (isLower(c) || isUpper(c) || isDigit(c) || c === 0x2e || c === 0x5f || c === 0x2d) return undefined;
  if (mode === 'pattern' && c === 0x2a) return undefined;
  const common = commonCharProblem(c, at, mode);
  if (common) return common;
  return ['path-char', `path segments may hold only a-z, A-Z, 0-9, ".", "-" and "_" (${charName(c)} at offset ${at})`];
}

/** Characters whose meaning in a URI earns a more specific message than "bad character". */
function commonCharProblem(c: number, at: number, mode: Mode): Problem | undefined {
  if (mode === 'pattern' && (c === 0x3f || c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d)) {
    return ['wildcard', `only "*" is a wildcard (${charName(c)} at offset ${at})`];
  }
  if (c === 0x25) return ['percent-encoding', `must not use percent-encoding ("%" at offset ${at})`];
  if (c === 0x3f) return ['query', `must not have a query ("?" at offset ${at})`];
  if (c === 0x23) return ['fragment', `must not have a fragment ("#" at offset ${at})`];
  return undefined;
}

const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

function firstNonAscii(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return i;
  return -1;
}

function nonAsciiDetail(text: string, at: number): string {
  return `must be ASCII (${charName(text.codePointAt(at) ?? 0)} at offset ${at})`;
}

function charName(c: number): string {
  const hex = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  return c > 0x20 && c < 0x7f ? `"${String.fromCharCode(c)}"` : hex;
}
