import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadBundleFile,
  parseBundleMap,
  parseBundleText,
  parsePemBundle,
  parseSpiffeBundle,
  serializeBundleMap,
  serializeSpiffeBundle,
} from './bundle.js';
import { concatDer, decodeBase64Strict, derToPem, parsePemBlocks, pemToDers, splitConcatenatedDer } from './encoding.js';
import { parseStrictJson } from './strict-json.js';
import { BundleError, type BundleRule, EncodingError, type EncodingRule } from './errors.js';
import type { TrustBundle } from './types.js';

// Certificates are made fresh for each run: no key or certificate is ever committed.
let dir: string;
let ecPem: string;
let ecDer: Uint8Array;
let ec2Der: Uint8Array;
let rsaDer: Uint8Array;
let keyPem: string;

function makeCert(name: string, keyArgs: string[]): { pem: string; der: Uint8Array; keyPem: string } {
  const keyOut = join(dir, `${name}.key`);
  const certOut = join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', ...keyArgs, '-nodes', '-subj', `/CN=${name}`, '-days', '1', '-keyout', keyOut, '-out', certOut],
    { stdio: 'pipe' },
  );
  const pem = readFileSync(certOut, 'utf8');
  return { pem, der: new Uint8Array(new X509Certificate(pem).raw), keyPem: readFileSync(keyOut, 'utf8') };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshgate-bundle-test-'));
  const ec = makeCert('ec', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  ecPem = ec.pem;
  ecDer = ec.der;
  keyPem = ec.keyPem;
  ec2Der = makeCert('ec2', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']).der;
  rsaDer = makeCert('rsa', ['rsa:2048']).der;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const b64 = (der: Uint8Array): string => Buffer.from(der).toString('base64');
const ecJwk = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });

function bundleRuleOf(fn: () => unknown): BundleRule | 'no error' {
  try {
    fn();
  } catch (err) {
    if (err instanceof BundleError) return err.rule;
    throw err;
  }
  return 'no error';
}

function encodingRuleOf(fn: () => unknown): EncodingRule | 'no error' {
  try {
    fn();
  } catch (err) {
    if (err instanceof EncodingError) return err.rule;
    throw err;
  }
  return 'no error';
}

const x509Entry = (der: Uint8Array, extra: Record<string, unknown> = {}) => ({ kty: 'EC', use: 'x509-svid', x5c: [b64(der)], ...extra });
const doc = (keys: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ keys, ...extra });

