import { describe, expect, it } from 'vitest';
import { isIdentityError, SpiffeIdError, type SpiffeIdRule } from './errors.js';
import {
  compileSpiffePattern,
  matchSpiffePattern,
  MAX_SPIFFE_ID_BYTES,
  parseTrustDomain,
  SpiffeId,
  validateSpiffePattern,
} from './spiffe-id.js';

const TD_CHARS = new Set('abcdefghijklmnopqrstuvwxyz0123456789.-_');
const PATH_CHARS = new Set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_');

function ruleOf(fn: () => unknown): SpiffeIdRule | 'no error' {
  try {
    fn();
  } catch (err) {
    if (isIdentityError(err, 'spiffe-id')) return err.context['rule'] as SpiffeIdRule;
    throw err;
  }
  return 'no error';
}

describe('SpiffeId.parse rejects (SPIFFE-ID §2)', () => {
  it.each<[string, SpiffeIdRule]>([
    ['', 'empty'],
    ['s', 'scheme'],
    ['spiffe:/', 'scheme'],
    ['spiffe:/foo/bar/', 'scheme'],
    ['www://foo/bar', 'scheme'],
    ['Spiffe://td', 'scheme'],
    ['SPIFFE://td/p', 'scheme'],
    ['ſPiffe://td/p', 'non-ascii'],
    ['spiffe://', 'trust-domain-empty'],
    ['spiffe:///', 'trust-domain-empty'],
    ['spiffe:///path', 'trust-domain-empty'],
    ['spiffe://td/', 'trailing-slash'],
    ['spiffe://foo/', 'trailing-slash'],
    ['spiffe://td//', 'empty-segment'],
    ['spiffe://td//path', 'empty-segment'],
    ['spiffe://td/path/', 'trailing-slash'],
    ['spiffe://foo/bar//baz', 'empty-segment'],
    ['spiffe://td/.', 'dot-segment'],
    ['spiffe://td/./path', 'dot-segment'],
    ['spiffe://td/path/./other', 'dot-segment'],
    ['spiffe://td/path/..', 'dot-segment'],
    ['spiffe://td/..', 'dot-segment'],
    ['spiffe://td/../path', 'dot-segment'],
    ['spiffe://td/path/../other', 'dot-segment'],
    ['spiffe://%F0%9F%A4%AF/path', 'percent-encoding'],
    ['spiffe://td/%F0%9F%A4%AF', 'percent-encoding'],
    ['spiffe://%62%61%64/path', 'percent-encoding'],
    ['spiffe://td/%62%61%64', 'percent-encoding'],
    ['spiffe://foo%21bar/path', 'percent-encoding'],
    ['spiffe://BadDomain', 'trust-domain-char'],
    ['spiffe://trust$domain', 'trust-domain-char'],
    ['spiffe://foo$bar', 'trust-domain-char'],
    ['spiffe://domain@userinfo', 'userinfo'],
    ['spiffe://john:doe@td/p', 'userinfo'],
    ['spiffe://foo:1234/path', 'port'],
    ['spiffe://[::1]/p', 'trust-domain-char'],
    ['spiffe://td/path$', 'path-char'],
    ['spiffe://td/foo@bar', 'path-char'],
    ['spiffe://foo/p\x07th', 'path-char'],
    ['spiffe://fooµbar/path', 'non-ascii'],
    ['spiffe://foo.bar/fooµbar', 'non-ascii'],
    ['spiffe://td/\u{1F92F}', 'non-ascii'],
    ['spiffe://foo/bar?query', 'query'],
    ['spiffe://foo?query', 'query'],
    ['spiffe://foo/pa#h', 'fragment'],
    ['spiffe://foo#frag', 'fragment'],
    ['ab#de', 'scheme'],
    ['ab?de', 'scheme'],
    [' spiffe://td/p', 'scheme'],
    ['spiffe://td/p ', 'path-char'],
  ])('%j (%s)', (text, rule) => {
    expect(ruleOf(() => SpiffeId.parse(text))).toBe(rule);
  });

  it('quotes the input and names the problem in the message', () => {
    expect(() => SpiffeId.parse('spiffe://td/path/')).toThrow('invalid SPIFFE ID "spiffe://td/path/": must not end with "/"');
    expect(() => SpiffeId.parse('spiffe://BadDomain')).toThrow(/"spiffe:\/\/BadDomain".*lowercase.*"B" at offset 9/);
    expect(() => SpiffeId.parse('Spiffe://td')).toThrow(/scheme must be written "spiffe:\/\/" in lowercase/);
  });

  it('carries rule, input and code', () => {
    try {
      SpiffeId.parse('spiffe://td/a?b');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SpiffeIdError);
      const e = err as SpiffeIdError;
      expect([e.name, e.code, e.rule, e.input]).toEqual(['SpiffeIdError', 'spiffe-id', 'query', 'spiffe://td/a?b']);
      expect(e.context).toMatchObject({ rule: 'query', input: 'spiffe://td/a?b' });
    }
  });

  it('cuts a very long input in the message but keeps it whole in the error', () => {
    const long = `spiffe://td/${'a'.repeat(3000)}`;
    try {
      SpiffeId.parse(long);
      expect.unreachable();
    } catch (err) {
      const e = err as SpiffeIdError;
      expect(e.rule).toBe('too-long');
      expect(e.message.length).toBeLessThan(300);
      expect(e.message).toContain('(3012 characters)');
      expect(e.input).toBe(long);
    }
  });

  it('rejects a trust domain over 255 bytes and accepts one of 255', () => {
    expect(ruleOf(() => SpiffeId.parse(`spiffe://${'a'.repeat(256)}`))).toBe('trust-domain-too-long');
    expect(ruleOf(() => SpiffeId.parse(`spiffe://${'a'.repeat(256)}/path`))).toBe('trust-domain-too-long');
    expect(SpiffeId.parse(`spiffe://${'a'.repeat(255)}/path`).trustDomain).toHaveLength(255);
  });

  it('rejects an ID of 2049 bytes and accepts one of 2048', () => {
    const prefix = 'spiffe://td/';
    const max = prefix + 'a'.repeat(MAX_SPIFFE_ID_BYTES - prefix.length);
    expect(max).toHaveLength(2048);
    expect(SpiffeId.parse(max).toString()).toBe(max);
    expect(ruleOf(() => SpiffeId.parse(`${max}b`))).toBe('too-long');
    expect(ruleOf(() => SpiffeId.parse(`spiffe://td/${'ab/'.repeat(700)}c`))).toBe('too-long');
  });

  // go-spiffe's loop over all 256 values: exactly [a-z0-9._-] in a trust domain.
  it('accepts exactly [a-z0-9._-] of all 256 byte values in the trust domain', () => {
    for (let b = 0; b < 256; b++) {
      const c = String.fromCharCode(b);
      const text = `spiffe://${c}/path`;
      const rule = ruleOf(() => SpiffeId.parse(text));
      expect(rule === 'no error', `byte 0x${b.toString(16)} in ${JSON.stringify(text)}: ${rule}`).toBe(TD_CHARS.has(c));
      if (b >= 0x80) expect(rule).toBe('non-ascii');
    }
  });

  it('accepts exactly [a-zA-Z0-9._-] of all 256 byte values in the path', () => {
    for (let b = 0; b < 256; b++) {
      const c = String.fromCharCode(b);
      const text = `spiffe://trustdomain/path${c}`;
      const rule = ruleOf(() => SpiffeId.parse(text));
      expect(rule === 'no error', `byte 0x${b.toString(16)} in ${JSON.stringify(text)}: ${rule}`).toBe(PATH_CHARS.has(c));
    }
  });
});

