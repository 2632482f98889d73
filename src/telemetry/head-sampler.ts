/** What to do with one inbound request's trace. */
export type HeadDecision =
  /** The caller's context says sampled: record spans under it. */
  | 'follow'
  /** No usable context came, and this request is sampled: record a new trace. */
  | 'start'
  /** Not sampled: make no span and leave the request's trace headers as they came. */
  | 'pass';

/**
 * Head sampling, decided before any span is made, so that the requests not
 * sampled (99 % of them by default) cost a glance at one header and nothing
 * else: no ids drawn, no context built, no header written.
 *
 * The caller's decision is followed, as OpenTelemetry's parent-based
 * sampler does (the sampled bit of W3C `traceparent`'s trace-flags). A new
 * trace is started, at the configured ratio, only where a request enters the
 * federation; a request from another gateway that carries no sampled context
 * was not sampled by that gateway, whose decision is the head one.
 */
export class HeadSampler {
  constructor(
    private readonly ratio: number,
    private readonly random: () => number = Math.random,
  ) {}

  decide(traceparent: string | string[] | undefined, mayStart: boolean): HeadDecision {
    const flags = traceFlags(traceparent);
    if (flags !== undefined) return flags & SAMPLED ? 'follow' : 'pass';
    return mayStart && this.random() < this.ratio ? 'start' : 'pass';
  }
}

const SAMPLED = 0x01;

/**
 * The trace-flags of a `traceparent` that has the W3C shape
 * (version-traceid-parentid-flags, https://www.w3.org/TR/trace-context/#traceparent-header);
 * undefined when it has not, which W3C says to treat as no context at all.
 * Only the shape is checked here: the propagator validates the ids of the few
 * that are followed.
 */
function traceFlags(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || value.length < 55) return undefined;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  if (value.startsWith('ff')) return undefined;
  // A later version may append fields after another dash; version 00 may not.
  if (value.length > 55 && (value.startsWith('00') || value[55] !== '-')) return undefined;
  const flags = value.slice(53, 55);
  return LOWER_HEX_BYTE.test(flags) ? Number.parseInt(flags, 16) : undefined;
}

const LOWER_HEX_BYTE = /^[0-9a-f]{2}$/;