describe('parseSpiffeBundle errors (SPIFFE Trust Domain and Bundle §4, §6.3; X509-SVID and JWT-SVID §6)', () => {
  const cases: [string, () => string, BundleRule][] = [
    ['malformed JSON', () => '{"keys": [}', 'json'],
    ['empty input', () => '', 'json'],
    ['trailing data', () => '{"keys": []} x', 'json'],
    ['not an object', () => '[]', 'json'],
    ['keys missing', () => '{}', 'keys'],
    ['keys not a list', () => '{"keys": {}}', 'keys'],
    ['x509-svid with 2 x5c elements', () => doc([{ kty: 'EC', use: 'x509-svid', x5c: [b64(ecDer), b64(ec2Der)] }]), 'x5c'],
    ['corrupt DER in x5c', () => doc([{ kty: 'EC', use: 'x509-svid', x5c: ['AAECAwQ='] }]), 'x5c'],
    ['truncated DER in x5c', () => doc([{ kty: 'EC', use: 'x509-svid', x5c: [b64(ecDer.subarray(0, ecDer.length - 1))] }]), 'x5c'],
    ['DER with trailing bytes in x5c', () => doc([{ kty: 'EC', use: 'x509-svid', x5c: [b64(concatDer([ecDer, new Uint8Array([0])]))] }]), 'x5c'],
    ['two certificates in one x5c element', () => doc([{ kty: 'EC', use: 'x509-svid', x5c: [b64(concatDer([ecDer, ec2Der]))] }]), 'x5c'],
    ['x5c element not base64', () => doc([{ kty: 'EC', use: 'x509-svid', x5c: ['not base64!'] }]), 'x5c'],
    ['x5c element base64url', () => doc([{ kty: 'EC', use: 'x509-svid', x5c: [Buffer.from(ecDer).toString('base64url')] }]), 'x5c'],
    ['x5c element not a string', () => doc([{ kty: 'EC', use: 'x509-svid', x5c: [42] }]), 'x5c'],
    ['x5c not a list', () => doc([{ kty: 'EC', use: 'x509-svid', x5c: b64(ecDer) }]), 'x5c'],
    ['x509-svid with kid', () => doc([x509Entry(ecDer, { kid: 'k1' })]), 'kid'],
    ['x509-svid kty not the certificate key type', () => doc([x509Entry(ecDer, { kty: 'RSA' })]), 'jwk'],
    ['x509-svid key fields not the certificate key', () => doc([x509Entry(ecDer, ecJwk())]), 'jwk'],
    ['x509-svid key fields not a key', () => doc([x509Entry(ecDer, { crv: 'P-256', x: 'AAAA', y: 'AAAA' })]), 'jwk'],
    ['jwt-svid without kid', () => doc([{ ...ecJwk(), use: 'jwt-svid' }]), 'kid'],
    ['jwt-svid with an empty kid', () => doc([{ ...ecJwk(), use: 'jwt-svid', kid: '' }]), 'kid'],
    ['jwt-svid with a kid twice', () => doc([{ ...ecJwk(), use: 'jwt-svid', kid: 'a' }, { ...ecJwk(), use: 'jwt-svid', kid: 'a' }]), 'kid'],
    ['jwt-svid with a bad point', () => doc([{ ...ecJwk(), x: 'AAAA', use: 'jwt-svid', kid: 'a' }]), 'jwk'],
    ['jwt-svid with private material', () => doc([{ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), use: 'jwt-svid', kid: 'a' }]), 'jwk'],
    ['a known use without kty', () => doc([{ use: 'x509-svid', x5c: [b64(ecDer)] }]), 'jwk'],
    ['a JWK that is not an object', () => doc(['x']), 'jwk'],
    ['duplicate key in the bundle', () => `{"keys": [], "keys": [${JSON.stringify(x509Entry(ecDer))}]}`, 'duplicate-key'],
    ['duplicate key in a JWK', () => `{"keys": [{"kty":"EC","use":"jwt-svid","use":"x509-svid","x5c":["${b64(ecDer)}"]}]}`, 'duplicate-key'],
    ['negative sequence', () => doc([], { spiffe_sequence: -1 }), 'sequence'],
    ['fractional sequence', () => doc([], { spiffe_sequence: 1.5 }), 'sequence'],
    ['exponent sequence', () => '{"keys": [], "spiffe_sequence": 1e3}', 'sequence'],
    ['sequence as a string', () => doc([], { spiffe_sequence: '5' }), 'sequence'],
    ['sequence past 2^64-1', () => '{"keys": [], "spiffe_sequence": 18446744073709551616}', 'sequence'],
    ['fractional refresh hint', () => doc([], { spiffe_refresh_hint: 1.5 }), 'refresh-hint'],
    ['negative refresh hint', () => doc([], { spiffe_refresh_hint: -300 }), 'refresh-hint'],
    ['refresh hint as a string', () => doc([], { spiffe_refresh_hint: '300' }), 'refresh-hint'],
  ];
  it.each(cases)('%s', (_name, make, rule) => {
    expect(bundleRuleOf(() => parseSpiffeBundle(make(), 'td'))).toBe(rule);
  });

  it('rejects bytes that are not UTF-8', () => {
    expect(bundleRuleOf(() => parseSpiffeBundle(new Uint8Array([0x7b, 0xff, 0x7d]), 'td'))).toBe('json');
  });

  it('rejects an invalid trust domain name', () => {
    expect(bundleRuleOf(() => parseSpiffeBundle('{"keys": []}', 'Bad'))).toBe('trust-domain');
    expect(bundleRuleOf(() => parseSpiffeBundle('{"keys": []}', 'spiffe://td'))).toBe('trust-domain');
  });

  it('says where the problem is', () => {
    const json = doc([x509Entry(ecDer), { kty: 'EC', use: 'x509-svid', x5c: [b64(ecDer), b64(ec2Der)] }]);
    expect(() => parseSpiffeBundle(json, 'td', { source: 'eu.json' })).toThrow(
      'bundle eu.json (td): keys[1]: "x5c" has 2 certificates; exactly one is allowed',
    );
    expect(() => parseSpiffeBundle('{"keys": [], "keys": []}', 'td')).toThrow(/duplicate key "keys" in \$/);
  });
});

