/**
 * The NATS subjects gossip travels on (docs/architecture.md, Membership):
 *
 *   meshgate.<federation>.gossip                      broadcast deltas, every member subscribes
 *   meshgate.<federation>.member.<cluster>.<replica>  direct request/reply to one member
 *
 * A member id is `<cluster>.<replica>`: two NATS tokens joined by the dot that
 * separates subject tokens, so the id goes into the subject as it is, as two
 * tokens, rather than escaped into one. That keeps subjects readable in
 * `nats sub` and /subsz, and lets an operator grant a whole cluster at once
 * (`meshgate.acme.member.us-east.>`) or every member (`meshgate.acme.member.*.*`).
 *
 * Every token is validated before it reaches a subject: a wildcard (`*`, `>`),
 * a dot or whitespace smuggled into a federation, cluster or replica name
 * would otherwise subscribe to, or publish into, other members' subjects.
 */
import { isGatewayName } from '../identity/index.js';

const ROOT = 'meshgate';

/** A name that cannot be used as a NATS subject token (or a member id that is not two of them). */
export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';

  constructor(
    /** What the value was meant to be: 'federation', 'member id', … */
    readonly what: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`invalid ${what} ${describe(value)}: ${reason}`);
  }
}

/**
 * A NATS subject token as meshgate uses it. Federation, cluster and replica
 * names are subject tokens and SPIFFE ID path segments both, so one rule
 * (identity's) serves both.
 */
export const isValidToken: (value: unknown) => value is string = isGatewayName;

/** Returns `value` when it is a valid token; throws InvalidTokenError naming `what` otherwise. */
export function assertToken(value: unknown, what: string): string {
  if (!isValidToken(value)) throw new InvalidTokenError(what, value, 'letters, digits, "_" and "-" only (it is a NATS subject token)');
  return value;
}

export interface MemberIdParts {
  readonly cluster: string;
  readonly replica: string;
}

/** Splits `<cluster>.<replica>`; throws InvalidTokenError unless it is exactly two valid tokens. */
export function parseMemberId(memberId: unknown): MemberIdParts {
  if (typeof memberId !== 'string') throw new InvalidTokenError('member id', memberId, 'not a string');
  const parts = memberId.split('.');
  if (parts.length !== 2) {
    throw new InvalidTokenError('member id', memberId, 'must be <cluster>.<replica>: two tokens joined by one "."');
  }
  const [cluster, replica] = parts as [string, string];
  if (!isValidToken(cluster) || !isValidToken(replica)) {
    throw new InvalidTokenError('member id', memberId, 'cluster and replica may hold letters, digits, "_" and "-" only');
  }
  return { cluster, replica };
}

/** Like parseMemberId, but undefined instead of an error: for input from the wire. */
export function tryParseMemberId(memberId: unknown): MemberIdParts | undefined {
  try {
    return parseMemberId(memberId);
  } catch {
    return undefined;
  }
}

export function isValidMemberId(memberId: unknown): memberId is string {
  return tryParseMemberId(memberId) !== undefined;
}

/** `<cluster>.<replica>`, both validated. */
export function formatMemberId(cluster: string, replica: string): string {
  return `${assertToken(cluster, 'cluster')}.${assertToken(replica, 'replica')}`;
}

/** `meshgate.<federation>.gossip` */
export function gossipSubject(federation: string): string {
  return `${ROOT}.${assertToken(federation, 'federation')}.gossip`;
}

/** `meshgate.<federation>.member.<cluster>.<replica>` */
export function memberSubject(federation: string, memberId: string): string {
  const { cluster, replica } = parseMemberId(memberId);
  return `${ROOT}.${assertToken(federation, 'federation')}.member.${cluster}.${replica}`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return value === null ? 'null' : typeof value;
}
