import type { Readable } from 'node:stream';
import type { HeaderMap } from './headers.js';
import type { GatewayError } from './errors.js';

/** A request as the proxy sees it, whichever protocol the client spoke. */
export interface InboundRequest {
  readonly protocol: 'http/1.1' | 'h2';
  readonly method: string;
  readonly path: string;
  readonly authority: string | undefined;
  /** End-to-end headers only; x-forwarded-for already carries the client. */
  readonly headers: HeaderMap;
  /** Undefined when the request has no body. */
  readonly body: Readable | undefined;
  readonly clientAddress: string | undefined;
  /** Aborted when the client goes away before the response is complete. */
  readonly signal: AbortSignal;
}

/** What an upstream answered, before its body has been read. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: HeaderMap;
  /** True when the upstream ended the stream with its headers (gRPC trailers-only). */
  readonly endStream: boolean;
  readonly body: Readable;
  /** Valid once `body` has ended. */
  trailers(): HeaderMap | undefined;
  /** Tears the upstream request down, e.g. when the client went away. */
  cancel(): void;
  /**
   * When the request went out on an established connection, if known: the
   * round trip the balancer learns excludes setting up a session (a TLS
   * handshake to a remote gateway would otherwise read as a slow target).
   */
  readonly sentAt?: number;
}

/** One request/response pair on the client side of the gateway. */
export interface Exchange {
  readonly request: InboundRequest;
  /** Streams the upstream's answer to the client, trailers included; resolves when done. */
  relay(response: UpstreamResponse): Promise<void>;
  /** Answers with the gateway's own error, or aborts if the response already started. */
  fail(error: GatewayError): void;
}
