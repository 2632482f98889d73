import { describe, expect, it } from 'vitest';
import type { RouteExplanation } from '../failover/index.js';
import { duration, renderStatusReport } from './render.js';
import { buildStatusReport } from './report.js';
import { documents, event, helloRoute, READ_AT } from './testing/admin-documents.js';
import type { AdminDocuments, MembersDocument, ServicesDocument } from './admin-documents.js';

const render = (docs: AdminDocuments = documents()) => renderStatusReport(buildStatusReport(docs, { admin: 'http://127.0.0.1:9901', now: READ_AT }));

describe('renderStatusReport', () => {
  it('prints the header, MEMBERS, SERVICES per cluster, ROUTES by tier and LAST EVENTS as aligned tables', () => {
    expect(render()).toBe(
      `GATEWAY a.r1 (cluster a) at http://127.0.0.1:9901: ready

MEMBERS as a.r1 sees them: 2 alive
MEMBER  CLUSTER  STATE     FOR  HEARD            RTT  REACHABLE  WHY
a.r1    a        alive  55.1 s  this gateway       —  yes        this process
b.r1    b        alive  54.2 s  140 ms ago    0.8 ms  yes        joined

SERVICES per cluster: healthy/total endpoints; EWMA = peak-EWMA latency estimate
REQS, P99: this gateway's requests it answered in the last 60 s (P99 from histogram buckets)
CLUSTER  SERVICE  HEALTHY  REQS     P99    EWMA  LIVE     AGE  MARKS
a        hello        0/1     3  2.5 ms  222 ms   1/1  400 ms
b        echo         1/1     0       —       —   1/1  400 ms  not exported
         hello        1/1  1204   49 ms  3.1 ms   1/1  400 ms

ROUTES from a.r1: SHARE = of a service's requests now, by tier
SERVICE  TIER     SHARE  TARGET                HEALTHY    EWMA  USABLE  WHY
hello    local    0.0 %  local:127.0.0.1:4001      0/1  248 ms  NO      ejected: active check:
                                                                        connect ECONNREFUSED
         any    100.0 %  cluster:b                 1/1   26 ms  yes     1/1 endpoints healthy, 1/1
                                                                        replicas usable
  hello: failback failed-over: preferred tier unhealthy

LAST EVENTS, newest first: 2 of 2
  AGO  TIME (UTC)  SERVICE  KIND      TARGET                REASON
2.0 s  09:59:58    hello    ejection  local:127.0.0.1:4001  5 consecutive failures (last:
                                                            upstream-connect)
3.0 s  09:59:57    hello    failover  local                 traffic now local 0%, any 100%
`,
    );
  });

  it('keeps every line within 100 columns when reasons are long, wrapping them under their column', () => {
    const long = 'suspected by c.r1; unreachable from here: no ack to 3 direct probes and no helper in another cluster could reach it';
    const docs = documents({ events: { events: [event(1, { reason: long })] } });
    const text = render(docs);
    expect(text.split('\n').filter((line) => line.length > 100)).toEqual([]);
    const reasonLines = text.slice(text.indexOf('LAST EVENTS')).split('\n').slice(2, -1);
    expect(reasonLines.map((l) => l.trim()).join(' ')).toContain(long);
  });

  it('says why a gateway is not ready', () => {
    expect(render(documents({ ready: { ready: false, reasons: ['membership-sync: waiting', 'draining'] } })).split('\n')[0]).toBe(
      'GATEWAY a.r1 (cluster a) at http://127.0.0.1:9901: NOT READY: membership-sync: waiting; draining',
    );
  });

  it('says what a gateway without membership cannot know, and that nothing was routed or happened yet', () => {
    const text = render(documents({ members: { configured: false }, services: { configured: false }, routes: {}, events: { events: [] } }));
    expect(text).toBe(
      `GATEWAY at http://127.0.0.1:9901 (no membership: no nats: in its config): ready

MEMBERS: none known (this gateway has no membership)

SERVICES: only this gateway's own (no membership); see ROUTES

ROUTES from this gateway: SHARE = of a service's requests now, by tier
(none: no request has been routed since the gateway started)

LAST EVENTS: none since the gateway started
`,
    );
  });

  it('marks stale and drained records, suspect members and unreachable ones', () => {
    const docs = documents();
    const members = docs.members as MembersDocument;
    const services = docs.services as ServicesDocument;
    const text = render({
      ...docs,
      members: { ...members, members: members.members.map((m) => (m.id === 'b.r1' ? { ...m, status: 'suspect' as const, reachable: false, why: 'suspected by a.r1' } : m)) },
      services: { services: { hello: { ...services.services['hello'], b: { ...services.services['hello']!['b']!, stale: true, staleReason: 'member-suspect', drained: true } } } },
    });
    expect(text).toContain('MEMBERS as a.r1 sees them: 1 alive, 1 suspect');
    expect(text).toMatch(/^b\.r1\s+b\s+suspect\s+54\.2 s\s+140 ms ago\s+0\.8 ms\s+NO\s+suspected by a\.r1$/m);
    expect(text).toMatch(/^b\s+hello\s+1\/1\s+1204\s+49 ms\s+3\.1 ms\s+1\/1\s+400 ms\s+STALE \(member-suspect\), drained$/m);
  });

  it('notes panic and the weights of a weighted tier under the routes', () => {
    const [local, any] = helloRoute.tiers;
    const weighted: RouteExplanation = {
      ...helloRoute,
      panic: true,
      tiers: [local!, { ...any!, weights: [{ cluster: 'b', configured: 7, share: 0.7 }, { cluster: 'c', configured: 3, share: 0.3 }] }],
    };
    const text = render(documents({ routes: { hello: weighted } }));
    expect(text).toContain('\n  hello: PANIC: nothing anywhere is healthy, every endpoint of the first tier is tried\n');
    expect(text).toContain('\n  hello any: weights b 7 → 70.0 %, c 3 → 30.0 %\n');
  });
});

describe('duration', () => {
  it('reads at a glance from milliseconds to days', () => {
    expect([0, 999.4, 999.6, 4_150, 59_940, 59_960, 200_000, 7_500_000, 200_000_000].map(duration)).toEqual([
      '0 ms',
      '999 ms',
      '1.0 s',
      '4.2 s',
      '59.9 s',
      '1 min 0 s',
      '3 min 20 s',
      '2 h 5 min',
      '2 d 7 h',
    ]);
  });
});
