import type { Target } from '../../failover/index.js';
import type { InboundRequest } from '../protocol/exchange.js';
import type { HeaderMap } from '../protocol/headers.js';

export type Listener = 'local' | 'federation';

/** One request's end, as metrics count it. Every label is bounded: none comes from what a caller may choose freely. */
export interface RequestRecord {
  readonly listener: Listener;
  /** The service's route name; `unknown` when the request named no service anyone serves. */
  readonly service: string;
  readonly sourceCluster: string;
  /** The cluster of the last target tried; empty when none was. */
  readonly destinationCluster: string;
  readonly outcome: string;
  readonly durationMs: number;
}

/** Where the request path reports each request's end: the gateway's metrics, a list in tests. */
export interface RequestMetrics {
  finished(record: RequestRecord): void;
  retried(service: string, condition: string): void;
}

/** One try, as a client span: ended with the upstream's status, or with why none came. */
export interface TrySpan {
  end(status: number | undefined, outcome: string): void;
}

/** One sampled inbound request, as a server span; its tries are client spans under it. */
export interface RequestSpan {
  /** Starts the try's span and writes its `traceparent` into `headers`, so that the next hop continues the trace. */
  startTry(target: Target, destinationCluster: string, headers: HeaderMap, resend: number): TrySpan;
  end(status: number, outcome: string, service: string, destinationCluster: string): void;
  /** For log lines. */
  readonly ids: { readonly traceId: string; readonly spanId: string };
}

/** Makes the spans of requests: undefined in the pipeline when traces are not exported. */
export interface RequestTracing {
  /** Undefined for a request that is not traced: its trace headers then pass on as they came. */
  start(listener: Listener, request: InboundRequest, sourceCluster: string): RequestSpan | undefined;
}
