import { describe, expect, it } from 'vitest';
import { formatHostPort, isWildcardHost, parseHostPort } from './hostport.js';

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:4140', { host: '127.0.0.1', port: 4140 }],
    ['payments.shop.svc:8080', { host: 'payments.shop.svc', port: 8080 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
    ['[::1]:65535', { host: '::1', port: 65_535 }],
    ['[fe80::1:2]:80', { host: 'fe80::1:2', port: 80 }],
  ])('%s', (text, hp) => {
    expect(parseHostPort(text)).toEqual(hp);
  });

  it('allows port 0 only when asked (listeners)', () => {
    expect(parseHostPort('0.0.0.0:0', { allowPortZero: true })).toEqual({ host: '0.0.0.0', port: 0 });
    expect(() => parseHostPort('0.0.0.0:0')).toThrow('"0.0.0.0:0" has port 0, outside 1-65535');
  });

  it.each([
    ['127.0.0.1:abc', '"127.0.0.1:abc" is not host:port'],
    ['127.0.0.1', '"127.0.0.1" is not host:port'],
    [':80', '":80" is not host:port'],
    ['127.0.0.1:', '"127.0.0.1:" is not host:port'],
    ['256.0.0.1:80', '"256.0.0.1:80" is not host:port'],
    ['under_score:80', '"under_score:80" is not host:port'],
    ['-bad.example:80', '"-bad.example:80" is not host:port'],
    ['127.0.0.1:70000', '"127.0.0.1:70000" has port 70000, outside 1-65535'],
    ['::1:80', '"::1:80" is not host:port (write IPv6 addresses in brackets, e.g. "[::1]:8080")'],
    ['[nope]:80', '"[nope]:80" is not host:port ("nope" is not an IPv6 address)'],
  ])('rejects %j', (text, message) => {
    expect(() => parseHostPort(text)).toThrow(new RangeError(message));
  });
});

describe('formatHostPort', () => {
  it('brackets IPv6 hosts so the result parses back', () => {
    for (const text of ['127.0.0.1:4140', '[::1]:80', 'example.com:443']) {
      expect(formatHostPort(parseHostPort(text))).toBe(text);
    }
  });
});

describe('isWildcardHost', () => {
  it('knows every spelling of "any address" (which the gateway must not advertise)', () => {
    for (const host of ['0.0.0.0', '::', '0:0:0:0:0:0:0:0']) expect(isWildcardHost(host), host).toBe(true);
    for (const host of ['127.0.0.1', '::1', 'gw-b', '198.51.100.1']) expect(isWildcardHost(host), host).toBe(false);
  });
});