describe('parseSpiffeBundle ignores entries the spec says to ignore (§5.3)', () => {
  it.each<[string, () => Record<string, unknown>]>([
    ['unknown use', () => ({ kty: 'EC', use: 'NOT-x509-svid', x5c: [b64(ecDer)] })],
    ['use in another case', () => ({ kty: 'EC', use: 'X509-SVID', x5c: [b64(ecDer)] })],
    ['missing use', () => ({ kty: 'EC', x5c: [b64(ecDer)] })],
    ['wit-svid use', () => ({ ...ecJwk(), use: 'wit-svid', kid: 'w' })],
    ['unknown kty', () => ({ kty: 'DSA', use: 'x509-svid', x5c: [b64(ecDer)] })],
    ['unknown kty on a jwt-svid', () => ({ kty: 'oct', use: 'jwt-svid', kid: 'k', k: 'c2VjcmV0' })],
    ['x509-svid with x5c missing', () => ({ kty: 'EC', use: 'x509-svid' })],
    ['x509-svid with x5c empty', () => ({ kty: 'EC', use: 'x509-svid', x5c: [] })],
  ])('%s', (_name, make) => {
    const bundle = parseSpiffeBundle(doc([make(), x509Entry(ec2Der)]), 'td');
    expect(bundle.x509Authorities.map(b64)).toEqual([b64(ec2Der)]);
    expect(bundle.jwtAuthorities).toEqual([]);
  });

  it('accepts keys: [] as a valid, empty bundle', () => {
    const bundle = parseSpiffeBundle('{"keys": []}', 'td');
    expect(bundle).toEqual({ trustDomain: 'td', x509Authorities: [], jwtAuthorities: [] });
  });

  it('ignores unknown top-level members', () => {
    expect(parseSpiffeBundle('{"keys": [], "x-vendor": {"a": 1}}', 'td').x509Authorities).toEqual([]);
  });
});

describe('parseSpiffeBundle reads', () => {
  it('x509 and jwt authorities, sequence and refresh hint', () => {
    const jwk = ecJwk();
    const json = doc([x509Entry(ecDer), { ...jwk, kid: 'k1', use: 'jwt-svid' }], { spiffe_refresh_hint: 300, spiffe_sequence: 7 });
    const bundle = parseSpiffeBundle(Buffer.from(json), 'us-east.acme.example');
    expect(bundle.trustDomain).toBe('us-east.acme.example');
    expect(bundle.x509Authorities.map(b64)).toEqual([b64(ecDer)]);
    expect(bundle.jwtAuthorities.map((a) => a.kid)).toEqual(['k1']);
    expect(bundle.jwtAuthorities[0]?.publicKey.export({ format: 'jwk' })).toEqual(jwk);
    expect(bundle.sequence).toBe(7n);
    expect(bundle.refreshHintSeconds).toBe(300);
    expect(Object.isFrozen(bundle) && Object.isFrozen(bundle.x509Authorities)).toBe(true);
  });

  it('a 64-bit sequence without losing precision', () => {
    for (const seq of ['9007199254740993', '18446744073709551615', '0']) {
      expect(parseSpiffeBundle(`{"keys": [], "spiffe_sequence": ${seq}}`, 'td').sequence).toBe(BigInt(seq));
    }
  });

  it('an x509-svid entry whose key fields match the certificate', () => {
    const certJwk = new X509Certificate(ecDer).publicKey.export({ format: 'jwk' });
    expect(parseSpiffeBundle(doc([x509Entry(ecDer, certJwk)]), 'td').x509Authorities).toHaveLength(1);
  });
});

