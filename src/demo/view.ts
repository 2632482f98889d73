/**
 * The live view as text: a screen to redraw in place on a terminal, and the
 * same facts as plain log lines otherwise. Pure: everything shown comes in
 * a ViewModel, so the layout is tested without a terminal or a federation.
 */
import type { AdminSnapshot, BalancerEventLine, Member } from './admin-pages.js';
import type { StepState } from './story.js';
import type { ServiceStats } from './traffic-stats.js';
import { movedText, pct } from './verdicts.js';

export interface ClusterCondition {
  readonly cluster: string;
  readonly region: string;
  readonly distanceMs: number;
  readonly endpointsUp: boolean;
  readonly delayMs: number;
  readonly gatewayUp: boolean;
}

export interface ViewModel {
  readonly now: number;
  readonly startedAt: number;
  readonly appCluster: string;
  readonly gateway: string;
  readonly rates: string;
  readonly windowMs: number;
  readonly traffic: readonly ServiceStats[];
  readonly clusters: readonly ClusterCondition[];
  readonly admin: AdminSnapshot;
  readonly steps: readonly StepState[];
  readonly narration: readonly { at: number; text: string }[];
  readonly keys: string;
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  good(s: string): string;
  bad(s: string): string;
  warn(s: string): string;
}

export const PLAIN: Style = { bold: (s) => s, dim: (s) => s, good: (s) => s, bad: (s) => s, warn: (s) => s };
const sgr = (code: string) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
export const ANSI: Style = { bold: sgr('1'), dim: sgr('2'), good: sgr('32'), bad: sgr('31'), warn: sgr('33') };

const BAR = 24;
const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const ms = (x: number): string => (Number.isFinite(x) ? (x < 10 ? `${x.toFixed(1)} ms` : `${Math.round(x)} ms`) : '—');
const ago = (msAgo: number | null | undefined): string => (msAgo === null || msAgo === undefined ? '—' : msAgo < 1_000 ? `${Math.round(msAgo)} ms` : `${(msAgo / 1000).toFixed(1)} s`);
export const clock = (at: number): string => new Date(at).toISOString().slice(11, 19);

const heard = (m: Member): string => (m.lastHeardMs === null ? '(this gateway)' : `heard ${ago(m.lastHeardMs)} ago`);

function bar(share: number): string {
  const n = Math.round(share * BAR);
  return '█'.repeat(n) + '·'.repeat(BAR - n);
}

function statusStyle(style: Style, status: string): string {
  return status === 'alive' ? style.good(status) : status === 'suspect' ? style.warn(status) : style.bad(status);
}

function stepMark(style: Style, s: StepState): string {
  switch (s.status) {
    case 'passed':
      return style.good('✓');
    case 'failed':
      return style.bad('✗');
    case 'running':
      return style.warn('▶');
    case 'skipped':
      return style.dim('–');
    default:
      return ' ';
  }
}

/** One line per step: what it does, and once judged what was seen. */
export function stepLine(s: StepState, style: Style = PLAIN): string {
  const head = `${stepMark(style, s)} ${s.n} ${s.title} → ${s.expect}`;
  if (s.verdict) {
    const v = s.verdict;
    return `${head}\n      ${v.seen}; traffic moved ${movedText(v.movedAfterMs, v.movedResolutionMs)}; failed ${v.failed} of ${v.requests} (idempotent ${v.failedIdempotent})${v.missed.length ? style.bad(`; missed: ${v.missed.join(', ')}`) : ''}`;
  }
  return s.note ? `${head} (${s.note})` : head;
}

