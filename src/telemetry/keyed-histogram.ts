import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import { AggregationTemporality, DataPointType, type CollectionResult, type HistogramMetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';

interface Series {
  readonly attributes: Attributes;
  /** One per boundary, plus the bucket above the last. */
  readonly counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

export interface KeyedHistogramOptions {
  readonly description: string;
  readonly unit: string;
  /** Inclusive upper bounds, ascending. */
  readonly boundaries: readonly number[];
}

/**
 * A histogram that the request path records into by a key of its own,
 * handed to OpenTelemetry as a metric producer when metrics are collected.
 * OpenTelemetry's own histogram hashes the attributes of every recording
 * (a sort and a string per call, several microseconds): here a recording is
 * one map lookup, and attributes are built once per series.
 */
export class KeyedHistogram {
  private readonly byKey = new Map<string, Series>();
  readonly boundaries: readonly number[];

  constructor(
    readonly name: string,
    private readonly options: KeyedHistogramOptions,
    private readonly startTime: HrTime = hrTime(),
  ) {
    this.boundaries = [...options.boundaries];
  }

  /** `attributes` is called the first time `key` is seen; the same key must always mean the same attributes. */
  record(key: string, value: number, attributes: () => Attributes): void {
    let s = this.byKey.get(key);
    if (!s) {
      s = { attributes: attributes(), counts: new Array<number>(this.boundaries.length + 1).fill(0), sum: 0, count: 0, min: Infinity, max: -Infinity };
      this.byKey.set(key, s);
    }
    let i = 0;
    while (i < this.boundaries.length && value > (this.boundaries[i] as number)) i++;
    (s.counts[i] as number)++;
    s.sum += value;
    s.count++;
    if (value < s.min) s.min = value;
    if (value > s.max) s.max = value;
  }

  /** Cumulative since start, as the Prometheus exporter and OTLP readers ask by default. */
  metricData(now: HrTime): HistogramMetricData {
    return {
      descriptor: { name: this.name, description: this.options.description, unit: this.options.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: [...this.byKey.values()].map((s) => ({
        startTime: this.startTime,
        endTime: now,
        attributes: s.attributes,
        value: { buckets: { boundaries: [...this.boundaries], counts: [...s.counts] }, sum: s.sum, count: s.count, min: s.min, max: s.max },
      })),
    };
  }

  /** Each series as it is now (its counts not copied: read or copy them at once). */
  *series(): Iterable<{ readonly key: string; readonly attributes: Attributes; readonly counts: readonly number[] }> {
    for (const [key, s] of this.byKey) yield { key, attributes: s.attributes, counts: s.counts };
  }
}

/** Hands the keyed histograms to every metric reader, beside what the SDK's own instruments collect. */
export class KeyedHistogramProducer implements MetricProducer {
  private readonly histograms: KeyedHistogram[] = [];

  add(histogram: KeyedHistogram): void {
    this.histograms.push(histogram);
  }

  async collect(): Promise<CollectionResult> {
    const now = hrTime();
    return {
      // Readers keep the SDK's resource and take only the scope metrics of producers.
      resourceMetrics: { resource: undefined as never, scopeMetrics: [{ scope: { name: 'meshgate' }, metrics: this.histograms.map((h) => h.metricData(now)) }] },
      errors: [],
    };
  }
}
