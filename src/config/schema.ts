/**
 * The YAML file's shape (docs/configuration.md), each number, duration and
 * name within its range from bounds.ts. Values come out checked
 * and converted (durations in ms, host:port split) but without defaults:
 * resolve.ts fills those in, so that "absent" stays distinguishable here.
 *
 * Rules that span several keys (timeouts in order, endpointSpiffeId with
 * bundleEndpoint, clashing listeners…) run even when a sibling key is wrong,
 * so that one run reports every problem. Their inputs may therefore be
 * half-checked, which is why they test each value before using it.
 */
import { z } from 'zod';
import { BOUNDS } from './bounds.js';
import { DEFAULTS } from './defaults.js';
import { formatDuration } from './duration.js';
import { formatHostPort, isWildcardHost } from './hostport.js';
import { closest } from './suggest.js';
import type { HostPort } from './types.js';
import * as v from './values.js';

// ---- building blocks -------------------------------------------------------

type Ctx = z.core.$RefinementCtx<unknown>;

/** A value checked by one of values.ts's checkers, with its message. */
function leaf<T>(check: v.Checker<T>) {
  return z.unknown().transform((input, ctx): T => {
    const r = check(input);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.error, input });
    return z.NEVER;
  });
}

/** Run a cross-key rule whenever the value is at least the right kind of thing. */
const onMapping = { when: (p: { value: unknown }) => isRecord(p.value) };
const onList = { when: (p: { value: unknown }) => Array.isArray(p.value) };

/**
 * A mapping whose unknown keys are errors, each with a suggestion when a
 * known key is a typo away. Loose underneath so that the rule sees the keys.
 */
function section<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape);
  return z.looseObject(shape).superRefine((value, ctx) => {
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const near = closest(key, known);
      // Reported at the mapping (issues.ts drops the key from the path), but
      // located at the key itself so that issues sort in file order.
      ctx.addIssue({
        code: 'custom',
        path: [key],
        params: { unknownKey: true, ...(near && { suggestion: near }) },
        message: `unknown key ${JSON.stringify(key)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}`,
        input: value,
      });
    }
  }, onMapping);
}

/** A list whose items are checked one by one; `nonEmpty` says what an empty list lacks. */
function list<T extends z.ZodType>(item: T, opts: { nonEmpty?: string; uniqueBy?: (x: unknown) => string | undefined } = {}) {
  return z.array(item).superRefine((items, ctx) => {
    if (opts.nonEmpty && items.length === 0) ctx.addIssue({ code: 'custom', message: opts.nonEmpty, input: items });
    if (opts.uniqueBy) reportDuplicates(items, opts.uniqueBy, ctx);
  }, onList);
}

function reportDuplicates(items: readonly unknown[], keyOf: (x: unknown) => string | undefined, ctx: Ctx): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const key = keyOf(item);
    if (key === undefined) return;
    const seen = first.get(key);
    if (seen === undefined) first.set(key, i);
    else ctx.addIssue({ code: 'custom', path: [i], message: `${JSON.stringify(key)} is listed twice (also at [${seen}])`, input: item });
  });
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

// A failed leaf leaves a marker object behind, so rules test for real values.
const num = (x: unknown): number | undefined => (typeof x === 'number' ? x : undefined);
const str = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);
const hostPortOf = (x: unknown): HostPort | undefined =>
  isRecord(x) && typeof x.host === 'string' && typeof x.port === 'number' ? (x as unknown as HostPort) : undefined;
const spiffeIdOf = (x: unknown): v.SpiffeId | undefined =>
  isRecord(x) && typeof x.id === 'string' && typeof x.trustDomain === 'string' ? (x as unknown as v.SpiffeId) : undefined;

/** A duration in `range` (ms): every one ends up in a Node.js timer or a certificate. */
const duration = (range: { readonly min: number; readonly max: number }) => leaf(v.duration(range));

// ---- listeners and limits --------------------------------------------------

const listenerAddress = leaf(v.hostPort({ allowPortZero: true }));

const LISTENERS = ['local', 'federation', 'admin'] as const;

const listeners = section({
  local: listenerAddress.optional(),
  federation: listenerAddress.optional(),
  admin: listenerAddress.optional(),
}).superRefine((given, ctx) => {
  // Defaults take part: `local: 127.0.0.1:9901` clashes with the default admin.
  const seen: { name: string; addr: HostPort; explicit: boolean }[] = [];
  for (const name of LISTENERS) {
    const explicit = given[name] !== undefined;
    const addr = explicit ? hostPortOf(given[name]) : DEFAULTS.listeners[name];
    if (!addr) continue;
    const clash = seen.find((o) => addr.port !== 0 && o.addr.port === addr.port && overlaps(o.addr.host, addr.host));
    if (clash && (explicit || clash.explicit)) {
      const at = explicit ? name : clash.name;
      const other = explicit ? clash : { name, addr, explicit };
      const mine = explicit ? addr : clash.addr;
      ctx.addIssue({
        code: 'custom',
        path: [at],
        message: `${formatHostPort(mine)} clashes with listeners.${other.name} (${formatHostPort(other.addr)}${other.explicit ? '' : ', the default'})`,
        input: given,
      });
    }
    seen.push({ name, addr, explicit });
  }
}, onMapping);

