/**
 * The parts of a gateway's admin pages the demo reads (docs/operations.md,
 * Admin API), fetched with a short deadline: a gateway that is down or busy
 * gives "no answer", never a stuck view.
 */
export interface Member {
  readonly id: string;
  readonly cluster: string;
  readonly status: string;
  readonly lastHeardMs: number | null;
  readonly statusSinceMs?: number;
  readonly why?: string;
}
export interface MembersPage {
  readonly self: string;
  readonly members: readonly Member[];
}

export interface ServiceHealth {
  readonly healthy: number;
  readonly total: number;
  readonly stale: boolean;
  readonly ageMs?: number;
}
/** service → cluster → health */
export interface ServicesPage {
  readonly services: Readonly<Record<string, Readonly<Record<string, ServiceHealth>>>>;
}

export interface RouteTarget {
  readonly key: string;
  readonly usable: boolean;
  readonly healthy: number;
  readonly total: number;
  readonly reason: string;
  readonly load?: { readonly rttMs: number; readonly inFlight: number };
}
export interface Route {
  readonly service: string;
  readonly panic: boolean;
  readonly tiers: readonly { readonly name: string; readonly share: number; readonly healthyFraction: number; readonly targets: readonly RouteTarget[] }[];
  readonly failback: { readonly phase: string; readonly allowedShare?: number; readonly reason?: string };
}
/** service → its route */
export type RoutesPage = Readonly<Record<string, Route>>;

export interface BalancerEventLine {
  readonly time: string;
  readonly kind: string;
  readonly service: string;
  readonly target?: string;
  readonly reason: string;
}
export interface EventsPage {
  readonly events: readonly BalancerEventLine[];
}

/** One look at a gateway: each page, or undefined when it did not answer. */
export interface AdminSnapshot {
  readonly at: number;
  readonly members?: MembersPage;
  readonly services?: ServicesPage;
  readonly routes?: RoutesPage;
  readonly events?: EventsPage;
}

const DEADLINE_MS = 1_500;

export async function getPage<T>(admin: string, page: string): Promise<T | undefined> {
  try {
    const res = await fetch(`http://${admin}${page}`, { signal: AbortSignal.timeout(DEADLINE_MS) });
    if (!res.ok) return undefined;
    return (await res.json()) as T;
  } catch {
    return undefined;
  }
}

export async function snapshot(admin: string | undefined): Promise<AdminSnapshot> {
  const at = Date.now();
  if (!admin) return { at };
  const [members, services, routes, events] = await Promise.all([
    getPage<MembersPage>(admin, '/debug/members'),
    getPage<ServicesPage>(admin, '/debug/services'),
    getPage<RoutesPage>(admin, '/debug/routes'),
    getPage<EventsPage>(admin, '/debug/events'),
  ]);
  return { at, members, services, routes, events };
}
