/** Joins the values of a series with several labels into one key; no label value holds it. */
const SEPARATOR = '\u0000';

/**
 * Monotonic counters keyed by name and one or more labels, rendered in the
 * Prometheus text exposition format: all the admin API's /metrics needs,
 * without a metrics library on the request path.
 */
export class Counters {
  private readonly values = new Map<string, Map<string, number>>();

  constructor(private readonly help: Readonly<Record<string, { help: string; label: string | readonly string[] }>>) {}

  /** `labelValue`: one value per label the counter has, in their order. */
  add(name: string, labelValue: string | readonly string[], by = 1): void {
    const key = typeof labelValue === 'string' ? labelValue : labelValue.join(SEPARATOR);
    let series = this.values.get(name);
    if (!series) this.values.set(name, (series = new Map()));
    series.set(key, (series.get(key) ?? 0) + by);
  }

  get(name: string, labelValue: string | readonly string[]): number {
    return this.values.get(name)?.get(typeof labelValue === 'string' ? labelValue : labelValue.join(SEPARATOR)) ?? 0;
  }

  toPrometheus(): string {
    const lines: string[] = [];
    for (const [name, { help, label }] of Object.entries(this.help)) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      const labels = typeof label === 'string' ? [label] : label;
      for (const [key, count] of this.values.get(name) ?? []) {
        const values = key.split(SEPARATOR);
        const pairs = labels.map((l, i) => `${l}="${(values[i] ?? '').replace(/["\\\n]/g, '_')}"`);
        lines.push(`${name}{${pairs.join(',')}} ${count}`);
      }
    }
    return lines.join('\n') + '\n';
  }
}

export const GATEWAY_COUNTERS = {
  meshgate_requests_total: { help: 'Requests answered on the local listener, by outcome.', label: 'outcome' },
  meshgate_client_errors_total: { help: 'Client connections or requests refused before routing, by reason.', label: 'reason' },
  meshgate_federation_requests_total: { help: 'Requests from other gateways answered on the federation listener, by outcome.', label: 'outcome' },
  meshgate_federation_refused_total: { help: 'Connections and streams refused on the federation listener, by reason.', label: 'reason' },
  meshgate_failover_events_total: { help: 'Failover, failback, ejection, return, panic and budget-exhausted events, by kind.', label: 'kind' },
  meshgate_config_reloads_total: { help: 'Config reloads (SIGHUP, POST /reload), by result: applied or refused.', label: 'result' },
  meshgate_federation_denied_total: { help: 'Federated requests and TCP tunnels denied by a service\'s allow list, by caller SPIFFE ID.', label: 'caller' },
  meshgate_tcp_connections_total: {
    help: 'Connections apps opened to TCP services, by service, the cluster that took them (empty when none did) and outcome.',
    label: ['service', 'cluster', 'outcome'],
  },
  meshgate_tcp_bytes_total: { help: 'Bytes carried for apps\' TCP connections, by service, cluster and direction (sent: from the app).', label: ['service', 'cluster', 'direction'] },
  meshgate_federation_tcp_tunnels_total: { help: 'TCP tunnels other gateways opened to this cluster\'s services, by service and outcome.', label: ['service', 'outcome'] },
} as const;