function overlaps(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase() || isWildcardHost(a) || isWildcardHost(b);
}

const limits = section({
  maxHeaderBytes: leaf(v.wholeNumber(BOUNDS.limits.maxHeaderBytes, { unit: 'bytes', hint: '1 KiB to 8 MiB' })).optional(),
  headersTimeout: duration(BOUNDS.limits.headersTimeoutMs).optional(),
  // 0 is a real choice here: close in-flight requests at once.
  drainTimeout: duration(BOUNDS.limits.drainTimeoutMs).optional(),
  idleTimeout: duration(BOUNDS.limits.idleTimeoutMs).optional(),
  maxConcurrentStreams: leaf(v.wholeNumber(BOUNDS.limits.maxConcurrentStreams)).optional(),
  maxInFlightPerService: leaf(v.wholeNumber(BOUNDS.limits.maxInFlight)).optional(),
  maxInFlightPerTarget: leaf(v.wholeNumber(BOUNDS.limits.maxInFlight)).optional(),
});

const telemetry = section({
  otlpEndpoint: leaf(v.otlpUrl).optional(),
  traceSampling: leaf(v.sampleRatio(BOUNDS.telemetry.traceSampling)).optional(),
  logLevel: leaf(v.logLevel).optional(),
});

// ---- nats and identity -----------------------------------------------------

const nats = section({
  servers: list(leaf(v.natsUrl), { nonEmpty: 'must list at least one server' }),
});

const federatedDomain = section({
  trustDomain: leaf(v.trustDomain),
  bundle: leaf(v.filePath).optional(),
  bundleEndpoint: leaf(v.httpsUrl).optional(),
  endpointSpiffeId: leaf(v.spiffeId).optional(),
}).superRefine((d, ctx) => {
  // The endpoint's own identity is what makes fetching a bundle over TLS safe.
  if (d.bundleEndpoint !== undefined && d.endpointSpiffeId === undefined) {
    ctx.addIssue({ code: 'custom', path: ['endpointSpiffeId'], message: 'is required when bundleEndpoint is set', input: d });
  }
  // The endpoint serves its own domain's bundle (https_spiffe, self-serving):
  // its SVID can only be checked against a bundle we already hold.
  if (d.bundleEndpoint !== undefined && d.bundle === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['bundle'],
      message: 'is required when bundleEndpoint is set: it bootstraps trust in the endpoint',
      input: d,
    });
  }
  if (d.bundleEndpoint === undefined && d.endpointSpiffeId !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['endpointSpiffeId'],
      message: 'is set but bundleEndpoint is not (it names the identity of the bundle endpoint)',
      input: d,
    });
  }
  const id = spiffeIdOf(d.endpointSpiffeId);
  const td = str(d.trustDomain);
  if (id && td !== undefined && id.trustDomain !== td) {
    ctx.addIssue({
      code: 'custom',
      path: ['endpointSpiffeId'],
      message: `${JSON.stringify(id.id)} must start with ${JSON.stringify(`spiffe://${td}/`)}`,
      input: d,
    });
  }
}, onMapping);

const workloadEntry = section({
  spiffeId: leaf(v.spiffeId),
  selectors: list(leaf(v.selector), { nonEmpty: 'must list at least one selector, e.g. "unix:uid:1000"' }),
});

const workloadApi = section({
  socket: leaf(v.filePath),
  entries: list(workloadEntry).optional(),
});

