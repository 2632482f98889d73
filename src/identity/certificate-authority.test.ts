import { execFileSync } from 'node:child_process';
import { X509Certificate, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaError, CertificateAuthority, DEFAULT_CA_TTL_MS, DEFAULT_SVID_TTL_MS, NOT_BEFORE_BACKDATE_MS } from './certificate-authority.js';
import { SpiffeId } from './spiffe-id.js';
import type { TrustBundle } from './types.js';
import { OID, readCertificate, verifyKeyMatches, verifyX509Svid } from './x509-verify.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Not on a whole second, to see that certificate times are truncated, not rounded up.
const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 500);
const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

const ROOT_TD = 'acme.example';
const US = 'us-east.acme.example';
const webId = `spiffe://${US}/ns/shop/sa/web`;

let root: CertificateAuthority;
let usEast: CertificateAuthority;

beforeAll(async () => {
  root = await CertificateAuthority.createRoot({ trustDomain: ROOT_TD, ttlMs: 30 * DAY, now });
  usEast = await root.createIntermediate({ trustDomain: US, now });
});

const bundleOf = (ca: CertificateAuthority) => (td: string): TrustBundle => ({ trustDomain: td, x509Authorities: [ca.rootDer], jwtAuthorities: [] });
const hex = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString('hex');
const extensionOf = (der: Uint8Array, oid: string) => pkijs.Certificate.fromBER(der).extensions?.find((e) => e.extnID === oid);

describe('CertificateAuthority.createRoot', () => {
  it('makes a self-signed CA for the trust domain', () => {
    const facts = readCertificate(root.certificate);
    expect(root.trustDomain).toBe(ROOT_TD);
    expect(root.isRoot).toBe(true);
    expect(root.chain).toEqual([root.certificate]);
    expect(root.rootDer).toEqual(root.certificate);
    expect(facts.isCA).toBe(true);
    expect(facts.keyUsage).toEqual({ critical: true, digitalSignature: false, keyCertSign: true, cRLSign: true });
    expect(facts.uriSans).toEqual([`spiffe://${ROOT_TD}`]);
    // The shared root signs every cluster's intermediate, so it must not be name-constrained.
    expect(facts.uriNameConstraints).toBeUndefined();
    expect(hex(facts.subjectKeyId)).toBe(root.subjectKeyId);
    expect(extensionOf(root.certificate, OID.basicConstraints)?.critical).toBe(true);
    const x = new X509Certificate(root.certificate);
    expect(x.ca).toBe(true);
    expect(x.checkIssued(x)).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.subject).toBe(`C=US\nO=SPIFFE\nCN=${ROOT_TD}\nserialNumber=${root.serialHex}`);
    expect(x.checkPrivateKey(root.privateKey)).toBe(true);
  });

  it('uses an EC P-256 key and a positive random serial', () => {
    expect(root.privateKey.asymmetricKeyType).toBe('ec');
    expect(root.privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(root.serialHex).toMatch(/^[0-7][0-9a-f]{31}$/);
  });

  it('backdates NotBefore by 10 s and lasts the TTL, in whole seconds', async () => {
    expect(root.notBefore).toEqual(wholeSeconds(now.getTime() - NOT_BEFORE_BACKDATE_MS));
    expect(root.notAfter).toEqual(wholeSeconds(now.getTime() + 30 * DAY));
    const byDefault = await CertificateAuthority.createRoot({ trustDomain: 'default.example', now });
    expect(byDefault.notAfter).toEqual(wholeSeconds(now.getTime() + DEFAULT_CA_TTL_MS));
  });

  it('drops CN for trust domains longer than X.520 allows, keeping the SAN', async () => {
    const td = `${'a'.repeat(60)}.example`;
    const ca = await CertificateAuthority.createRoot({ trustDomain: td, now });
    expect(new X509Certificate(ca.certificate).subject).not.toContain('CN=');
    expect(ca.trustDomain).toBe(td);
  });

  it.each([
    ['an uppercase trust domain', { trustDomain: 'Acme.example' }, { code: 'spiffe-id' }],
    ['a spiffe:// URI instead of a trust domain', { trustDomain: 'spiffe://acme.example' }, { code: 'spiffe-id' }],
    ['a zero TTL', { trustDomain: ROOT_TD, ttlMs: 0 }, { code: 'ca', rule: 'ttl' }],
    ['a NaN TTL', { trustDomain: ROOT_TD, ttlMs: Number.NaN }, { code: 'ca', rule: 'ttl' }],
    ['a TTL past the year 9999', { trustDomain: ROOT_TD, ttlMs: 1e15 }, { code: 'ca', rule: 'ttl' }],
    ['an invalid date', { trustDomain: ROOT_TD, now: new Date(Number.NaN) }, { code: 'ca', rule: 'time' }],
  ] as const)('refuses %s', async (_name, options, expected) => {
    await expect(CertificateAuthority.createRoot({ now, ...options })).rejects.toMatchObject(expected);
  });
});

