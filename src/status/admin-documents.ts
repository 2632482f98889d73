/**
 * The admin pages `meshgate status` reads, as the gateway writes them
 * (docs/operations.md, Admin API). The shapes are the product's own types,
 * imported as types only, so that a change to a page breaks this build
 * instead of the report.
 */
import type { RouteExplanation } from '../failover/index.js';
import type { ClusterServiceHealth, InitialSync, MemberView } from '../membership/index.js';

/** GET /ready, answered 200 or 503 with the same shape. */
export interface ReadyDocument {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

/** What membership pages answer on a gateway without `nats:`. */
export interface NotConfigured {
  readonly configured: false;
}

/** GET /debug/members (MembershipRuntime.members). */
export interface MembersDocument {
  readonly self: string;
  readonly members: readonly MemberView[];
  readonly dropped: Readonly<Record<string, number>>;
  readonly unsent: Readonly<Record<string, number>>;
  readonly initialSync: InitialSync | 'pending';
}

/** GET /debug/services: service → cluster → health (MembershipRuntime.services). */
export interface ServicesDocument {
  readonly services: Readonly<Record<string, Readonly<Record<string, ClusterServiceHealth>>>>;
}

/** GET /debug/routes without `service`: every service this gateway has routed a request for. */
export type RoutesDocument = Readonly<Record<string, RouteExplanation>>;

/** One line of GET /debug/events (EventLog.list): a BalancerEvent with its time as ISO 8601. */
export interface AdminEvent {
  readonly time: string;
  readonly kind: string;
  readonly service: string;
  readonly target?: string;
  readonly reason: string;
}

/** GET /debug/events, oldest first. */
export interface EventsDocument {
  readonly events: readonly AdminEvent[];
}

/**
 * GET /debug/latency: what this gateway's apps saw of each service in each
 * cluster over the last minute (the gateway's LatencyDocument, which this
 * folder may not import: the command depends on the gateway, not back).
 */
export interface LatencyDocument {
  readonly windowSeconds: number;
  readonly services: Readonly<Record<string, Readonly<Record<string, { readonly requests: number; readonly p50Ms: number; readonly p99Ms: number }>>>>;
}

/** One look at a gateway, every page read at about the same moment. */
export interface AdminDocuments {
  readonly ready: ReadyDocument;
  readonly members: MembersDocument | NotConfigured;
  readonly services: ServicesDocument | NotConfigured;
  readonly routes: RoutesDocument;
  readonly events: EventsDocument;
  readonly latency: LatencyDocument;
}

export const isConfigured = <T extends object>(page: T | NotConfigured): page is T => (page as Partial<NotConfigured>).configured !== false;
