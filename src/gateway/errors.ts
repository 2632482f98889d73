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
  | 'draining';

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
  draining: 503,
};

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly status: number;

  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    readonly context: Readonly<Record<string, unknown>> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.status = STATUS[code];
  }
}

export const isGatewayError = (err: unknown): err is GatewayError => err instanceof GatewayError;