describe('createIntermediate (the shared-root model)', () => {
  it('carries its trust domain as SPIFFE ID and as a URI name constraint', () => {
    const facts = readCertificate(usEast.certificate);
    expect(usEast.trustDomain).toBe(US);
    expect(facts.isCA).toBe(true);
    expect(facts.keyUsage).toEqual({ critical: true, digitalSignature: false, keyCertSign: true, cRLSign: true });
    expect(facts.uriSans).toEqual([`spiffe://${US}`]);
    expect(facts.uriNameConstraints).toEqual({ permitted: [US], excluded: [] });
    expect(extensionOf(usEast.certificate, OID.nameConstraints)?.critical).toBe(true);
  });

  it('chains to its parent: AKI = parent SKI, issuer = parent subject, signed by the parent', () => {
    const aki = extensionOf(usEast.certificate, OID.authorityKeyIdentifier)?.parsedValue as pkijs.AuthorityKeyIdentifier;
    expect(hex(aki.keyIdentifier?.valueBlock.valueHexView)).toBe(root.subjectKeyId);
    expect(usEast.subjectKeyId).not.toBe(root.subjectKeyId);
    const x = new X509Certificate(usEast.certificate);
    const parent = new X509Certificate(root.certificate);
    expect(x.checkIssued(parent)).toBe(true);
    expect(x.verify(parent.publicKey)).toBe(true);
    expect(usEast.chain).toEqual([usEast.certificate, root.certificate]);
    expect(usEast.rootDer).toEqual(root.certificate);
    expect(usEast.isRoot).toBe(false);
  });

  it('never outlives its parent', async () => {
    const long = await root.createIntermediate({ trustDomain: 'long.acme.example', ttlMs: 365 * DAY, now });
    expect(long.notAfter).toEqual(root.notAfter);
    expect(usEast.notAfter).toEqual(wholeSeconds(now.getTime() + DEFAULT_CA_TTL_MS));
  });

  it('lets an intermediate sign a successor of its own domain (in-process CA rotation)', async () => {
    const signing = await usEast.createIntermediate({ trustDomain: US, ttlMs: 6 * HOUR, now });
    expect(signing.chain).toEqual([signing.certificate, usEast.certificate, root.certificate]);
    const svid = await signing.issueX509Svid({ spiffeId: webId, now });
    expect(svid.chain).toHaveLength(3);
    await expect(verifyX509Svid(svid.chain, bundleOf(root), now)).resolves.toMatchObject({ spiffeId: webId });
  });

  it("refuses to let an intermediate sign another domain's CA", async () => {
    await expect(usEast.createIntermediate({ trustDomain: 'eu-west.acme.example', now })).rejects.toMatchObject({ rule: 'trust-domain' });
  });

  it('refuses once the parent has expired', async () => {
    await expect(root.createIntermediate({ trustDomain: US, now: new Date(root.notAfter.getTime() + 1000) })).rejects.toMatchObject({
      rule: 'expired',
    });
  });
});

