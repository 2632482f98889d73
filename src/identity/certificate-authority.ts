/**
 * A signing authority of one trust domain: its P-256 key, its certificate
 * chain, and what it issues. The shared-root model (docs/architecture.md, Identity) is an
 * offline root with one intermediate per cluster; each intermediate carries
 * its trust domain as its SPIFFE ID and as a URI name constraint, so that
 * verifiers can tell which domain a CA speaks for even when every bundle
 * holds the same root.
 *
 * CA certificates are rare and built with pkijs objects. X509-SVIDs are the
 * hot path (our target: ≥ 1,000 SVIDs/s on one core, bench/identity.mjs):
 * pkijs/asn1js encoding costs ~0.5 ms a certificate, so everything constant
 * per CA is encoded once with pkijs and each SVID only frames its few varying
 * fields and is signed by Node's crypto directly.
 */
import { X509Certificate, createHash, createPublicKey, generateKeyPair, randomBytes, sign, webcrypto, KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { concatDer } from './encoding.js';
import { IdentityError } from './errors.js';
import { pkijsCrypto } from './pkijs-engine.js';
import { SpiffeId, parseTrustDomain } from './spiffe-id.js';
import type { SpiffeIdLike, X509Svid } from './types.js';
import { KU_CRL_SIGN, KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN, OID, readCertificate, type CertificateFacts } from './x509-verify.js';

/** Defaults as SPIRE's (`ca_ttl` 24 h, `default_x509_svid_ttl` 1 h). */
export const DEFAULT_CA_TTL_MS = 24 * 60 * 60_000;
export const DEFAULT_SVID_TTL_MS = 60 * 60_000;
/** NotBefore lies this far in the past so that peers with slower clocks accept a fresh certificate. */
export const NOT_BEFORE_BACKDATE_MS = 10_000;

export type CaRule =
  | 'trust-domain'
  | 'spiffe-id'
  | 'ttl'
  | 'time'
  | 'expired'
  | 'not-a-ca'
  | 'key-type'
  | 'key-mismatch'
  | 'chain'
  | 'der'
  /** Used by the CA folder (ca-files.ts). */
  | 'dir'
  | 'file'
  | 'pem'
  | 'exists';

export class CaError extends IdentityError {
  override name = 'CaError';
  readonly rule: CaRule;

  constructor(rule: CaRule, message: string, context: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('ca', message, { rule, ...context }, options);
    this.rule = rule;
  }
}

export interface CreateCaOptions {
  readonly trustDomain: string;
  /** Default DEFAULT_CA_TTL_MS; an intermediate never outlives its parent. */
  readonly ttlMs?: number;
  readonly now: Date;
}

export interface IssueX509SvidOptions {
  readonly spiffeId: string | SpiffeIdLike;
  /** Default DEFAULT_SVID_TTL_MS; capped at the CA's NotAfter. */
  readonly ttlMs?: number;
  readonly now: Date;
  /** An EC P-256 key to certify instead of a fresh one (e.g. to keep a key across renewals). */
  readonly privateKey?: KeyObject;
}

export interface SignX509SvidOptions {
  readonly spiffeId: string | SpiffeIdLike;
  readonly ttlMs?: number;
  readonly now: Date;
  /** The EC P-256 public key to certify; its private key stays with the caller. */
  readonly publicKey: KeyObject;
}

/** An X509-SVID without its key: what signing someone else's public key yields. */
export type X509SvidCertificate = Omit<X509Svid, 'privateKey'>;

const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const generateKeyPairAsync = promisify(generateKeyPair);

export class CertificateAuthority {
  readonly trustDomain: string;
  /** This CA's certificate first, then each issuer up to and including the root. */
  readonly chain: readonly Uint8Array[];
  readonly privateKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Lowercase hex of the certificate serial number. */
  readonly serialHex: string;
  /** Lowercase hex of the SubjectKeyIdentifier (what AKI of everything it signs names). */
  readonly subjectKeyId: string;
  // pkijs signs with WebCrypto keys; SVIDs are signed with the KeyObject form of the same key.
  readonly #signingKey: webcrypto.CryptoKey;
  readonly #svidTemplate: SvidTemplate;

  private constructor(chain: readonly Uint8Array[], own: CertificateFacts, trustDomain: string, privateKey: KeyObject, signingKey: webcrypto.CryptoKey) {
    this.trustDomain = trustDomain;
    this.chain = Object.freeze(chain.map((der) => der.slice()));
    this.privateKey = privateKey;
    this.notBefore = own.notBefore;
    this.notAfter = own.notAfter;
    this.serialHex = own.serialHex;
    if (!own.subjectKeyId) throw new CaError('der', `the CA certificate of ${trustDomain} has no SubjectKeyIdentifier`);
    this.subjectKeyId = Buffer.from(own.subjectKeyId).toString('hex');
    this.#signingKey = signingKey;
    this.#svidTemplate = svidTemplate(own);
  }

  /** This CA's own certificate (DER). */
  get certificate(): Uint8Array {
    return this.chain[0] as Uint8Array;
  }

  /** The root this CA chains to (itself when it is a root): what peers put in their bundle. */
  get rootDer(): Uint8Array {
    return this.chain[this.chain.length - 1] as Uint8Array;
  }

  get isRoot(): boolean {
    return this.chain.length === 1;
  }

  /** A self-signed root for `trustDomain`, with URI SAN `spiffe://<td>` and no name constraint (it may sign other domains' intermediates). */
  static async createRoot(options: CreateCaOptions): Promise<CertificateAuthority> {
    const trustDomain = parseTrustDomain(options.trustDomain);
    const now = checkedNow(options.now);
    const notBefore = backdated(now);
    const notAfter = notAfterFor(now, options.ttlMs ?? DEFAULT_CA_TTL_MS);
    const keys = await newCaKeyPair();
    const der = await buildCaCertificate({ trustDomain, notBefore, notAfter, subject: keys, issuer: undefined, nameConstraint: false });
    return new CertificateAuthority([der], readCertificate(der), trustDomain, keys.privateKey, keys.signingKey);
  }

  /**
   * An intermediate CA for `trustDomain` signed by this CA, carrying URI SAN
   * `spiffe://<td>` and a URI name constraint for exactly that domain. A root
   * may sign any domain's intermediate; an intermediate only its own
   * domain's (its name constraint would reject anything else).
   */
  async createIntermediate(options: CreateCaOptions): Promise<CertificateAuthority> {
    const trustDomain = parseTrustDomain(options.trustDomain);
    const now = checkedNow(options.now);
    if (!this.isRoot && trustDomain !== this.trustDomain) {
      throw new CaError('trust-domain', `the ${this.trustDomain} intermediate cannot sign a CA for ${trustDomain}; only a root can`, {
        issuer: this.trustDomain,
        trustDomain,
      });
    }
    const notAfter = this.#capNotAfter(now, options.ttlMs ?? DEFAULT_CA_TTL_MS);
    const keys = await newCaKeyPair();
    const der = await buildCaCertificate({
      trustDomain,
      notBefore: backdated(now),
      notAfter,
      subject: keys,
      issuer: { certificate: readCertificate(this.certificate).certificate, signingKey: this.#signingKey, keyId: Buffer.from(this.subjectKeyId, 'hex') },
      nameConstraint: true,
    });
    return new CertificateAuthority([der, ...this.chain], readCertificate(der), trustDomain, keys.privateKey, keys.signingKey);
  }

  /**
   * An X509-SVID for an ID of this CA's trust domain, with a fresh P-256 key
   * unless one is given. The chain runs leaf first up to, not including, the root.
   */
  async issueX509Svid(options: IssueX509SvidOptions): Promise<X509Svid> {
    const keys = options.privateKey
      ? { privateKey: options.privateKey, publicKey: publicKeyOf(options.privateKey) }
      : await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
    const certified = this.signX509Svid({ spiffeId: options.spiffeId, ttlMs: options.ttlMs, now: options.now, publicKey: keys.publicKey });
    return { ...certified, privateKey: keys.privateKey };
  }

  /** Certify someone else's P-256 public key as an X509-SVID (the CSR case). */
  signX509Svid(options: SignX509SvidOptions): X509SvidCertificate {
    const id = typeof options.spiffeId === 'string' ? SpiffeId.parse(options.spiffeId) : SpiffeId.parse(options.spiffeId.toString());
    if (id.trustDomain !== this.trustDomain) {
      throw new CaError('trust-domain', `the ${this.trustDomain} CA cannot issue ${id.toString()}: it is in another trust domain`, {
        spiffeId: id.toString(),
        trustDomain: this.trustDomain,
      });
    }
    if (id.path === '') {
      throw new CaError('spiffe-id', `${id.toString()} has no path; an X509-SVID names a workload, not the trust domain`, { spiffeId: id.toString() });
    }
    const now = checkedNow(options.now);
    const notAfter = this.#capNotAfter(now, options.ttlMs ?? DEFAULT_SVID_TTL_MS);
    const notBefore = backdated(now);
    const leaf = encodeSvid(this.#svidTemplate, {
      spiffeId: id.toString(),
      publicKey: p256PublicKey(options.publicKey),
      notBefore,
      notAfter,
      sign: (tbs) => sign('sha256', tbs, { key: this.privateKey, dsaEncoding: 'der' }),
    });
    return { spiffeId: id.toString(), chain: [leaf, ...this.chain.slice(0, -1)], notBefore, notAfter };
  }

  /**
   * A CA from existing material (a CA folder, a secret): `chain` is its
   * certificate first, up to and including a self-signed root. Checks that
   * it is a CA with one `spiffe://<td>` URI SAN, that the key is its P-256
   * key, and that each certificate is signed by the next.
   */
  static async fromChain(chain: readonly Uint8Array[], privateKey: KeyObject): Promise<CertificateAuthority> {
    if (chain.length === 0) throw new CaError('chain', 'the CA chain is empty');
    const facts = chain.map((der, i) => {
      try {
        return readCertificate(der, i === 0 ? 'the CA certificate' : `certificate ${i + 1} of the CA chain`);
      } catch (err) {
        throw new CaError('der', (err as Error).message, { position: i + 1 }, { cause: err });
      }
    });
    const own = facts[0] as CertificateFacts;
    if (!own.isCA || !own.keyUsage?.keyCertSign) {
      throw new CaError('not-a-ca', 'the certificate is not a CA (it needs CA:TRUE and KeyUsage keyCertSign)');
    }
    const trustDomain = caTrustDomain(own);
    if (privateKey.type !== 'private') throw new CaError('key-type', `the CA key must be a private key, not a ${privateKey.type} key`);
    checkP256(privateKey, 'the CA key');
    const certs = chain.map((der, i) => {
      try {
        return new X509Certificate(der);
      } catch (err) {
        throw new CaError('der', `certificate ${i + 1} of the CA chain does not parse: ${(err as Error).message}`, { position: i + 1 }, { cause: err });
      }
    });
    if (!(certs[0] as X509Certificate).checkPrivateKey(privateKey)) {
      throw new CaError('key-mismatch', `the private key is not the key of the ${trustDomain} CA certificate`, { trustDomain });
    }
    for (let i = 0; i < certs.length; i++) {
      const cert = certs[i] as X509Certificate;
      const issuer = certs[i + 1] ?? cert;
      if (i > 0 && !(facts[i] as CertificateFacts).isCA) throw new CaError('chain', `certificate ${i + 1} of the CA chain is not a CA`);
      if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
        const message =
          issuer === cert
            ? `the CA chain must end with its self-signed root; certificate ${i + 1} is not self-signed`
            : `certificate ${i + 1} of the CA chain is not signed by certificate ${i + 2}`;
        throw new CaError('chain', message, { position: i + 1 });
      }
    }
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
    const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, P256, false, ['sign']);
    return new CertificateAuthority(chain, own, trustDomain, privateKey, signingKey);
  }

  #capNotAfter(now: Date, ttlMs: number): Date {
    if (now >= this.notAfter) {
      throw new CaError('expired', `the ${this.trustDomain} CA expired at ${this.notAfter.toISOString()}`, {
        trustDomain: this.trustDomain,
        notAfter: this.notAfter.toISOString(),
      });
    }
    const wanted = notAfterFor(now, ttlMs);
    return wanted > this.notAfter ? this.notAfter : wanted;
  }
}

