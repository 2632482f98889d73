/**
 * The replicated health state (docs/architecture.md, Membership: "Health records"):
 * one health record per origin (a gateway replica), written only by its
 * owner. A record travels in parts (record-parts.ts), each ordered by
 * (generation, version): per part the higher wins, and a newer generation,
 * once all its parts are in, replaces every older one. Both are joins of a
 * semilattice, so merges commute, repeat and reorder safely, and Scuttlebutt
 * digests `{part key → (generation, version)}` say exactly what a peer lacks.
 *
 * Pure logic: no sockets, no timers. Time comes in through a Clock.
 */
import { MAX_PARTS, PART_LIMIT_BYTES, PART_TARGET_BYTES, partCountFor, partKey, partOf, parsePartKey } from './record-parts.js';
import { isValidMemberId, isValidToken, parseMemberId, tryParseMemberId } from './subjects.js';
import type { Result } from '../result/index.js';
import type { Clock, HealthDigest, HealthRecord, MemberStatus, ServiceHealth } from './types.js';

/** The push-pull anti-entropy interval, as memberlist's LAN default. */
export const DEFAULT_PUSH_PULL_INTERVAL_MS = 30_000;

/**
 * A record not confirmed current for this long is stale even when its member
 * looks alive. Three push-pull rounds: one lost exchange (or two) is normal
 * on an at-most-once transport; three in a row means our copy cannot be
 * trusted to be the owner's latest.
 */
export const DEFAULT_STALE_AFTER_MS = 3 * DEFAULT_PUSH_PULL_INTERVAL_MS;


// ===========================================================================
// Validation: records and digests arrive from other processes.

/** Service names are DNS labels (config `serviceName`). */
const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A record, digest entry or service from the wire, or what is wrong with it. */
export type ParseResult<T> = Result<T, string>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The cluster part of a valid member id (`<cluster>.<replica>`). */

/** Checks one ServiceHealth and returns a clean copy holding only its known fields. */
export function parseServiceHealth(value: unknown): ParseResult<ServiceHealth> {
  if (!isObject(value)) return { ok: false, error: 'is not an object' };
  const { healthy, total, inFlight, latencyMs, exported, drained } = value;
  if (!isCount(healthy)) return { ok: false, error: 'healthy is not a count' };
  if (!isCount(total)) return { ok: false, error: 'total is not a count' };
  if (healthy > total) return { ok: false, error: `healthy (${healthy}) exceeds total (${total})` };
  if (!isCount(inFlight)) return { ok: false, error: 'inFlight is not a count' };
  if (latencyMs !== undefined && !(typeof latencyMs === 'number' && Number.isFinite(latencyMs) && latencyMs >= 0)) {
    return { ok: false, error: 'latencyMs is not a non-negative number' };
  }
  if (typeof exported !== 'boolean') return { ok: false, error: 'exported is not a boolean' };
  if (drained !== undefined && drained !== true) return { ok: false, error: 'drained is neither absent nor true' };
  return { ok: true, value: { healthy, total, inFlight, ...(latencyMs !== undefined && { latencyMs }), exported, ...(drained && { drained }) } };
}

/**
 * Checks a HealthRecord from the wire and returns a clean copy (unknown
 * fields dropped, services in a null-prototype object so that a service
 * named like an Object.prototype member cannot confuse lookups). The origin
 * must be a member of the record's own cluster; whether the *signer* may
 * speak for that cluster is Membership's check ('foreign-claim').
 */