describe('issueX509Svid', () => {
  it('issues a leaf with exactly the X509-SVID profile', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: webId, now });
    const leaf = svid.chain[0]!;
    const facts = readCertificate(leaf);
    expect(svid.spiffeId).toBe(webId);
    expect(facts.uriSans).toEqual([webId]);
    expect(facts.isCA).toBe(false);
    expect(extensionOf(leaf, OID.basicConstraints)?.critical).toBe(true);
    expect(facts.keyUsage).toEqual({ critical: true, digitalSignature: true, keyCertSign: false, cRLSign: false });
    expect(facts.extKeyUsage).toEqual([OID.serverAuth, OID.clientAuth]);
    expect(facts.subjectKeyId).toBeDefined();
    expect(facts.unknownCriticalExtensions).toEqual([]);
    const aki = extensionOf(leaf, OID.authorityKeyIdentifier)?.parsedValue as pkijs.AuthorityKeyIdentifier;
    expect(hex(aki.keyIdentifier?.valueBlock.valueHexView)).toBe(usEast.subjectKeyId);
    expect(new X509Certificate(leaf).subject).toBe('C=US\nO=SPIFFE');
  });

  it('chains leaf first up to, not including, the root', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: webId, now });
    expect(svid.chain.slice(1)).toEqual([usEast.certificate]);
    const fromRoot = await root.issueX509Svid({ spiffeId: `spiffe://${ROOT_TD}/w`, now });
    expect(fromRoot.chain).toHaveLength(1);
  });

  it('is signed by the CA and certifies its own fresh P-256 key', async () => {
    const a = await usEast.issueX509Svid({ spiffeId: webId, now });
    const b = await usEast.issueX509Svid({ spiffeId: webId, now });
    const x = new X509Certificate(a.chain[0]!);
    expect(x.verify(new X509Certificate(usEast.certificate).publicKey)).toBe(true);
    expect(a.privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    verifyKeyMatches(a.chain[0]!, a.privateKey);
    expect(a.privateKey.equals(b.privateKey)).toBe(false);
  });

  it('certifies a given key instead of a fresh one', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const svid = await usEast.issueX509Svid({ spiffeId: webId, now, privateKey });
    expect(svid.privateKey).toBe(privateKey);
    verifyKeyMatches(svid.chain[0]!, privateKey);
    const signed = usEast.signX509Svid({ spiffeId: webId, now, publicKey });
    expect(new X509Certificate(signed.chain[0]!).publicKey.equals(publicKey)).toBe(true);
    expect('privateKey' in signed).toBe(false);
  });

  it('backdates NotBefore by 10 s, lasts the TTL (default 1 h) and never outlives the CA', async () => {
    const byDefault = await usEast.issueX509Svid({ spiffeId: webId, now });
    expect(byDefault.notBefore).toEqual(wholeSeconds(now.getTime() - NOT_BEFORE_BACKDATE_MS));
    expect(byDefault.notAfter).toEqual(wholeSeconds(now.getTime() + DEFAULT_SVID_TTL_MS));
    const x = new X509Certificate(byDefault.chain[0]!);
    expect(new Date(x.validFrom)).toEqual(byDefault.notBefore);
    expect(new Date(x.validTo)).toEqual(byDefault.notAfter);
    const capped = await usEast.issueX509Svid({ spiffeId: webId, now, ttlMs: 10 * DAY });
    expect(capped.notAfter).toEqual(usEast.notAfter);
  });

  it('encodes canonical DER: pkijs re-encoding the parsed SVID gives the same bytes', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: webId, now });
    const leaf = svid.chain[0]!;
    const reencoded = new Uint8Array(pkijs.Certificate.fromBER(leaf).toSchema(false).toBER());
    expect(hex(reencoded)).toBe(hex(leaf));
  });

  it('gives every SVID a distinct positive serial', async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const svid = usEast.signX509Svid({ spiffeId: webId, now, publicKey: createPublicKey(usEast.privateKey) });
      serials.add(readCertificate(svid.chain[0]!).serialHex);
    }
    expect(serials.size).toBe(200);
    for (const s of serials) expect(Number.parseInt(s.slice(0, 2), 16)).toBeLessThan(0x80);
  });

  it('uses GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)', async () => {
    const late = new Date('2049-12-31T23:30:00Z');
    const ca = await CertificateAuthority.createRoot({ trustDomain: 'late.example', ttlMs: 2 * DAY, now: late });
    const svid = await ca.issueX509Svid({ spiffeId: 'spiffe://late.example/w', now: late });
    expect(svid.notAfter.toISOString()).toBe('2050-01-01T00:30:00.000Z');
    const leaf = svid.chain[0]!;
    expect(pkijs.Certificate.fromBER(leaf).notBefore.type).toBe(0);
    expect(pkijs.Certificate.fromBER(leaf).notAfter.type).toBe(1);
    expect(hex(new Uint8Array(pkijs.Certificate.fromBER(leaf).toSchema(false).toBER()))).toBe(hex(leaf));
    expect(new Date(new X509Certificate(leaf).validTo)).toEqual(svid.notAfter);
    expect(pkijs.Certificate.fromBER(ca.certificate).notAfter.type).toBe(1);
  });

  it.each([
    ['an ID of another trust domain', { spiffeId: 'spiffe://eu-west.acme.example/w' }, { code: 'ca', rule: 'trust-domain' }],
    ["the trust domain's own ID", { spiffeId: `spiffe://${US}` }, { code: 'ca', rule: 'spiffe-id' }],
    ['a malformed ID', { spiffeId: `spiffe://${US}/a/../b` }, { code: 'spiffe-id' }],
    ['a TTL under a second', { spiffeId: webId, ttlMs: 999 }, { code: 'ca', rule: 'ttl' }],
    ['an expired CA', { spiffeId: webId, now: new Date(Date.now() + 2 * DAY) }, { code: 'ca', rule: 'expired' }],
    ['a P-384 key', { spiffeId: webId, privateKey: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey }, { code: 'ca', rule: 'key-type' }],
    ['an RSA key', { spiffeId: webId, privateKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey }, { code: 'ca', rule: 'key-type' }],
    ['a public key as private key', { spiffeId: webId, privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey }, { code: 'ca', rule: 'key-type' }],
  ] as const)('refuses %s', async (_name, options, expected) => {
    await expect(usEast.issueX509Svid({ now, ...options })).rejects.toMatchObject(expected);
  });

  it('accepts a SpiffeId object', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: SpiffeId.parse(webId), now });
    expect(svid.spiffeId).toBe(webId);
  });
});

