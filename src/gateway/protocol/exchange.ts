import type { Readable, Writable } from 'node:stream';
import type { HeaderMap } from './headers.js';
import type { GatewayError } from '../errors.js';

/**
 * The client's side of one request: whether it is still there, and whom to
 * tell when it leaves. Cheaper than an AbortController per request, and
 * enough: only one try is in flight at a time, so one listener suffices.
 */
export class ClientLink {
  private listener: (() => void) | undefined;
  gone = false;

  /** The current try's cancel; a new try replaces the previous one's. */
  watch(listener: (() => void) | undefined): void {
    this.listener = listener;
  }

  leave(): void {
    if (this.gone) return;
    this.gone = true;
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
  }
}

/** A request as the proxy sees it, whichever protocol the client spoke. */
export interface InboundRequest {
  readonly protocol: 'http/1.1' | 'h2';
  readonly method: string;
  readonly path: string;
  readonly authority: string | undefined;
  /** End-to-end headers only, owned by the proxy; x-forwarded-for already carries the client. */
  readonly headers: HeaderMap;
  /** Undefined when the request has no body. */
  readonly body: Readable | undefined;
  /** Goes away when the client does, before the response is complete. */
  readonly client: ClientLink;
}

/** What an upstream answered, before its body has been read. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: HeaderMap;
  /** True when the upstream ended the stream with its headers (gRPC trailers-only). */
  readonly endStream: boolean;
  /** Whether trailers may follow the body (HTTP/2 upstreams, or an HTTP/1.1 `Trailer` header). */
  readonly trailersExpected: boolean;
  /**
   * Streams the body into `dest` with backpressure, without ending it, and
   * resolves with the trailers once the body is complete; rejects when
   * either side broke off. Called at most once.
   */
  relayBody(dest: Writable): Promise<HeaderMap | undefined>;
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
