import type { Meter } from '@opentelemetry/api';

/** Joins the values of a series with several labels into one key; no label value holds it. */
const SEPARATOR = '\u0000';

/** The key `add` files a series of several labels under: made once, it can key other per-series state too. */
export const seriesKey = (labelValues: readonly string[]): string => labelValues.join(SEPARATOR);

/**
 * Monotonic counters keyed by name and one or more labels. Counting is a map
 * increment, cheap on the request path; OpenTelemetry reads the counts as
 * observable counters when metrics are collected (a /metrics scrape, an
 * OTLP push), so labels become attributes only then.
 */
export class Counters {
  private readonly values = new Map<string, Map<string, number>>();

  constructor(private readonly help: Readonly<Record<string, { help: string; label: string | readonly string[] }>>) {}

  /** `labelValue`: one value per label the counter has, in their order (or their seriesKey). */
  add(name: string, labelValue: string | readonly string[], by = 1): void {
    const key = typeof labelValue === 'string' ? labelValue : seriesKey(labelValue);
    let series = this.values.get(name);
    if (!series) this.values.set(name, (series = new Map()));
    series.set(key, (series.get(key) ?? 0) + by);
  }

  get(name: string, labelValue: string | readonly string[]): number {
    return this.values.get(name)?.get(typeof labelValue === 'string' ? labelValue : labelValue.join(SEPARATOR)) ?? 0;
  }

  /** Makes every counter an OpenTelemetry observable counter of `meter`, named as here. */
  observe(meter: Meter): void {
    for (const [name, { help, label }] of Object.entries(this.help)) {
      const labels = typeof label === 'string' ? [label] : label;
      meter.createObservableCounter(name, { description: help }).addCallback((result) => {
        for (const [key, count] of this.values.get(name) ?? []) {
          const values = key.split(SEPARATOR);
          result.observe(count, Object.fromEntries(labels.map((l, i) => [l, values[i] ?? ''])));
        }
      });
    }
  }
}

export const GATEWAY_COUNTERS = {
  meshgate_requests_total: {
    help: 'Requests answered, by listener (local: from apps; federation: from other gateways), service, source and destination cluster, and outcome.',
    label: ['listener', 'service', 'source_cluster', 'destination_cluster', 'outcome'],
  },
  meshgate_retries_total: { help: 'Tries sent again, by service and the retryOn condition the failed try met.', label: ['service', 'condition'] },
  meshgate_client_errors_total: { help: 'Client connections or requests refused before routing, by reason.', label: 'reason' },
  meshgate_federation_refused_total: { help: 'Connections and streams refused on the federation listener, by reason.', label: 'reason' },
  meshgate_failover_events_total: { help: 'Failover, failback, ejection, return, panic and budget-exhausted events, by service and kind.', label: ['service', 'kind'] },
  meshgate_health_checks_total: { help: 'Active health checks of this cluster\'s endpoints, by endpoint and result (pass, fail, inconclusive).', label: ['endpoint', 'result'] },
  meshgate_config_reloads_total: { help: 'Config reloads (SIGHUP, POST /reload), by result: applied or refused.', label: 'result' },
  meshgate_federation_denied_total: { help: 'Federated requests and TCP tunnels denied by a service\'s allow list, by caller SPIFFE ID.', label: 'caller' },
  meshgate_tcp_connections_total: {
    help: 'Connections apps opened to TCP services, by service, the cluster that took them (empty when none did) and outcome.',
    label: ['service', 'cluster', 'outcome'],
  },
  meshgate_tcp_bytes_total: { help: 'Bytes carried for apps\' TCP connections, by service, cluster and direction (sent: from the app).', label: ['service', 'cluster', 'direction'] },
  meshgate_federation_tcp_tunnels_total: { help: 'TCP tunnels other gateways opened to this cluster\'s services, by service and outcome.', label: ['service', 'outcome'] },
} as const;
