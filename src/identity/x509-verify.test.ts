import { execFileSync } from 'node:child_process';
import { KeyObject, X509Certificate, generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from './certificate-authority.js';
import { pkijsCrypto } from './pkijs-engine.js';
import type { TrustBundle } from './types.js';
import { MAX_CHAIN_LENGTH, OID, X509SvidError, readCertificate, verifyKeyMatches, verifyX509Svid, type X509SvidRule } from './x509-verify.js';

// ---------------------------------------------------------------------------
// Test-time certificate builder: every certificate, good or bad, is made here
// with pkijs and fresh keys, so nothing secret is committed.

const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const HOUR = 3_600_000;

interface Signer {
  readonly der: Uint8Array;
  readonly key: webcrypto.CryptoKey;
}

interface CertSpec {
  /** Default: self-signed. */
  readonly issuer?: Signer;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Default C=US,O=SPIFFE,CN=<random>; 'empty' for no subject at all. */
  readonly subject?: 'empty' | string;
  /** BasicConstraints cA (critical); undefined omits the extension. */
  readonly ca?: boolean;
  readonly keyUsage?: { readonly bits: number; readonly critical: boolean };
  readonly eku?: readonly string[];
  readonly uris?: readonly string[];
  readonly dns?: readonly string[];
  readonly sanCritical?: boolean;
  /** URI permittedSubtrees. */
  readonly permittedUris?: readonly string[];
  readonly extra?: readonly pkijs.Extension[];
}

interface Built extends Signer {
  readonly keyObject: KeyObject;
}

const KU = { digitalSignature: 0x80, keyEncipherment: 0x20, keyAgreement: 0x08, keyCertSign: 0x04, cRLSign: 0x02 };

function bitString(bits: number): asn1js.BitString {
  const unusedBits = bits === 0 ? 0 : Math.log2(bits & -bits);
  return new asn1js.BitString({ valueHex: new Uint8Array([bits]), unusedBits });
}

function ext(extnID: string, critical: boolean, value: asn1js.BaseBlock | { toSchema(): asn1js.BaseBlock }): pkijs.Extension {
  const block = value instanceof asn1js.BaseBlock ? value : value.toSchema();
  return new pkijs.Extension({ extnID, critical, extnValue: block.toBER(false) });
}

function nameOf(cn: string | undefined): pkijs.RelativeDistinguishedNames {
  const rdns = cn === undefined ? [] : [['2.5.4.10', 'SPIFFE'], ['2.5.4.3', cn]];
  const seq = new asn1js.Sequence({
    value: rdns.map(([type, value]) => new asn1js.Set({ value: [new pkijs.AttributeTypeAndValue({ type, value: new asn1js.Utf8String({ value }) }).toSchema()] })),
  });
  return pkijs.RelativeDistinguishedNames.fromBER(seq.toBER());
}

async function buildCert(spec: CertSpec, now: Date): Promise<Built> {
  const crypto = pkijsCrypto();
  const keys = await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
  const cert = new pkijs.Certificate();
  cert.version = 2;
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x01;
  cert.serialNumber = new asn1js.Integer({ valueHex: serial });
  cert.subject = nameOf(spec.subject === 'empty' ? undefined : (spec.subject ?? `test ${serial.toString('hex')}`));
  const issuer = spec.issuer ? pkijs.Certificate.fromBER(spec.issuer.der) : undefined;
  cert.issuer = issuer ? issuer.subject : cert.subject;
  cert.notBefore = new pkijs.Time({ value: spec.notBefore ?? new Date(now.getTime() - HOUR) });
  cert.notAfter = new pkijs.Time({ value: spec.notAfter ?? new Date(now.getTime() + HOUR) });
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey, crypto);
  const ski = new Uint8Array(await webcrypto.subtle.digest('SHA-1', cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView));
  const issuerSki = issuer ? readCertificate(new Uint8Array(spec.issuer!.der)).subjectKeyId : ski;
  const extensions: pkijs.Extension[] = [];
  if (spec.ca !== undefined) extensions.push(ext(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: spec.ca })));
  if (spec.keyUsage) extensions.push(ext(OID.keyUsage, spec.keyUsage.critical, bitString(spec.keyUsage.bits)));
  if (spec.eku) extensions.push(ext(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [...spec.eku] })));
  extensions.push(ext(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: ski })));
  if (issuerSki) {
    extensions.push(ext(OID.authorityKeyIdentifier, false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: issuerSki }) })));
  }
  const altNames = [
    ...(spec.uris ?? []).map((value) => new pkijs.GeneralName({ type: 6, value })),
    ...(spec.dns ?? []).map((value) => new pkijs.GeneralName({ type: 2, value })),
  ];
  if (altNames.length > 0) extensions.push(ext(OID.subjectAltName, spec.sanCritical ?? false, new pkijs.AltName({ altNames })));
  if (spec.permittedUris) {
    extensions.push(
      ext(OID.nameConstraints, true, new pkijs.NameConstraints({
        permittedSubtrees: spec.permittedUris.map((value) => new pkijs.GeneralSubtree({ base: new pkijs.GeneralName({ type: 6, value }) })),
      })),
    );
  }
  extensions.push(...(spec.extra ?? []));
  cert.extensions = extensions;
  await cert.sign(spec.issuer ? spec.issuer.key : keys.privateKey, 'SHA-256', crypto);
  return { der: new Uint8Array(cert.toSchema(true).toBER()), key: keys.privateKey, keyObject: KeyObject.from(keys.privateKey) };
}