describe('SpiffeId.parse accepts (SPIFFE-ID §2)', () => {
  it.each<[string, string, string]>([
    ['spiffe://td', 'td', ''],
    ['spiffe://td/.path', 'td', '/.path'],
    ['spiffe://td/..path', 'td', '/..path'],
    ['spiffe://td/...', 'td', '/...'],
    ['spiffe://td/.a..', 'td', '/.a..'],
    ['spiffe://1.2.3.4/p', '1.2.3.4', '/p'],
    ['spiffe://td/ns/shop/sa/web', 'td', '/ns/shop/sa/web'],
    ['spiffe://td/CaseMatters', 'td', '/CaseMatters'],
    [
      'spiffe://abcdefghijklmnopqrstuvwxyz1234567890.-_/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890.-_',
      'abcdefghijklmnopqrstuvwxyz1234567890.-_',
      '/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890.-_',
    ],
  ])('%j', (text, trustDomain, path) => {
    const id = SpiffeId.parse(text);
    expect(id.trustDomain).toBe(trustDomain);
    expect(id.path).toBe(path);
    expect(id.toString()).toBe(text);
    expect(JSON.stringify({ id })).toBe(JSON.stringify({ id: text }));
  });
});

describe('SpiffeId.fromSegments', () => {
  it('builds an ID from a trust domain and segments', () => {
    const id = SpiffeId.fromSegments('td', 'ns', 'shop', 'sa', 'web');
    expect(id.toString()).toBe('spiffe://td/ns/shop/sa/web');
    expect(id.segments).toEqual(['ns', 'shop', 'sa', 'web']);
    expect(SpiffeId.fromSegments('td').toString()).toBe('spiffe://td');
    expect(SpiffeId.fromSegments('td', '.a', '...').toString()).toBe('spiffe://td/.a/...');
  });

  it.each<[string, SpiffeIdRule]>([
    ['', 'empty-segment'],
    ['/', 'path-char'],
    ['/foo', 'path-char'],
    ['foo/bar', 'path-char'],
    ['$', 'path-char'],
    ['.', 'dot-segment'],
    ['..', 'dot-segment'],
    ['%41', 'percent-encoding'],
    ['a?b', 'query'],
    ['a#b', 'fragment'],
    ['µ', 'non-ascii'],
  ])('rejects the segment %j (%s)', (segment, rule) => {
    expect(ruleOf(() => SpiffeId.fromSegments('td', 'ok', segment))).toBe(rule);
    expect(() => SpiffeId.fromSegments('td', segment)).toThrow(/invalid path segment/);
  });

  it('accepts exactly [a-zA-Z0-9._-] of all 256 byte values in a segment', () => {
    for (let b = 0; b < 256; b++) {
      const c = String.fromCharCode(b);
      const rule = ruleOf(() => SpiffeId.fromSegments('td', `a${c}b`));
      expect(rule === 'no error', `byte 0x${b.toString(16)}: ${rule}`).toBe(PATH_CHARS.has(c));
    }
  });

  it('rejects a bad trust domain and an overlong result', () => {
    expect(ruleOf(() => SpiffeId.fromSegments('TD', 'a'))).toBe('trust-domain-char');
    expect(ruleOf(() => SpiffeId.fromSegments('', 'a'))).toBe('trust-domain-empty');
    expect(ruleOf(() => SpiffeId.fromSegments('td', 'a'.repeat(2037)))).toBe('too-long');
    expect(SpiffeId.fromSegments('td', 'a'.repeat(2036)).toString()).toHaveLength(2048);
  });
});

