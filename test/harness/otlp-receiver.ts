/**
 * An OpenTelemetry collector's OTLP/HTTP receiver, as far as tests need one:
 * it accepts JSON-encoded traces and metrics (what the gateway's OTLP/HTTP
 * exporters send) and keeps what it was sent, on a loopback port.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedSpan {
  /** `meshgate.cluster` of the process that sent it. */
  readonly cluster: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** OTLP's SpanKind: 2 server, 3 client. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
}

export interface OtlpReceiver {
  /** The base URL a gateway's `telemetry.otlpEndpoint` names. */
  readonly url: string;
  spans(): readonly ReceivedSpan[];
  /** Metric names in every push so far, by the `meshgate.cluster` that pushed them. */
  metricNames(cluster: string): ReadonlySet<string>;
  close(): Promise<void>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type KeyValue = { key: string; value: AnyValue };
const valueOf = (v: AnyValue): string | number | boolean => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.doubleValue ?? v.boolValue ?? ''));
const record = (kvs: readonly KeyValue[] | undefined) => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, valueOf(kv.value)]));

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metrics = new Map<string, Set<string>>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        if (!String(req.headers['content-type']).includes('json')) throw new Error(`content-type ${req.headers['content-type']}`);
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        if (req.url === '/v1/traces') collectSpans(body, spans);
        else if (req.url === '/v1/metrics') collectMetrics(body, metrics);
        else throw new Error(`unexpected path ${req.url}`);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch (err) {
        res.writeHead(400).end((err as Error).message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => spans,
    metricNames: (cluster) => metrics.get(cluster) ?? new Set(),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

interface Resourced {
  resource?: { attributes?: KeyValue[] };
}

function collectSpans(body: Record<string, unknown>, into: ReceivedSpan[]): void {
  type S = { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes?: KeyValue[]; status?: { code?: number } };
  for (const rs of (body.resourceSpans ?? []) as (Resourced & { scopeSpans?: { spans?: S[] }[] })[]) {
    const cluster = String(record(rs.resource?.attributes)['meshgate.cluster'] ?? '');
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        into.push({
          cluster,
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId || undefined,
          name: s.name,
          kind: s.kind,
          attributes: record(s.attributes),
          statusCode: s.status?.code ?? 0,
        });
      }
    }
  }
}

function collectMetrics(body: Record<string, unknown>, into: Map<string, Set<string>>): void {
  for (const rm of (body.resourceMetrics ?? []) as (Resourced & { scopeMetrics?: { metrics?: { name: string }[] }[] })[]) {
    const cluster = String(record(rm.resource?.attributes)['meshgate.cluster'] ?? '');
    let names = into.get(cluster);
    if (!names) into.set(cluster, (names = new Set()));
    for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) names.add(m.name);
  }
}
