import { constants, createHmac, generateKeyPairSync, type KeyObject, sign, webcrypto } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { JwtSvidError, type JwtSvidRule, SpiffeIdError } from './errors.js';
import { signJwtSvid, validateJwtSvid, type ValidateJwtSvidOptions } from './jwt-svid.js';
import type { TrustBundle } from './types.js';

const NOW_MS = 1_700_000_000_000;
const NOW = NOW_MS / 1000;
const now = () => NOW_MS;

const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve });
let a1: ReturnType<typeof ec>;
let a384: ReturnType<typeof ec>;
let a521: ReturnType<typeof ec>;
let aRsa: ReturnType<typeof generateKeyPairSync>;
let b1: ReturnType<typeof ec>;
let bCollide: ReturnType<typeof ec>;
let bundles: Map<string, TrustBundle>;

beforeAll(() => {
  a1 = ec('P-256');
  a384 = ec('P-384');
  a521 = ec('P-521');
  aRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  b1 = ec('P-256');
  bCollide = ec('P-256');
  bundles = new Map([
    [
      'a.example',
      {
        trustDomain: 'a.example',
        x509Authorities: [],
        jwtAuthorities: [
          { kid: 'a1', publicKey: a1.publicKey },
          { kid: 'a384', publicKey: a384.publicKey },
          { kid: 'a521', publicKey: a521.publicKey },
          { kid: 'rsa', publicKey: aRsa.publicKey },
        ],
      },
    ],
    [
      'b.example',
      {
        trustDomain: 'b.example',
        x509Authorities: [],
        // The same kid as one of a.example's keys: a lookup by kid alone would mix the domains up.
        jwtAuthorities: [
          { kid: 'b1', publicKey: b1.publicKey },
          { kid: 'a1', publicKey: bCollide.publicKey },
        ],
      },
    ],
    ['empty.example', { trustDomain: 'empty.example', x509Authorities: [], jwtAuthorities: [] }],
  ]);
});

const opts = (over: Partial<ValidateJwtSvidOptions> = {}): ValidateJwtSvidOptions => ({
  audience: 'payments',
  bundles: (td) => bundles.get(td),
  now,
  ...over,
});

const b64url = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Any header and claims, signed per the header's alg (or `alg`) with any key: the tokens an attacker can make. */
function craft(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject | Buffer | null, alg = String(header['alg'])): string {
  const input = `${b64url(header)}.${b64url(claims)}`;
  const data = Buffer.from(input);
  const hash = `sha${alg.slice(2)}`;
  let sig: Buffer;
  if (key === null) sig = Buffer.alloc(0);
  else if (Buffer.isBuffer(key)) sig = createHmac(hash, key).update(data).digest();
  else if (alg.startsWith('ES')) sig = sign(hash, data, { key, dsaEncoding: 'ieee-p1363' });
  else if (alg.startsWith('PS')) sig = sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  else sig = sign(hash, data, key);
  return `${input}.${sig.toString('base64url')}`;
}

const goodClaims = (over: Record<string, unknown> = {}) => ({
  sub: 'spiffe://a.example/ns/shop/sa/web',
  aud: ['payments'],
  exp: NOW + 300,
  iat: NOW,
  ...over,
});
const goodHeader = (over: Record<string, unknown> = {}) => ({ alg: 'ES256', kid: 'a1', typ: 'JWT', ...over });

function ruleOf(fn: () => unknown): JwtSvidRule | 'no error' {
  try {
    fn();
  } catch (err) {
    if (err instanceof JwtSvidError) return err.rule;
    throw err;
  }
  return 'no error';
}