/** A CertificateAuthority as a pkijs signer. */
async function signerOf(ca: CertificateAuthority): Promise<Signer> {
  const pkcs8 = ca.privateKey.export({ type: 'pkcs8', format: 'der' });
  return { der: ca.certificate, key: await webcrypto.subtle.importKey('pkcs8', pkcs8, P256, false, ['sign']) };
}

const goodLeaf = (uri: string, issuer: Signer, more: Partial<CertSpec> = {}): CertSpec => ({
  issuer,
  subject: 'workload',
  ca: false,
  keyUsage: { bits: KU.digitalSignature, critical: true },
  eku: [OID.serverAuth, OID.clientAuth],
  uris: [uri],
  ...more,
});

const caSpec = (uri: string | undefined, issuer: Signer | undefined, more: Partial<CertSpec> = {}): CertSpec => ({
  issuer,
  ca: true,
  keyUsage: { bits: KU.keyCertSign | KU.cRLSign, critical: true },
  uris: uri ? [uri] : [],
  ...more,
});

// ---------------------------------------------------------------------------

const now = new Date();
const past = (ms: number) => new Date(now.getTime() - ms);
const future = (ms: number) => new Date(now.getTime() + ms);

const US = 'us-east.acme.example';
const EU = 'eu-west.acme.example';

let sharedRoot: CertificateAuthority;
let usEast: CertificateAuthority;
let euWest: CertificateAuthority;
let soloRoot: CertificateAuthority;
let strangerRoot: CertificateAuthority;
let unbundledCa: CertificateAuthority;
let unknownCa: CertificateAuthority;
let strangerSigner: Signer;
let usSigner: Signer;
let euSigner: Signer;
let rootSigner: Signer;
let soloSigner: Signer;
const bundles = new Map<string, TrustBundle>();
const bundleFor = (td: string) => bundles.get(td);
const bundle = (trustDomain: string, roots: readonly Uint8Array[]): TrustBundle => ({ trustDomain, x509Authorities: roots, jwtAuthorities: [] });

