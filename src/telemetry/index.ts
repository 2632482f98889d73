export { createLogger, type Logger, type LoggerOptions } from './logger.js';
export { otlpTargets, Telemetry, type TelemetrySettings } from './telemetry.js';
export { KeyedHistogram, type KeyedHistogramOptions } from './keyed-histogram.js';
export { HeadSampler, type HeadDecision } from './head-sampler.js';
export { HistogramWindow, histogramQuantile, type WindowCounts, type WindowSeries } from './histogram-window.js';
