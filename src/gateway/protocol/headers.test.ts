import { describe, expect, it } from 'vitest';
import { appendForwardedFor, endToEndHeaders } from './headers.js';

describe('endToEndHeaders', () => {
  it('drops hop-by-hop headers and those the Connection header names', () => {
    const out = endToEndHeaders({
      host: 'payments',
      connection: 'keep-alive, X-Secret',
      'keep-alive': 'timeout=5',
      'x-secret': 'hop only',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      'proxy-authorization': 'Basic x',
      'x-request-id': 'abc',
      'set-cookie': ['a=1', 'b=2'],
    });
    expect(out).toEqual({ 'x-request-id': 'abc', 'set-cookie': ['a=1', 'b=2'] });
  });

  it('keeps te: trailers for gRPC and drops other te values', () => {
    expect(endToEndHeaders({ te: 'trailers' })).toEqual({ te: 'trailers' });
    expect(endToEndHeaders({ te: 'gzip' })).toEqual({});
  });

  it('drops HTTP/2 pseudo-headers', () => {
    expect(endToEndHeaders({ ':path': '/', ':authority': 'x', accept: '*/*' })).toEqual({ accept: '*/*' });
  });
});

describe('appendForwardedFor', () => {
  it('starts the list', () => {
    const h = {};
    appendForwardedFor(h, '::ffff:127.0.0.1');
    expect(h).toEqual({ 'x-forwarded-for': '127.0.0.1' });
  });

  it('appends to what earlier proxies wrote', () => {
    const h = { 'x-forwarded-for': '203.0.113.7' };
    appendForwardedFor(h, '127.0.0.2');
    expect(h['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.2');
  });
});