// ===========================================================================
// Keys, clocks and names

interface CaKeyPair {
  readonly privateKey: KeyObject;
  readonly signingKey: webcrypto.CryptoKey;
  readonly publicKey: webcrypto.CryptoKey;
}

async function newCaKeyPair(): Promise<CaKeyPair> {
  const pair = await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
  return { privateKey: KeyObject.from(pair.privateKey), signingKey: pair.privateKey, publicKey: pair.publicKey };
}

function publicKeyOf(privateKey: KeyObject): KeyObject {
  if (privateKey.type !== 'private') throw new CaError('key-type', `expected a private key, got a ${privateKey.type} key`);
  return createPublicKey(privateKey);
}

function checkP256(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const actual = key.asymmetricKeyType === 'ec' ? `EC ${key.asymmetricKeyDetails?.namedCurve}` : String(key.asymmetricKeyType);
    throw new CaError('key-type', `${what} must be an EC P-256 key, not ${actual}`, { keyType: actual });
  }
}

function checkedNow(now: Date): Date {
  if (!(now instanceof Date) || !Number.isFinite(now.getTime())) throw new CaError('time', `now must be a valid Date, got ${String(now)}`);
  return now;
}

// GeneralizedTime ends with year 9999 (RFC 5280 §4.1.2.5 uses 99991231235959Z for "no expiry").
const LATEST_NOT_AFTER_MS = Date.UTC(9999, 11, 31, 23, 59, 59);

