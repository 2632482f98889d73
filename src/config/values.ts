/**
 * Checks for single values from the file. Each takes what YAML produced
 * (anything) and returns the clean value or a message; schema.ts composes them.
 * Messages quote the offending value, because "invalid" alone sends the
 * operator hunting through the file.
 */
import { type Range, MAX_LOCALITY_LENGTH, MAX_NAME_LENGTH } from './bounds.js';
import { type Check, fail, ok, quote, typeError } from './check.js';
import { checkDurationIn } from './duration.js';
import { checkHostPort } from './hostport.js';
import type { RetryCondition, HostPort, ServiceProtocol } from './types.js';

export type Checker<T> = (value: unknown) => Check<T>;

/** A non-empty string, the base of most other checks. */
export const string: Checker<string> = (v) => {
  if (typeof v !== 'string') return typeError('a string', v);
  if (v.trim() === '') return fail('must not be empty');
  return ok(v);
};

const matching =
  (re: RegExp, explain: (v: string) => string): Checker<string> =>
  (v) => {
    const s = string(v);
    if (!s.ok) return s;
    return re.test(s.value) ? s : fail(explain(s.value));
  };

/** At most `max` characters; the message says how long the value is. */
const atMost =
  (max: number, check: Checker<string>, why: string): Checker<string> =>
  (v) => {
    const s = check(v);
    if (!s.ok || s.value.length <= max) return s;
    return fail(`${quote(s.value)} is too long (at most ${max} characters: ${why})`);
  };

/** federation, cluster and replica names become NATS subject tokens and SPIFFE ID path segments. */
export const token = atMost(
  MAX_NAME_LENGTH,
  matching(/^[A-Za-z0-9_-]+$/, (v) => `${quote(v)} is not a valid name (letters, digits, "_" and "-" only: it is used in NATS subjects)`),
  'it is used in NATS subjects and SPIFFE IDs',
);

/** region and zone: any text, but gossiped to every member. */
export const locality = atMost(MAX_LOCALITY_LENGTH, string, 'it is sent to every member of the federation');

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Service names are what apps put in Host: `http://payments/`. */
export const serviceName: Checker<string> = (v) => {
  const s = string(v);
  if (!s.ok) return s;
  if (!DNS_LABEL.test(s.value)) {
    return fail(
      `service name ${quote(s.value)} is not a DNS label (lowercase letters, digits and "-", at most 63, starting and ending with a letter or digit)`,
    );
  }
  // URL parsers read http://123/ as the IPv4 address 0.0.0.123.
  if (/^\d+$/.test(s.value)) return fail(`service name ${quote(s.value)} is all digits, which clients read as an IP address`);
  return s;
};

const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
export const trustDomain: Checker<string> = (v) => {
  const s = string(v);
  if (!s.ok) return s;
  if (TRUST_DOMAIN.test(s.value)) return s;
  const hint = s.value.startsWith('spiffe://') ? ' (write it without "spiffe://")' : '';
  return fail(
    `${quote(s.value)} is not a SPIFFE trust domain (lowercase letters, digits, ".", "_" and "-", at most 255)${hint}`,
  );
};

export interface SpiffeId {
  readonly id: string;
  readonly trustDomain: string;
}

const SPIFFE_SEGMENT = /^[A-Za-z0-9._-]+$/;
/** A workload SPIFFE ID: `spiffe://<trust domain>/<path>`, per the SPIFFE ID spec. */
export const spiffeId: Checker<SpiffeId> = (v) => {
  const s = string(v);
  if (!s.ok) return s;
  const id = s.value;
  const bad = (why: string): Check<never> => fail(`${quote(id)} is not a SPIFFE ID (${why})`);
  if (!id.startsWith('spiffe://')) return bad('it must start with "spiffe://"');
  if (id.length > 2048) return bad('longer than 2048');
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const td = slash < 0 ? rest : rest.slice(0, slash);
  if (!TRUST_DOMAIN.test(td)) return bad(`trust domain ${quote(td)} must be lowercase letters, digits, ".", "_" and "-"`);
  if (slash < 0 || slash === rest.length - 1) return bad('it needs a path after the trust domain, e.g. /ns/shop/sa/web');
  const segments = rest.slice(slash + 1).split('/');
  for (const seg of segments) {
    if (seg === '') return bad('empty path segment');
    if (seg === '.' || seg === '..') return bad('"." and ".." are not allowed in the path');
    if (!SPIFFE_SEGMENT.test(seg)) return bad('the path may hold only letters, digits, ".", "_", "-" and "/"');
  }
  return ok({ id, trustDomain: td });
};

/** Caller patterns in `allow`; `*` globs are matched by the gateway. */
export const allowPattern: Checker<string> = (v) => {
  const s = string(v);
  if (!s.ok) return s;
  if (s.value.startsWith('spiffe://') && s.value.length > 'spiffe://'.length) return s;
  return fail(`${quote(s.value)} is not a SPIFFE ID pattern (it must start with "spiffe://")`);
};

const SELECTOR = /^unix:(uid|gid):(\d{1,10})$|^unix:path:(\/.*)$/;
/** Workload API selectors we can attest from a Unix socket peer. */
export const selector: Checker<string> = (v) => {
  const s = string(v);
  if (!s.ok) return s;
  const m = SELECTOR.exec(s.value);
  const idOk = m?.[2] === undefined || Number(m[2]) <= 0xffff_ffff;
  if (m && idOk) return s;
  return fail(`${quote(s.value)} is not a selector (use unix:uid:<number>, unix:gid:<number> or unix:path:/absolute/path)`);
};