describe('serializeSpiffeBundle', () => {
  it('round-trips through parseSpiffeBundle', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const bundle: TrustBundle = {
      trustDomain: 'eu-west.acme.example',
      x509Authorities: [ecDer, rsaDer],
      // A private key is published as its public half.
      jwtAuthorities: [
        { kid: 'ec-1', publicKey: ec.privateKey },
        { kid: 'rsa-1', publicKey: rsa.publicKey },
      ],
      sequence: 18446744073709551615n,
      refreshHintSeconds: 300,
    };
    const json = serializeSpiffeBundle(bundle);
    expect(json).toContain('"spiffe_sequence":18446744073709551615');
    const back = parseSpiffeBundle(json, 'eu-west.acme.example');
    expect(back.x509Authorities.map(b64)).toEqual([b64(ecDer), b64(rsaDer)]);
    expect(back.jwtAuthorities.map((a) => a.kid)).toEqual(['ec-1', 'rsa-1']);
    expect(back.jwtAuthorities[0]?.publicKey.equals(ec.publicKey)).toBe(true);
    expect(back.jwtAuthorities[1]?.publicKey.equals(rsa.publicKey)).toBe(true);
    expect(back.sequence).toBe(18446744073709551615n);
    expect(back.refreshHintSeconds).toBe(300);
  });

  it('writes x509 authorities as EC JWKs with x5c and the certificate key, and jwt authorities with kid', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const json = serializeSpiffeBundle({ trustDomain: 'td', x509Authorities: [ecDer], jwtAuthorities: [{ kid: 'k', publicKey: ec.publicKey }] });
    const parsed = JSON.parse(json) as { keys: Record<string, unknown>[] };
    const certKey = new X509Certificate(ecDer).publicKey.export({ format: 'jwk' });
    expect(parsed).toEqual({
      keys: [
        { kty: 'EC', use: 'x509-svid', x5c: [b64(ecDer)], crv: 'P-256', x: certKey.x, y: certKey.y },
        { kty: 'EC', kid: 'k', use: 'jwt-svid', ...ec.publicKey.export({ format: 'jwk' }) },
      ],
    });
    expect(Object.keys(parsed.keys[0] ?? {})).toEqual(['kty', 'use', 'x5c', 'crv', 'x', 'y']);
  });

  it('writes an empty bundle as keys: []', () => {
    expect(serializeSpiffeBundle({ trustDomain: 'td', x509Authorities: [], jwtAuthorities: [] })).toBe('{"keys":[]}');
  });

  it('refuses what it could not write faithfully', () => {
    const none = { trustDomain: 'td', x509Authorities: [], jwtAuthorities: [] };
    expect(bundleRuleOf(() => serializeSpiffeBundle({ ...none, x509Authorities: [new Uint8Array([0x30, 0x00])] }))).toBe('x5c');
    expect(bundleRuleOf(() => serializeSpiffeBundle({ ...none, sequence: -1n }))).toBe('sequence');
    expect(bundleRuleOf(() => serializeSpiffeBundle({ ...none, refreshHintSeconds: 1.5 }))).toBe('refresh-hint');
  });
});