describe('parseTrustDomain and trustDomainId', () => {
  it.each(['td', 'example.org', 'us-east.acme.example', '1.2.3.4', 'a_b', 'a'.repeat(255)])('accepts %j', (td) => {
    expect(parseTrustDomain(td)).toBe(td);
    expect(SpiffeId.trustDomainId(td).toString()).toBe(`spiffe://${td}`);
    expect(SpiffeId.trustDomainId(td).isTrustDomainId).toBe(true);
  });

  it.each<[string, SpiffeIdRule]>([
    ['', 'trust-domain-empty'],
    ['a'.repeat(256), 'trust-domain-too-long'],
    ['Example.org', 'trust-domain-char'],
    ['spiffe://example.org', 'trust-domain-char'],
    ['example.org/path', 'trust-domain-char'],
    ['user@example.org', 'userinfo'],
    ['example.org:443', 'port'],
    ['[::1]', 'trust-domain-char'],
    ['exa%6Dple.org', 'percent-encoding'],
    ['invalid#character', 'fragment'],
    ['a?b', 'query'],
    ['exämple.org', 'non-ascii'],
    [' td', 'trust-domain-char'],
  ])('rejects %j (%s)', (td, rule) => {
    expect(ruleOf(() => parseTrustDomain(td))).toBe(rule);
    expect(() => parseTrustDomain(td)).toThrow(/invalid trust domain/);
  });

  it('explains that a SPIFFE ID is not a bare trust domain', () => {
    expect(() => parseTrustDomain('spiffe://example.org')).toThrow(/bare trust domain name/);
  });

  it('accepts exactly [a-z0-9._-] of all 256 byte values', () => {
    for (let b = 0; b < 256; b++) {
      const c = String.fromCharCode(b);
      expect(ruleOf(() => parseTrustDomain(`a${c}b`)) === 'no error', `byte 0x${b.toString(16)}`).toBe(TD_CHARS.has(c));
    }
  });
});

