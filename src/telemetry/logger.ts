import { destination as pinoDestination, pino, stdTimeFunctions, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Fields every line carries, e.g. `{ cluster: 'us-east' }`. */
  readonly base?: Record<string, unknown>;
  readonly level?: string;
  /** Defaults to stdout, written synchronously so no line is lost on exit. */
  readonly destination?: DestinationStream;
}

/**
 * Structured JSON logs with stable fields: `time` (ISO 8601), `level` (a
 * name, not pino's number), `msg`, `service.name` (the process, as
 * OpenTelemetry names it, so that `service` is free to mean the routed
 * service), plus the given base fields. Operators grep and ship these;
 * renaming a field is a breaking change.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pinoDestination({ dest: 1, sync: true });
  return pino(
    {
      level: options.level ?? process.env['MESHGATE_LOG_LEVEL'] ?? 'info',
      base: { 'service.name': 'meshgate', ...options.base },
      timestamp: stdTimeFunctions.isoTime,
      messageKey: 'msg',
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