/** The terminal screen, as lines no wider than `width`. */
export function renderScreen(m: ViewModel, style: Style, width = 100): string[] {
  const lines: string[] = [];
  lines.push(`${style.bold('meshgate demo')}  federation "demo": ${m.clusters.map((c) => `${c.cluster} (${c.region}${c.distanceMs ? `, ${c.distanceMs} ms away` : ''})`).join(', ')}   ${style.dim(`t+${Math.round((m.now - m.startedAt) / 1000)} s`)}`);
  lines.push(style.dim(`app in ${m.appCluster} → its gateway ${m.gateway}: ${m.rates}`));
  lines.push('');
  lines.push(style.bold(`TRAFFIC from ${m.appCluster}, last ${m.windowMs / 1000} s`) + style.dim('   share of requests by the cluster that answered'));
  lines.push(style.dim(`${pad('', 14)}${pad('', BAR + 9)}${lpad('ok', 8)}${lpad('p50', 10)}${lpad('p99', 10)}`));
  for (const t of m.traffic) {
    t.clusters.forEach((c, i) => {
      const name = i === 0 ? pad(t.service, 6) : pad('', 6);
      const ok = Number.isNaN(c.successRate) ? '—' : pct(c.successRate);
      lines.push(`${name} ${pad(c.cluster, 8)}${bar(c.share)} ${lpad(pct(c.share), 7)}${lpad(ok, 8)}${lpad(ms(c.p50Ms), 10)}${lpad(ms(c.p99Ms), 10)}`);
    });
    const failures = Object.entries(t.failures).map(([why, n]) => `${n}× ${why}`).join(', ');
    const rate = t.requests === 0 ? '—' : pct((t.requests - t.failed) / t.requests);
    lines.push(`${pad('', 6)} ${style.dim(`${t.requests} requests, ${rate} ok`)}${t.failed ? style.bad(`, failed: ${failures}`) : ''}`);
  }
  lines.push('');
  lines.push(style.bold(`MEMBERS seen by ${m.appCluster}'s gateway`) + '                ' + style.bold('CLUSTERS: endpoints healthy/total'));
  const members: readonly Member[] = m.admin.members?.members ?? [];
  const services = m.admin.services?.services ?? {};
  const rows = Math.max(members.length, m.clusters.length);
  for (let i = 0; i < rows; i++) {
    const mem = members[i];
    const left = mem
      ? `${pad(mem.id, 12)} ${statusStyle(style, pad(mem.status, 7))} ${pad(`for ${ago(mem.statusSinceMs)}`, 11)} ${style.dim(heard(mem))}`
      : '';
    const leftWidth = mem ? 12 + 1 + 7 + 1 + 11 + 1 + heard(mem).length : 0;
    const c = m.clusters[i];
    let right = '';
    if (c) {
      const counts = Object.keys(services)
        .sort()
        .map((svc) => {
          const h = services[svc]?.[c.cluster];
          return h ? `${svc} ${h.stale ? style.warn(`${h.healthy}/${h.total} stale`) : `${h.healthy}/${h.total}`}` : `${svc} —`;
        });
      const notes = [!c.endpointsUp && style.bad('endpoints killed'), c.delayMs > 0 && style.warn(`+${c.delayMs} ms`), !c.gatewayUp && style.bad('gateway killed')].filter(Boolean);
      right = `${pad(c.cluster, 8)} ${counts.join('  ')}${notes.length ? `  ${notes.join(', ')}` : ''}`;
    }
    lines.push(`${left}${' '.repeat(Math.max(1, 54 - leftWidth))}${right}`);
  }
  lines.push('');
  lines.push(style.bold('ROUTES') + style.dim(` at ${m.appCluster} (/debug/routes): tiers with their share`));
  for (const svc of ['hello', 'echo']) {
    const r = m.admin.routes?.[svc];
    if (!r) continue;
    const tiers = r.tiers
      .map((t) => `${t.name} ${pct(t.share)} [${t.targets.map((x) => `${x.key.replace(/^local:127\.0\.0\.1:/, ':').replace(/^cluster:/, '')}${x.usable ? '' : ' ✗'}${x.load ? ` ${ms(x.load.rttMs)}` : ''}`).join(', ')}]`)
      .join('  ');
    lines.push(`${pad(svc, 6)} ${tiers}  ${style.dim(`failback: ${r.failback.phase}`)}${r.panic ? style.bad(' PANIC') : ''}`);
  }
  lines.push('');
  lines.push(style.bold('EVENTS') + style.dim(` at ${m.appCluster} (/debug/events), newest last`));
  const events = (m.admin.events?.events ?? []).slice(-5);
  if (events.length === 0) lines.push(style.dim('  none yet'));
  for (const e of events) lines.push(`  ${eventLine(e)}`);
  lines.push('');
  lines.push(style.bold('STORY'));
  for (const s of m.steps) for (const l of stepLine(s, style).split('\n')) lines.push(`  ${l}`);
  for (const n of m.narration.slice(-3)) lines.push(style.dim(`  ${clock(n.at)} ${n.text}`));
  lines.push('');
  lines.push(m.keys);
  return lines.map((l) => clip(l, width));
}

export function eventLine(e: BalancerEventLine): string {
  return `${e.time.slice(11, 19)} ${pad(e.kind, 9)} ${pad(e.service, 5)} ${e.target ? `${e.target}: ` : ''}${e.reason}`;
}

/** Cuts a line to `width` visible characters, leaving escape sequences whole. */
export function clip(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      if (end < 0) break;
      out += line.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible >= width) continue;
    out += line[i];
    visible++;
  }
  return out;
}

/** The plain-log line for the traffic of the last window. */
export function trafficLine(traffic: readonly ServiceStats[]): string {
  return traffic
    .map((t) => `${t.service}: ${t.clusters.map((c) => `${c.cluster} ${pct(c.share)}`).join(' ')}, ${t.requests ? pct((t.requests - t.failed) / t.requests) : '—'} ok${t.failed ? ` (failed: ${Object.entries(t.failures).map(([why, n]) => `${n}× ${why}`).join(', ')})` : ''}`)
    .join(' | ');
}

/** Members whose status changed between two looks, as log lines. */
export function memberChanges(before: readonly Member[], after: readonly Member[]): string[] {
  const was = new Map(before.map((m) => [m.id, m.status]));
  return after.filter((m) => was.get(m.id) !== m.status).map((m) => `member ${m.id}: ${was.get(m.id) ?? 'new'} → ${m.status}${m.why ? ` (${m.why})` : ''}`);
}

/** Events not seen before (by time, kind, service and target), in order. */
export function newEvents(seen: Set<string>, events: readonly BalancerEventLine[]): BalancerEventLine[] {
  const fresh: BalancerEventLine[] = [];
  for (const e of events) {
    const key = `${e.time}|${e.kind}|${e.service}|${e.target ?? ''}|${e.reason}`;
    if (seen.has(key)) continue;
    seen.add(key);
    fresh.push(e);
  }
  return fresh;
}