export function parseHealthRecord(value: unknown): ParseResult<HealthRecord> {
  if (!isObject(value)) return { ok: false, error: 'the record is not an object' };
  const { origin, cluster, generation, version, writtenAt, services, part = 0, parts = 1 } = value;
  if (!isValidToken(cluster)) return { ok: false, error: 'cluster is not a valid name' };
  if (!isValidMemberId(origin)) return { ok: false, error: 'origin is not a member id (<cluster>.<replica>)' };
  if (parseMemberId(origin).cluster !== cluster) return { ok: false, error: `origin ${origin} is not a member of cluster ${cluster}` };
  if (!isCount(generation)) return { ok: false, error: 'generation is not a non-negative safe integer' };
  if (!isCount(version)) return { ok: false, error: 'version is not a non-negative safe integer' };
  if (typeof writtenAt !== 'number' || !Number.isFinite(writtenAt)) return { ok: false, error: 'writtenAt is not a number' };
  if (!Number.isSafeInteger(parts) || (parts as number) < 1 || (parts as number) > MAX_PARTS) return { ok: false, error: `parts is not a count from 1 to ${MAX_PARTS}` };
  if (!isCount(part) || part >= (parts as number)) return { ok: false, error: 'part is not an index below parts' };
  if (!isObject(services)) return { ok: false, error: 'services is not an object' };
  const clean: Record<string, ServiceHealth> = Object.create(null) as Record<string, ServiceHealth>;
  for (const [name, health] of Object.entries(services)) {
    if (!SERVICE_NAME.test(name)) return { ok: false, error: `service name ${JSON.stringify(name.slice(0, 80))} is not a DNS label` };
    // Each service in exactly one part, or the union of the parts would be ambiguous.
    if (partOf(name, parts as number) !== part) return { ok: false, error: `service ${name} does not belong in part ${part} of ${parts as number}` };
    const parsed = parseServiceHealth(health);
    if (!parsed.ok) return { ok: false, error: `service ${name}: ${parsed.error}` };
    clean[name] = parsed.value;
  }
  return { ok: true, value: { origin, cluster, generation, version, writtenAt, part, parts: parts as number, services: clean } };
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
      return [name, s.healthy, s.total, s.inFlight, s.latencyMs ?? null, s.exported, s.drained ?? false];
    });
  return JSON.stringify([record.writtenAt, record.cluster, record.part ?? 0, record.parts ?? 1, services]);
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

/**
 * The signed form a part travelled in, kept with it so that anyone can pass
 * it on; opaque here. `sealedAt` (the owner's clock) picks the newest seal of
 * one version: owners seal again as their SVIDs renew.
 */
export interface Seal {
  readonly envelope: string;
  readonly sealedAt: number;
}

interface HeldPart {
  readonly record: HealthRecord;
  /**
   * Our clock when we last had evidence that this is the owner's current
   * part: it arrived newer than what we held, or the owner confirmed it
   * (see `confirm`). Local time only, so clock skew between clusters never
   * makes a record look fresher or older than it is.
   */
  heardAt: number;
  seal: Seal | undefined;
}

/**
 * The parts held of one cut of one origin's record: a generation, and how
 * many parts it has. An owner cuts a generation one way only; two cuts of one
 * generation mean two processes share a replica id, and are then kept apart
 * as two layouts, ordered by (generation, parts), so merges still commute.
 */
interface Layout {
  readonly generation: number;
  readonly parts: number;
  readonly held: Map<number, HeldPart>;
}

const isComplete = (layout: Layout): boolean => layout.held.size === layout.parts;
/** Newest first: by generation, then by the finer cut. */
const newerLayout = (a: Pick<Layout, 'generation' | 'parts'>, b: Pick<Layout, 'generation' | 'parts'>): number =>
  b.generation - a.generation || b.parts - a.parts;

/**
 * Layouts of one origin kept at once: the newest complete one and those
 * above it still coming in. An owner starts a generation only when it
 * restarts or re-cuts its record, so more than two is rare; the cap only
 * bounds what a misbehaving owner can make us hold (beyond it, merges are no
 * longer order-free).
 */
const MAX_LAYOUTS = 8;

export interface HealthStateOptions {
  readonly clock: Clock;
  /** Records not confirmed current for longer are shown stale. Default DEFAULT_STALE_AFTER_MS. */
  readonly staleAfterMs?: number;
}

export class HealthState {
  /** origin → its generations, newest first. */
  readonly #held = new Map<string, Layout[]>();
  readonly #clock: Clock;
  readonly #staleAfterMs: number;
  #conflicts = 0;

