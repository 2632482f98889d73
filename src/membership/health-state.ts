/**
 * The replicated health state (DESIGN "Gossip over NATS"; gossip.md §4.5):
 * one HealthRecord per origin (a gateway replica), written only by its owner
 * and ordered by (generation, version). Keeping the higher of two records per
 * origin is a join-semilattice, so merges commute, repeat and reorder safely,
 * and Scuttlebutt digests `{origin → (generation, version)}` say exactly what
 * a peer lacks.
 *
 * Pure logic: no sockets, no timers. Time comes in through a Clock.
 */
import { isValidMemberId, isValidToken } from './subjects.js';
import type { Clock, HealthDigest, HealthRecord, MemberStatus, ServiceHealth } from './types.js';

/** The push-pull anti-entropy interval of DESIGN "Defaults". */
export const DEFAULT_PUSH_PULL_INTERVAL_MS = 30_000;

/**
 * A record not confirmed current for this long is stale even when its member
 * looks alive. Three push-pull rounds: one lost exchange (or two) is normal
 * on an at-most-once transport; three in a row means our copy cannot be
 * trusted to be the owner's latest.
 */
export const DEFAULT_STALE_AFTER_MS = 3 * DEFAULT_PUSH_PULL_INTERVAL_MS;

/**
 * What a chunk of records may take inside one message: the 64 KiB envelope
 * limit (envelope.ts) minus room for the envelope itself (signature,
 * fingerprint, and a full certificate chain of up to 8 certificates in
 * base64). A chunk filled to 64 KiB would be dropped as oversized by every
 * receiver, and anti-entropy would never heal what it carries.
 */
export const DEFAULT_CHUNK_BUDGET_BYTES = 48 * 1024;

// ===========================================================================
// Validation: records and digests arrive from other processes.

/** Service names are DNS labels (config `serviceName`). */
const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The cluster part of a valid member id (`<cluster>.<replica>`). */
const clusterOfMember = (memberId: string): string => memberId.slice(0, memberId.indexOf('.'));

/** Checks one ServiceHealth and returns a clean copy holding only its known fields. */
export function parseServiceHealth(value: unknown): ParseResult<ServiceHealth> {
  if (!isObject(value)) return { ok: false, problem: 'is not an object' };
  const { healthy, total, inFlight, latencyMs, exported } = value;
  if (!isCount(healthy)) return { ok: false, problem: 'healthy is not a count' };
  if (!isCount(total)) return { ok: false, problem: 'total is not a count' };
  if (healthy > total) return { ok: false, problem: `healthy (${healthy}) exceeds total (${total})` };
  if (!isCount(inFlight)) return { ok: false, problem: 'inFlight is not a count' };
  if (latencyMs !== undefined && !(typeof latencyMs === 'number' && Number.isFinite(latencyMs) && latencyMs >= 0)) {
    return { ok: false, problem: 'latencyMs is not a non-negative number' };
  }
  if (typeof exported !== 'boolean') return { ok: false, problem: 'exported is not a boolean' };
  return { ok: true, value: latencyMs === undefined ? { healthy, total, inFlight, exported } : { healthy, total, inFlight, latencyMs, exported } };
}

/**
 * Checks a HealthRecord from the wire and returns a clean copy (unknown
 * fields dropped, services in a null-prototype object so that a service
 * named like an Object.prototype member cannot confuse lookups). The origin
 * must be a member of the record's own cluster; whether the *signer* may
 * speak for that cluster is envelope.ts's `claimsCluster`.
 */
