export { createLogger, type Logger, type LoggerOptions } from './logger.js';
export { otlpTargets, Telemetry, type TelemetrySettings } from './telemetry.js';