  constructor(options: HealthStateOptions) {
    this.#clock = options.clock;
    this.#staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  }

  /**
   * Keep the higher of the held part and this one; true when the state
   * changed. A generation whose parts are all in replaces every older one of
   * its origin; until then the older complete one is what readers see. The
   * record must be well formed (parseHealthRecord for anything from the
   * wire): a malformed one throws a TypeError, because NaN or a fraction in
   * the version would break the order merges rely on. `seal` is the signed
   * form to pass on; a newer seal of the held part replaces the older.
   */
  merge(record: HealthRecord, seal?: Seal): boolean {
    const parsed = parseHealthRecord(record);
    if (!parsed.ok) throw new TypeError(`not a valid HealthRecord: ${parsed.error}`);
    const incoming = parsed.value;
    const { generation } = incoming;
    const parts = incoming.parts as number;
    const part = incoming.part as number;
    let layouts = this.#held.get(incoming.origin);
    if (!layouts) this.#held.set(incoming.origin, (layouts = []));
    const key = { generation, parts };
    if (layouts.some((l) => newerLayout(l, key) < 0 && isComplete(l))) return false;

    let layout = layouts.find((l) => l.generation === generation && l.parts === parts);
    if (!layout) {
      // The same generation cut another way: a duplicate replica id.
      if (layouts.some((l) => l.generation === generation)) this.#conflicts++;
      layout = { generation, parts, held: new Map() };
      layouts.push(layout);
      layouts.sort(newerLayout);
    }

    const held = layout.held.get(part);
    if (held) {
      const order = compareRecords(incoming, held.record);
      if (order === 0) {
        if (seal && (!held.seal || seal.sealedAt > held.seal.sealedAt)) held.seal = seal;
        return false;
      }
      if (incoming.version === held.record.version) this.#conflicts++;
      if (order < 0) return false;
    }
    layout.held.set(part, { record: incoming, heardAt: this.#clock.now(), seal });
    this.#prune(layouts);
    return true;
  }

  /** Drops layouts below the newest complete one, and the oldest beyond MAX_LAYOUTS. */
  #prune(layouts: Layout[]): void {
    const complete = layouts.findIndex(isComplete);
    if (complete >= 0) layouts.splice(complete + 1);
    while (layouts.length > MAX_LAYOUTS) {
      const oldestIncomplete = layouts.findLastIndex((l) => !isComplete(l));
      layouts.splice(oldestIncomplete >= 0 ? oldestIncomplete : layouts.length - 1, 1);
    }
  }

  /** What readers see of an origin: its newest complete generation, else the newest one there is (in part). */
  #shown(origin: string): Layout | undefined {
    const layouts = this.#held.get(origin);
    return layouts?.find(isComplete) ?? layouts?.[0];
  }

  /**
   * The owner says `[generation, Σ versions of its parts]` is its newest
   * record (a version stamp on a ping or ack): when that is what we hold,
   * every part of it, our copy is current now. True when it refreshed.
   * Without such confirmations an owner whose health does not change would
   * look stale after staleAfterMs, since it writes no new versions. (We never
   * hold a part newer than its owner's, so equal sums mean equal versions.)
   */
  confirm(origin: string, newest: readonly [number, number]): boolean {
    const layout = this.#shown(origin);
    if (!layout || !isComplete(layout) || !isCount(newest[0]) || !isCount(newest[1])) return false;
    if (compareVersions(newest, [layout.generation, versionSum(layout)]) !== 0) return false;
    const now = this.#clock.now();
    for (const held of layout.held.values()) held.heardAt = now;
    return true;
  }

  /** The owner itself sent us this part: when it is the one we hold, it is current now. */
  confirmPart(record: HealthRecord): boolean {
    const held = this.#part(record);
    if (!held || held.record.version !== record.version) return false;
    held.heardAt = this.#clock.now();
    return true;
  }

  #part(record: HealthRecord): HeldPart | undefined {
    const parts = record.parts ?? 1;
    return this.#held.get(record.origin)?.find((l) => l.generation === record.generation && l.parts === parts)?.held.get(record.part ?? 0);
  }

  /**
   * An origin's record as readers see it, its parts joined: the version is
   * the newest part's, and `parts` is absent. Undefined when nothing is held.
   */
  get(origin: string): HealthRecord | undefined {
    const layout = this.#shown(origin);
    if (!layout) return undefined;
    const held = [...layout.held.values()].map((h) => h.record);
    const services: Record<string, ServiceHealth> = Object.create(null) as Record<string, ServiceHealth>;
    for (const record of held) Object.assign(services, record.services);
    const first = held[0] as HealthRecord;
    return {
      origin,
      cluster: first.cluster,
      generation: layout.generation,
      version: Math.max(...held.map((r) => r.version)),
      writtenAt: Math.max(...held.map((r) => r.writtenAt)),
      services,
    };
  }

  /** The signed form held with this very part (same generation, part and version), to pass on. */
  sealOf(record: HealthRecord): Seal | undefined {
    const held = this.#part(record);
    return held && held.record.version === record.version ? held.seal : undefined;
  }