function notAfterFor(now: Date, ttlMs: number): Date {
  // X.509 times have whole seconds; anything shorter than one would be empty.
  if (!Number.isFinite(ttlMs) || ttlMs < 1000) throw new CaError('ttl', `a TTL must be at least 1000 ms, got ${ttlMs}`, { ttlMs });
  const end = now.getTime() + ttlMs;
  if (end > LATEST_NOT_AFTER_MS) throw new CaError('ttl', `a TTL of ${ttlMs} ms ends after the year 9999`, { ttlMs });
  return wholeSeconds(end);
}

const wholeSeconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
const backdated = (now: Date): Date => wholeSeconds(now.getTime() - NOT_BEFORE_BACKDATE_MS);

/**
 * A positive serial of 127 random bits (RFC 5280 §4.1.2.2: a positive
 * integer): the top bit is cleared because DER INTEGERs are signed.
 */
function randomSerial(): Uint8Array {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x7f) || 1;
  return new Uint8Array(serial);
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
const keyIdentifier = (publicPoint: Uint8Array): Uint8Array => new Uint8Array(createHash('sha1').update(publicPoint).digest());

function caTrustDomain(own: CertificateFacts): string {
  const ids = own.uriSans.map((uri) => SpiffeId.tryParse(uri));
  const id = ids[0];
  if (ids.length !== 1 || id === undefined || id.path !== '') {
    throw new CaError('trust-domain', `the CA certificate must carry exactly one URI SAN spiffe://<trust-domain> (no path); it has ${own.uriSans.join(', ') || 'none'}`, {
      uris: own.uriSans,
    });
  }
  return id.trustDomain;
}