describe('CertificateAuthority.fromChain', () => {
  it('rebuilds a CA that issues verifiable SVIDs', async () => {
    const again = await CertificateAuthority.fromChain(usEast.chain, usEast.privateKey);
    expect(again.trustDomain).toBe(US);
    expect(again.serialHex).toBe(usEast.serialHex);
    expect(again.subjectKeyId).toBe(usEast.subjectKeyId);
    expect(again.notAfter).toEqual(usEast.notAfter);
    const svid = await again.issueX509Svid({ spiffeId: webId, now });
    await expect(verifyX509Svid(svid.chain, bundleOf(root), now)).resolves.toMatchObject({ spiffeId: webId });
    const child = await again.createIntermediate({ trustDomain: US, now });
    expect(new X509Certificate(child.certificate).verify(new X509Certificate(usEast.certificate).publicKey)).toBe(true);
  });

  const refusals: ReadonlyArray<readonly [string, () => readonly [readonly Uint8Array[], KeyObject], string]> = [
    ['an empty chain', () => [[], usEast.privateKey], 'chain'],
    ['a key of another CA', () => [usEast.chain, root.privateKey], 'key-mismatch'],
    ['a P-384 key', () => [usEast.chain, generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey], 'key-type'],
    ['a public key', () => [usEast.chain, createPublicKey(usEast.privateKey)], 'key-type'],
    ['a chain without its root', () => [usEast.chain.slice(0, 1), usEast.privateKey], 'chain'],
    ['a chain in the wrong order', () => [[root.certificate, usEast.certificate], root.privateKey], 'chain'],
    ['corrupt DER', () => [[new Uint8Array([0x30, 0x01, 0x00])], usEast.privateKey], 'der'],
  ];
  it.each(refusals)('refuses %s', async (_name, args, rule) => {
    const [chain, key] = args();
    await expect(CertificateAuthority.fromChain(chain, key)).rejects.toMatchObject({ code: 'ca', rule });
  });

  it('refuses a leaf certificate', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: webId, now });
    const err = await CertificateAuthority.fromChain([...svid.chain, root.certificate], svid.privateKey).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaError);
    expect(err).toMatchObject({ rule: 'not-a-ca' });
  });
});

describe('interoperability', () => {
  it("Node's TLS accepts the SVID key and chain", async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: webId, now });
    const key = svid.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const cert = svid.chain.map((der) => new X509Certificate(der).toString()).join('');
    const ca = new X509Certificate(root.rootDer).toString();
    expect(() => createSecureContext({ key, cert, ca })).not.toThrow();
  });


  describe('openssl', () => {
    let dir: string;
    let svidText: string;
    let intermediateText: string;
    let verifyOutput: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'meshgate-ca-'));
      const svid = await usEast.issueX509Svid({ spiffeId: webId, now });
      const pem = (der: Uint8Array) => new X509Certificate(der).toString();
      writeFileSync(join(dir, 'root.pem'), pem(root.rootDer));
      writeFileSync(join(dir, 'intermediate.pem'), pem(usEast.certificate));
      writeFileSync(join(dir, 'svid.pem'), pem(svid.chain[0]!));
      const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }).toString();
      verifyOutput = openssl('verify', '-x509_strict', '-CAfile', 'root.pem', '-untrusted', 'intermediate.pem', 'svid.pem');
      svidText = openssl('x509', '-text', '-noout', '-in', 'svid.pem');
      intermediateText = openssl('x509', '-text', '-noout', '-in', 'intermediate.pem');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('verifies root → intermediate → SVID with -x509_strict', () => {
      expect(verifyOutput.trim()).toBe('svid.pem: OK');
    });

    it('reads the SVID profile', () => {
      expect(svidText).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      expect(svidText).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
      expect(svidText).toMatch(/X509v3 Extended Key Usage: \s*\n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
      expect(svidText).toContain(`URI:${webId}`);
      expect(svidText).toContain('X509v3 Subject Key Identifier');
      expect(svidText).toContain('X509v3 Authority Key Identifier');
    });

    it('reads the intermediate name constraint and SPIFFE ID', () => {
      expect(intermediateText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
      expect(intermediateText).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
      expect(intermediateText).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+URI:us-east\.acme\.example\n/);
      expect(intermediateText).toContain(`URI:spiffe://${US}\n`);
    });
  });
});
