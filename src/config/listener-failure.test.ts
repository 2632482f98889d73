import { describe, expect, it } from 'vitest';
import { describeListenerFailure, parseConfig } from './index.js';

const config = parseConfig(
  [
    'federation: acme',
    'cluster: us-east',
    'listeners: { local: "no-such-host.invalid:4140", admin: "localhost:9901", federation: "0.0.0.0:4143" }',
    'identity:',
    '  trustDomain: td.example',
    '  ca: ./ca',
    '  bundleEndpoint: "127.0.0.1:8443"',
    '  workloadApi: { socket: /run/wl.sock }',
    '',
  ].join('\n'),
  { source: 'gw.yaml', baseDir: '/etc/meshgate' },
);

/** An error shaped like the ones net.Server emits. */
const errno = (message: string, fields: Record<string, unknown>): Error => Object.assign(new Error(message), fields);

describe('describeListenerFailure', () => {
  it('names the listener whose host does not resolve', () => {
    const err = errno('getaddrinfo ENOTFOUND no-such-host.invalid', { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'no-such-host.invalid' });
    expect(describeListenerFailure(config, err)).toBe(
      'listeners.local (no-such-host.invalid:4140): the host name does not resolve (getaddrinfo ENOTFOUND no-such-host.invalid)',
    );
  });

  it('finds a listener by port when its host name was resolved to an address', () => {
    const err = errno('listen EADDRINUSE: address already in use 127.0.0.1:9901', { code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: 9901 });
    expect(describeListenerFailure(config, err)).toBe(
      'listeners.admin (localhost:9901): the address is already in use (listen EADDRINUSE: address already in use 127.0.0.1:9901)',
    );
  });

  it('names the federation listener, the bundle endpoint and the Workload API socket', () => {
    const at = (port: number, address = '0.0.0.0') => errno(`listen EACCES ${address}:${port}`, { code: 'EACCES', syscall: 'listen', address, port });
    expect(describeListenerFailure(config, at(4143))).toBe('listeners.federation (0.0.0.0:4143): permission denied (listen EACCES 0.0.0.0:4143)');
    expect(describeListenerFailure(config, at(8443, '127.0.0.1'))).toMatch(/^identity\.bundleEndpoint \(127\.0\.0\.1:8443\): permission denied/);
    const socket = errno('listen EADDRINUSE: address already in use /run/wl.sock', { code: 'EADDRINUSE', syscall: 'listen', address: '/run/wl.sock', port: -1 });
    expect(describeListenerFailure(config, socket)).toMatch(/^identity\.workloadApi\.socket \(\/run\/wl\.sock\): the address is already in use/);
  });

  it('says nothing about errors that are not a bind of a configured listener', () => {
    expect(describeListenerFailure(config, new Error('CONNECTION_REFUSED'))).toBeUndefined();
    expect(describeListenerFailure(config, errno('listen EADDRINUSE 127.0.0.1:5555', { code: 'EADDRINUSE', address: '127.0.0.1', port: 5555 }))).toBeUndefined();
    expect(describeListenerFailure(config, 'a string')).toBeUndefined();
  });
});