const identity = section({
  trustDomain: leaf(v.trustDomain),
  ca: leaf(v.filePath),
  federation: list(federatedDomain).optional(),
  workloadApi: workloadApi.optional(),
  bundleEndpoint: listenerAddress.optional(),
  svidTtl: duration(BOUNDS.identity.svidTtlMs).optional(),
  caTtl: duration(BOUNDS.identity.caTtlMs).optional(),
  bundleRefreshHint: duration(BOUNDS.identity.bundleRefreshHintMs).optional(),
}).superRefine((idn, ctx) => {
  const own = str(idn.trustDomain);
  // SPIRE's rule: a CA must outlive 6 SVID lifetimes, or SVIDs get cut short
  // at rotation (SPIRE server configuration, ca_ttl).
  const svidTtl = num(idn.svidTtl) ?? DEFAULTS.identity.svidTtlMs;
  const caTtl = num(idn.caTtl) ?? DEFAULTS.identity.caTtlMs;
  if (svidTtl * 6 > caTtl) {
    const at = idn.caTtl !== undefined ? 'caTtl' : 'svidTtl';
    ctx.addIssue({
      code: 'custom',
      path: [at],
      message: `caTtl (${formatDuration(caTtl)}) must be at least 6 × svidTtl (${formatDuration(svidTtl)})`,
      input: idn,
    });
  }
  const seen = new Map<string, number>();
  (Array.isArray(idn.federation) ? idn.federation : []).forEach((d: unknown, i) => {
    const td = isRecord(d) ? str(d.trustDomain) : undefined;
    if (td === undefined) return;
    const path = ['federation', i, 'trustDomain'];
    if (td === own) {
      ctx.addIssue({ code: 'custom', path, message: `${JSON.stringify(td)} is our own trust domain`, input: d });
    } else if (seen.has(td)) {
      ctx.addIssue({ code: 'custom', path, message: `${JSON.stringify(td)} is listed twice (also at federation[${seen.get(td)}])`, input: d });
    } else seen.set(td, i);
  });
  // Our CA is name-constrained to our trust domain: it cannot sign others.
  const entries = isRecord(idn.workloadApi) && Array.isArray(idn.workloadApi.entries) ? idn.workloadApi.entries : [];
  entries.forEach((e: unknown, i) => {
    const id = isRecord(e) ? spiffeIdOf(e.spiffeId) : undefined;
    if (!id || own === undefined || id.trustDomain === own) return;
    ctx.addIssue({
      code: 'custom',
      path: ['workloadApi', 'entries', i, 'spiffeId'],
      message: `${JSON.stringify(id.id)} is not in our trust domain ${JSON.stringify(own)}`,
      input: e,
    });
  });
}, onMapping);

// ---- services ----------------------------------------------------------------

const endpoint = leaf(v.hostPort({ allowPortZero: false }));

const timeoutKeys = [
  ['connect', 'connectMs'],
  ['perTry', 'perTryMs'],
  ['request', 'requestMs'],
] as const;

const timeouts = section({
  connect: duration(BOUNDS.timeouts.connectMs).optional(),
  perTry: duration(BOUNDS.timeouts.perTryMs).optional(),
  request: duration(BOUNDS.timeouts.requestMs).optional(),
  idle: duration(BOUNDS.timeouts.idleMs).optional(),
});

/** connect ≤ perTry ≤ request, checked with defaults filled in: `connect: 5s` alone breaks the default perTry. */
function checkTimeoutOrder(t: Record<string, unknown>, ctx: Ctx): void {
  const resolved = timeoutKeys.map(([key, msKey]) => {
    const explicit = t[key] !== undefined;
    return { key, explicit, ms: explicit ? num(t[key]) : DEFAULTS.service.timeouts[msKey] };
  });
  for (let i = 0; i + 1 < resolved.length; i++) {
    const a = resolved[i];
    const b = resolved[i + 1];
    if (!a || !b || a.ms === undefined || b.ms === undefined || a.ms <= b.ms) continue;
    const rule = 'connect ≤ perTry ≤ request';
    const message = a.explicit
      ? `${formatDuration(a.ms)} is longer than ${b.key} (${formatDuration(b.ms)}${b.explicit ? '' : ', the default'}); ${rule}`
      : `${formatDuration(b.ms)} is shorter than ${a.key} (${formatDuration(a.ms)}, the default); ${rule}`;
    ctx.addIssue({ code: 'custom', path: ['timeouts', a.explicit ? a.key : b.key], message, input: t });
  }
}

const healthCheck = section({
  path: leaf(v.httpPath).optional(),
  interval: duration(BOUNDS.healthCheck.intervalMs).optional(),
  timeout: duration(BOUNDS.healthCheck.timeoutMs).optional(),
  healthyThreshold: leaf(v.wholeNumber(BOUNDS.healthCheck.healthyThreshold)).optional(),
  unhealthyThreshold: leaf(v.wholeNumber(BOUNDS.healthCheck.unhealthyThreshold)).optional(),
});

const failover = section({
  overprovisioning: leaf(v.overprovisioning(BOUNDS.failover.overprovisioning)).optional(),
  order: list(leaf(v.tier), { nonEmpty: 'must list at least one tier (local, region, any or a cluster name)', uniqueBy: str }).optional(),
  retryOn: list(leaf(v.retryCondition), { uniqueBy: str }).optional(),
  allowPinning: leaf(v.boolean).optional(),
  weights: z
    .record(z.string(), leaf(v.wholeNumber(BOUNDS.failover.weights)))
    .superRefine((all, ctx) => {
      for (const name of Object.keys(all)) {
        const r = v.token(name);
        if (!r.ok) ctx.addIssue({ code: 'custom', path: [name], message: r.error, input: name });
      }
    }, onMapping)
    .optional(),
});