const ATTR = { country: '2.5.4.6', organization: '2.5.4.10', commonName: '2.5.4.3', serialNumber: '2.5.4.5' } as const;
// X.520 upper bound for commonName; longer trust domains (up to 255) go without one.
const MAX_COMMON_NAME = 64;

/**
 * One attribute per RDN, as OpenSSL and every CA write names; pkijs would put
 * all attributes of a RelativeDistinguishedNames into one multi-valued RDN,
 * so the name is encoded here and handed to pkijs as bytes.
 */
function distinguishedName(attributes: ReadonlyArray<readonly [string, pkijs.AttributeValueType]>): pkijs.RelativeDistinguishedNames {
  const sequence = new asn1js.Sequence({
    value: attributes.map(([type, value]) => new asn1js.Set({ value: [new pkijs.AttributeTypeAndValue({ type, value }).toSchema()] })),
  });
  return pkijs.RelativeDistinguishedNames.fromBER(sequence.toBER());
}

/** CAs: C=US, O=SPIFFE (as SPIRE), CN=<td>, and the serial so that successive CAs of a domain never share a name. */
function caName(trustDomain: string, serialHex: string): pkijs.RelativeDistinguishedNames {
  return distinguishedName([
    [ATTR.country, new asn1js.PrintableString({ value: 'US' })],
    [ATTR.organization, new asn1js.Utf8String({ value: 'SPIFFE' })],
    ...(trustDomain.length <= MAX_COMMON_NAME ? [[ATTR.commonName, new asn1js.Utf8String({ value: trustDomain })] as const] : []),
    [ATTR.serialNumber, new asn1js.PrintableString({ value: serialHex })],
  ]);
}

/** X509-SVIDs: a non-empty subject keeps the SAN non-critical; the identity is the URI SAN alone. */
const svidName = (): pkijs.RelativeDistinguishedNames =>
  distinguishedName([
    [ATTR.country, new asn1js.PrintableString({ value: 'US' })],
    [ATTR.organization, new asn1js.Utf8String({ value: 'SPIFFE' })],
  ]);