/** A URL with one of the given schemes and a host. */
function url(schemes: readonly string[], what: string): Checker<string> {
  return (v) => {
    const s = string(v);
    if (!s.ok) return s;
    let u: URL;
    try {
      u = new URL(s.value);
    } catch {
      return fail(`${quote(s.value)} is not ${what}`);
    }
    if (!schemes.includes(u.protocol) || u.hostname === '') return fail(`${quote(s.value)} is not ${what}`);
    return s;
  };
}

export const natsUrl = url(['nats:', 'tls:'], 'a NATS URL (nats://host:port or tls://host:port)');
export const httpsUrl = url(['https:'], 'an https URL');
export const otlpUrl = url(['http:', 'https:'], 'an http or https URL (an OTLP/HTTP collector, e.g. http://127.0.0.1:4318)');

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const logLevel: Checker<LogLevel> = (v) => {
  if (typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v)) return ok(v as LogLevel);
  return typeof v === 'string' ? fail(`${quote(v)} is not a log level (use ${LOG_LEVELS.join(', ')})`) : typeError(LOG_LEVELS.join(', '), v);
};

/** A share of traces in `range`. */
export function sampleRatio(range: Range): Checker<number> {
  return (v) => {
    if (typeof v !== 'number') return typeError('a number', v);
    if (Number.isFinite(v) && v >= range.min && v <= range.max) return ok(v);
    return fail(`${v} is out of range (allowed ${range.min} to ${range.max}; 0.01 samples 1 in 100 traces that start here)`);
  };
}

/** A filesystem path; made absolute against the config file's folder later. */
export const filePath: Checker<string> = (v) => {
  const s = string(v);
  if (!s.ok) return s;
  return s.value.includes('\0') ? fail('must not contain a NUL character') : s;
};

export const httpPath: Checker<string> = (v) => {
  const s = string(v);
  if (!s.ok) return s;
  // Sent verbatim in the request line, so no spaces or control characters.
  return /^\/[\x21-\x7e]*$/.test(s.value) ? s : fail(`${quote(s.value)} is not an HTTP path (it must start with "/" and have no spaces)`);
};

export const boolean: Checker<boolean> = (v) => (typeof v === 'boolean' ? ok(v) : typeError('true or false', v));

/** A whole number in `range`; `unit` and `hint` explain the range in the message. */
export function wholeNumber(range: Range, opts: { unit?: string; hint?: string } = {}): Checker<number> {
  return (v) => {
    if (typeof v !== 'number') return typeError('a whole number', v);
    if (!Number.isInteger(v)) return fail(`${v} must be a whole number`);
    if (v >= range.min && v <= range.max) return ok(v);
    const unit = opts.unit ? ` ${opts.unit}` : '';
    return fail(`${v} is out of range (allowed ${range.min} to ${range.max}${unit}${opts.hint ? `, ${opts.hint}` : ''})`);
  };
}

export function overprovisioning(range: Range): Checker<number> {
  return (v) => {
    if (typeof v !== 'number') return typeError('a number', v);
    if (Number.isFinite(v) && v >= range.min && v <= range.max) return ok(v);
    return fail(`${v} is out of range (allowed ${range.min} to ${range.max}; 1.4 spills at 71.4 % healthy)`);
  };
}

export const protocol: Checker<ServiceProtocol> = (v) => {
  if (v === 'http' || v === 'grpc' || v === 'tcp') return ok(v);
  return typeof v === 'string' ? fail(`${quote(v)} is not a protocol (use http, grpc or tcp)`) : typeError('http, grpc or tcp', v);
};

export const RETRY_CONDITIONS = ['connect-failure', 'reset', '503'] as const;
/** What a failed try may be retried on. */
export const retryCondition: Checker<RetryCondition> = (v) => {
  if (typeof v === 'number' && v === 503) return ok('503');
  if (typeof v === 'string' && (RETRY_CONDITIONS as readonly string[]).includes(v)) return ok(v as RetryCondition);
  return fail(`${quote(String(v))} is not a retry condition (use ${RETRY_CONDITIONS.join(', ')})`);
};

export const TIERS = ['local', 'region', 'any'] as const;
/** A failover tier: a keyword or a cluster name. */
export const tier: Checker<string> = (v) => {
  const s = string(v);
  if (!s.ok) return s;
  if (!/^[A-Za-z0-9_-]+$/.test(s.value)) return fail(`${quote(s.value)} is not a tier (use local, region, any or a cluster name)`);
  if (s.value.length > MAX_NAME_LENGTH) return fail(`${quote(s.value)} is too long for a cluster name (at most ${MAX_NAME_LENGTH} characters)`);
  return s;
};

/**
 * A duration string within `range` (ms). YAML numbers are refused with a fix
 * rather than read as seconds or milliseconds: either guess is wrong for someone.
 */
export function duration(range: Range): Checker<number> {
  return (v) => {
    if (typeof v === 'number') return fail(`${v} has no unit; write a duration as a string, e.g. "${v}s" or "500ms"`);
    const s = string(v);
    if (!s.ok) return s;
    return checkDurationIn(s.value, range);
  };
}

export function hostPort(opts: { allowPortZero: boolean }): Checker<HostPort> {
  return (v) => {
    if (typeof v === 'number') return fail(`${v} is not host:port (write e.g. "127.0.0.1:${v}")`);
    // An unquoted [::1]:80 is read by YAML as a list, so point at the quotes.
    if (Array.isArray(v)) return fail('is not host:port (quote bracketed IPv6 addresses, e.g. "[::1]:4140")');
    const s = string(v);
    if (!s.ok) return s;
    return checkHostPort(s.value, opts);
  };
}