describe('comparison and membership', () => {
  it('compares byte for byte', () => {
    const id = SpiffeId.parse('spiffe://td/ns/Shop');
    expect(id.equals(SpiffeId.parse('spiffe://td/ns/Shop'))).toBe(true);
    expect(id.equals('spiffe://td/ns/Shop')).toBe(true);
    expect(id.equals('spiffe://td/ns/shop')).toBe(false);
    expect(id.equals('SPIFFE://td/ns/Shop')).toBe(false);
    expect(id.equals('spiffe://TD/ns/Shop')).toBe(false);
    expect(id.equals('spiffe://td/ns/Shop/')).toBe(false);
  });

  it('tells membership by exact trust domain', () => {
    const id = SpiffeId.parse('spiffe://us-east.acme.example/ns/shop');
    expect(id.isMemberOf('us-east.acme.example')).toBe(true);
    expect(id.isMemberOf('acme.example')).toBe(false);
    expect(id.isMemberOf('US-EAST.acme.example')).toBe(false);
    expect(id.isMemberOf('east.acme.example')).toBe(false);
    expect(id.isTrustDomainId).toBe(false);
  });

  it('tryParse returns undefined instead of throwing', () => {
    expect(SpiffeId.tryParse('spiffe://td/')).toBeUndefined();
    expect(SpiffeId.tryParse('spiffe://td/a')?.path).toBe('/a');
  });
});