describe('parseBundleMap', () => {
  const entry = () => ({ keys: [x509Entry(ecDer)] });

  it('reads each trust domain with its own bundle', () => {
    const json = JSON.stringify({ trust_domains: { 'a.example': entry(), 'b.example': { keys: [x509Entry(ec2Der)], spiffe_sequence: 3 } } });
    const map = parseBundleMap(json);
    expect([...map.keys()]).toEqual(['a.example', 'b.example']);
    expect(map.get('a.example')?.trustDomain).toBe('a.example');
    expect(map.get('b.example')?.x509Authorities.map(b64)).toEqual([b64(ec2Der)]);
    expect(map.get('b.example')?.sequence).toBe(3n);
    expect(parseBundleMap('{"trust_domains": {}}').size).toBe(0);
  });

  it.each<[string, () => string, BundleRule]>([
    ['duplicate trust domain keys', () => `{"trust_domains": {"a.example": ${JSON.stringify(entry())}, "a.example": {"keys": []}}}`, 'duplicate-key'],
    ['an empty key', () => JSON.stringify({ trust_domains: { '': entry() } }), 'trust-domain'],
    ['an invalid key', () => JSON.stringify({ trust_domains: { 'invalid#character': entry() } }), 'trust-domain'],
    ['a SPIFFE ID as key', () => JSON.stringify({ trust_domains: { 'spiffe://a.example': entry() } }), 'trust-domain'],
    ['no trust_domains', () => JSON.stringify({ 'a.example': entry() }), 'trust-domains'],
    ['trust_domains not an object', () => JSON.stringify({ trust_domains: [entry()] }), 'trust-domains'],
    ['a bad bundle inside', () => JSON.stringify({ trust_domains: { 'a.example': {} } }), 'keys'],
    ['duplicate keys inside a bundle', () => '{"trust_domains": {"a.example": {"keys": [], "keys": []}}}', 'duplicate-key'],
    ['malformed JSON', () => '{"trust_domains": ', 'json'],
  ])('rejects %s', (_name, make, rule) => {
    expect(bundleRuleOf(() => parseBundleMap(make()))).toBe(rule);
  });

  it('round-trips through serializeBundleMap, each sequence in its own bundle', () => {
    const bundles: TrustBundle[] = [
      { trustDomain: 'a.example', x509Authorities: [ecDer], jwtAuthorities: [], sequence: 18446744073709551615n },
      { trustDomain: 'b.example', x509Authorities: [ec2Der], jwtAuthorities: [], sequence: 1n, refreshHintSeconds: 60 },
    ];
    const map = parseBundleMap(serializeBundleMap(bundles));
    expect(map.get('a.example')?.sequence).toBe(18446744073709551615n);
    expect(map.get('b.example')?.sequence).toBe(1n);
    expect(map.get('b.example')?.refreshHintSeconds).toBe(60);
    expect(map.get('a.example')?.x509Authorities.map(b64)).toEqual([b64(ecDer)]);
    expect(bundleRuleOf(() => serializeBundleMap([bundles[0] as TrustBundle, bundles[0] as TrustBundle]))).toBe('duplicate-key');
  });
});

