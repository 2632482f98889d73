import { metrics, trace, type Meter, type Tracer } from '@opentelemetry/api';
import { getNumberFromEnv, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler } from '@opentelemetry/sdk-trace-base';
import { HeadSampler } from './head-sampler.js';
import { KeyedHistogram, KeyedHistogramProducer, type KeyedHistogramOptions } from './keyed-histogram.js';

export interface TelemetrySettings {
  /** The process, as every span, metric and `target_info` series names it. */
  readonly resource: { readonly federation: string; readonly cluster: string; readonly replica: string; readonly version: string };
  /**
   * Where OTLP/HTTP goes (the collector's base URL, e.g. http://collector:4318).
   * Undefined: the standard OTEL_EXPORTER_OTLP_* variables decide, and
   * without them nothing is pushed and no span is recorded.
   */
  readonly otlpEndpoint: string | undefined;
  /** The share of requests entering without a trace context that start a sampled trace (see HeadSampler). */
  readonly traceSampleRatio: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Which OTLP signals are pushed, and where. */
interface OtlpTargets {
  readonly traces?: string;
  readonly metrics?: string;
}

/**
 * OpenTelemetry for the gateway (@opentelemetry/sdk-node): metrics read as
 * Prometheus text on the admin listener and, with an OTLP endpoint, pushed
 * there too; traces exported over OTLP with W3C trace context. No context
 * manager is installed: the request path hands contexts on explicitly, which
 * spares every request the cost of async-context tracking.
 */
export class Telemetry {
  readonly meter: Meter;
  readonly tracer: Tracer;
  /** Whether spans are recorded and exported at all; when not, the request path skips tracing entirely. */
  readonly tracing: boolean;
  /** Which requests get spans: decided before the SDK is asked (see HeadSampler). */
  readonly headSampler: HeadSampler;
  private readonly prometheus: PrometheusExporter;
  private readonly serializer = new PrometheusSerializer(undefined, false, undefined, false, true);

  private constructor(
    private readonly sdk: NodeSDK,
    prometheus: PrometheusExporter,
    tracing: boolean,
    private readonly histograms: KeyedHistogramProducer,
    traceSampleRatio: number,
  ) {
    this.headSampler = new HeadSampler(traceSampleRatio);
    this.prometheus = prometheus;
    this.tracing = tracing;
    this.meter = metrics.getMeter('meshgate');
    this.tracer = trace.getTracer('meshgate');
  }

  static start(settings: TelemetrySettings): Telemetry {
    const otlp = otlpTargets(settings.otlpEndpoint, settings.env ?? process.env);
    const histograms = new KeyedHistogramProducer();
    const metricProducers = [histograms];
    // Served by our admin listener, not a port of its own.
    const prometheus = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, metricProducers });
    const readers: MetricReader[] = [prometheus];
    // The standard variables for how often each is pushed (OpenTelemetry's defaults: 60 s and 5 s).
    const metricIntervalMs = getNumberFromEnv('OTEL_METRIC_EXPORT_INTERVAL') ?? 60_000;
    const spanDelayMs = getNumberFromEnv('OTEL_BSP_SCHEDULE_DELAY') ?? 5_000;
    if (otlp.metrics) {
      const exporter = new OTLPMetricExporter({ url: otlp.metrics });
      readers.push(new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: metricIntervalMs, exportTimeoutMillis: Math.min(30_000, metricIntervalMs), metricProducers }));
    }
    const { federation, cluster, replica, version } = settings.resource;
    const sdk = new NodeSDK({
      resource: resourceFromAttributes({
        'service.name': 'meshgate',
        'service.version': version,
        'service.instance.id': `${cluster}.${replica}`,
        'meshgate.federation': federation,
        'meshgate.cluster': cluster,
      }),
      autoDetectResources: false,
      // sdk-node reads null as "register none" (its types say only undefined, which registers AsyncLocalStorage).
      contextManager: null as unknown as undefined,
      textMapPropagator: new W3CTraceContextPropagator(),
      metricReaders: readers,
      spanProcessors: otlp.traces ? [new BatchSpanProcessor(new OTLPTraceExporter({ url: otlp.traces }), { scheduledDelayMillis: spanDelayMs })] : [],
      // The ratio is applied by the HeadSampler before a span is started: what reaches the SDK is sampled.
      sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
      // Logs are pino's JSON lines on stdout; none go over OTLP.
      logRecordProcessors: [],
      instrumentations: [],
    });
    sdk.start();
    return new Telemetry(sdk, prometheus, otlp.traces !== undefined, histograms, settings.traceSampleRatio);
  }

  /** A histogram for the request path (see KeyedHistogram), collected with every other metric. */
  histogram(name: string, options: KeyedHistogramOptions): KeyedHistogram {
    const histogram = new KeyedHistogram(name, options);
    this.histograms.add(histogram);
    return histogram;
  }

  /** Every metric, in the Prometheus text exposition format (version 0.0.4). */
  async prometheusText(): Promise<string> {
    const { resourceMetrics } = await this.prometheus.collect();
    return this.serializer.serialize(resourceMetrics);
  }

  /** Flushes what is waiting to be pushed, then stops. */
  async shutdown(): Promise<void> {
    await this.sdk.shutdown();
  }
}

/**
 * The OTLP/HTTP URLs per signal: from the config's endpoint, else from the
 * standard variables (a signal's own OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT is
 * used as given; the general one gets the signal's path appended).
 */
export function otlpTargets(configured: string | undefined, env: NodeJS.ProcessEnv): OtlpTargets {
  const base = configured ?? env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  const url = (signal: 'traces' | 'metrics'): string | undefined => {
    const own = env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`];
    if (configured === undefined && own) return own;
    return base ? `${base.replace(/\/+$/, '')}/v1/${signal}` : undefined;
  };
  const traces = url('traces');
  const metricsUrl = url('metrics');
  return { ...(traces && { traces }), ...(metricsUrl && { metrics: metricsUrl }) };
}