function extension(extnID: string, critical: boolean, value: asn1js.BaseBlock | { toSchema(): asn1js.BaseBlock }): pkijs.Extension {
  const block = value instanceof asn1js.BaseBlock ? value : value.toSchema();
  return new pkijs.Extension({ extnID, critical, extnValue: block.toBER(false) });
}

function keyUsage(bits: number): asn1js.BitString {
  // DER drops trailing zero bits of a named-bit list; unusedBits says how many of the last byte's low bits are padding.
  const unusedBits = bits === 0 ? 0 : Math.min(7, Math.log2(bits & -bits));
  return new asn1js.BitString({ valueHex: new Uint8Array([bits]), unusedBits });
}

const uriName = (uri: string) => new pkijs.GeneralName({ type: 6, value: uri });

function pkijsTime(date: Date): pkijs.Time {
  // RFC 5280 §4.1.2.5: UTCTime for 1950–2049, GeneralizedTime otherwise.
  const year = date.getUTCFullYear();
  return new pkijs.Time({ type: year >= 1950 && year < 2050 ? 0 : 1, value: date });
}

// ===========================================================================
// CA certificates (pkijs)

interface CaCertificateRequest {
  readonly trustDomain: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: CaKeyPair;
  /** undefined: self-signed. */
  readonly issuer: { readonly certificate: pkijs.Certificate; readonly signingKey: webcrypto.CryptoKey; readonly keyId: Uint8Array } | undefined;
  readonly nameConstraint: boolean;
}

async function buildCaCertificate(req: CaCertificateRequest): Promise<Uint8Array> {
  const crypto = pkijsCrypto();
  const serial = randomSerial();
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ valueHex: serial });
  cert.subject = caName(req.trustDomain, Buffer.from(serial).toString('hex'));
  cert.issuer = req.issuer ? req.issuer.certificate.subject : cert.subject;
  cert.notBefore = pkijsTime(req.notBefore);
  cert.notAfter = pkijsTime(req.notAfter);
  await cert.subjectPublicKeyInfo.importKey(req.subject.publicKey, crypto);
  const ski = keyIdentifier(cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView);
  const trustDomainId = `spiffe://${req.trustDomain}`;
  cert.extensions = [
    extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: true })),
    extension(OID.keyUsage, true, keyUsage(KU_KEY_CERT_SIGN | KU_CRL_SIGN)),
    extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: ski })),
    extension(OID.authorityKeyIdentifier, false, new pkijs.AuthorityKeyIdentifier({
      keyIdentifier: new asn1js.OctetString({ valueHex: req.issuer ? req.issuer.keyId : ski }),
    })),
    extension(OID.subjectAltName, false, new pkijs.AltName({ altNames: [uriName(trustDomainId)] })),
    ...(req.nameConstraint
      ? [extension(OID.nameConstraints, true, new pkijs.NameConstraints({
          permittedSubtrees: [new pkijs.GeneralSubtree({ base: uriName(req.trustDomain) })],
        }))]
      : []),
  ];
  await cert.sign(req.issuer ? req.issuer.signingKey : req.subject.signingKey, 'SHA-256', crypto);
  return new Uint8Array(cert.toSchema(true).toBER());
}

// ===========================================================================
// X509-SVIDs (fixed parts from pkijs, per-SVID fields framed here)

/** The parts of an SVID's TBSCertificate that are the same for every SVID of one CA, DER-encoded. */
interface SvidTemplate {
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** BasicConstraints, KeyUsage, ExtendedKeyUsage and AuthorityKeyIdentifier, concatenated. */
  readonly fixedExtensions: Uint8Array;
}

const berOf = (block: { toSchema(): asn1js.BaseBlock } | asn1js.BaseBlock): Uint8Array =>
  new Uint8Array((block instanceof asn1js.BaseBlock ? block : block.toSchema()).toBER(false));