describe('PEM', () => {
  it('derToPem and pemToDers round-trip, wrapping at 64 columns', () => {
    const pem = derToPem(ecDer);
    expect(pem.startsWith('-----BEGIN CERTIFICATE-----\n')).toBe(true);
    expect(pem.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
    expect(pem.split('\n').every((l) => l.length <= 64)).toBe(true);
    expect(pemToDers(pem).map(b64)).toEqual([b64(ecDer)]);
    expect(pemToDers(derToPem(ecDer) + derToPem(ec2Der)).map(b64)).toEqual([b64(ecDer), b64(ec2Der)]);
  });

  it('reads what openssl wrote, with CRLF and explanatory text between blocks', () => {
    const text = `subject=CN = ec\nissuer=CN = ec\n${ecPem}\nsome notes\n${derToPem(ec2Der)}`.replace(/\n/g, '\r\n');
    expect(pemToDers(text).map(b64)).toEqual([b64(ecDer), b64(ec2Der)]);
    expect(pemToDers('')).toEqual([]);
  });

  it('reads other labels with parsePemBlocks and refuses them in pemToDers', () => {
    expect(parsePemBlocks(keyPem).map((b) => b.label)).toEqual(['PRIVATE KEY']);
    expect(pemToDers(keyPem, 'PRIVATE KEY')).toHaveLength(1);
    expect(encodingRuleOf(() => pemToDers(ecPem + keyPem))).toBe('pem');
  });

  it.each<[string, () => string]>([
    ['no END line', () => ecPem.replace('-----END CERTIFICATE-----', '')],
    ['a mismatched END label', () => ecPem.replace('END CERTIFICATE', 'END PRIVATE KEY')],
    ['a nested BEGIN', () => ecPem.replace(/\n/, `\n${derToPem(ec2Der)}`)],
    ['a damaged BEGIN line', () => ecPem.replace('-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATE----')],
    ['an empty label', () => '-----BEGIN -----\nAAAA\n-----END -----\n'],
    ['bad base64', () => ecPem.replace(/\n(.)/, '\n!$1')],
    ['a missing base64 character', () => ecPem.replace(/\n./, '\n')],
    ['an empty body', () => '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'],
    ['a truncated DER body', () => derToPem(ecDer.subarray(0, ecDer.length - 3))],
    ['bytes after the DER element', () => derToPem(concatDer([ecDer, new Uint8Array([0x30, 0x00])]))],
  ])('rejects %s', (_name, make) => {
    expect(encodingRuleOf(() => pemToDers(make()))).toBe('pem');
  });
});

describe('parsePemBundle, parseBundleText and loadBundleFile', () => {
  it('reads a PEM file of CA certificates as a bundle without JWT authorities', () => {
    const bundle = parsePemBundle(ecPem + derToPem(rsaDer), 'td');
    expect(bundle.x509Authorities.map(b64)).toEqual([b64(ecDer), b64(rsaDer)]);
    expect(bundle.jwtAuthorities).toEqual([]);
    expect(bundle.sequence).toBeUndefined();
  });

  it.each<[string, () => string, BundleRule]>([
    ['no certificates', () => 'just text\n', 'pem'],
    ['a private key', () => ecPem + keyPem, 'pem'],
    ['corrupt PEM', () => ecPem.replace(/\n(.)/, '\n!$1'), 'pem'],
    ['a DER that is not a certificate', () => derToPem(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), 'pem'],
  ])('rejects %s', (_name, make, rule) => {
    expect(bundleRuleOf(() => parsePemBundle(make(), 'td'))).toBe(rule);
  });

  it('tells JSON from PEM', () => {
    expect(parseBundleText(`  \n${doc([x509Entry(ecDer)])}`, 'td').x509Authorities.map(b64)).toEqual([b64(ecDer)]);
    expect(parseBundleText(Buffer.from(ecPem), 'td').x509Authorities.map(b64)).toEqual([b64(ecDer)]);
    expect(bundleRuleOf(() => parseBundleText('hello', 'td'))).toBe('format');
    // A byte-order mark from an editor is tolerated in files, never inside the formats.
    expect(parseBundleText(`\uFEFF${doc([])}`, 'td').x509Authorities).toEqual([]);
    expect(parseBundleText(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(ecPem)]), 'td').x509Authorities).toHaveLength(1);
    expect(bundleRuleOf(() => parseSpiffeBundle(`\uFEFF${doc([])}`, 'td'))).toBe('json');
  });

  it('loads files of either format and names the file in errors', async () => {
    const jsonPath = join(dir, 'bundle.json');
    const pemPath = join(dir, 'bundle.pem');
    const badPath = join(dir, 'bad.json');
    writeFileSync(jsonPath, serializeSpiffeBundle({ trustDomain: 'td', x509Authorities: [ecDer], jwtAuthorities: [], sequence: 2n }));
    writeFileSync(pemPath, ecPem);
    writeFileSync(badPath, '{"keys": [], "keys": []}');
    expect((await loadBundleFile(jsonPath, 'td')).sequence).toBe(2n);
    expect((await loadBundleFile(pemPath, 'td')).x509Authorities.map(b64)).toEqual([b64(ecDer)]);
    await expect(loadBundleFile(badPath, 'td')).rejects.toThrow(`bundle ${badPath} (td): duplicate key "keys"`);
    await expect(loadBundleFile(join(dir, 'missing.json'), 'td')).rejects.toMatchObject({ rule: 'file', code: 'bundle' });
  });
});

