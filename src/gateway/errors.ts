/**
 * Why the gateway answered a request itself instead of relaying the
 * upstream's answer. Each code is stable: it is sent to the client in the
 * `meshgate-error` header and appears in logs and metrics.
 */
export type GatewayErrorCode =
  | 'bad-request'
  | 'forbidden'
  | 'unknown-service'
  | 'no-healthy-endpoints'
  | 'overloaded'
  | 'deadline-exceeded'
  | 'upstream-connect'
  | 'upstream-reset'
  | 'upstream-timeout'
  /** The client went away; never sent (nobody is there to read it), only counted, as nginx's 499. */
  | 'client-gone';

const STATUS: Readonly<Record<GatewayErrorCode, number>> = {
  'bad-request': 400,
  forbidden: 403,
  'unknown-service': 404,
  'no-healthy-endpoints': 503,
  overloaded: 503,
  'deadline-exceeded': 504,
  'upstream-connect': 502,
  'upstream-reset': 502,
  'upstream-timeout': 504,
  'client-gone': 499,
};

export interface GatewayErrorOptions extends ErrorOptions {
  /**
   * The upstream never processed the request (HTTP/2 REFUSED_STREAM, or a
   * stream above a GOAWAY's last stream id; RFC 9113 §8.7): any method may
   * be sent again.
   */
  readonly unprocessed?: boolean;
  /**
   * The peer ended the session on purpose (it sent GOAWAY): it is alive,
   * so the failure says nothing about its health.
   */
  readonly peerClosed?: boolean;
}

/** Marks the gateway's errors; Symbol.for is one symbol in every copy of this module, where `instanceof` is not. */
const GATEWAY_ERROR: unique symbol = Symbol.for('meshgate.gateway.error');

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly [GATEWAY_ERROR] = true;
  readonly status: number;
  readonly unprocessed: boolean;
  readonly peerClosed: boolean;

  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    readonly context: Readonly<Record<string, unknown>> = {},
    options?: GatewayErrorOptions,
  ) {
    super(message, options);
    this.status = STATUS[code];
    this.unprocessed = options?.unprocessed ?? false;
    this.peerClosed = options?.peerClosed ?? false;
  }
}

/** The one way to recognise a GatewayError. */
export const isGatewayError = (err: unknown): err is GatewayError => (err as { [GATEWAY_ERROR]?: unknown } | null)?.[GATEWAY_ERROR] === true;

/** Any failure as a GatewayError: what is not one already is an unexpected reset. */
export const asGatewayError = (err: unknown): GatewayError =>
  isGatewayError(err) ? err : new GatewayError('upstream-reset', 'unexpected proxy failure', {}, { cause: err });