export function parseHealthRecord(value: unknown): ParseResult<HealthRecord> {
  if (!isObject(value)) return { ok: false, problem: 'the record is not an object' };
  const { origin, cluster, generation, version, writtenAt, services } = value;
  if (!isValidToken(cluster)) return { ok: false, problem: 'cluster is not a valid name' };
  if (!isValidMemberId(origin)) return { ok: false, problem: 'origin is not a member id (<cluster>.<replica>)' };
  if (clusterOfMember(origin) !== cluster) return { ok: false, problem: `origin ${origin} is not a member of cluster ${cluster}` };
  if (!isCount(generation)) return { ok: false, problem: 'generation is not a non-negative safe integer' };
  if (!isCount(version)) return { ok: false, problem: 'version is not a non-negative safe integer' };
  if (typeof writtenAt !== 'number' || !Number.isFinite(writtenAt)) return { ok: false, problem: 'writtenAt is not a number' };
  if (!isObject(services)) return { ok: false, problem: 'services is not an object' };
  const clean: Record<string, ServiceHealth> = Object.create(null) as Record<string, ServiceHealth>;
  for (const [name, health] of Object.entries(services)) {
    if (!SERVICE_NAME.test(name)) return { ok: false, problem: `service name ${JSON.stringify(name.slice(0, 80))} is not a DNS label` };
    const parsed = parseServiceHealth(health);
    if (!parsed.ok) return { ok: false, problem: `service ${name}: ${parsed.problem}` };
    clean[name] = parsed.value;
  }
  return { ok: true, value: { origin, cluster, generation, version, writtenAt, services: clean } };
}

/** One digest entry if it is well formed; a hostile digest's odd entries read as absent. */
function digestEntry(digest: HealthDigest, origin: string): readonly [number, number] | undefined {
  if (!Object.hasOwn(digest, origin)) return undefined;
  const entry: unknown = digest[origin];
  if (!Array.isArray(entry) || entry.length !== 2 || !isCount(entry[0]) || !isCount(entry[1])) return undefined;
  return entry as unknown as readonly [number, number];
}

// ===========================================================================
// Ordering

