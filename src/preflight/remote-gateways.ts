/**
 * The mTLS path to other clusters: which remote gateways to try, and one
 * session to one of them per exporting cluster.
 *
 * How a short-lived check learns live remote gateways: it asks this
 * cluster's running gateway, on the admin listener the config names
 * (`/debug/members` for addresses and SPIFFE IDs, `/debug/services` for
 * which clusters export anything). That adds nothing to the federation. The
 * other ways were worse: joining the gossip would make the check a member
 * (announced, probed, then declared dead: a phantom every gateway logs);
 * signing a request to a member with our gateway's SVID would advance that
 * gateway's replay window past its own messages; and listening to the gossip
 * subject alone hears addresses only when a gateway joins, so a quiet
 * federation would look empty. The price: without a gateway of this cluster
 * running, the remote paths are not checked, and the line says so.
 */
import type { GatewayConfig } from '../config/index.js';
import { gatewaySpiffeId, type BundleLookup, type X509Svid } from '../identity/index.js';
import { openGatewaySession, type RemoteGateway } from '../gateway/index.js';
import { parseMemberId } from '../membership/index.js';
import { failed, passed, skipped, warned, type CheckResult } from './result.js';
import type { PlannedCheck } from './runner.js';

export const REMOTE_CHECK = 'remote gateways';
export const remoteCheckName = (cluster: string) => `remote gateways of ${cluster}`;

/** The parts of /debug/members and /debug/services the check reads. */
export interface MemberRow {
  readonly id: string;
  readonly cluster: string;
  readonly status: string;
  readonly trustDomain?: string;
  readonly federationAddr?: string;
}
export interface MembersPage {
  readonly self?: string;
  readonly members?: readonly MemberRow[];
}
export interface ServicesPage {
  readonly services?: Readonly<Record<string, Readonly<Record<string, { readonly exported?: boolean }>>>>;
}

/** Live first: a cluster passes when one of its gateways takes a session. */
const STATUS_ORDER: Record<string, number> = { alive: 0, suspect: 1, dead: 2 };
/** Gateways tried per cluster before it fails: bounds the check's time when a cluster has many dead replicas. */
export const MAX_TRIES_PER_CLUSTER = 3;

/**
 * Per other cluster that exports a service, the gateways to try, best
 * first: every member but those that left (their address is gone on
 * purpose) and those that never bound a federation port.
 */
export function remoteTargets(ownCluster: string, members: MembersPage, services: ServicesPage): Map<string, RemoteGateway[]> {
  const exporting = new Set<string>();
  for (const clusters of Object.values(services.services ?? {})) {
    for (const [cluster, health] of Object.entries(clusters)) if (cluster !== ownCluster && health.exported) exporting.add(cluster);
  }
  const out = new Map<string, RemoteGateway[]>([...exporting].sort().map((c) => [c, []]));
  const rows = [...(members.members ?? [])].sort((a, b) => (STATUS_ORDER[a.status] ?? 3) - (STATUS_ORDER[b.status] ?? 3) || (a.id < b.id ? -1 : 1));
  for (const m of rows) {
    const list = out.get(m.cluster);
    if (!list || m.status === 'left' || !m.trustDomain || !m.federationAddr || m.federationAddr.endsWith(':0')) continue;
    const { replica } = parseMemberId(m.id);
    list.push({ memberId: m.id, cluster: m.cluster, address: m.federationAddr, spiffeId: gatewaySpiffeId(m.trustDomain, m.cluster, replica) });
  }
  return out;
}

/** Where this cluster's gateway answers its admin API, or why it cannot be asked. */
export function adminUrlOf(config: GatewayConfig): { url: string } | { why: string } {
  const { host, port } = config.listeners.admin;
  if (port === 0) return { why: 'listeners.admin has port 0 (a free port picked at start), so check cannot find the running gateway' };
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return { url: `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}` };
}

export type Learned = { readonly kind: 'targets'; readonly targets: Map<string, RemoteGateway[]>; readonly source: string } | { readonly kind: 'none'; readonly result: CheckResult };

/** Asks this cluster's running gateway which remote gateways it knows; a line instead when it cannot. */
export async function learnRemoteGateways(config: GatewayConfig, timeoutMs: number): Promise<Learned> {
  const admin = adminUrlOf(config);
  const notChecked = (why: string) => ({
    kind: 'none' as const,
    result: warned(REMOTE_CHECK, `not checked: ${why}`, 'run meshgate check where this cluster\'s gateway runs, with the config it runs with, to test the mTLS path to other clusters'),
  });
  if ('why' in admin) return notChecked(admin.why);
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${admin.url}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`${path} answered ${res.status}`);
    return (await res.json()) as T;
  };
  let members: MembersPage;
  let services: ServicesPage;
  try {
    [members, services] = await Promise.all([get<MembersPage>('/debug/members'), get<ServicesPage>('/debug/services')]);
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return notChecked(`no gateway answers at ${admin.url} (${e.cause?.code ?? e.cause?.message ?? e.message})`);
  }
  const self = typeof members.self === 'string' ? members.self : undefined;
  if (self === undefined || !self.startsWith(`${config.cluster}.`)) {
    return notChecked(`the gateway at ${admin.url} is ${self ?? 'not in a federation'}, not one of cluster ${config.cluster}`);
  }
  const targets = remoteTargets(config.cluster, members, services);
  if (targets.size === 0) {
    return { kind: 'none', result: warned(REMOTE_CHECK, `no other cluster exports a service, as ${self} sees the federation`, 'nothing to do unless one should: then check its services\' export and allow') };
  }
  return { kind: 'targets', targets, source: self };
}

export interface SessionCredentials {
  readonly svid: () => X509Svid;
  readonly bundleFor: BundleLookup;
}

/** Per exporting cluster: an mTLS HTTP/2 session to one of its gateways, opened as the gateway's pool opens them, then closed. */
export function remoteClusterChecks(targets: Map<string, RemoteGateway[]>, credentials: SessionCredentials, connectMs: number): PlannedCheck[] {
  return [...targets].map(([cluster, gateways]): PlannedCheck => {
    const name = remoteCheckName(cluster);
    return {
      name,
      run: async (signal) => {
        if (gateways.length === 0) {
          return failed(name, `it exports services but no gateway of it is known with a federation address`, `check that ${cluster}'s gateways run and reach NATS`);
        }
        const errors: string[] = [];
        for (const target of gateways.slice(0, MAX_TRIES_PER_CLUSTER)) {
          if (signal.aborted) break;
          try {
            const session = await openGatewaySession(target, credentials, connectMs);
            session.close();
            return passed(name, `mTLS session to ${target.memberId} at ${target.address} as ${target.spiffeId}`);
          } catch (err) {
            errors.push((err as Error).message);
          }
        }
        return failed(
          name,
          errors.join('; '),
          `check that ${cluster}'s gateway runs and that its listeners.federation is reachable from this host at the address it announces; this gateway's /debug/members shows how membership sees it`,
        );
      },
    };
  });
}

/** When there is no SVID to present, the remote paths cannot be tried. */
export const remoteNotRun = (why: string): CheckResult => skipped(REMOTE_CHECK, `not checked: ${why}`);