describe('signJwtSvid', () => {
  it('writes a compact ES256 JWS with {alg, kid, typ} and {sub, aud, exp, iat}', async () => {
    const token = signJwtSvid({ spiffeId: 'spiffe://a.example/web', audience: ['payments', 'orders'], ttlSeconds: 300, key: a1.privateKey, kid: 'a1', now });
    const [h, c, s] = token.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ alg: 'ES256', kid: 'a1', typ: 'JWT' });
    expect(JSON.parse(Buffer.from(c, 'base64url').toString())).toEqual({ sub: 'spiffe://a.example/web', aud: ['payments', 'orders'], exp: NOW + 300, iat: NOW });
    const sig = Buffer.from(s, 'base64url');
    // JOSE r||s, checked with WebCrypto, whose ECDSA uses exactly that form.
    expect(sig).toHaveLength(64);
    const pub = await webcrypto.subtle.importKey('jwk', a1.publicKey.export({ format: 'jwk' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    expect(await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pub, sig, Buffer.from(`${h}.${c}`))).toBe(true);
  });

  it('validates what it signed', () => {
    const token = signJwtSvid({ spiffeId: 'spiffe://a.example/web', audience: ['payments'], ttlSeconds: 60, key: a1.privateKey, kid: 'a1', now });
    const result = validateJwtSvid(token, opts());
    expect(result.spiffeId).toBe('spiffe://a.example/web');
    expect(result.id.trustDomain).toBe('a.example');
    expect(result.claims).toEqual({ sub: 'spiffe://a.example/web', aud: ['payments'], exp: NOW + 60, iat: NOW });
  });

  it('floors a fractional clock to whole seconds', () => {
    const token = signJwtSvid({ spiffeId: 'spiffe://a.example/web', audience: ['x'], ttlSeconds: 1, key: a1.privateKey, kid: 'a1', now: () => NOW_MS + 999 });
    expect(JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString())).toMatchObject({ iat: NOW, exp: NOW + 1 });
  });

  it.each<[string, () => unknown, JwtSvidRule]>([
    ['no audience', () => ({ audience: [] }), 'aud'],
    ['an empty audience', () => ({ audience: ['payments', ''] }), 'aud'],
    ['a zero TTL', () => ({ ttlSeconds: 0 }), 'ttl'],
    ['a negative TTL', () => ({ ttlSeconds: -5 }), 'ttl'],
    ['a fractional TTL', () => ({ ttlSeconds: 1.5 }), 'ttl'],
    ['a public key', () => ({ key: a1.publicKey }), 'key'],
    ['a P-384 key', () => ({ key: a384.privateKey }), 'key'],
    ['an RSA key', () => ({ key: aRsa.privateKey }), 'key'],
    ['an empty kid', () => ({ kid: '' }), 'kid'],
  ])('refuses %s', (_name, over, rule) => {
    const base = { spiffeId: 'spiffe://a.example/web', audience: ['payments'], ttlSeconds: 60, key: a1.privateKey, kid: 'a1', now };
    expect(ruleOf(() => signJwtSvid({ ...base, ...(over() as object) }))).toBe(rule);
  });

  it('refuses an invalid SPIFFE ID', () => {
    expect(() => signJwtSvid({ spiffeId: 'spiffe://A.example/web', audience: ['x'], ttlSeconds: 60, key: a1.privateKey, kid: 'a1', now })).toThrow(SpiffeIdError);
  });
});