beforeAll(async () => {
  sharedRoot = await CertificateAuthority.createRoot({ trustDomain: 'acme.example', ttlMs: 30 * 24 * HOUR, now });
  usEast = await sharedRoot.createIntermediate({ trustDomain: US, now });
  euWest = await sharedRoot.createIntermediate({ trustDomain: EU, now });
  soloRoot = await CertificateAuthority.createRoot({ trustDomain: 'solo.example', now });
  strangerRoot = await CertificateAuthority.createRoot({ trustDomain: 'stranger.example', now });
  unbundledCa = await CertificateAuthority.createRoot({ trustDomain: 'unbundled.example', now });
  // Same names as the real hierarchy, different keys: an impostor CA.
  unknownCa = await (await CertificateAuthority.createRoot({ trustDomain: 'acme.example', now })).createIntermediate({ trustDomain: US, now });
  [usSigner, euSigner, rootSigner, soloSigner, strangerSigner] = (await Promise.all([usEast, euWest, sharedRoot, soloRoot, strangerRoot].map(signerOf))) as [
    Signer,
    Signer,
    Signer,
    Signer,
    Signer,
  ];
  bundles.set(US, bundle(US, [sharedRoot.rootDer]));
  bundles.set(EU, bundle(EU, [sharedRoot.rootDer]));
  bundles.set('solo.example', bundle('solo.example', [soloRoot.rootDer]));
  bundles.set('stranger.example', bundle('stranger.example', [strangerRoot.rootDer]));
  bundles.set('empty.example', bundle('empty.example', []));
});

const leafUri = (td: string, path = '/ns/shop/sa/web') => `spiffe://${td}${path}`;

/** A chain to verify: built lazily inside the test so the fixtures exist. */
type ChainFactory = () => Promise<Uint8Array[]>;

const issued = (ca: () => CertificateAuthority, id: string): ChainFactory => async () => [...(await ca().issueX509Svid({ spiffeId: id, now })).chain];
const leafUnder = (spec: () => CertSpec, rest: () => readonly Uint8Array[] = () => usEast.chain.slice(0, -1)): ChainFactory => async () => [
  (await buildCert(spec(), now)).der,
  ...rest(),
];

describe('verifyX509Svid accepts', () => {
  const cases: ReadonlyArray<readonly [string, ChainFactory, string]> = [
    ['an SVID from a cluster intermediate under the shared root', issued(() => usEast, leafUri(US)), leafUri(US)],
    ['an SVID signed directly by its own domain root', issued(() => soloRoot, leafUri('solo.example')), leafUri('solo.example')],
    ['a chain that also carries the root', async () => [...(await usEast.issueX509Svid({ spiffeId: leafUri(US), now })).chain, sharedRoot.rootDer], leafUri(US)],
    ['an empty subject with a critical SAN', leafUnder(() => goodLeaf(leafUri(US), usSigner, { subject: 'empty', sanCritical: true })), leafUri(US)],
    ['a leaf without ExtendedKeyUsage (SPIFFE: should, not must)', leafUnder(() => goodLeaf(leafUri(US), usSigner, { eku: undefined })), leafUri(US)],
    ['DNS SANs beside the one URI SAN', leafUnder(() => goodLeaf(leafUri(US), usSigner, { dns: ['web.shop.svc', 'localhost'] })), leafUri(US)],
    [
      'keyEncipherment and keyAgreement beside digitalSignature',
      leafUnder(() => goodLeaf(leafUri(US), usSigner, { keyUsage: { bits: KU.digitalSignature | KU.keyEncipherment | KU.keyAgreement, critical: true } })),
      leafUri(US),
    ],
    ['dot-prefixed path segments', issued(() => usEast, leafUri(US, '/.a/..b/...')), leafUri(US, '/.a/..b/...')],
  ];
  it.each(cases)('%s', async (_name, chain, expected) => {
    const result = await verifyX509Svid(await chain(), bundleFor, now);
    expect(result.spiffeId).toBe(expected);
    expect(result.trustDomain).toBe(new URL(expected).host);
    expect(result.chain.at(-1)).toEqual(bundleFor(result.trustDomain)?.x509Authorities[0]);
  });

  it('a root made elsewhere without a URI SAN that signs its domain directly', async () => {
    const root = await buildCert(caSpec(undefined, undefined, { subject: 'third party root' }), now);
    const leaf = await buildCert(goodLeaf(leafUri('third.example'), root), now);
    const result = await verifyX509Svid([leaf.der], (td) => (td === 'third.example' ? bundle(td, [root.der]) : undefined), now);
    expect(result.spiffeId).toBe(leafUri('third.example'));
  });

  it('returns the validated path leaf first, anchor last', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: leafUri(US), now });
    const result = await verifyX509Svid(svid.chain, bundleFor, now);
    expect(result.chain).toEqual([svid.chain[0], usEast.certificate, sharedRoot.rootDer]);
  });
});