const ECDSA_WITH_SHA256 = berOf(new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.10045.4.3.2' }));
const EC_P256_PUBLIC_KEY = berOf(
  new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.10045.2.1', algorithmParams: new asn1js.ObjectIdentifier({ value: '1.2.840.10045.3.1.7' }) }),
);
const OID_SUBJECT_KEY_ID = berOf(new asn1js.ObjectIdentifier({ value: OID.subjectKeyIdentifier }));
const OID_SUBJECT_ALT_NAME = berOf(new asn1js.ObjectIdentifier({ value: OID.subjectAltName }));

function svidTemplate(ca: CertificateFacts): SvidTemplate {
  if (!ca.subjectKeyId) throw new CaError('der', 'the CA certificate has no SubjectKeyIdentifier');
  const fixed = [
    extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: false })),
    extension(OID.keyUsage, true, keyUsage(KU_DIGITAL_SIGNATURE)),
    extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth, OID.clientAuth] })),
    extension(OID.authorityKeyIdentifier, false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: ca.subjectKeyId }) })),
  ];
  return {
    // A parsed certificate re-encodes its names from the original bytes.
    issuer: berOf(ca.certificate.subject),
    subject: berOf(svidName()),
    fixedExtensions: concatDer(fixed.map(berOf)),
  };
}

interface P256PublicKey {
  readonly spki: Uint8Array;
  readonly point: Uint8Array;
}

function p256PublicKey(publicKey: KeyObject): P256PublicKey {
  checkP256(publicKey, 'the SVID key');
  if (publicKey.type !== 'public') throw new CaError('key-type', `expected a public key, got a ${publicKey.type} key`);
  // Exporting SPKI DER through OpenSSL's encoders costs ~150 µs; JWK ~6 µs.
  const { x, y } = publicKey.export({ format: 'jwk' });
  const point = concatDer([Uint8Array.of(0x04), Buffer.from(x ?? '', 'base64url'), Buffer.from(y ?? '', 'base64url')]);
  if (point.length !== 65) throw new CaError('key-type', 'the SVID key is not an uncompressed P-256 point');
  return { point, spki: tlv(TAG.SEQUENCE, EC_P256_PUBLIC_KEY, tlv(TAG.BIT_STRING, Uint8Array.of(0), point)) };
}

interface SvidFields {
  readonly spiffeId: string;
  readonly publicKey: P256PublicKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly sign: (tbs: Uint8Array) => Uint8Array;
}

function encodeSvid(template: SvidTemplate, fields: SvidFields): Uint8Array {
  const extensions = tlv(
    TAG.SEQUENCE,
    template.fixedExtensions,
    tlv(TAG.SEQUENCE, OID_SUBJECT_KEY_ID, tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, keyIdentifier(fields.publicKey.point)))),
    tlv(TAG.SEQUENCE, OID_SUBJECT_ALT_NAME, tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE, tlv(TAG.URI, Buffer.from(fields.spiffeId, 'ascii'))))),
  );
  const tbs = tlv(
    TAG.SEQUENCE,
    VERSION_3,
    tlv(TAG.INTEGER, randomSerial()),
    ECDSA_WITH_SHA256,
    template.issuer,
    tlv(TAG.SEQUENCE, derTime(fields.notBefore), derTime(fields.notAfter)),
    template.subject,
    fields.publicKey.spki,
    tlv(TAG.EXTENSIONS, extensions),
  );
  const signature = fields.sign(tbs);
  return tlv(TAG.SEQUENCE, tbs, ECDSA_WITH_SHA256, tlv(TAG.BIT_STRING, Uint8Array.of(0), signature));
}

// Minimal DER framing for the SVID hot path; tests check the result
// byte-for-byte against pkijs re-encoding and with `openssl verify -x509_strict`.
const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  SEQUENCE: 0x30,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  /** GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String. */
  URI: 0x86,
  /** TBSCertificate version: [0] EXPLICIT. */
  VERSION: 0xa0,
  /** TBSCertificate extensions: [3] EXPLICIT. */
  EXTENSIONS: 0xa3,
} as const;

const VERSION_3 = tlv(TAG.VERSION, tlv(TAG.INTEGER, Uint8Array.of(2)));

function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = contents.length === 1 ? (contents[0] as Uint8Array) : concatDer(contents);
  const n = body.length;
  const header = n < 0x80 ? [tag, n] : n < 0x100 ? [tag, 0x81, n] : n < 0x10000 ? [tag, 0x82, n >> 8, n & 0xff] : [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(header.length + n);
  out.set(header);
  out.set(body, header.length);
  return out;
}

function derTime(date: Date): Uint8Array {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ, always UTC
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(TAG.UTC_TIME, Buffer.from(digits.slice(2), 'ascii'))
    : tlv(TAG.GENERALIZED_TIME, Buffer.from(digits, 'ascii'));
}