describe('validateJwtSvid accepts', () => {
  it.each<[string, () => string]>([
    ['ES256', () => craft(goodHeader(), goodClaims(), a1.privateKey)],
    ['ES384', () => craft(goodHeader({ alg: 'ES384', kid: 'a384' }), goodClaims(), a384.privateKey)],
    ['ES512', () => craft(goodHeader({ alg: 'ES512', kid: 'a521' }), goodClaims(), a521.privateKey)],
    ['RS256', () => craft(goodHeader({ alg: 'RS256', kid: 'rsa' }), goodClaims(), aRsa.privateKey)],
    ['RS384', () => craft(goodHeader({ alg: 'RS384', kid: 'rsa' }), goodClaims(), aRsa.privateKey)],
    ['RS512', () => craft(goodHeader({ alg: 'RS512', kid: 'rsa' }), goodClaims(), aRsa.privateKey)],
    ['PS256', () => craft(goodHeader({ alg: 'PS256', kid: 'rsa' }), goodClaims(), aRsa.privateKey)],
    ['PS384', () => craft(goodHeader({ alg: 'PS384', kid: 'rsa' }), goodClaims(), aRsa.privateKey)],
    ['PS512', () => craft(goodHeader({ alg: 'PS512', kid: 'rsa' }), goodClaims(), aRsa.privateKey)],
    ['typ JOSE', () => craft(goodHeader({ typ: 'JOSE' }), goodClaims(), a1.privateKey)],
    ['no typ', () => craft({ alg: 'ES256', kid: 'a1' }, goodClaims(), a1.privateKey)],
    ['aud as a single string', () => craft(goodHeader(), goodClaims({ aud: 'payments' }), a1.privateKey)],
    ['aud among several', () => craft(goodHeader(), goodClaims({ aud: ['orders', 'payments'] }), a1.privateKey)],
    ['expired within the leeway', () => craft(goodHeader(), goodClaims({ exp: NOW - 60 }), a1.privateKey)],
    ['iat in the future (never a bound)', () => craft(goodHeader(), goodClaims({ iat: NOW + 3600 }), a1.privateKey)],
    ['no iat', () => craft(goodHeader(), goodClaims({ iat: undefined }), a1.privateKey)],
    ['nbf within the leeway', () => craft(goodHeader(), goodClaims({ nbf: NOW + 60 }), a1.privateKey)],
    ['extra claims', () => craft(goodHeader(), goodClaims({ jti: 'x', iss: 'spire' }), a1.privateKey)],
    ['a fractional exp', () => craft(goodHeader(), goodClaims({ exp: NOW + 0.5 }), a1.privateKey)],
  ])('%s', (_name, make) => {
    expect(validateJwtSvid(make(), opts()).spiffeId).toBe('spiffe://a.example/ns/shop/sa/web');
  });

  it('uses the given leeway', () => {
    const token = craft(goodHeader(), goodClaims({ exp: NOW - 10 }), a1.privateKey);
    expect(ruleOf(() => validateJwtSvid(token, opts({ leewaySeconds: 5 })))).toBe('expired');
    expect(ruleOf(() => validateJwtSvid(token, opts({ leewaySeconds: 10 })))).toBe('no error');
  });
});

