import type { MemberStatus, RouteStatus, ServiceStatus, StatusReport, TargetStatus, TierStatus } from './report.js';
import { formatTable, wrap } from './text-table.js';

/** Terminals are at least this wide in practice; a reason longer than its column wraps. */
const RENDER_WIDTH = 100;

/** The report as text tables for a person: header, MEMBERS, SERVICES, ROUTES, LAST EVENTS. No colors. */
export function renderStatusReport(report: StatusReport, width = RENDER_WIDTH): string {
  const sections = [header(report, width), members(report, width), services(report, width), routes(report, width), events(report, width)];
  return `${sections.map((lines) => lines.join('\n')).join('\n\n')}\n`;
}

function header({ gateway, admin }: StatusReport, width: number): string[] {
  const who = gateway.memberId ? `${gateway.memberId} (cluster ${gateway.cluster ?? '?'}) at ${admin}` : `at ${admin} (no membership: no nats: in its config)`;
  const readiness = gateway.ready ? 'ready' : `NOT READY: ${gateway.notReadyReasons.join('; ') || 'no reason given'}`;
  return wrap(`GATEWAY ${who}: ${readiness}`, width);
}

function members(report: StatusReport, width: number): string[] {
  if (!report.members) return ['MEMBERS: none known (this gateway has no membership)'];
  const counts = countBy(report.members, (m) => m.state);
  const title = `MEMBERS as ${report.gateway.memberId} sees them: ${[...counts].map(([state, n]) => `${n} ${state}`).join(', ')}`;
  const rows = report.members.map((m) => [
    m.id,
    m.cluster,
    m.state,
    duration(m.stateForMs),
    heard(m),
    m.rttMs === null ? '—' : latency(m.rttMs),
    m.reachable ? 'yes' : 'NO',
    m.why,
  ]);
  return [
    title,
    ...formatTable(
      [{ header: 'MEMBER' }, { header: 'CLUSTER' }, { header: 'STATE' }, { header: 'FOR', align: 'right' }, { header: 'HEARD' }, { header: 'RTT', align: 'right' }, { header: 'REACHABLE' }, { header: 'WHY' }],
      rows,
      width,
    ),
  ];
}

function heard(m: MemberStatus): string {
  if (m.self) return 'this gateway';
  return m.lastHeardMs === null ? 'never' : `${duration(m.lastHeardMs)} ago`;
}

function services(report: StatusReport, width: number): string[] {
  if (!report.services) return ['SERVICES: only this gateway\'s own (no membership); see ROUTES'];
  const title = [
    'SERVICES per cluster: healthy/total endpoints; EWMA = peak-EWMA latency estimate',
    `REQS, P99: this gateway's requests it answered in the last ${report.recentSeconds} s (P99 from histogram buckets)`,
  ];
  if (report.services.length === 0) return [...title, '(none reported)'];
  let previous = '';
  const rows = report.services.map((s) => {
    const cluster = s.cluster === previous ? '' : s.cluster;
    previous = s.cluster;
    return [
      cluster,
      s.service,
      `${s.healthy}/${s.total}`,
      String(s.recent?.requests ?? 0),
      s.recent ? latency(s.recent.p99Ms) : '—',
      s.latencyEwmaMs === null ? '—' : latency(s.latencyEwmaMs),
      `${s.liveReplicas}/${s.replicas}`,
      duration(s.ageMs),
      marks(s),
    ];
  });
  return [
    ...title,
    ...formatTable(
      [
        { header: 'CLUSTER' },
        { header: 'SERVICE' },
        { header: 'HEALTHY', align: 'right' },
        { header: 'REQS', align: 'right' },
        { header: 'P99', align: 'right' },
        { header: 'EWMA', align: 'right' },
        { header: 'LIVE', align: 'right' },
        { header: 'AGE', align: 'right' },
        { header: 'MARKS' },
      ],
      rows,
      width,
    ),
  ];
}

function marks(s: ServiceStatus): string {
  return [s.stale && `STALE (${s.staleReason ?? 'no reason given'})`, s.drained && 'drained', !s.exported && 'not exported'].filter(Boolean).join(', ');
}