/** Lexicographic (generation, version): negative when a is older. */
export function compareVersions(a: readonly [number, number], b: readonly [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

/**
 * The contents of a record in one fixed form. Two records with equal
 * (generation, version) but different contents only exist when two processes
 * share one replica id (a configuration error); breaking that tie on the
 * contents keeps merge a total order, so replicas still converge.
 */
function contentKey(record: HealthRecord): string {
  const services = Object.keys(record.services)
    .sort()
    .map((name) => {
      const s = record.services[name] as ServiceHealth;
      return [name, s.healthy, s.total, s.inFlight, s.latencyMs ?? null, s.exported];
    });
  return JSON.stringify([record.writtenAt, record.cluster, services]);
}

/** Total order on records of one origin: (generation, version), then contents. */
function compareRecords(a: HealthRecord, b: HealthRecord): number {
  const byVersion = compareVersions([a.generation, a.version], [b.generation, b.version]);
  if (byVersion !== 0) return byVersion;
  const ka = contentKey(a);
  const kb = contentKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

// ===========================================================================
// The replicated state

interface Held {
  readonly record: HealthRecord;
  /**
   * Our clock when we last had evidence that this is the owner's current
   * record: it arrived newer than what we held, or the owner confirmed it
   * (see `confirm`). Local time only, so clock skew between clusters never
   * makes a record look fresher or older than it is.
   */
  heardAt: number;
}

export interface HealthStateOptions {
  readonly clock: Clock;
  /** Records not confirmed current for longer are shown stale. Default DEFAULT_STALE_AFTER_MS. */
  readonly staleAfterMs?: number;
}

export class HealthState {
  readonly #held = new Map<string, Held>();
  readonly #clock: Clock;
  readonly #staleAfterMs: number;
  #conflicts = 0;

  constructor(options: HealthStateOptions) {
    this.#clock = options.clock;
    this.#staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  }

  /**
   * Keep the higher of the held record and this one for its origin; true
   * when the state changed. The record must be well formed (parseHealthRecord
   * for anything from the wire): a malformed one throws a TypeError, because
   * NaN or a fraction in the version would break the order merges rely on.
   */
  merge(record: HealthRecord): boolean {
    const parsed = parseHealthRecord(record);
    if (!parsed.ok) throw new TypeError(`not a valid HealthRecord: ${parsed.problem}`);
    const held = this.#held.get(record.origin);
    if (held) {
      const order = compareRecords(parsed.value, held.record);
      if (order === 0) return false;
      if (parsed.value.generation === held.record.generation && parsed.value.version === held.record.version) this.#conflicts++;
      if (order < 0) return false;
    }
    this.#held.set(record.origin, { record: parsed.value, heardAt: this.#clock.now() });
    return true;
  }

  /**
   * The owner says `[generation, version]` is its newest record (its own
   * entry in a digest it sent us, or a version stamp on a ping or ack): when
   * that is what we hold, our copy is current now. True when it refreshed.
   * Without such confirmations an owner whose health does not change would
   * look stale after staleAfterMs, since it writes no new versions.
   */
  confirm(origin: string, newest: readonly [number, number]): boolean {
    const held = this.#held.get(origin);
    if (!held || !isCount(newest[0]) || !isCount(newest[1])) return false;
    if (compareVersions(newest, [held.record.generation, held.record.version]) !== 0) return false;
    held.heardAt = this.#clock.now();
    return true;
  }

  get(origin: string): HealthRecord | undefined {
    return this.#held.get(origin)?.record;
  }

  /** Every held record, by origin. */
  records(): HealthRecord[] {
    return [...this.#held.keys()].sort().map((origin) => (this.#held.get(origin) as Held).record);
  }

  get size(): number {
    return this.#held.size;
  }

  /** Records that arrived with the same (generation, version) as the held one but other contents: duplicate replica ids. */
  get conflicts(): number {
    return this.#conflicts;
  }

  /**
   * Drop an origin (a member reaped after DESIGN's 24 h). Not a CRDT
   * operation: a peer that still holds the record will send it back, which
   * is harmless (it shows as stale with its member gone).
   */
  forget(origin: string): boolean {
    return this.#held.delete(origin);
  }

  digest(): HealthDigest {
    const digest: Record<string, readonly [number, number]> = Object.create(null) as Record<string, readonly [number, number]>;
    for (const [origin, { record }] of this.#held) digest[origin] = [record.generation, record.version];
    return digest;
  }

  /** The records a peer with `theirs` lacks or holds older, by origin: what to push. */
  deltaFor(theirs: HealthDigest): HealthRecord[] {
    const delta: HealthRecord[] = [];
    for (const record of this.records()) {
      const their = digestEntry(theirs, record.origin);
      if (!their || compareVersions(their, [record.generation, record.version]) < 0) delta.push(record);
    }
    return delta;
  }

  /** Origins where `theirs` is newer than what we hold (or we hold nothing): what to ask for. */
  missingFrom(theirs: HealthDigest): string[] {
    const missing: string[] = [];
    for (const origin of Object.keys(theirs)) {
      if (!isValidMemberId(origin)) continue;
      const their = digestEntry(theirs, origin);
      if (!their) continue;
      const held = this.#held.get(origin)?.record;
      if (!held || compareVersions(their, [held.generation, held.version]) > 0) missing.push(origin);
    }
    return missing.sort();
  }

  /**
   * Per service, per cluster: what routing and `/debug/services` read. See
   * ClusterServiceHealth for how replicas of one cluster are combined.
   */
  serviceView(now: number, memberStatus: MemberStatusLookup): ServiceView {
    const replicas = new Map<string, ReplicaState>();
    for (const [origin, held] of this.#held) replicas.set(origin, this.#replicaState(origin, held, now, memberStatus));

    // service → cluster → the replicas of that cluster that report the service
    const grouped = new Map<string, Map<string, ReplicaState[]>>();
    for (const replica of replicas.values()) {
      for (const service of Object.keys(replica.record.services)) {
        let byCluster = grouped.get(service);
        if (!byCluster) grouped.set(service, (byCluster = new Map()));
        let list = byCluster.get(replica.record.cluster);
        if (!list) byCluster.set(replica.record.cluster, (list = []));
        list.push(replica);
      }
    }

    const view = new Map<string, Map<string, ClusterServiceHealth>>();
    for (const service of [...grouped.keys()].sort()) {
      const byCluster = grouped.get(service) as Map<string, ReplicaState[]>;
      const clusters = new Map<string, ClusterServiceHealth>();
      for (const cluster of [...byCluster.keys()].sort()) {
        clusters.set(cluster, combineReplicas(service, cluster, byCluster.get(cluster) as ReplicaState[]));
      }
      view.set(service, clusters);
    }
    return view;
  }

  #replicaState(origin: string, held: Held, now: number, memberStatus: MemberStatusLookup): ReplicaState {
    const ageMs = Math.max(0, now - held.heardAt);
    const member = memberStatus(origin);
    let staleReason: StaleReason | undefined;
    if (!member) staleReason = 'unknown-member';
    else if (member.status === 'left') staleReason = 'member-left';
    else if (member.status === 'dead') staleReason = 'member-dead';
    else if (!member.reachable) staleReason = 'unreachable';
    else if (member.status === 'suspect') staleReason = 'member-suspect';
    else if (ageMs > this.#staleAfterMs) staleReason = 'too-old';
    return { origin, record: held.record, heardAt: held.heardAt, ageMs, staleReason };
  }
}

// ===========================================================================
// The read view

/** How SWIM sees a member; undefined when membership does not know it. */
export type MemberStatusLookup = (origin: string) => { readonly status: MemberStatus; readonly reachable: boolean } | undefined;

/**
 * Why a replica's record is not trusted as current:
 * - `unknown-member`: membership does not know the origin (yet, or any more);
 * - `member-left`, `member-dead`: SWIM says so;
 * - `unreachable`: alive for others but not reachable from here (a stale path);
 * - `member-suspect`: SWIM suspects it; resolved within seconds either way;
 * - `too-old`: the member looks alive but our copy has not been confirmed current for staleAfterMs.
 */
export type StaleReason = 'unknown-member' | 'member-left' | 'member-dead' | 'unreachable' | 'member-suspect' | 'too-old';

interface ReplicaState {
  readonly origin: string;
  readonly record: HealthRecord;
  readonly heardAt: number;
  readonly ageMs: number;
  readonly staleReason: StaleReason | undefined;
}

/** One replica's report of one service, for `/debug/services`: who said what, how long ago. */
export interface ReplicaReport {
  readonly origin: string;
  readonly healthy: number;
  readonly total: number;
  readonly inFlight: number;
  readonly latencyMs?: number;
  readonly ageMs: number;
  readonly stale: boolean;
  readonly staleReason?: StaleReason;
}

/**
 * One service in one cluster. Replicas of a cluster front the same endpoints
 * and each health-checks them, so `healthy`, `total` and `latencyMs` come
 * from one replica, the freshest live one (newest writtenAt: the latest
 * observation), not a sum that would count each endpoint once per replica.
 * `inFlight` is the sum over live replicas: each replica's requests load the
 * same endpoints. `liveReplicas` counts replicas whose member is alive,
 * reachable and confirmed recently: one gateway replica never stands for the
 * whole cluster (DESIGN Lessons).
 *
 * With no live replica, the numbers are the freshest stale replica's, with
 * `stale: true`, its reason and its age: shown, never silently trusted.
 */
export interface ClusterServiceHealth {
  readonly service: string;
  readonly cluster: string;
  readonly healthy: number;
  readonly total: number;
  readonly inFlight: number;
  readonly latencyMs?: number;
  readonly exported: boolean;
  readonly liveReplicas: number;
  /** Replicas that report this service, live or not. */
  readonly replicas: number;
  /** Since the shown record was last known current (local clock). */
  readonly ageMs: number;
  readonly stale: boolean;
  readonly staleReason?: StaleReason;
  /** The origin whose record the counts come from. */
  readonly source: string;
  readonly reports: readonly ReplicaReport[];
}

/** service → cluster → health, both sorted by name. */
export type ServiceView = ReadonlyMap<string, ReadonlyMap<string, ClusterServiceHealth>>;

/** Newest observation first (writtenAt), then most recently confirmed, then by origin for a stable answer. */
function fresher(a: ReplicaState, b: ReplicaState): number {
  return b.record.writtenAt - a.record.writtenAt || b.heardAt - a.heardAt || (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0);
}

function combineReplicas(service: string, cluster: string, replicas: ReplicaState[]): ClusterServiceHealth {
  const sorted = [...replicas].sort(fresher);
  const live = sorted.filter((r) => r.staleReason === undefined);
  const source = (live[0] ?? sorted[0]) as ReplicaState;
  const health = source.record.services[service] as ServiceHealth;
  const inFlight = live.length > 0 ? live.reduce((sum, r) => sum + (r.record.services[service] as ServiceHealth).inFlight, 0) : health.inFlight;
  const reports = [...replicas]
    .sort((a, b) => (a.origin < b.origin ? -1 : 1))
    .map((r): ReplicaReport => {
      const h = r.record.services[service] as ServiceHealth;
      return {
        origin: r.origin,
        healthy: h.healthy,
        total: h.total,
        inFlight: h.inFlight,
        ...(h.latencyMs === undefined ? {} : { latencyMs: h.latencyMs }),
        ageMs: r.ageMs,
        stale: r.staleReason !== undefined,
        ...(r.staleReason === undefined ? {} : { staleReason: r.staleReason }),
      };
    });
  return {
    service,
    cluster,
    healthy: health.healthy,
    total: health.total,
    inFlight,
    ...(health.latencyMs === undefined ? {} : { latencyMs: health.latencyMs }),
    exported: health.exported,
    liveReplicas: live.length,
    replicas: replicas.length,
    ageMs: source.ageMs,
    stale: live.length === 0,
    ...(live.length === 0 && source.staleReason !== undefined ? { staleReason: source.staleReason } : {}),
    source: source.origin,
    reports,
  };
}

// ===========================================================================
// The owner's side

const sameHealth = (a: ServiceHealth, b: ServiceHealth): boolean =>
  a.healthy === b.healthy && a.total === b.total && a.inFlight === b.inFlight && a.latencyMs === b.latencyMs && a.exported === b.exported;

/**
 * The one writer of one origin's record. Changes accumulate until
 * `snapshot()`, which bumps the version once for all of them (and not at all
 * when nothing changed), so a burst of health-check results costs one new
 * version to gossip, not one per check.
 */
export class HealthWriter {
  readonly origin: string;
  readonly cluster: string;
  readonly #clock: Clock;
  readonly #services = new Map<string, ServiceHealth>();
  #generation: number;
  #version = 0;
  #dirty = true;
  #snapshot: HealthRecord | undefined;

  /**
   * `generation` defaults to the clock at start (ms), so a restarted replica
   * outranks everything its previous run wrote, as Cassandra's heartbeat
   * generation does; `supersede` covers a clock that went backwards.
   */
  constructor(origin: string, cluster: string, clock: Clock, generation: number = Math.floor(clock.now())) {
    if (!isValidToken(cluster)) throw new TypeError(`cluster ${JSON.stringify(cluster)} is not a valid name`);
    if (!isValidMemberId(origin) || clusterOfMember(origin) !== cluster) {
      throw new TypeError(`origin ${JSON.stringify(origin)} is not a member id of cluster ${cluster} (<cluster>.<replica>)`);
    }
    if (!isCount(generation)) throw new TypeError(`generation ${generation} is not a non-negative safe integer`);
    this.origin = origin;
    this.cluster = cluster;
    this.#clock = clock;
    this.#generation = generation;
  }

  get generation(): number {
    return this.#generation;
  }

  /** The version of the last snapshot (0 before the first). */
  get version(): number {
    return this.#version;
  }

  /** Record a service's health; true when it differs from what was held. */
  set(serviceName: string, health: ServiceHealth): boolean {
    if (!SERVICE_NAME.test(serviceName)) throw new TypeError(`service name ${JSON.stringify(serviceName)} is not a DNS label`);
    const parsed = parseServiceHealth(health);
    if (!parsed.ok) throw new TypeError(`service ${serviceName}: ${parsed.problem}`);
    const held = this.#services.get(serviceName);
    if (held && sameHealth(held, parsed.value)) return false;
    this.#services.set(serviceName, parsed.value);
    this.#dirty = true;
    return true;
  }

  /** Forget a service (no longer configured); true when it was there. */
  remove(serviceName: string): boolean {
    if (!this.#services.delete(serviceName)) return false;
    this.#dirty = true;
    return true;
  }

  /** The current record; a new version only when something changed since the last snapshot. */
  snapshot(): HealthRecord {
    if (this.#dirty || !this.#snapshot) {
      this.#version++;
      const services: Record<string, ServiceHealth> = Object.create(null) as Record<string, ServiceHealth>;
      for (const name of [...this.#services.keys()].sort()) services[name] = this.#services.get(name) as ServiceHealth;
      this.#snapshot = Object.freeze({
        origin: this.origin,
        cluster: this.cluster,
        generation: this.#generation,
        version: this.#version,
        writtenAt: this.#clock.now(),
        services: Object.freeze(services),
      });
      this.#dirty = false;
    }
    return this.#snapshot;
  }

  /**
   * A peer holds `held` for our origin. When that outranks what we write
   * (our previous run had a higher generation because the clock went back,
   * or a duplicate replica id wrote ahead of us), peers would ignore our
   * records forever: jump past it. The orchestrator calls this with our own
   * entry of every digest it receives. True when the next snapshot will carry
   * a new (generation, version).
   */
  supersede(held: readonly [number, number]): boolean {
    if (!isCount(held[0]) || !isCount(held[1])) return false;
    if (compareVersions(held, [this.#generation, this.#version]) <= 0) return false;
    if (held[0] > this.#generation) {
      this.#generation = Math.max(held[0] + 1, Math.floor(this.#clock.now()));
      this.#version = 0;
    } else {
      this.#version = held[1];
    }
    this.#dirty = true;
    return true;
  }
}

// ===========================================================================
// Chunking a delta into messages

export interface RecordChunks {
  /** Each chunk, serialized as a JSON array, fits the budget. */
  readonly chunks: readonly (readonly HealthRecord[])[];
  /** Records that alone exceed the budget: reported, never silently dropped. */
  readonly oversized: readonly { readonly origin: string; readonly bytes: number }[];
}

const encoder = new TextEncoder();

/** UTF-8 size of the record as JSON. */
export const jsonSize = (record: HealthRecord): number => encoder.encode(JSON.stringify(record)).byteLength;

/**
 * Split records into chunks whose JSON array (`[r1,r2,…]`: brackets and
 * commas counted) fits `budgetBytes`, keeping their order. Every record is
 * whole state for its origin, so any cut leaves no per-origin gap
 * (Scuttlebutt's rule holds trivially). A record larger than the budget on
 * its own cannot be sent: it is listed in `oversized` while the rest still
 * go out, so one huge record does not stop anti-entropy for everyone else.
 */
export function chunkRecords(
  records: readonly HealthRecord[],
  budgetBytes: number = DEFAULT_CHUNK_BUDGET_BYTES,
  sizeOf: (record: HealthRecord) => number = jsonSize,
): RecordChunks {
  const chunks: HealthRecord[][] = [];
  const oversized: { origin: string; bytes: number }[] = [];
  let current: HealthRecord[] = [];
  let currentBytes = 2; // "[]"
  for (const record of records) {
    const bytes = sizeOf(record);
    if (bytes + 2 > budgetBytes) {
      oversized.push({ origin: record.origin, bytes });
      continue;
    }
    const added = (current.length > 0 ? 1 : 0) + bytes;
    if (currentBytes + added > budgetBytes) {
      chunks.push(current);
      current = [];
      currentBytes = 2;
    }
    currentBytes += (current.length > 0 ? 1 : 0) + bytes;
    current.push(record);
  }
  if (current.length > 0) chunks.push(current);
  return { chunks, oversized };
}