describe('validateJwtSvid rejects (JWT-SVID spec, RFC 7515, RFC 7519, RFC 8725)', () => {
  const jsonSerialization = () => {
    const [h, c, s] = craft(goodHeader(), goodClaims(), a1.privateKey).split('.');
    return JSON.stringify({ payload: c, protected: h, signature: s });
  };
  const generalJsonSerialization = () => {
    const [h, c, s] = craft(goodHeader(), goodClaims(), a1.privateKey).split('.');
    return JSON.stringify({ payload: c, signatures: [{ protected: h, signature: s }] });
  };
  const tamper = (token: string, claims: Record<string, unknown>) => {
    const [h, , s] = token.split('.');
    return `${h}.${b64url(claims)}.${s}`;
  };
  const derSignature = () => {
    const input = `${b64url(goodHeader())}.${b64url(goodClaims())}`;
    return `${input}.${sign('sha256', Buffer.from(input), a1.privateKey).toString('base64url')}`;
  };
  const good = () => craft(goodHeader(), goodClaims(), a1.privateKey);
  const resign = (token: string, change: (sig: Buffer) => Buffer) => {
    const [h, c, s] = token.split('.') as [string, string, string];
    return `${h}.${c}.${change(Buffer.from(s, 'base64url')).toString('base64url')}`;
  };

  it.each<[string, () => string, JwtSvidRule]>([
    // Malformed tokens
    ['an empty token', () => '', 'malformed'],
    ['one part', () => 'abc', 'malformed'],
    ['two parts', () => 'abc.def', 'malformed'],
    ['four parts', () => `${good()}.x`, 'malformed'],
    ['five parts (JWE)', () => 'a.b.c.d.e', 'malformed'],
    ['non-base64url characters', () => good().replace('.', '.*'), 'malformed'],
    ['padded base64url', () => { const [h, c, s] = good().split('.'); return `${h}==.${c}.${s}`; }, 'malformed'],
    ['a standard-base64 character in the signature', () => `${good().slice(0, -1)}+`, 'malformed'],
    ['a header that is not JSON', () => `${b64url('not json')}.${b64url(goodClaims())}.AAAA`, 'malformed'],
    ['a header that is a JSON array', () => `${b64url([1])}.${b64url(goodClaims())}.AAAA`, 'malformed'],
    ['claims that are not an object', () => craft(goodHeader(), 'x' as unknown as Record<string, unknown>, a1.privateKey), 'malformed'],
    ['a header with a duplicate alg', () => `${b64url('{"alg":"ES256","alg":"none","kid":"a1"}')}.${b64url(goodClaims())}.AAAA`, 'malformed'],
    ['claims with a duplicate sub', () => `${b64url(goodHeader())}.${b64url('{"sub":"spiffe://a.example/x","sub":"spiffe://a.example/y"}')}.AAAA`, 'malformed'],
    ['a header that is not UTF-8', () => `${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}.${b64url(goodClaims())}.AAAA`, 'malformed'],
    ['an oversized token', () => `${b64url(goodHeader())}.${'A'.repeat(70_000)}.AAAA`, 'malformed'],
    ['an empty signature', () => craft(goodHeader(), goodClaims(), null), 'malformed'],
    // JSON serialization
    ['the flattened JSON serialization', jsonSerialization, 'json-serialization'],
    ['the general JSON serialization', generalJsonSerialization, 'json-serialization'],
    // alg
    ['alg none', () => craft(goodHeader({ alg: 'none' }), goodClaims(), null), 'alg'],
    ['alg HS256 keyed with the public key', () => craft(goodHeader({ alg: 'HS256' }), goodClaims(), Buffer.from(a1.publicKey.export({ format: 'pem', type: 'spki' }))), 'alg'],
    ['alg HS512', () => craft(goodHeader({ alg: 'HS512' }), goodClaims(), Buffer.from('secret')), 'alg'],
    ['alg EdDSA', () => craft(goodHeader({ alg: 'EdDSA' }), goodClaims(), null), 'alg'],
    ['alg ES256K', () => craft(goodHeader({ alg: 'ES256K' }), goodClaims(), null), 'alg'],
    ['alg in lowercase', () => craft(goodHeader({ alg: 'es256' }), goodClaims(), a1.privateKey, 'ES256'), 'alg'],
    ['alg toString (not an own key)', () => craft(goodHeader({ alg: 'toString' }), goodClaims(), null), 'alg'],
    ['no alg', () => craft({ kid: 'a1', typ: 'JWT' }, goodClaims(), a1.privateKey, 'ES256'), 'alg'],
    ['alg not a string', () => craft(goodHeader({ alg: 256 }), goodClaims(), a1.privateKey, 'ES256'), 'alg'],
    // a key that does not fit the alg
    ['ES384 with a P-256 key', () => craft(goodHeader({ alg: 'ES384' }), goodClaims(), a384.privateKey), 'key-mismatch'],
    ['ES256 with a P-384 key', () => craft(goodHeader({ kid: 'a384' }), goodClaims(), a1.privateKey), 'key-mismatch'],
    ['ES256 with an RSA key', () => craft(goodHeader({ kid: 'rsa' }), goodClaims(), a1.privateKey), 'key-mismatch'],
    ['RS256 with an EC key', () => craft(goodHeader({ alg: 'RS256' }), goodClaims(), aRsa.privateKey), 'key-mismatch'],
    ['PS256 with an EC key', () => craft(goodHeader({ alg: 'PS256' }), goodClaims(), aRsa.privateKey), 'key-mismatch'],
    // typ
    ['typ at+jwt', () => craft(goodHeader({ typ: 'at+jwt' }), goodClaims(), a1.privateKey), 'typ'],
    ['typ JWS', () => craft(goodHeader({ typ: 'JWS' }), goodClaims(), a1.privateKey), 'typ'],
    ['typ jwt in lowercase', () => craft(goodHeader({ typ: 'jwt' }), goodClaims(), a1.privateKey), 'typ'],
    ['typ not a string', () => craft(goodHeader({ typ: 1 }), goodClaims(), a1.privateKey), 'typ'],
    // header parameters
    ['a jku header', () => craft(goodHeader({ jku: 'https://evil.example/jwks' }), goodClaims(), a1.privateKey), 'header'],
    ['a jwk header', () => craft(goodHeader({ jwk: a1.publicKey.export({ format: 'jwk' }) }), goodClaims(), a1.privateKey), 'header'],
    ['an x5c header', () => craft(goodHeader({ x5c: [] }), goodClaims(), a1.privateKey), 'header'],
    ['a crit header', () => craft(goodHeader({ crit: ['exp'] }), goodClaims(), a1.privateKey), 'header'],
    ['a cty header', () => craft(goodHeader({ cty: 'JWT' }), goodClaims(), a1.privateKey), 'header'],
    // kid
    ['no kid', () => craft({ alg: 'ES256', typ: 'JWT' }, goodClaims(), a1.privateKey), 'kid'],
    ['an empty kid', () => craft(goodHeader({ kid: '' }), goodClaims(), a1.privateKey), 'kid'],
    ['a kid that is not a string', () => craft(goodHeader({ kid: 1 }), goodClaims(), a1.privateKey), 'kid'],
    ['an unknown kid', () => craft(goodHeader({ kid: 'nope' }), goodClaims(), a1.privateKey), 'unknown-kid'],
    ['a kid of another trust domain', () => craft(goodHeader({ kid: 'b1' }), goodClaims(), b1.privateKey), 'unknown-kid'],
    ['any kid when the bundle is empty', () => craft(goodHeader(), goodClaims({ sub: 'spiffe://empty.example/x' }), a1.privateKey), 'unknown-kid'],
    // sub
    ['no sub', () => craft(goodHeader(), goodClaims({ sub: undefined }), a1.privateKey), 'sub'],
    ['a sub that is not a string', () => craft(goodHeader(), goodClaims({ sub: 42 }), a1.privateKey), 'sub'],
    ['a sub with another scheme', () => craft(goodHeader(), goodClaims({ sub: 'https://a.example/x' }), a1.privateKey), 'sub'],
    ['a sub in uppercase', () => craft(goodHeader(), goodClaims({ sub: 'spiffe://A.example/x' }), a1.privateKey), 'sub'],
    ['a sub with a trailing slash', () => craft(goodHeader(), goodClaims({ sub: 'spiffe://a.example/x/' }), a1.privateKey), 'sub'],
    ['an empty sub', () => craft(goodHeader(), goodClaims({ sub: '' }), a1.privateKey), 'sub'],
    // bundles
    ['no bundle for the trust domain', () => craft(goodHeader(), goodClaims({ sub: 'spiffe://c.example/x' }), a1.privateKey), 'no-bundle'],
    // signature
    ["a key of another trust domain under a colliding kid", () => craft(goodHeader(), goodClaims(), bCollide.privateKey), 'signature'],
    ['a key from nowhere', () => craft(goodHeader(), goodClaims(), ec('P-256').privateKey), 'signature'],
    ['tampered claims', () => tamper(good(), goodClaims({ sub: 'spiffe://a.example/admin' })), 'signature'],
    ['a DER (not r||s) signature', derSignature, 'signature'],
    ['a truncated signature', () => resign(good(), (sig) => sig.subarray(0, 61)), 'signature'],
    ['a signature with r and s swapped', () => resign(good(), (sig) => Buffer.concat([sig.subarray(32), sig.subarray(0, 32)])), 'signature'],
    ['an RS256 signature under PS256', () => craft(goodHeader({ alg: 'PS256', kid: 'rsa' }), goodClaims(), aRsa.privateKey, 'RS256'), 'signature'],
    // exp
    ['no exp', () => craft(goodHeader(), goodClaims({ exp: undefined }), a1.privateKey), 'exp'],
    ['exp as a string', () => craft(goodHeader(), goodClaims({ exp: String(NOW + 300) }), a1.privateKey), 'exp'],
    ['exp null', () => craft(goodHeader(), goodClaims({ exp: null }), a1.privateKey), 'exp'],
    ['expired beyond the leeway', () => craft(goodHeader(), goodClaims({ exp: NOW - 61 }), a1.privateKey), 'expired'],
    ['expired long ago', () => craft(goodHeader(), goodClaims({ exp: 0 }), a1.privateKey), 'expired'],
    // nbf
    ['nbf beyond the leeway', () => craft(goodHeader(), goodClaims({ nbf: NOW + 61 }), a1.privateKey), 'not-yet-valid'],
    ['nbf as a string', () => craft(goodHeader(), goodClaims({ nbf: 'soon' }), a1.privateKey), 'not-yet-valid'],
    // aud
    ['no aud', () => craft(goodHeader(), goodClaims({ aud: undefined }), a1.privateKey), 'aud'],
    ['an empty aud list', () => craft(goodHeader(), goodClaims({ aud: [] }), a1.privateKey), 'aud'],
    ['aud without the expected value', () => craft(goodHeader(), goodClaims({ aud: ['orders'] }), a1.privateKey), 'aud'],
    ['aud as another string', () => craft(goodHeader(), goodClaims({ aud: 'orders' }), a1.privateKey), 'aud'],
    ['aud in another case', () => craft(goodHeader(), goodClaims({ aud: ['Payments'] }), a1.privateKey), 'aud'],
    ['aud with a non-string', () => craft(goodHeader(), goodClaims({ aud: ['payments', 1] }), a1.privateKey), 'aud'],
    ['aud as an object', () => craft(goodHeader(), goodClaims({ aud: { payments: true } }), a1.privateKey), 'aud'],
  ])('%s', (_name, make, rule) => {
    expect(ruleOf(() => validateJwtSvid(make(), opts()))).toBe(rule);
  });

  it('refuses a bundle source that answers with another trust domain’s bundle', () => {
    const token = craft(goodHeader({ kid: 'b1' }), goodClaims(), b1.privateKey);
    expect(ruleOf(() => validateJwtSvid(token, opts({ bundles: () => bundles.get('b.example') })))).toBe('no-bundle');
  });

  it('asks only for the bundle of the subject’s trust domain', () => {
    const asked: string[] = [];
    validateJwtSvid(craft(goodHeader(), goodClaims(), a1.privateKey), opts({ bundles: (td) => (asked.push(td), bundles.get(td)) }));
    expect(asked).toEqual(['a.example']);
  });

  it('reports a forged expired token as forged, not as expired', () => {
    const token = craft(goodHeader(), goodClaims({ exp: 0 }), ec('P-256').privateKey);
    expect(ruleOf(() => validateJwtSvid(token, opts()))).toBe('signature');
  });

  it('fails closed on a broken clock or leeway instead of treating tokens as unexpired', () => {
    const token = craft(goodHeader(), goodClaims({ exp: 0 }), a1.privateKey);
    expect(() => validateJwtSvid(token, opts({ now: () => Number.NaN }))).toThrow(RangeError);
    expect(() => validateJwtSvid(token, opts({ leewaySeconds: Number.NaN }))).toThrow(RangeError);
    expect(() => validateJwtSvid(token, opts({ leewaySeconds: -1 }))).toThrow(RangeError);
  });

  it('refuses an empty expected audience', () => {
    expect(ruleOf(() => validateJwtSvid(craft(goodHeader(), goodClaims({ aud: [''] }), a1.privateKey), opts({ audience: '' })))).toBe('aud');
  });

  it('never puts the token in the error', () => {
    const token = craft(goodHeader(), goodClaims({ aud: ['orders'] }), a1.privateKey);
    try {
      validateJwtSvid(token, opts());
      expect.unreachable();
    } catch (err) {
      const e = err as JwtSvidError;
      expect(e.code).toBe('jwt-svid');
      expect(e.message).toBe('invalid JWT-SVID: the token is not for audience "payments"');
      for (const part of token.split('.')) {
        expect(e.message).not.toContain(part);
        expect(JSON.stringify(e.context)).not.toContain(part);
      }
    }
  });
});
