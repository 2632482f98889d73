/**
 * Turns a request's Host or :authority into the service it names. Apps call
 * `payments`, `payments:8080` or `payments.global`; the port is whatever the
 * app's client put there and does not select anything.
 */
const GLOBAL_SUFFIX = '.global';

export function serviceFromAuthority(authority: string | undefined): string | undefined {
  if (!authority) return undefined;
  let host = authority.trim().toLowerCase();
  if (host.startsWith('[')) return undefined; // an IPv6 literal names no service
  const colon = host.lastIndexOf(':');
  if (colon !== -1) host = host.slice(0, colon);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.endsWith(GLOBAL_SUFFIX)) host = host.slice(0, -GLOBAL_SUFFIX.length);
  return host.length > 0 ? host : undefined;
}