describe('verifyX509Svid rejects (X509-SVID §2–§5)', () => {
  const cases: ReadonlyArray<readonly [string, ChainFactory, X509SvidRule]> = [
    ['an empty chain', async () => [], 'empty-chain'],
    ['a chain longer than MAX_CHAIN_LENGTH', async () => Array.from({ length: MAX_CHAIN_LENGTH + 1 }, () => usEast.certificate), 'chain-too-long'],
    ['corrupt DER', async () => [new Uint8Array(randomBytes(200))], 'der'],
    ['a truncated certificate', async () => [(await usEast.issueX509Svid({ spiffeId: leafUri(US), now })).chain[0]!.slice(0, 150)], 'der'],
    ['trailing bytes after the certificate', async () => [Uint8Array.from([...(await usEast.issueX509Svid({ spiffeId: leafUri(US), now })).chain[0]!, 0])], 'der'],
    ['no bundle for the leaf trust domain', issued(() => unbundledCa, leafUri('unbundled.example')), 'no-bundle'],
    ['an empty bundle for the leaf trust domain', leafUnder(() => goodLeaf(leafUri('empty.example'), usSigner)), 'empty-bundle'],
    ['an unknown CA', issued(() => unknownCa, leafUri(US)), 'untrusted'],
    [
      'a chain valid only against another trust domain bundle',
      leafUnder(() => goodLeaf(leafUri('solo.example'), strangerSigner), () => []),
      'untrusted',
    ],
    ['a bad signature', async () => tamperSignature((await usEast.issueX509Svid({ spiffeId: leafUri(US), now })).chain), 'untrusted'],
    ['an expired leaf', leafUnder(() => goodLeaf(leafUri(US), usSigner, { notBefore: past(2 * HOUR), notAfter: past(1000) })), 'expired'],
    ['a not yet valid leaf', leafUnder(() => goodLeaf(leafUri(US), usSigner, { notBefore: future(60_000) })), 'not-yet-valid'],
    ['no URI SAN', leafUnder(() => goodLeaf(leafUri(US), usSigner, { uris: [], dns: ['web.example'] })), 'no-uri-san'],
    ['no SAN at all', leafUnder(() => goodLeaf(leafUri(US), usSigner, { uris: [] })), 'no-uri-san'],
    ['two URI SANs', leafUnder(() => goodLeaf(leafUri(US), usSigner, { uris: [leafUri(US), leafUri(US, '/other')] })), 'multiple-uri-sans'],
    ['a non-spiffe URI', leafUnder(() => goodLeaf(`https://${US}/web`, usSigner)), 'not-spiffe-uri'],
    ['a root-path ID', leafUnder(() => goodLeaf(`spiffe://${US}`, usSigner)), 'root-path'],
    ['a malformed ID', leafUnder(() => goodLeaf(`spiffe://${US}/a//b`, usSigner)), 'invalid-spiffe-id'],
    ['an uppercase trust domain', leafUnder(() => goodLeaf(`spiffe://US-EAST.acme.example/a`, usSigner)), 'invalid-spiffe-id'],
    ['a leaf with CA:TRUE', leafUnder(() => goodLeaf(leafUri(US), usSigner, { ca: true })), 'leaf-ca'],
    [
      'a leaf with CA:TRUE and keyCertSign',
      leafUnder(() => goodLeaf(leafUri(US), usSigner, { ca: true, keyUsage: { bits: KU.keyCertSign | KU.digitalSignature, critical: true } })),
      'leaf-ca',
    ],
    [
      'a leaf with keyCertSign',
      leafUnder(() => goodLeaf(leafUri(US), usSigner, { keyUsage: { bits: KU.keyCertSign | KU.digitalSignature, critical: true } })),
      'leaf-key-cert-sign',
    ],
    ['a leaf with cRLSign', leafUnder(() => goodLeaf(leafUri(US), usSigner, { keyUsage: { bits: KU.cRLSign | KU.digitalSignature, critical: true } })), 'leaf-crl-sign'],
    ['a leaf without digitalSignature', leafUnder(() => goodLeaf(leafUri(US), usSigner, { keyUsage: { bits: KU.keyEncipherment, critical: true } })), 'leaf-no-digital-signature'],
    ['a leaf without KeyUsage', leafUnder(() => goodLeaf(leafUri(US), usSigner, { keyUsage: undefined })), 'leaf-key-usage-missing'],
    ['a non-critical KeyUsage', leafUnder(() => goodLeaf(leafUri(US), usSigner, { keyUsage: { bits: KU.digitalSignature, critical: false } })), 'leaf-key-usage-not-critical'],
    ['EKU without clientAuth', leafUnder(() => goodLeaf(leafUri(US), usSigner, { eku: [OID.serverAuth] })), 'leaf-eku'],
    ['EKU without serverAuth', leafUnder(() => goodLeaf(leafUri(US), usSigner, { eku: [OID.clientAuth] })), 'leaf-eku'],
    ['EKU with neither', leafUnder(() => goodLeaf(leafUri(US), usSigner, { eku: ['1.3.6.1.5.5.7.3.4'] })), 'leaf-eku'],
    ['an empty subject with a non-critical SAN', leafUnder(() => goodLeaf(leafUri(US), usSigner, { subject: 'empty', sanCritical: false })), 'san-not-critical'],
    [
      'an unknown critical extension on the leaf',
      leafUnder(() => goodLeaf(leafUri(US), usSigner, { extra: [ext('1.2.3.4.5', true, new asn1js.Null())] })),
      'unknown-critical-extension',
    ],
    [
      'a second SAN extension smuggling another URI',
      leafUnder(() =>
        goodLeaf(leafUri(US), usSigner, {
          extra: [ext(OID.subjectAltName, false, new pkijs.AltName({ altNames: [new pkijs.GeneralName({ type: 6, value: leafUri(US, '/admin') })] }))],
        }),
      ),
      'duplicate-extension',
    ],
    ['an intermediate that is not a CA', async () => chainThrough(await buildCert(caSpec(`spiffe://${US}`, rootSigner, { ca: false }), now)), 'intermediate-not-ca'],
    [
      'an intermediate without BasicConstraints',
      async () => chainThrough(await buildCert(caSpec(`spiffe://${US}`, rootSigner, { ca: undefined }), now)),
      'intermediate-not-ca',
    ],
    [
      'an intermediate without keyCertSign',
      async () => chainThrough(await buildCert(caSpec(`spiffe://${US}`, rootSigner, { keyUsage: { bits: KU.cRLSign, critical: true } }), now)),
      'intermediate-no-key-cert-sign',
    ],
    [
      'an expired intermediate',
      async () => chainThrough(await buildCert(caSpec(`spiffe://${US}`, rootSigner, { notBefore: past(2 * HOUR), notAfter: past(1000) }), now)),
      'expired',
    ],
    [
      'an expired trust anchor',
      async () => {
        const oldRoot = await buildCert(caSpec('spiffe://old.example', undefined, { notBefore: past(2 * HOUR), notAfter: past(1000) }), now);
        bundles.set('old.example', bundle('old.example', [oldRoot.der]));
        return [(await buildCert(goodLeaf(leafUri('old.example'), oldRoot), now)).der];
      },
      'expired',
    ],
    [
      'a foreign-domain intermediate (with its name constraint) under the shared root signing our ID',
      leafUnder(() => goodLeaf(leafUri(US), euSigner), () => [euWest.certificate]),
      'name-constraints',
    ],
    [
      'a foreign-domain intermediate without name constraints under the shared root signing our ID',
      async () => {
        const rogue = await buildCert(caSpec(`spiffe://${EU}`, rootSigner), now);
        return [(await buildCert(goodLeaf(leafUri(US), rogue), now)).der, rogue.der];
      },
      'signer-trust-domain',
    ],
    ['the shared root signing a cluster ID directly', leafUnder(() => goodLeaf(leafUri(US), rootSigner), () => []), 'signer-trust-domain'],
    [
      'an intermediate without a SPIFFE ID signing a leaf',
      async () => {
        const anonymous = await buildCert(caSpec(undefined, rootSigner), now);
        return [(await buildCert(goodLeaf(leafUri(US), anonymous), now)).der, anonymous.der];
      },
      'signer-trust-domain',
    ],
    [
      'a URI name constraint on the trust anchor (which pkijs ignores)',
      async () => {
        const constrained = await buildCert(caSpec(undefined, undefined, { permittedUris: ['constrained.example'] }), now);
        bundles.set('evil.example', bundle('evil.example', [constrained.der]));
        return [(await buildCert(goodLeaf(leafUri('evil.example'), constrained), now)).der];
      },
      'name-constraints',
    ],
  ];

  it.each(cases)('%s', async (_name, chain, rule) => {
    const certs = await chain();
    const error = await verifyX509Svid(certs, bundleFor, now).then(
      (ok) => ({ unexpected: ok }),
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(X509SvidError);
    expect((error as X509SvidError).rule).toBe(rule);
    expect((error as X509SvidError).code).toBe('x509-svid');
    expect((error as X509SvidError).context.rule).toBe(rule);
  });

  it('never consults another domain bundle, even when it holds the signing root', async () => {
    const svid = await soloRoot.issueX509Svid({ spiffeId: leafUri('solo.example'), now });
    const asked: string[] = [];
    const onlyStranger = (td: string) => {
      asked.push(td);
      return td === 'stranger.example' ? bundle(td, [soloRoot.rootDer]) : bundle(td, [strangerRoot.rootDer]);
    };
    await expect(verifyX509Svid(svid.chain, onlyStranger, now)).rejects.toMatchObject({ rule: 'untrusted' });
    expect(asked).toEqual(['solo.example']);
  });

  it('refuses to verify at an invalid time rather than skip the validity checks', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: leafUri(US), now });
    await expect(verifyX509Svid(svid.chain, bundleFor, new Date(Number.NaN))).rejects.toMatchObject({ rule: 'invalid-time' });
  });

  it('rejects a bundle labelled with another trust domain', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: leafUri(US), now });
    await expect(verifyX509Svid(svid.chain, () => bundle(EU, [sharedRoot.rootDer]), now)).rejects.toMatchObject({ rule: 'bundle-mismatch' });
  });

  it('rejects a corrupt certificate in the bundle', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: leafUri(US), now });
    await expect(verifyX509Svid(svid.chain, () => bundle(US, [new Uint8Array([0x30, 0x03, 1, 2, 3])]), now)).rejects.toMatchObject({ rule: 'bundle-der' });
  });

  it('checks validity at the given time, not the wall clock', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: leafUri(US), now, ttlMs: HOUR });
    await expect(verifyX509Svid(svid.chain, bundleFor, future(2 * HOUR))).rejects.toMatchObject({ rule: 'expired' });
    await expect(verifyX509Svid(svid.chain, bundleFor, past(60_000))).rejects.toMatchObject({ rule: 'not-yet-valid' });
    await expect(verifyX509Svid(svid.chain, bundleFor, future(HOUR - 60_000))).resolves.toMatchObject({ spiffeId: leafUri(US) });
  });

  it('names the failed rule and the SPIFFE ID in the message', async () => {
    const leaf = await buildCert(goodLeaf(leafUri(US), usSigner, { eku: [OID.serverAuth] }), now);
    const err = (await verifyX509Svid([leaf.der, usEast.certificate], bundleFor, now).catch((e: unknown) => e)) as X509SvidError;
    expect(err.message).toContain(leafUri(US));
    expect(err.message).toMatch(/serverAuth and clientAuth/);
  });
});

