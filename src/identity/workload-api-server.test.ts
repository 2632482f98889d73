import { describe, expect, it } from 'vitest';
import { fromProtoStruct, parseEndpointSocket, toProtoStruct, WorkloadApiError, WorkloadApiServer } from './workload-api-server.js';

describe('parseEndpointSocket', () => {
  it('accepts unix:///abs and tcp://IP:port', () => {
    expect(parseEndpointSocket('unix:///tmp/spire-agent/public/api.sock')).toEqual({
      network: 'unix',
      path: '/tmp/spire-agent/public/api.sock',
    });
    expect(parseEndpointSocket('unix:///run/a%20b.sock')).toEqual({ network: 'unix', path: '/run/a b.sock' });
    expect(parseEndpointSocket('tcp://1.2.3.4:5')).toEqual({ network: 'tcp', host: '1.2.3.4', port: 5 });
    expect(parseEndpointSocket('tcp://127.0.0.1:8081')).toEqual({ network: 'tcp', host: '127.0.0.1', port: 8081 });
    expect(parseEndpointSocket('tcp://[::1]:8081')).toEqual({ network: 'tcp', host: '::1', port: 8081 });
  });

  // SPIFFE Workload Endpoint §4: a `unix` URI has an absolute path and nothing
  // else, a `tcp` URI an IP host and a port and nothing else; then a few more
  // of the same kinds.
  it.each([
    '\t',
    'blah',
    'tcp:opaque',
    'tcp://',
    'tcp://1.2.3.4:5?x',
    'tcp://1.2.3.4:5#x',
    'tcp://u:p@1.2.3.4:5/p',
    'tcp://1.2.3.4:5/path',
    'tcp://foo',
    'tcp://1.2.3.4',
    'unix:opaque',
    'unix://',
    'unix://foo?x',
    'unix://foo#x',
    'unix://u:p@foo/p',
    '',
    ' unix:///tmp/a.sock',
    'unix:///tmp/a\tb.sock',
    'unix:///tmp/a.sock\n',
    'http://1.2.3.4:5',
    '/tmp/a.sock',
    'unix:/tmp/a.sock',
    'unix://foo',
    'unix://host/tmp/a.sock',
    'unix:///',
    'unix:///tmp/%zz',
    'unix:///tmp/a%00b',
    'tcp://1.2.3.4:',
    'tcp://1.2.3.4:0',
    'tcp://1.2.3.4:65536',
    'tcp://1.2.3.4:+5',
    'tcp://1.2.3.4:5:6',
    'tcp://localhost:5',
    'tcp://:5',
    'tcp://::1:5',
    'tcp://[1.2.3.4]:5',
    'tcp://1.2.3.4:5/',
    'tcp://1.2.3.4:5?',
  ])('rejects %j', (value) => {
    expect(() => parseEndpointSocket(value)).toThrow(WorkloadApiError);
  });

  it('explains the problem and keeps the value in the context', () => {
    const cases: [string, RegExp][] = [
      ['tcp://1.2.3.4:5?x', /query/],
      ['unix://foo#x', /fragment/],
      ['tcp://u:p@1.2.3.4:5/p', /user info/],
      ['tcp://1.2.3.4:5/path', /path/],
      ['tcp://foo', /IP address/],
      ['tcp://1.2.3.4', /port/],
      ['unix:opaque', /opaque/],
      ['unix://', /socket path/],
      ['blah', /unix:\/\/\/absolute\/path or tcp:\/\/IP:port/],
    ];
    for (const [value, why] of cases) {
      try {
        parseEndpointSocket(value);
        expect.unreachable(value);
      } catch (err) {
        expect((err as Error).message).toMatch(why);
        expect((err as WorkloadApiError).rule).toBe('endpoint');
        expect((err as WorkloadApiError).context).toMatchObject({ value });
      }
    }
  });
});

describe('google.protobuf.Struct conversion', () => {
  it('round-trips JSON claims', () => {
    const claims = {
      sub: 'spiffe://td/w',
      aud: ['a', 'b'],
      exp: 1_700_000_000,
      nested: { ok: true, none: null, list: [1, 'two', { three: 3 }] },
    };
    expect(fromProtoStruct(toProtoStruct(claims))).toEqual(claims);
  });

  it('drops undefined members and maps bigint to a number', () => {
    expect(toProtoStruct({ a: undefined, b: 2n })).toEqual({ fields: { b: { numberValue: 2 } } });
  });
});

describe('WorkloadApiServer construction', () => {
  const source = {
    x509Svids: async () => [],
    x509Bundles: () => new Map(),
    jwtSvid: async () => '',
    jwtBundles: () => new Map(),
    validateJwtSvid: async () => ({ spiffeId: '', claims: {} }),
    onChange: () => () => undefined,
  };
  const base = { trustDomain: 'td', source, entries: [{ spiffeId: 'spiffe://td/w', selectors: ['unix:uid:1'] }] };

  it('wants an absolute socket path that fits in sockaddr_un', () => {
    expect(() => new WorkloadApiServer({ ...base, socketPath: 'run/api.sock' })).toThrow(/absolute/);
    expect(() => new WorkloadApiServer({ ...base, socketPath: `/${'a'.repeat(107)}` })).toThrow(/107 bytes/);
    expect(new WorkloadApiServer({ ...base, socketPath: `/${'a'.repeat(106)}` }).socketPath).toHaveLength(107);
  });

  it('refuses bad entries at construction, not at the first caller', () => {
    expect(
      () => new WorkloadApiServer({ ...base, socketPath: '/run/api.sock', entries: [{ spiffeId: 'spiffe://td/w', selectors: ['unix:uid:x'] }] }),
    ).toThrow(/spiffe:\/\/td\/w.*unix:uid:x/);
  });
});