function routes(report: StatusReport, width: number): string[] {
  const title = `ROUTES from ${report.gateway.memberId ?? 'this gateway'}: SHARE = of a service's requests now, by tier`;
  if (report.routes.length === 0) return [title, '(none: no request has been routed since the gateway started)'];
  const rows = report.routes.flatMap((route) => route.tiers.flatMap((tier, t) => tierRows(route, tier, t === 0)));
  const table = formatTable(
    [{ header: 'SERVICE' }, { header: 'TIER' }, { header: 'SHARE', align: 'right' }, { header: 'TARGET' }, { header: 'HEALTHY', align: 'right' }, { header: 'EWMA', align: 'right' }, { header: 'USABLE' }, { header: 'WHY' }],
    rows,
    width,
  );
  return [title, ...table, ...report.routes.flatMap((route) => routeNotes(route).flatMap((note) => wrap(note, width - 2).map((l) => `  ${l}`)))];
}

function tierRows(route: RouteStatus, tier: TierStatus, firstTier: boolean): string[][] {
  const lead = (i: number) => [firstTier && i === 0 ? route.service : '', i === 0 ? tier.name : '', i === 0 ? share(tier.share) : ''];
  if (tier.targets.length === 0) return [[...lead(0), '—', '', '', '', 'no target in this tier']];
  return tier.targets.map((t, i) => [...lead(i), t.key, `${count(t.healthy)}/${t.total}`, latency(t.latencyEwmaMs), t.usable ? 'yes' : 'NO', targetWhy(t)]);
}

/** The reason, with the ejection when the reason does not already say it (a failing check outranks it there). */
function targetWhy(t: TargetStatus): string {
  return t.ejection && !t.reason.startsWith(t.ejection) ? `${t.ejection}: ${t.reason}` : t.reason;
}

/** What a row cannot hold: panic, a failback under way, weights of a weighted tier. */
function routeNotes(route: RouteStatus): string[] {
  const notes: string[] = [];
  if (route.panic) notes.push(`${route.service}: PANIC: nothing anywhere is healthy, every endpoint of the first tier is tried`);
  if (route.failback.phase !== 'steady') notes.push(`${route.service}: failback ${route.failback.phase}: ${route.failback.reason}`);
  for (const tier of route.tiers) {
    if (tier.clusterShares) notes.push(`${route.service} ${tier.name}: weights ${tier.clusterShares.map((c) => `${c.cluster} ${c.weight} → ${share(c.share)}`).join(', ')}`);
  }
  return notes;
}

function events({ events }: StatusReport, width: number): string[] {
  if (events.latest.length === 0) return ['LAST EVENTS: none since the gateway started'];
  const rows = events.latest.map((e) => [e.agoMs === null ? '?' : duration(e.agoMs), clockTime(e.time), e.service, e.kind, e.target ?? '—', e.reason]);
  return [
    `LAST EVENTS, newest first: ${events.latest.length} of ${events.total}`,
    ...formatTable([{ header: 'AGO', align: 'right' }, { header: 'TIME (UTC)' }, { header: 'SERVICE' }, { header: 'KIND' }, { header: 'TARGET' }, { header: 'REASON' }], rows, width),
  ];
}

/** `HH:MM:SS` of an ISO 8601 UTC time, as the gateway wrote it; the text itself when it is not one. */
function clockTime(iso: string): string {
  return /^\d{4}-\d\d-\d\dT(\d\d:\d\d:\d\d)/.exec(iso)?.[1] ?? iso;
}

export function duration(ms: number): string {
  const rounded = Math.round(ms);
  if (rounded < 1_000) return `${rounded} ms`;
  if (ms < 59_950) return `${(ms / 1_000).toFixed(1)} s`;
  const s = Math.round(ms / 1_000);
  if (s < 3_600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)} h ${Math.floor((s % 3_600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3_600)} h`;
}

function latency(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

const share = (x: number): string => `${(x * 100).toFixed(1)} %`;

/** A drain ramp scales healthy counts: show a fraction only when there is one. */
const count = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return out;
}