async function chainThrough(intermediate: Built): Promise<Uint8Array[]> {
  const leaf = await buildCert(goodLeaf(leafUri(US), intermediate), now);
  return [leaf.der, intermediate.der];
}

function tamperSignature(chain: readonly Uint8Array[]): Uint8Array[] {
  const leaf = (chain[0] as Uint8Array).slice();
  // The last byte belongs to the ECDSA signature's s value.
  leaf[leaf.length - 1] = (leaf[leaf.length - 1] as number) ^ 0x01;
  return [leaf, ...chain.slice(1)];
}

describe('verifyKeyMatches', () => {
  it('accepts the SVID key as a KeyObject and as PKCS#8 DER', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: leafUri(US), now });
    expect(() => verifyKeyMatches(svid.chain[0]!, svid.privateKey)).not.toThrow();
    expect(() => verifyKeyMatches(svid.chain[0]!, new Uint8Array(svid.privateKey.export({ type: 'pkcs8', format: 'der' })))).not.toThrow();
  });

  it.each([
    ['another P-256 key', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'key-mismatch'],
    ['a key of another type', () => generateKeyPairSync('ed25519').privateKey, 'key-mismatch'],
    ['corrupt PKCS#8', () => new Uint8Array(randomBytes(64)), 'key'],
    ['a public key', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, 'key'],
  ] as const)('rejects %s', async (_name, key, rule) => {
    const svid = await usEast.issueX509Svid({ spiffeId: leafUri(US), now });
    expect(() => verifyKeyMatches(svid.chain[0]!, key())).toThrow(expect.objectContaining({ rule }));
  });

  it('rejects a corrupt certificate', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(() => verifyKeyMatches(new Uint8Array([0x30, 0x00]), key)).toThrow(expect.objectContaining({ rule: 'der' }));
  });
});