describe('SPIFFE ID patterns', () => {
  it.each<[string, string]>([
    ['spiffe://*.acme.example/ns/shop/*', 'spiffe://us-east.acme.example/ns/shop/web'],
    ['spiffe://*.acme.example/ns/shop/*', 'spiffe://a.b.acme.example/ns/shop/web'],
    ['spiffe://*.acme.example/ns/shop/*', 'spiffe://us-east.acme.example/ns/shop/sa'],
    ['spiffe://us-east.acme.example/ns/shop/sa/web', 'spiffe://us-east.acme.example/ns/shop/sa/web'],
    ['spiffe://td/*', 'spiffe://td/anything'],
    ['spiffe://td/web-*', 'spiffe://td/web-1'],
    ['spiffe://td/web-*', 'spiffe://td/web-'],
    ['spiffe://td/*-canary', 'spiffe://td/web-canary'],
    ['spiffe://td/*a*b*', 'spiffe://td/xxaxxbxx'],
    ['spiffe://td/ns/*/sa/*', 'spiffe://td/ns/shop/sa/web'],
    ['spiffe://*', 'spiffe://td'],
    ['spiffe://*/ns/shop', 'spiffe://eu-west.acme.example/ns/shop'],
    ['spiffe://td*/x', 'spiffe://td2/x'],
  ])('%s matches %s', (pattern, id) => {
    expect(matchSpiffePattern(pattern, id)).toBe(true);
    expect(matchSpiffePattern(pattern, SpiffeId.parse(id))).toBe(true);
  });

  it.each<[string, string]>([
    // * never crosses a segment boundary, in either direction.
    ['spiffe://*.acme.example/ns/shop/*', 'spiffe://us-east.acme.example/ns/shop/sa/web'],
    ['spiffe://*.acme.example/ns/shop/*', 'spiffe://us-east.acme.example/ns/shop'],
    ['spiffe://*.acme.example/ns/shop/*', 'spiffe://acme.example/ns/shop/web'],
    ['spiffe://*.acme.example/ns/shop/*', 'spiffe://us-east.evil.example/ns/shop/web'],
    ['spiffe://*.acme.example/ns/shop/*', 'spiffe://us-east.acme.example.evil/ns/shop/web'],
    ['spiffe://*.acme.example/ns/shop/*', 'spiffe://us-east.acme.example/ns/shopx/web'],
    ['spiffe://*.acme.example/ns/shop/*', 'spiffe://us-east.acme.example/ns/Shop/web'],
    ['spiffe://*', 'spiffe://td/a'],
    ['spiffe://*/ns', 'spiffe://td/ns/a'],
    ['spiffe://td/*', 'spiffe://td'],
    ['spiffe://td/*', 'spiffe://td/a/b'],
    ['spiffe://td/web-*', 'spiffe://td/api-1'],
    ['spiffe://td/a', 'spiffe://td/a/b'],
    ['spiffe://td/a', 'spiffe://td/A'],
    ['spiffe://td/a', 'spiffe://td2/a'],
    ['spiffe://td/*a*b', 'spiffe://td/xxbxxa'],
    // An invalid ID never matches, even a catch-all pattern.
    ['spiffe://*/*', 'spiffe://TD/a'],
    ['spiffe://*/*', 'spiffe://td/a/'],
    ['spiffe://*/*', 'spiffe://td/.'],
    ['spiffe://*/*', 'not an id'],
  ])('%s does not match %s', (pattern, id) => {
    expect(matchSpiffePattern(pattern, id)).toBe(false);
  });

  it.each<[string, SpiffeIdRule]>([
    ['', 'empty'],
    ['*', 'scheme'],
    ['spiffe://*.Acme.example/*', 'trust-domain-char'],
    ['spiffe://td/**', 'wildcard'],
    ['spiffe://**/a', 'wildcard'],
    ['spiffe://td/a?', 'wildcard'],
    ['spiffe://td/[ab]', 'wildcard'],
    ['spiffe://td/{a,b}', 'wildcard'],
    ['spiffe://td/*/', 'trailing-slash'],
    ['spiffe://td//*', 'empty-segment'],
    ['spiffe://td/./*', 'dot-segment'],
    ['spiffe:///*', 'trust-domain-empty'],
    ['spiffe://td:*/a', 'port'],
    ['spiffe://td/a#*', 'fragment'],
    ['spiffe://td/%2A', 'percent-encoding'],
    ['spiffe://td/$*', 'path-char'],
  ])('rejects the pattern %j (%s)', (pattern, rule) => {
    expect(ruleOf(() => validateSpiffePattern(pattern))).toBe(rule);
    expect(() => matchSpiffePattern(pattern, 'spiffe://td/a')).toThrow(SpiffeIdError);
  });

  it('names the pattern in the message', () => {
    expect(() => validateSpiffePattern('spiffe://td/**')).toThrow(
      'invalid SPIFFE ID pattern "spiffe://td/**": "**" is not supported: "*" matches within one segment and never crosses "/"',
    );
  });

  it('compiles once and matches many times', () => {
    const p = compileSpiffePattern('spiffe://*.acme.example/ns/shop/*');
    expect(p.pattern).toBe('spiffe://*.acme.example/ns/shop/*');
    expect(p.matches('spiffe://eu.acme.example/ns/shop/api')).toBe(true);
    expect(p.matches({ trustDomain: 'eu.acme.example', path: '/ns/shop/api', toString: () => 'spiffe://eu.acme.example/ns/shop/api' })).toBe(true);
    expect(p.matches('spiffe://eu.acme.example/ns/pay/api')).toBe(false);
  });

  it('stays fast on a hostile pattern and ID', () => {
    const pattern = `spiffe://td/${'*a'.repeat(40)}b`;
    const id = `spiffe://td/${'a'.repeat(2000)}`;
    const start = performance.now();
    expect(matchSpiffePattern(pattern, id)).toBe(false);
    // Generous bound: only catches exponential blow-up, not a slow machine.
    expect(performance.now() - start).toBeLessThan(2000);
  });
});
