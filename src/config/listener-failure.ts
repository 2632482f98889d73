/**
 * Which configured listener a failed bind belongs to, in words. Node's error
 * says `getaddrinfo ENOTFOUND host` or `listen EADDRINUSE 127.0.0.1:4140`,
 * never which key of the config gave that address, and a host name has
 * already become an IP address by the time the bind fails; the operator
 * needs the key to fix the file.
 */
import { formatHostPort } from './hostport.js';
import type { GatewayConfig } from './types.js';

interface Listener {
  /** The config key, e.g. `listeners.local`. */
  readonly key: string;
  readonly address: string;
  readonly host?: string;
  readonly port?: number;
}

/** In the order the gateway binds them, so the first match is the one that failed. */
function listenersOf(config: GatewayConfig): Listener[] {
  const tcp = (key: string, hp: { host: string; port: number }): Listener => ({ key, address: formatHostPort(hp), host: hp.host, port: hp.port });
  const { listeners, identity } = config;
  return [
    tcp('listeners.local', listeners.local),
    tcp('listeners.admin', listeners.admin),
    ...(identity?.workloadApi ? [{ key: 'identity.workloadApi.socket', address: identity.workloadApi.socket }] : []),
    ...(identity?.bundleEndpoint ? [tcp('identity.bundleEndpoint', identity.bundleEndpoint)] : []),
    ...(identity ? [tcp('listeners.federation', listeners.federation)] : []),
  ];
}

type ErrnoFields = { code?: unknown; syscall?: unknown; hostname?: unknown; address?: unknown; port?: unknown };

const UNRESOLVED = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);

function findListener(config: GatewayConfig, err: ErrnoFields): Listener | undefined {
  const all = listenersOf(config);
  if (err.syscall === 'getaddrinfo' && typeof err.hostname === 'string') {
    const host = err.hostname.toLowerCase();
    return all.find((l) => l.host?.toLowerCase() === host);
  }
  if (typeof err.port === 'number' && err.port > 0) {
    const byPort = all.filter((l) => l.port === err.port);
    return byPort.find((l) => l.host === err.address) ?? byPort[0];
  }
  if (typeof err.address === 'string') return all.find((l) => l.port === undefined && l.address === err.address);
  return undefined;
}

function reason(code: unknown, listener: Listener): string | undefined {
  if (typeof code !== 'string') return undefined;
  if (UNRESOLVED.has(code)) return `the host name does not resolve${code === 'EAI_AGAIN' ? ' (DNS did not answer)' : ''}`;
  switch (code) {
    case 'EADDRINUSE':
      return 'the address is already in use';
    case 'EADDRNOTAVAIL':
      return 'the address is not one of this machine\'s';
    case 'EACCES':
      return listener.port !== undefined && listener.port < 1_024 ? 'permission denied (ports below 1024 need privileges)' : 'permission denied';
    default:
      return undefined;
  }
}

/**
 * `listeners.local (no-such-host.invalid:4140): the host name does not resolve (getaddrinfo ENOTFOUND no-such-host.invalid)`,
 * or undefined when the error is not a bind of one of the config's listeners.
 */
export function describeListenerFailure(config: GatewayConfig, err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const listener = findListener(config, err as ErrnoFields);
  if (!listener) return undefined;
  const why = reason((err as ErrnoFields).code, listener);
  return `${listener.key} (${listener.address}): ${why ? `${why} (${err.message})` : err.message}`;
}
