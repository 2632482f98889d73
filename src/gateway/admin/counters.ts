/**
 * Monotonic counters keyed by name and one label, rendered in the Prometheus
 * text exposition format: all the admin API's /metrics needs, without a
 * metrics library on the request path.
 */
export class Counters {
  private readonly values = new Map<string, Map<string, number>>();

  constructor(private readonly help: Readonly<Record<string, { help: string; label: string }>>) {}

  add(name: string, labelValue: string, by = 1): void {
    let series = this.values.get(name);
    if (!series) this.values.set(name, (series = new Map()));
    series.set(labelValue, (series.get(labelValue) ?? 0) + by);
  }

  get(name: string, labelValue: string): number {
    return this.values.get(name)?.get(labelValue) ?? 0;
  }

  toPrometheus(): string {
    const lines: string[] = [];
    for (const [name, { help, label }] of Object.entries(this.help)) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [value, count] of this.values.get(name) ?? []) {
        lines.push(`${name}{${label}="${value.replace(/["\\\n]/g, '_')}"} ${count}`);
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
  meshgate_federation_denied_total: { help: 'Federated requests denied by a service\'s allow list, by caller SPIFFE ID.', label: 'caller' },
} as const;