const endpointKey = (x: unknown): string | undefined => {
  const hp = hostPortOf(x);
  return hp && formatHostPort({ host: hp.host.toLowerCase(), port: hp.port });
};

const service = section({
  protocol: leaf(v.protocol).optional(),
  listen: listenerAddress.optional(),
  endpoints: list(endpoint, { uniqueBy: endpointKey }).optional(),
  healthCheck: healthCheck.optional(),
  export: leaf(v.boolean).optional(),
  allow: list(leaf(v.allowPattern)).optional(),
  failover: failover.optional(),
  timeouts: timeouts.optional(),
  drain: leaf(v.boolean).optional(),
}).superRefine((s, ctx) => {
  const t = isRecord(s.timeouts) ? s.timeouts : {};
  const issue = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message, input: s });
  if (s.protocol !== 'tcp') {
    if (s.listen !== undefined) issue(['listen'], 'only a TCP service (protocol: tcp) has a listen address of its own; HTTP and gRPC services are served on listeners.local');
    if (t.idle !== undefined) issue(['timeouts', 'idle'], 'applies to TCP services (protocol: tcp) only; idle HTTP connections are closed by limits.idleTimeout');
    checkTimeoutOrder(t, ctx);
    return;
  }
  if (s.listen === undefined) issue(['listen'], 'is required for a TCP service: the local address its apps connect to, e.g. 127.0.0.1:6379');
  for (const key of ['perTry', 'request']) {
    if (t[key] !== undefined) issue(['timeouts', key], 'applies to HTTP and gRPC requests; a TCP service has timeouts.connect and timeouts.idle');
  }
  if (isRecord(s.healthCheck) && s.healthCheck.path !== undefined) issue(['healthCheck', 'path'], 'a TCP service is checked by opening a connection; it has no path');
}, onMapping);

const services = z.record(z.string(), service).superRefine((all, ctx) => {
  for (const name of Object.keys(all)) {
    const r = v.serviceName(name);
    if (!r.ok) ctx.addIssue({ code: 'custom', path: [name], message: r.error, input: name });
  }
}, onMapping);

// ---- the file ----------------------------------------------------------------

export const configSchema = section({
  federation: leaf(v.token),
  cluster: leaf(v.token),
  replica: leaf(v.token).optional(),
  region: leaf(v.locality).optional(),
  zone: leaf(v.locality).optional(),
  drain: leaf(v.boolean).optional(),
  nats: nats.optional(),
  identity: identity.optional(),
  listeners: listeners.optional(),
  limits: limits.optional(),
  telemetry: telemetry.optional(),
  services: services.optional(),
}).superRefine((cfg, ctx) => {
  checkTcpListeners(cfg, ctx);
  // Gossip is signed with the gateway's SVID: no identity, no membership.
  if (cfg.nats !== undefined && cfg.identity === undefined) {
    ctx.addIssue({ code: 'custom', path: ['nats'], message: 'needs an identity section: gossip is signed with the gateway\'s SVID', input: cfg });
  }
}, onMapping);

/** A TCP service's listen address may not take a port a listener or another TCP service has (port 0 never clashes). */
function checkTcpListeners(cfg: Record<string, unknown>, ctx: Ctx): void {
  const given = isRecord(cfg.listeners) ? cfg.listeners : {};
  const taken: { what: string; addr: HostPort }[] = [];
  for (const name of LISTENERS) {
    const addr = given[name] !== undefined ? hostPortOf(given[name]) : DEFAULTS.listeners[name];
    if (addr) taken.push({ what: `listeners.${name}${given[name] === undefined ? ', the default' : ''}`, addr });
  }
  for (const [name, s] of Object.entries(isRecord(cfg.services) ? cfg.services : {})) {
    const addr = isRecord(s) ? hostPortOf(s.listen) : undefined;
    if (!addr || addr.port === 0) continue;
    const clash = taken.find((o) => o.addr.port === addr.port && overlaps(o.addr.host, addr.host));
    if (clash) {
      const message = `${formatHostPort(addr)} clashes with ${clash.what} (${formatHostPort(clash.addr)})`;
      ctx.addIssue({ code: 'custom', path: ['services', name, 'listen'], message, input: s });
    }
    taken.push({ what: `services.${name}.listen`, addr });
  }
}

/** What the file says, checked and converted, before defaults. */
export type RawConfig = z.output<typeof configSchema>;
