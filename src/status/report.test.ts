import { describe, expect, it } from 'vitest';
import { buildStatusReport } from './report.js';
import { clusterHealth, documents, event, member, READ_AT } from './testing/admin-documents.js';

const build = (docs = documents(), eventLimit?: number) => buildStatusReport(docs, { admin: 'http://127.0.0.1:9901', now: READ_AT, ...(eventLimit !== undefined && { eventLimit }) });

describe('buildStatusReport', () => {
  it('names the gateway by its member id and cluster, with its readiness', () => {
    expect(build().gateway).toEqual({ memberId: 'a.r1', cluster: 'a', ready: true, notReadyReasons: [] });
    expect(build(documents({ ready: { ready: false, reasons: ['starting', 'draining'] } })).gateway).toMatchObject({ ready: false, notReadyReasons: ['starting', 'draining'] });
  });

  it('lists members by id, marks the gateway itself, and keeps every state with its age and reason', () => {
    const docs = documents({
      members: { self: 'a.r1', members: [member('c.r1', { status: 'dead', why: 'declared dead by b.r1', reachable: false }), member('a.r1')], dropped: {}, unsent: {}, initialSync: 'pending' },
    });
    expect(build(docs).members).toEqual([
      { id: 'a.r1', cluster: 'a', state: 'alive', self: true, stateForMs: 54_200, lastHeardMs: 140, rttMs: 0.8, reachable: true, why: 'joined' },
      { id: 'c.r1', cluster: 'c', state: 'dead', self: false, stateForMs: 54_200, lastHeardMs: 140, rttMs: 0.8, reachable: false, why: 'declared dead by b.r1' },
    ]);
  });

  it('gives one row per cluster and service, sorted by cluster, with the latency estimate null when none was measured', () => {
    const services = build().services;
    expect(services?.map((s) => [s.cluster, s.service, `${s.healthy}/${s.total}`, s.latencyEwmaMs, s.exported])).toEqual([
      ['a', 'hello', '0/1', 221.8, true],
      ['b', 'echo', '1/1', null, false],
      ['b', 'hello', '1/1', 3.1, true],
    ]);
  });

  it('keeps a stale record with its reason', () => {
    const docs = documents({ services: { services: { hello: { b: clusterHealth('hello', 'b', { stale: true, staleReason: 'member-dead' }) } } } });
    expect(build(docs).services).toMatchObject([{ cluster: 'b', stale: true, staleReason: 'member-dead' }]);
  });

  it('has null members and services on a gateway without membership', () => {
    const report = build(documents({ members: { configured: false }, services: { configured: false } }));
    expect([report.gateway.memberId, report.gateway.cluster, report.members, report.services]).toEqual([null, null, null, null]);
  });

  it('gives each tier its share and each target its latency estimate to a tenth of a ms, in-flight and ejection', () => {
    const [route] = build().routes;
    expect(route?.tiers.map((t) => [t.name, t.share, t.targets.map((x) => [x.key, x.usable, x.latencyEwmaMs, x.inFlight, x.ejection])])).toEqual([
      ['local', 0, [['local:127.0.0.1:4001', false, 248.4, 0, 'ejected']]],
      ['any', 1, [['cluster:b', true, 26.4, 2, null]]],
    ]);
    expect([route?.failback, route?.retriesAvailable]).toEqual([{ phase: 'failed-over', allowedShare: 0, reason: 'preferred tier unhealthy' }, 9]);
  });

  it('keeps the latest events, newest first, bounded, with how long ago each was', () => {
    const events = Array.from({ length: 15 }, (_, i) => event(15 - i, { reason: `event ${i}` }));
    const report = build(documents({ events: { events } }), 10);
    expect(report.events.total).toBe(15);
    expect(report.events.latest.map((e) => [e.reason, e.agoMs])).toEqual(Array.from({ length: 10 }, (_, i) => [`event ${14 - i}`, (i + 1) * 1_000]));
  });

  it('never says an event is in the future, and says it does not know when the time does not parse', () => {
    const report = build(documents({ events: { events: [event(-2), event(0, { time: 'soon' })] } }));
    expect(report.events.latest.map((e) => e.agoMs)).toEqual([null, 0]);
  });
});
