/**
 * What `meshgate check` prints after a config passes: the config as the
 * gateway will run it, defaults included, so that the operator sees what the
 * file means rather than what it says.
 */
import { formatDuration } from './duration.js';
import { formatHostPort } from './hostport.js';
import type { GatewayConfig, IdentityConfig, ServiceConfig } from './types.js';

export function summarizeConfig(cfg: GatewayConfig): string {
  const lines = [
    `federation ${cfg.federation}, cluster ${cfg.cluster}, region ${cfg.region ?? '(none)'}, zone ${cfg.zone ?? '(none)'}`,
    `listeners: local ${formatHostPort(cfg.listeners.local)}, federation ${formatHostPort(cfg.listeners.federation)}, admin ${formatHostPort(cfg.listeners.admin)}`,
    `limits: max header ${cfg.limits.maxHeaderBytes} bytes, headers timeout ${formatDuration(cfg.limits.headersTimeoutMs)}, drain ${formatDuration(cfg.limits.drainTimeoutMs)}`,
    `nats: ${cfg.nats ? cfg.nats.servers.map(redactUrl).join(', ') : 'not configured (standalone)'}`,
    ...identityLines(cfg.identity),
  ];
  const names = Object.keys(cfg.services);
  lines.push(`services (${names.length}):${names.length === 0 ? ' none' : ''}`);
  for (const name of names) {
    const s = cfg.services[name];
    if (s) lines.push(`  ${serviceLine(s)}`);
  }
  return lines.join('\n');
}

function identityLines(idn: IdentityConfig | undefined): string[] {
  if (!idn) return ['identity: not configured'];
  const lines = [`identity: trust domain ${idn.trustDomain}, CA ${idn.ca}`];
  for (const d of idn.federation) {
    const how = [
      d.bundle && `bundle ${d.bundle}`,
      d.bundleEndpoint && `endpoint ${d.bundleEndpoint} as ${d.endpointSpiffeId ?? '?'}`,
    ].filter(Boolean);
    lines.push(`  federates ${d.trustDomain}: ${how.length > 0 ? how.join(', ') : 'shared root'}`);
  }
  if (idn.workloadApi) {
    const n = idn.workloadApi.entries.length;
    lines.push(`  workload API ${idn.workloadApi.socket}, ${n} ${n === 1 ? 'entry' : 'entries'}`);
  } else {
    lines.push('  workload API not configured');
  }
  return lines;
}

function serviceLine(s: ServiceConfig): string {
  const n = s.endpoints.length;
  const endpoints = `${n} ${n === 1 ? 'endpoint' : 'endpoints'}${n > 0 ? ` (${s.endpoints.map(formatHostPort).join(', ')})` : ''}`;
  const exported = s.export ? `export yes (allow ${s.allow.length > 0 ? s.allow.join(', ') : 'nobody'})` : 'export no';
  const failover = `failover ${s.failover.order.join(' > ')} (overprovisioning ${s.failover.overprovisioning})`;
  const t = s.timeouts;
  const timeouts = `timeouts connect ${formatDuration(t.connectMs)} / per-try ${formatDuration(t.perTryMs)} / request ${formatDuration(t.requestMs)}`;
  const hc = s.healthCheck;
  const health = hc
    ? `health check ${s.protocol === 'grpc' ? 'grpc.health.v1' : hc.path} every ${formatDuration(hc.intervalMs)} (timeout ${formatDuration(hc.timeoutMs)}, up after ${hc.healthyThreshold}, down after ${hc.unhealthyThreshold})`
    : 'no active health check';
  return [`${s.name}: ${s.protocol}`, endpoints, exported, failover, timeouts, health].join(', ');
}

/** NATS URLs may carry a password or token; a summary is pasted into tickets. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (!u.username && !u.password) return raw;
    if (u.password) u.password = '***';
    else u.username = '***';
    return u.toString();
  } catch {
    return raw;
  }
}