// ---------------------------------------------------------------------------
// OpenSSL as an independent judge of the same trust rules.


describe('OpenSSL agrees', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshgate-x509-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const pem = (der: Uint8Array) => new X509Certificate(der).toString();
  const opensslVerify = (root: Uint8Array, intermediates: readonly Uint8Array[], leaf: Uint8Array): string => {
    writeFileSync(join(dir, 'root.pem'), pem(root));
    writeFileSync(join(dir, 'intermediate.pem'), intermediates.map(pem).join(''));
    writeFileSync(join(dir, 'svid.pem'), pem(leaf));
    const args = ['verify', '-x509_strict', '-CAfile', join(dir, 'root.pem'), ...(intermediates.length ? ['-untrusted', join(dir, 'intermediate.pem')] : []), join(dir, 'svid.pem')];
    try {
      return execFileSync('openssl', args, { stdio: 'pipe' }).toString();
    } catch (err) {
      return `${(err as { stdout?: Buffer }).stdout?.toString() ?? ''}${(err as { stderr?: Buffer }).stderr?.toString() ?? ''}`;
    }
  };

  it('rejects a foreign-domain ID under a cluster intermediate (permitted subtree violation), as we do', async () => {
    const leaf = await buildCert(goodLeaf(leafUri(US), euSigner), now);
    expect(opensslVerify(sharedRoot.rootDer, [euWest.certificate], leaf.der)).toMatch(/permitted subtree violation/);
    await expect(verifyX509Svid([leaf.der, euWest.certificate], bundleFor, now)).rejects.toMatchObject({ rule: 'name-constraints' });
  });

  it('rejects an ID outside a constrained root, which pkijs alone would accept', async () => {
    const constrained = await buildCert(caSpec(undefined, undefined, { permittedUris: ['example.org'] }), now);
    const leaf = await buildCert(goodLeaf('spiffe://evil.org/x', constrained), now);
    expect(opensslVerify(constrained.der, [], leaf.der)).toMatch(/permitted subtree violation/);
    const engine = new pkijs.CertificateChainValidationEngine({
      trustedCerts: [pkijs.Certificate.fromBER(constrained.der)],
      certs: [pkijs.Certificate.fromBER(leaf.der)],
      checkDate: now,
    });
    expect((await engine.verify({}, pkijsCrypto())).result).toBe(true);
    await expect(verifyX509Svid([leaf.der], () => bundle('evil.org', [constrained.der]), now)).rejects.toMatchObject({ rule: 'name-constraints' });
  });

  it('accepts what we accept from a cluster intermediate', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: leafUri(US), now });
    expect(opensslVerify(sharedRoot.rootDer, [usEast.certificate], svid.chain[0]!)).toMatch(/svid\.pem: OK/);
  });
});