describe('concatenated DER', () => {
  it('splits what concatDer joined', () => {
    const joined = concatDer([ecDer, rsaDer, ec2Der]);
    expect(splitConcatenatedDer(joined).map(b64)).toEqual([b64(ecDer), b64(rsaDer), b64(ec2Der)]);
    expect(splitConcatenatedDer(new Uint8Array(0))).toEqual([]);
    expect(splitConcatenatedDer(new Uint8Array([0x30, 0x00, 0x30, 0x01, 0x05]))).toEqual([
      new Uint8Array([0x30, 0x00]),
      new Uint8Array([0x30, 0x01, 0x05]),
    ]);
  });

  it('reads long-form lengths', () => {
    const content = new Uint8Array(300).fill(1);
    const el = concatDer([new Uint8Array([0x30, 0x82, 0x01, 0x2c]), content]);
    expect(splitConcatenatedDer(concatDer([el, el])).map((d) => d.length)).toEqual([304, 304]);
    const short = concatDer([new Uint8Array([0x30, 0x81, 0x80]), new Uint8Array(128)]);
    expect(splitConcatenatedDer(short)[0]).toHaveLength(131);
  });

  it.each<[string, () => Uint8Array]>([
    ['a truncated last certificate', () => concatDer([ecDer, rsaDer.subarray(0, rsaDer.length - 1)])],
    ['a lone tag byte', () => new Uint8Array([0x30])],
    ['missing length bytes', () => new Uint8Array([0x30, 0x82, 0x01])],
    ['a length past the end', () => new Uint8Array([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00])],
    ['a non-SEQUENCE element', () => new Uint8Array([0x04, 0x00])],
    ['trailing junk', () => concatDer([ecDer, new Uint8Array([0x00])])],
    ['an indefinite length', () => new Uint8Array([0x30, 0x80, 0x00, 0x00])],
    ['a non-minimal long length', () => new Uint8Array([0x30, 0x81, 0x05, 1, 2, 3, 4, 5])],
    ['a length with a leading zero byte', () => new Uint8Array([0x30, 0x82, 0x00, 0x85, ...new Uint8Array(0x85)])],
    ['a five-byte length', () => new Uint8Array([0x30, 0x85, 0, 0, 0, 0, 1, 0])],
  ])('rejects %s', (_name, make) => {
    expect(encodingRuleOf(() => splitConcatenatedDer(make()))).toBe('der');
  });
});

describe('strict JSON and base64', () => {
  it('parses JSON like JSON.parse where JSON.parse is right', () => {
    const text = '{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n\\"\\/"], "b": {"c": {}}, "d": []}';
    expect(parseStrictJson(text).value).toEqual(JSON.parse(text));
  });

  it('keeps number tokens as written', () => {
    const doc = parseStrictJson('{"n": 18446744073709551615, "o": {"m": 1.50}}');
    const root = doc.value as { o: object };
    expect(doc.rawNumber(root, 'n')).toBe('18446744073709551615');
    expect(doc.rawNumber(root.o, 'm')).toBe('1.50');
    expect(doc.rawNumber(root, 'o')).toBeUndefined();
  });

  it('keeps "__proto__" as data', () => {
    const value = parseStrictJson('{"__proto__": {"polluted": 1}}').value as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__']);
  });

  it.each<[string, EncodingRule]>([
    ['{"a":1,"a":2}', 'json-duplicate-key'],
    ['{"x":{"a":1,"b":{"a":1},"a":2}}', 'json-duplicate-key'],
    ['[{"k":1,"k":1}]', 'json-duplicate-key'],
    ['{"a":1,}', 'json'],
    ['[1,]', 'json'],
    ["{'a':1}", 'json'],
    ['{"a":01}', 'json'],
    ['{"a":NaN}', 'json'],
    ['"\u0001"', 'json'],
    ['"\\x41"', 'json'],
    ['"\\u12"', 'json'],
    ['"open', 'json'],
    ['\ufeff{}', 'json'],
    ['{} {}', 'json'],
    ['', 'json'],
    ['[' .repeat(100) + ']'.repeat(100), 'json'],
  ])('rejects %j (%s)', (text, rule) => {
    expect(encodingRuleOf(() => parseStrictJson(text))).toBe(rule);
  });

  it('names the duplicate key and where it is', () => {
    expect(() => parseStrictJson('{"x":[{"k":1,"k":2}]}')).toThrow('duplicate key "k" in $.x[0]');
  });

  it('decodes only canonical padded base64', () => {
    expect(Buffer.from(decodeBase64Strict('AQID'))).toEqual(Buffer.from([1, 2, 3]));
    expect(Buffer.from(decodeBase64Strict('AQ=='))).toEqual(Buffer.from([1]));
    for (const bad of ['AQ', 'AQ=', 'AR==', 'A QID', 'AQI_', 'AQ==AQ==', '====']) {
      expect(encodingRuleOf(() => decodeBase64Strict(bad)), bad).toBe('base64');
    }
  });
});