  /** Every held part, by origin, newest generation first, then by part. */
  records(): HealthRecord[] {
    const out: HealthRecord[] = [];
    for (const origin of [...this.#held.keys()].sort()) {
      for (const layout of this.#held.get(origin) as Layout[]) {
        for (const part of [...layout.held.keys()].sort((a, b) => a - b)) out.push((layout.held.get(part) as HeldPart).record);
      }
    }
    return out;
  }

  /** Origins held. */
  get size(): number {
    return this.#held.size;
  }

  /** Parts that arrived with the same (generation, version) as the held one but other contents: duplicate replica ids. */
  get conflicts(): number {
    return this.#conflicts;
  }

  /**
   * Drop an origin (a member reaped 24 h after it died). Not a CRDT
   * operation: a peer that still holds the record will send it back, which
   * is harmless (it shows as stale with its member gone).
   */
  forget(origin: string): boolean {
    return this.#held.delete(origin);
  }

  /** Part key → the newest (generation, version) held of it. */
  digest(): HealthDigest {
    const digest: Record<string, readonly [number, number]> = Object.create(null) as Record<string, readonly [number, number]>;
    for (const record of this.records()) {
      const key = partKey(record.origin, record.part ?? 0);
      const seen = digest[key];
      if (!seen || compareVersions([record.generation, record.version], seen) > 0) digest[key] = [record.generation, record.version];
    }
    return digest;
  }

  /**
   * The parts a peer with `theirs` lacks or holds older: what to push.
   * Nothing of a generation older than the newest the peer has heard of for
   * that origin: it would drop it (or will, once the newer one is complete).
   */
  deltaFor(theirs: HealthDigest): HealthRecord[] {
    const newestGeneration = newestGenerations(theirs);
    const delta: HealthRecord[] = [];
    for (const record of this.records()) {
      if ((newestGeneration.get(record.origin) ?? -1) > record.generation) continue;
      const their = digestEntry(theirs, partKey(record.origin, record.part ?? 0));
      if (!their || compareVersions(their, [record.generation, record.version]) < 0) delta.push(record);
    }
    return delta;
  }

  /** Part keys where `theirs` is newer than what we hold (or we hold nothing), in a generation we would keep: what to ask for. */
  missingFrom(theirs: HealthDigest): string[] {
    const missing: string[] = [];
    for (const key of Object.keys(theirs)) {
      const parsed = parsePartKey(key);
      if (!parsed) continue;
      const their = digestEntry(theirs, key);
      if (!their) continue;
      const layouts = this.#held.get(parsed.origin) ?? [];
      if (layouts.some((l) => l.generation > their[0] && isComplete(l))) continue;
      let ours: readonly [number, number] | undefined;
      for (const l of layouts) {
        const held = l.held.get(parsed.part);
        if (held && (!ours || compareVersions([l.generation, held.record.version], ours) > 0)) ours = [l.generation, held.record.version];
      }
      if (!ours || compareVersions(their, ours) > 0) missing.push(key);
    }
    return missing.sort();
  }

  /**
   * Per service, per cluster: what routing and `/debug/services` read. See
   * ClusterServiceHealth for how replicas of one cluster are combined. Each
   * service of an origin comes from the part that carries it, with that
   * part's age.
   */
  serviceView(now: number, memberStatus: MemberStatusLookup): ServiceView {
    // service → cluster → the replicas of that cluster that report the service
    const grouped = new Map<string, Map<string, ReplicaState[]>>();
    for (const origin of this.#held.keys()) {
      const layout = this.#shown(origin);
      if (!layout) continue;
      for (const held of layout.held.values()) {
        const replica = this.#replicaState(origin, held, now, memberStatus);
        for (const service of Object.keys(replica.record.services)) {
          let byCluster = grouped.get(service);
          if (!byCluster) grouped.set(service, (byCluster = new Map()));
          let list = byCluster.get(replica.record.cluster);
          if (!list) byCluster.set(replica.record.cluster, (list = []));
          list.push(replica);
        }
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

  #replicaState(origin: string, held: HeldPart, now: number, memberStatus: MemberStatusLookup): ReplicaState {
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

const versionSum = (layout: Layout): number => {
  let sum = 0;
  for (const held of layout.held.values()) sum += held.record.version;
  return sum;
};

/** Per origin, the newest generation a digest mentions. */
function newestGenerations(digest: HealthDigest): Map<string, number> {
  const out = new Map<string, number>();
  for (const key of Object.keys(digest)) {
    const parsed = parsePartKey(key);
    const entry = parsed && digestEntry(digest, key);
    if (!parsed || !entry) continue;
    if (entry[0] > (out.get(parsed.origin) ?? -1)) out.set(parsed.origin, entry[0]);
  }
  return out;
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
 * whole cluster.
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
  readonly drained: boolean;
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
    drained: health.drained === true,
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

const encoder = new TextEncoder();

const sameHealth = (a: ServiceHealth, b: ServiceHealth): boolean =>
  a.healthy === b.healthy && a.total === b.total && a.inFlight === b.inFlight && a.latencyMs === b.latencyMs && a.exported === b.exported && a.drained === b.drained;

/** JSON bytes of `"name":{…}` inside a record's services. */
const entryBytes = (name: string, health: ServiceHealth): number => encoder.encode(JSON.stringify(name)).byteLength + 1 + encoder.encode(JSON.stringify(health)).byteLength;

export interface HealthWriterOptions {
  /** Per part, what to aim for and the most one part may hold (JSON bytes of its services); see record-parts.ts. */
  readonly partTargetBytes?: number;
  readonly partLimitBytes?: number;
}

/**
 * The one writer of one origin's record. Changes accumulate until
 * `snapshot()`, which bumps the version once for all of them (and not at all
 * when nothing changed), so a burst of health-check results costs one new
 * version to gossip, not one per check. Only the parts whose services
 * changed take the new version; the others stay as they were.
 *
 * When a part would outgrow its limit the record is cut again into more
 * parts, under a new generation (a generation fixes the cut), so readers
 * keep the old complete record until every part of the new one is in.
 */
export class HealthWriter {
  readonly origin: string;
  readonly cluster: string;
  readonly #clock: Clock;
  readonly #services = new Map<string, ServiceHealth>();
  readonly #sizes = new Map<string, number>();
  readonly #targetBytes: number;
  readonly #limitBytes: number;
  #generation: number;
  #version = 0;
  #parts = 1;
  #dirty = true;
  #snapshot: readonly HealthRecord[] | undefined;

  /**
   * `generation` defaults to the clock at start (ms), so a restarted replica
   * outranks everything its previous run wrote, as Cassandra's heartbeat
   * generation does; `supersede` covers a clock that went backwards.
   */
  constructor(origin: string, cluster: string, clock: Clock, generation: number = Math.floor(clock.now()), options: HealthWriterOptions = {}) {
    if (!isValidToken(cluster)) throw new TypeError(`cluster ${JSON.stringify(cluster)} is not a valid name`);
    if (tryParseMemberId(origin)?.cluster !== cluster) {
      throw new TypeError(`origin ${JSON.stringify(origin)} is not a member id of cluster ${cluster} (<cluster>.<replica>)`);
    }
    if (!isCount(generation)) throw new TypeError(`generation ${generation} is not a non-negative safe integer`);
    this.origin = origin;
    this.cluster = cluster;
    this.#clock = clock;
    this.#generation = generation;
    this.#targetBytes = options.partTargetBytes ?? PART_TARGET_BYTES;
    this.#limitBytes = options.partLimitBytes ?? PART_LIMIT_BYTES;
  }

  get generation(): number {
    return this.#generation;
  }

  /** The version of the last snapshot (0 before the first): the newest of its parts'. */
  get version(): number {
    return this.#version;
  }

  /**
   * What a ping or ack stamps: [generation, Σ versions of the parts of the
   * last snapshot]. A peer holding exactly these parts holds our current record.
   */
  stamp(): readonly [number, number] {
    let sum = 0;
    for (const record of this.#snapshot ?? []) sum += record.version;
    return [this.#generation, sum];
  }

  /** Record a service's health; true when it differs from what was held. */
  set(serviceName: string, health: ServiceHealth): boolean {
    if (!SERVICE_NAME.test(serviceName)) throw new TypeError(`service name ${JSON.stringify(serviceName)} is not a DNS label`);
    const parsed = parseServiceHealth(health);
    if (!parsed.ok) throw new TypeError(`service ${serviceName}: ${parsed.error}`);
    const held = this.#services.get(serviceName);
    if (held && sameHealth(held, parsed.value)) return false;
    this.#services.set(serviceName, parsed.value);
    this.#sizes.set(serviceName, entryBytes(serviceName, parsed.value));
    this.#dirty = true;
    return true;
  }

  /** Forget a service (no longer configured); true when it was there. */
  remove(serviceName: string): boolean {
    if (!this.#services.delete(serviceName)) return false;
    this.#sizes.delete(serviceName);
    this.#dirty = true;
    return true;
  }

  /** The names of the services held now. */
  serviceNames(): string[] {
    return [...this.#services.keys()];
  }

  /**
   * The current record, in parts (ordered by part). Parts that did not
   * change are the same objects as in the previous snapshot, so a caller can
   * tell what to send again by identity.
   */
  snapshot(): readonly HealthRecord[] {
    if (!this.#dirty && this.#snapshot) return this.#snapshot;
    let previous = this.#snapshot ?? [];
    const parts = partCountFor(this.#sizes, this.#parts, this.#targetBytes, this.#limitBytes);
    if (parts === undefined) throw new RangeError(`a service's health alone is above the ${this.#limitBytes}-byte part limit`);
    if (parts !== this.#parts) {
      // A new cut is a new generation: the old parts cannot be mixed with the new.
      this.#generation = Math.max(this.#generation + 1, Math.floor(this.#clock.now()));
      this.#version = 0;
      this.#parts = parts;
      previous = [];
    }
    this.#version++;
    const grouped = Array.from({ length: parts }, () => [] as string[]);
    for (const name of [...this.#services.keys()].sort()) (grouped[partOf(name, parts)] as string[]).push(name);
    const now = this.#clock.now();
    this.#snapshot = Object.freeze(
      grouped.map((names, part) => {
        const services: Record<string, ServiceHealth> = Object.create(null) as Record<string, ServiceHealth>;
        for (const name of names) services[name] = this.#services.get(name) as ServiceHealth;
        const before = previous[part];
        if (before && sameServices(before.services, services)) return before;
        return Object.freeze({
          origin: this.origin,
          cluster: this.cluster,
          generation: this.#generation,
          version: this.#version,
          writtenAt: now,
          part,
          parts,
          services: Object.freeze(services),
        });
      }),
    );
    this.#dirty = false;
    return this.#snapshot;
  }

  /**
   * A peer holds `held` for one of our parts. When that outranks what we
   * write (our previous run had a higher generation because the clock went
   * back, or a duplicate replica id wrote ahead of us), peers would ignore
   * our records forever: jump past it. The orchestrator calls this with our
   * own entries of every digest it receives. True when the next snapshot
   * will carry a new (generation, version).
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
    // Every part must outrank what peers hold: nothing of the old snapshot is reused.
    this.#snapshot = undefined;
    this.#dirty = true;
    return true;
  }
}

function sameServices(a: Readonly<Record<string, ServiceHealth>>, b: Readonly<Record<string, ServiceHealth>>): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  return names.every((name) => {
    const other = b[name];
    return other !== undefined && sameHealth(a[name] as ServiceHealth, other);
  });
}

// ===========================================================================
// Chunking a delta into messages

/**
 * Items in order, in chunks whose JSON array (`[a,b,…]`: brackets and commas
 * counted) of `sizeOf` bytes each fits `budgetBytes`. Every health record is
 * whole state for its part, so any cut leaves no gap (Scuttlebutt's rule
 * holds trivially). An item larger than the budget on its own cannot be
 * sent: it is listed in `oversized` while the rest still go out, so one huge
 * record does not stop anti-entropy for everyone else.
 */
export function chunkBySize<T>(items: readonly T[], budgetBytes: number, sizeOf: (item: T) => number): { chunks: T[][]; oversized: T[] } {
  const chunks: T[][] = [];
  const oversized: T[] = [];
  let current: T[] = [];
  let currentBytes = 2; // "[]"
  for (const item of items) {
    const bytes = sizeOf(item);
    if (bytes + 2 > budgetBytes) {
      oversized.push(item);
      continue;
    }
    if (currentBytes + (current.length > 0 ? 1 : 0) + bytes > budgetBytes) {
      chunks.push(current);
      current = [];
      currentBytes = 2;
    }
    currentBytes += (current.length > 0 ? 1 : 0) + bytes;
    current.push(item);
  }
  if (current.length > 0) chunks.push(current);
  return { chunks, oversized };
}
