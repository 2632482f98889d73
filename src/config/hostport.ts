/**
 * `host:port` strings: listener addresses and service endpoints. The host is
 * an IPv4 address, a DNS hostname, or an IPv6 address in brackets; the result
 * keeps IPv6 without brackets, which is what net.connect and server.listen take.
 */
import { isIPv6 } from 'node:net';
import { type Check, fail, ok, quote } from './check.js';
import type { HostPort } from './types.js';

export interface HostPortOptions {
  /** Listeners may use port 0 (pick a free port); endpoints may not. */
  readonly allowPortZero?: boolean;
}

const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const DIGITS = /^\d+$/;

/** Check without throwing; the message quotes the text. */
export function checkHostPort(text: string, opts: HostPortOptions = {}): Check<HostPort> {
  const q = quote(text);
  const colon = text.lastIndexOf(':');
  if (colon < 0) return fail(`${q} is not host:port`);
  const hostPart = text.slice(0, colon);
  const portPart = text.slice(colon + 1);

  let host: string;
  if (hostPart.startsWith('[') && hostPart.endsWith(']')) {
    host = hostPart.slice(1, -1);
    if (!isIPv6(host)) return fail(`${q} is not host:port (${JSON.stringify(host)} is not an IPv6 address)`);
  } else if (hostPart.includes(':')) {
    return fail(`${q} is not host:port (write IPv6 addresses in brackets, e.g. "[::1]:8080")`);
  } else if (!isHost(hostPart)) {
    return fail(`${q} is not host:port`);
  } else {
    host = hostPart;
  }

  if (!DIGITS.test(portPart)) return fail(`${q} is not host:port`);
  const port = Number(portPart);
  const min = opts.allowPortZero ? 0 : 1;
  if (port < min || port > 65_535) return fail(`${q} has port ${portPart}, outside ${min}-65535`);
  return ok({ host, port });
}

/** `parseHostPort("127.0.0.1:4140")` → `{host: "127.0.0.1", port: 4140}`; throws a RangeError. */
export function parseHostPort(text: string, opts: HostPortOptions = {}): HostPort {
  const r = checkHostPort(text, opts);
  if (!r.ok) throw new RangeError(r.error);
  return r.value;
}

/** The inverse of parseHostPort: brackets around IPv6 hosts. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Wildcard hosts overlap every address on their port. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '0:0:0:0:0:0:0:0';
}

function isHost(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  const labels = text.split('.');
  // All-numeric names are read as IPv4 by resolvers, so they must be valid IPv4.
  if (labels.every((l) => DIGITS.test(l))) return isIPv4(labels);
  return labels.every((l) => HOST_LABEL.test(l));
}

function isIPv4(labels: readonly string[]): boolean {
  return labels.length === 4 && labels.every((l) => l.length <= 3 && Number(l) <= 255 && !(l.length > 1 && l.startsWith('0')));
}
