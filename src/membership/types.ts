/**
 * The shapes membership's modules exchange. Everything here is plain data
 * that survives JSON, because every message crosses NATS as JSON inside a
 * signed envelope (envelope.ts).
 */

/** A member's lifecycle as SWIM sees it; "unreachable from here" is a local view kept apart (see MemberView). */
export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';

/** What a member says about itself; `incarnation` only its owner raises. */
export interface MemberInfo {
  /** `<cluster>.<replica>`: a NATS-subject-safe token pair, unique in the federation. */
  readonly id: string;
  readonly cluster: string;
  readonly region?: string;
  readonly zone?: string;
  readonly trustDomain: string;
  /** host:port of its federation listener (mTLS HTTP/2). */
  readonly federationAddr: string;
  readonly adminAddr: string;
}

/** A member as this process knows it. */
export interface MemberState extends MemberInfo {
  readonly incarnation: number;
  readonly status: MemberStatus;
  /** Clock reading of the last status change. */
  readonly statusSince: number;
}

/** SWIM's three rumours, plus graceful leave; `from` is who asserts it. */
export type MembershipUpdate =
  | { readonly kind: 'alive'; readonly member: MemberInfo; readonly incarnation: number }
  | { readonly kind: 'suspect'; readonly id: string; readonly incarnation: number; readonly from: string }
  | { readonly kind: 'dead'; readonly id: string; readonly incarnation: number; readonly from: string }
  | { readonly kind: 'left'; readonly id: string; readonly incarnation: number };

/** One service's health in one cluster, as that cluster's gateway reports it. */
export interface ServiceHealth {
  readonly healthy: number;
  readonly total: number;
  /** Requests in flight to this service's endpoints. */
  readonly inFlight: number;
  /** Peak-EWMA latency in ms, when measured. */
  readonly latencyMs?: number;
  readonly exported: boolean;
  /** Present (true) while the cluster is drained for this service: others move their traffic away (see `drain` in the config). */
  readonly drained?: true;
}

/**
 * The record one gateway replica owns and alone writes: the health of its
 * cluster's exported services. (generation, version) orders its versions:
 * generation changes on restart (a start timestamp), version counts writes.
 */
export interface HealthRecord {
  readonly origin: string;
  readonly cluster: string;
  readonly generation: number;
  readonly version: number;
  /** Owner's clock when written: for age display only, never for ordering. */
  readonly writtenAt: number;
  /**
   * Which part of the origin's record this is, of how many (record-parts.ts):
   * a record too big for one message travels in parts, each with its own
   * version. Absent means 0 of 1.
   */
  readonly part?: number;
  readonly parts?: number;
  readonly services: Readonly<Record<string, ServiceHealth>>;
}

/** Scuttlebutt digest: part key (`<origin>`, `<origin>#<part>`) → the newest (generation, version) the sender holds. */
export type HealthDigest = Readonly<Record<string, readonly [generation: number, version: number]>>;

/** Injected time and chance, so decision logic is tested without sleeping. */
export interface Clock {
  now(): number;
}
export type Random = () => number;
