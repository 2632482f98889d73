import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { HistogramWindow, histogramQuantile, type HeadSampler, type KeyedHistogram, type Telemetry } from '../../telemetry/index.js';
import type { Target } from '../../failover/index.js';
import type { InboundRequest } from '../protocol/exchange.js';
import type { HeaderMap } from '../protocol/headers.js';
import type { Listener, RequestMetrics, RequestRecord, RequestSpan, RequestTracing, TrySpan } from '../proxy/request-telemetry.js';
import { seriesKey, type Counters } from './counters.js';

/** W3C trace context, used directly: the request path asks for nothing else, and skips the global API's lookups. */
const W3C = new W3CTraceContextPropagator();

/** Seconds, from a millisecond up to the longest request timeout that is common (Prometheus's own defaults stop at 10 s). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** How far back `/debug/latency` looks, and how often it looks: Prometheus's usual rate() range and scrape interval. */
export const LATENCY_WINDOW_MS = 60_000;
export const LATENCY_STEP_MS = 10_000;

/** GET /debug/latency: what this gateway's apps saw of each service in each cluster, recently. */
export interface LatencyDocument {
  /** The window's real length: shorter while the gateway is younger than a minute. */
  readonly windowSeconds: number;
  readonly services: Record<string, Record<string, ClusterLatency>>;
}

export interface ClusterLatency {
  readonly requests: number;
  /** Estimated from the duration histogram's buckets, as Prometheus's histogram_quantile() would. */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Seconds to milliseconds, to the microsecond. */
const toMs = (seconds: number): number => Math.round(seconds * 1e6) / 1e3;

/** Requests counted and timed by listener, service, source and destination cluster, and outcome. */
export class GatewayRequestMetrics implements RequestMetrics {
  private readonly duration: KeyedHistogram;
  private readonly recent: HistogramWindow;

  constructor(
    private readonly counters: Counters,
    telemetry: Pick<Telemetry, 'histogram'>,
    now: number,
  ) {
    this.duration = telemetry.histogram('meshgate_request_duration_seconds', {
      description: 'Time from a request\'s arrival to the end of its answer, by the labels of meshgate_requests_total.',
      unit: 's',
      boundaries: DURATION_BUCKETS,
    });
    this.recent = new HistogramWindow(this.duration, LATENCY_WINDOW_MS, now);
  }

  /** Every LATENCY_STEP_MS, from the gateway's timer. */
  look(now: number): void {
    this.recent.look(now);
  }

  /** Requests from the local listener in the last window, by service and the cluster that answered, all outcomes. */
  latency(now: number): LatencyDocument {
    const { spanMs, boundaries, series } = this.recent.counts(now);
    const merged = new Map<string, { service: string; cluster: string; counts: number[] }>();
    for (const { attributes: a, counts } of series) {
      if (a['listener'] !== 'local' || a['destination_cluster'] === '' || a['service'] === 'unknown') continue;
      const service = String(a['service']);
      const cluster = String(a['destination_cluster']);
      const key = `${service}\n${cluster}`;
      const into = merged.get(key) ?? { service, cluster, counts: new Array<number>(counts.length).fill(0) };
      counts.forEach((c, i) => (into.counts[i] = (into.counts[i] as number) + c));
      merged.set(key, into);
    }
    const services: LatencyDocument['services'] = {};
    for (const { service, cluster, counts } of merged.values()) {
      (services[service] ??= {})[cluster] = {
        requests: counts.reduce((a, b) => a + b, 0),
        p50Ms: toMs(histogramQuantile(0.5, boundaries, counts) as number),
        p99Ms: toMs(histogramQuantile(0.99, boundaries, counts) as number),
      };
    }
    return { windowSeconds: Math.round(spanMs / 1000), services };
  }

  finished(r: RequestRecord): void {
    // One key for both: the count and the histogram series of a request are found by one join.
    const key = seriesKey([r.listener, r.service, r.sourceCluster, r.destinationCluster, r.outcome]);
    this.counters.add('meshgate_requests_total', key);
    this.duration.record(key, r.durationMs / 1000, () => ({
      listener: r.listener,
      service: r.service,
      source_cluster: r.sourceCluster,
      destination_cluster: r.destinationCluster,
      outcome: r.outcome,
    }));
  }

  retried(service: string, condition: string): void {
    this.counters.add('meshgate_retries_total', [service, condition]);
  }
}

/**
 * Spans by OpenTelemetry's HTTP conventions: a server span per inbound
 * request, child of the caller's `traceparent`, and a client span per try
 * under it, whose context the try carries on. Only sampled requests get
 * spans (see HeadSampler); the others pass through untouched. Contexts are
 * passed by hand (no context manager): the request path knows where each
 * belongs.
 */
export class OtelRequestTracing implements RequestTracing {
  constructor(
    private readonly tracer: Tracer,
    private readonly sampler: HeadSampler,
  ) {}

  start(listener: Listener, request: InboundRequest, sourceCluster: string): RequestSpan | undefined {
    const decision = this.sampler.decide(request.headers['traceparent'], listener === 'local');
    if (decision === 'pass') return undefined;
    const parent = decision === 'follow' ? W3C.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter) : ROOT_CONTEXT;
    const query = request.path.indexOf('?');
    const span = this.tracer.startSpan(
      request.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'url.path': query === -1 ? request.path : request.path.slice(0, query),
          'meshgate.listener': listener,
          'meshgate.source_cluster': sourceCluster,
        },
      },
      parent,
    );
    return new OtelRequestSpan(this.tracer, span, trace.setSpan(parent, span), request.method);
  }
}

class OtelRequestSpan implements RequestSpan {
  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly context: Context,
    private readonly method: string,
  ) {}

  get ids() {
    const { traceId, spanId } = this.span.spanContext();
    return { traceId, spanId };
  }

  startTry(target: Target, destinationCluster: string, headers: HeaderMap, resend: number): TrySpan {
    const endpoint = target.kind === 'local' ? target.endpoint : target.replica;
    const span = this.tracer.startSpan(
      this.method,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': this.method,
          'meshgate.endpoint': endpoint,
          'meshgate.destination_cluster': destinationCluster,
          ...(resend > 0 && { 'http.request.resend_count': resend }),
        },
      },
      this.context,
    );
    // Replaces the caller's traceparent: the next hop's parent is this try.
    W3C.inject(trace.setSpan(this.context, span), headers, defaultTextMapSetter);
    return new OtelTrySpan(span);
  }

  end(status: number, outcome: string, service: string, destinationCluster: string): void {
    const { span } = this;
    span.setAttributes({
      'http.response.status_code': status,
      'meshgate.service': service,
      'meshgate.destination_cluster': destinationCluster,
      'meshgate.outcome': outcome,
    });
    // HTTP server spans: only a 5xx is the server's error (OpenTelemetry HTTP semantic conventions).
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    span.end();
  }
}

class OtelTrySpan implements TrySpan {
  constructor(private readonly span: Span) {}

  end(status: number | undefined, outcome: string): void {
    const { span } = this;
    span.setAttribute('meshgate.outcome', outcome);
    if (status !== undefined) span.setAttribute('http.response.status_code', status);
    // HTTP client spans: a 4xx or 5xx, or no answer at all, is an error.
    if (status === undefined || status >= 400) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    span.end();
  }
}
