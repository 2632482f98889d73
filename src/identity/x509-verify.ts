/**
 * X509-SVID verification (X509-SVID §5) and the certificate reading it rests
 * on.
 *
 * pkijs does RFC 5280 path validation but no SPIFFE checks, and it ignores a
 * trust anchor's name constraints. The shared-root model (docs/architecture.md, Identity)
 * puts the same root in every cluster's bundle, so anchoring alone would let
 * any cluster mint any other cluster's identities: the checks after path
 * validation close that gap.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { IdentityError, isIdentityError } from './errors.js';
import { pkijsCrypto } from './pkijs-engine.js';
import { SpiffeId } from './spiffe-id.js';
import type { BundleLookup } from './types.js';

/** Which check an X509-SVID (or its key) failed; stable strings for logs and metrics. */
export type X509SvidRule =
  | 'empty-chain'
  | 'chain-too-long'
  /** Not a DER certificate, or an extension whose value does not parse. */
  | 'der'
  | 'duplicate-extension'
  | 'unknown-critical-extension'
  | 'no-uri-san'
  | 'multiple-uri-sans'
  | 'not-spiffe-uri'
  | 'invalid-spiffe-id'
  | 'root-path'
  | 'leaf-ca'
  | 'leaf-key-usage-missing'
  | 'leaf-key-usage-not-critical'
  | 'leaf-no-digital-signature'
  | 'leaf-key-cert-sign'
  | 'leaf-crl-sign'
  | 'leaf-eku'
  /** An empty subject needs a critical SAN (RFC 5280 §4.2.1.6). */
  | 'san-not-critical'
  | 'intermediate-not-ca'
  | 'intermediate-no-key-cert-sign'
  | 'expired'
  | 'not-yet-valid'
  | 'no-bundle'
  | 'empty-bundle'
  /** bundleFor returned a bundle labelled with another trust domain. */
  | 'bundle-mismatch'
  /** A certificate in the bundle itself does not parse. */
  | 'bundle-der'
  /** No path to a root of the leaf's own bundle (unknown CA, bad signature, another domain's root). */
  | 'untrusted'
  | 'path-validation'
  | 'name-constraints'
  /** The CA that signed the leaf speaks for another trust domain. */
  | 'signer-trust-domain'
  /** The `now` given is not a valid time (NaN would pass every validity comparison). */
  | 'invalid-time'
  | 'key'
  | 'key-mismatch';

export class X509SvidError extends IdentityError {
  override name = 'X509SvidError';
  readonly rule: X509SvidRule;

  constructor(rule: X509SvidRule, message: string, context: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('x509-svid', message, { rule, ...context }, options);
    this.rule = rule;
  }
}

// ===========================================================================
// Reading a certificate

export const OID = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  authorityKeyIdentifier: '2.5.29.35',
  policyConstraints: '2.5.29.36',
  extKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** Extensions whose meaning pkijs path validation or this module enforces; any other critical one is refused (RFC 5280 §4.2). */
const UNDERSTOOD_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.subjectKeyIdentifier,
  OID.keyUsage,
  OID.subjectAltName,
  OID.basicConstraints,
  OID.nameConstraints,
  OID.certificatePolicies,
  OID.policyMappings,
  OID.authorityKeyIdentifier,
  OID.policyConstraints,
  OID.extKeyUsage,
  OID.inhibitAnyPolicy,
]);

// KeyUsage is a BIT STRING numbered from the most significant bit of the first byte.
export const KU_DIGITAL_SIGNATURE = 0x80;
export const KU_KEY_CERT_SIGN = 0x04;
export const KU_CRL_SIGN = 0x02;
const GENERAL_NAME_URI = 6;

export interface KeyUsageFacts {
  readonly critical: boolean;
  readonly digitalSignature: boolean;
  readonly keyCertSign: boolean;
  readonly cRLSign: boolean;
}

/** What a certificate says, as far as SVID rules care; built once per DER and never mutated. */
export interface CertificateFacts {
  readonly der: Uint8Array;
  readonly certificate: pkijs.Certificate;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectEmpty: boolean;
  readonly isCA: boolean;
  readonly keyUsage: KeyUsageFacts | undefined;
  /** undefined when the extension is absent, which SPIFFE allows. */
  readonly extKeyUsage: readonly string[] | undefined;
  readonly uriSans: readonly string[];
  readonly sanCritical: boolean;
  readonly uriNameConstraints: { readonly permitted: readonly string[]; readonly excluded: readonly string[] } | undefined;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly unknownCriticalExtensions: readonly string[];
}

// Parsing with pkijs costs ~0.7 ms a certificate while intermediates and
// roots repeat in every chain; facts depend only on the bytes, so they are
// shared. Bounded so that hostile peers cannot grow it.
const FACTS_CACHE_LIMIT = 512;
const factsCache = new Map<string, CertificateFacts>();

/**
 * Parse one DER certificate; `what` names it in errors ("the leaf",
 * "certificate 2 of the chain"). Throws X509SvidError `der` when the bytes are
 * not exactly one certificate or an extension it relies on is malformed.
 */
export function readCertificate(der: Uint8Array, what = 'certificate'): CertificateFacts {
  const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const cached = factsCache.get(key);
  if (cached) return cached;
  const facts = parseFacts(der.slice(), what);
  if (factsCache.size >= FACTS_CACHE_LIMIT) factsCache.delete(factsCache.keys().next().value as string);
  factsCache.set(key, facts);
  return facts;
}

function parseFacts(der: Uint8Array, what: string): CertificateFacts {
  const asn1 = asn1js.fromBER(der);
  if (asn1.offset === -1 || asn1.offset !== der.byteLength) {
    throw new X509SvidError('der', `${what} is not a DER certificate${asn1.offset === -1 ? '' : ' (bytes after its end)'}`, { what });
  }
  let certificate: pkijs.Certificate;
  try {
    certificate = new pkijs.Certificate({ schema: asn1.result });
  } catch (err) {
    throw new X509SvidError('der', `${what} is not a DER certificate: ${(err as Error).message}`, { what }, { cause: err });
  }

  const seen = new Set<string>();
  let isCA = false;
  let keyUsage: KeyUsageFacts | undefined;
  let extKeyUsage: string[] | undefined;
  let uriSans: string[] = [];
  let sanCritical = false;
  let uriNameConstraints: CertificateFacts['uriNameConstraints'];
  let subjectKeyId: Uint8Array | undefined;
  const unknownCriticalExtensions: string[] = [];

  for (const ext of certificate.extensions ?? []) {
    if (seen.has(ext.extnID)) {
      throw new X509SvidError('duplicate-extension', `${what} has the extension ${ext.extnID} twice`, { what, extension: ext.extnID });
    }
    seen.add(ext.extnID);
    switch (ext.extnID) {
      case OID.basicConstraints:
        isCA = extensionValue(ext, what, 'BasicConstraints', pkijs.BasicConstraints).cA === true;
        break;
      case OID.keyUsage: {
        const bits = extensionValue(ext, what, 'KeyUsage', asn1js.BitString).valueBlock.valueHexView[0] ?? 0;
        keyUsage = {
          critical: ext.critical,
          digitalSignature: (bits & KU_DIGITAL_SIGNATURE) !== 0,
          keyCertSign: (bits & KU_KEY_CERT_SIGN) !== 0,
          cRLSign: (bits & KU_CRL_SIGN) !== 0,
        };
        break;
      }
      case OID.extKeyUsage:
        extKeyUsage = extensionValue(ext, what, 'ExtendedKeyUsage', pkijs.ExtKeyUsage).keyPurposes;
        break;
      case OID.subjectAltName:
        uriSans = extensionValue(ext, what, 'SubjectAltName', pkijs.AltName)
          .altNames.filter((n) => n.type === GENERAL_NAME_URI)
          .map((n) => String(n.value));
        sanCritical = ext.critical;
        break;
      case OID.nameConstraints: {
        const nc = extensionValue(ext, what, 'NameConstraints', pkijs.NameConstraints);
        const uris = (subtrees: pkijs.GeneralSubtree[] | undefined) =>
          (subtrees ?? []).filter((s) => s.base.type === GENERAL_NAME_URI).map((s) => String(s.base.value));
        const permitted = uris(nc.permittedSubtrees);
        const excluded = uris(nc.excludedSubtrees);
        if (permitted.length > 0 || excluded.length > 0) uriNameConstraints = { permitted, excluded };
        break;
      }
      case OID.subjectKeyIdentifier:
        subjectKeyId = extensionValue(ext, what, 'SubjectKeyIdentifier', asn1js.OctetString).valueBlock.valueHexView.slice();
        break;
      default:
        if (ext.critical && !UNDERSTOOD_EXTENSIONS.has(ext.extnID)) unknownCriticalExtensions.push(ext.extnID);
    }
  }

  return {
    der,
    certificate,
    serialHex: Buffer.from(certificate.serialNumber.valueBlock.valueHexView).toString('hex'),
    notBefore: certificate.notBefore.value,
    notAfter: certificate.notAfter.value,
    subjectEmpty: certificate.subject.typesAndValues.length === 0,
    isCA,
    keyUsage,
    extKeyUsage,
    uriSans,
    sanCritical,
    uriNameConstraints,
    subjectKeyId,
    unknownCriticalExtensions,
  };
}

/**
 * The decoded value of an extension, as pkijs decodes it (lazily, once per
 * certificate: path validation reads the same objects). pkijs reports a
 * malformed value by returning nothing or an object with `parsingError`.
 */
function extensionValue<T>(ext: pkijs.Extension, what: string, name: string, type: abstract new (...args: never[]) => T): T {
  let value: unknown;
  try {
    value = ext.parsedValue;
  } catch (err) {
    value = err;
  }
  if (value instanceof type && (value as { parsingError?: unknown }).parsingError === undefined) return value;
  const detail = (value as { parsingError?: unknown } | undefined)?.parsingError ?? 'not a valid value';
  throw new X509SvidError('der', `${what} has a malformed ${name} extension: ${String(detail)}`, { what, extension: name });
}

// ===========================================================================
// Verifying an X509-SVID

/** What a verified chain proves. */
export interface VerifiedX509Svid {
  readonly spiffeId: string;
  readonly trustDomain: string;
  /** The validated path: the leaf first, the trust anchor from the bundle last. */
  readonly chain: readonly Uint8Array[];
  /** The earliest NotAfter on that path: when this verdict stops holding. */
  readonly notAfter: Date;
}


/** Longer chains are refused before path building, whose cost grows with every candidate certificate. */
export const MAX_CHAIN_LENGTH = 8;

/**
 * Verify an X509-SVID chain (leaf first, then intermediates; a root may be
 * included and is ignored unless the bundle holds it) at `now`, against the
 * bundle of the leaf's own trust domain only. Returns the SPIFFE ID, or
 * throws X509SvidError whose `rule` names the failed check.
 */
export async function verifyX509Svid(chain: readonly Uint8Array[], bundleFor: BundleLookup, now: Date): Promise<VerifiedX509Svid> {
  if (!(now instanceof Date) || !Number.isFinite(now.getTime())) throw new X509SvidError('invalid-time', `cannot verify at ${String(now)}: not a valid time`);
  if (chain.length === 0) throw new X509SvidError('empty-chain', 'the X509-SVID chain is empty');
  if (chain.length > MAX_CHAIN_LENGTH) {
    throw new X509SvidError('chain-too-long', `the X509-SVID chain has ${chain.length} certificates; at most ${MAX_CHAIN_LENGTH}`, {
      length: chain.length,
    });
  }
  const certs = chain.map((der, i) => readCertificate(der, i === 0 ? 'the leaf certificate' : `certificate ${i + 1} of the chain`));
  const leaf = certs[0] as CertificateFacts;
  const intermediates = certs.slice(1);

  const id = leafSpiffeId(leaf);
  const trustDomain = id.trustDomain;
  const spiffeId = id.toString();
  checkLeaf(leaf, spiffeId);
  intermediates.forEach((cert, i) => checkIntermediate(cert, i + 2));
  certs.forEach((cert, i) => checkValidity(cert, now, i === 0 ? 'the leaf' : `certificate ${i + 1} of the chain`, spiffeId));

  const anchors = trustAnchors(bundleFor, trustDomain, spiffeId);
  const path = await validatePath(leaf, intermediates, anchors, now, spiffeId);
  checkNameConstraints(path, spiffeId);
  checkSigner(path, anchors, trustDomain, spiffeId);
  const notAfter = new Date(Math.min(...path.map((c) => c.notAfter.getTime())));
  return { spiffeId, trustDomain, chain: path.map((c) => c.der), notAfter };
}

function leafSpiffeId(leaf: CertificateFacts): SpiffeId {
  if (leaf.uriSans.length === 0) throw new X509SvidError('no-uri-san', 'the leaf certificate has no URI SAN (SPIFFE ID)');
  if (leaf.uriSans.length > 1) {
    throw new X509SvidError('multiple-uri-sans', `the leaf certificate has ${leaf.uriSans.length} URI SANs; an X509-SVID has exactly one`, {
      uris: leaf.uriSans,
    });
  }
  const uri = leaf.uriSans[0] as string;
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(uri);
  } catch (err) {
    const rule = isIdentityError(err, 'spiffe-id') && err.context['rule'] === 'scheme' ? 'not-spiffe-uri' : 'invalid-spiffe-id';
    throw new X509SvidError(rule, `the leaf's URI SAN is not a valid SPIFFE ID: ${(err as Error).message}`, { uri }, { cause: err });
  }
  if (id.path === '') {
    throw new X509SvidError('root-path', `the leaf's SPIFFE ID ${uri} has no path; only signing CAs carry a trust domain's own ID`, { uri });
  }
  return id;
}

function checkLeaf(leaf: CertificateFacts, spiffeId: string): void {
  const fail = (rule: X509SvidRule, message: string) => new X509SvidError(rule, `X509-SVID ${spiffeId}: ${message}`, { spiffeId });
  if (leaf.isCA) throw fail('leaf-ca', 'the leaf has CA:TRUE');
  const ku = leaf.keyUsage;
  if (!ku) throw fail('leaf-key-usage-missing', 'the leaf has no KeyUsage extension');
  if (ku.keyCertSign) throw fail('leaf-key-cert-sign', 'the leaf has KeyUsage keyCertSign');
  if (ku.cRLSign) throw fail('leaf-crl-sign', 'the leaf has KeyUsage cRLSign');
  if (!ku.digitalSignature) throw fail('leaf-no-digital-signature', 'the leaf lacks KeyUsage digitalSignature');
  if (!ku.critical) throw fail('leaf-key-usage-not-critical', 'the leaf KeyUsage extension is not critical');
  const eku = leaf.extKeyUsage;
  if (eku && !(eku.includes(OID.serverAuth) && eku.includes(OID.clientAuth))) {
    throw fail('leaf-eku', `the leaf ExtendedKeyUsage (${eku.join(', ') || 'empty'}) must include both serverAuth and clientAuth`);
  }
  if (leaf.subjectEmpty && !leaf.sanCritical) throw fail('san-not-critical', 'the leaf has an empty subject but a non-critical SAN');
  if (leaf.unknownCriticalExtensions.length > 0) {
    throw fail('unknown-critical-extension', `the leaf has unknown critical extensions ${leaf.unknownCriticalExtensions.join(', ')}`);
  }
}

function checkIntermediate(cert: CertificateFacts, position: number): void {
  const what = `certificate ${position} of the chain`;
  if (!cert.isCA) throw new X509SvidError('intermediate-not-ca', `${what} is not a CA (BasicConstraints CA:TRUE)`, { position });
  if (cert.keyUsage && !cert.keyUsage.keyCertSign) {
    throw new X509SvidError('intermediate-no-key-cert-sign', `${what} lacks KeyUsage keyCertSign`, { position });
  }
  if (!cert.keyUsage) throw new X509SvidError('intermediate-no-key-cert-sign', `${what} has no KeyUsage extension`, { position });
  if (cert.unknownCriticalExtensions.length > 0) {
    throw new X509SvidError('unknown-critical-extension', `${what} has unknown critical extensions ${cert.unknownCriticalExtensions.join(', ')}`, {
      position,
    });
  }
}

function checkValidity(cert: CertificateFacts, now: Date, what: string, spiffeId: string): void {
  const context = { spiffeId, notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(), now: now.toISOString() };
  if (now < cert.notBefore) throw new X509SvidError('not-yet-valid', `X509-SVID ${spiffeId}: ${what} is not valid before ${context.notBefore}`, context);
  if (now > cert.notAfter) throw new X509SvidError('expired', `X509-SVID ${spiffeId}: ${what} expired at ${context.notAfter}`, context);
}

function trustAnchors(bundleFor: BundleLookup, trustDomain: string, spiffeId: string): CertificateFacts[] {
  const bundle = bundleFor(trustDomain);
  if (!bundle) throw new X509SvidError('no-bundle', `X509-SVID ${spiffeId}: no trust bundle for ${trustDomain}`, { spiffeId, trustDomain });
  if (bundle.trustDomain !== trustDomain) {
    throw new X509SvidError('bundle-mismatch', `X509-SVID ${spiffeId}: the bundle given for ${trustDomain} is ${bundle.trustDomain}'s`, {
      spiffeId,
      trustDomain,
      bundleTrustDomain: bundle.trustDomain,
    });
  }
  if (bundle.x509Authorities.length === 0) {
    throw new X509SvidError('empty-bundle', `X509-SVID ${spiffeId}: the bundle of ${trustDomain} has no X.509 authorities`, { spiffeId, trustDomain });
  }
  return bundle.x509Authorities.map((der, i) => {
    try {
      return readCertificate(der, `authority ${i + 1} of the ${trustDomain} bundle`);
    } catch (err) {
      throw new X509SvidError('bundle-der', (err as Error).message, { spiffeId, trustDomain }, { cause: err });
    }
  });
}

/** RFC 5280 path validation by pkijs; the returned path runs leaf first, anchor last. */
async function validatePath(
  leaf: CertificateFacts,
  intermediates: readonly CertificateFacts[],
  anchors: readonly CertificateFacts[],
  now: Date,
  spiffeId: string,
): Promise<CertificateFacts[]> {
  const factsOf = new Map<pkijs.Certificate, CertificateFacts>();
  for (const c of [leaf, ...intermediates, ...anchors]) factsOf.set(c.certificate, c);
  const engine = new pkijs.CertificateChainValidationEngine({
    trustedCerts: anchors.map((a) => a.certificate),
    // pkijs takes the last entry of `certs` as the end-entity certificate.
    certs: [...intermediates.map((c) => c.certificate), leaf.certificate],
    checkDate: now,
  });
  const result = await engine.verify({}, pkijsCrypto());
  if (!result.result) throw pathFailure(result, anchors, now, spiffeId);
  const path = (result.certificatePath ?? []).map((c) => factsOf.get(c));
  if (path.length < 2 || path.some((c) => c === undefined)) {
    throw new X509SvidError('path-validation', `X509-SVID ${spiffeId}: path validation returned no usable path`, { spiffeId });
  }
  return path as CertificateFacts[];
}

// pkijs result codes (CertificateChainValidationEngine): 8 validity, 41/42
// name constraints of a non-anchor CA, 60/97 no path to a trusted
// certificate; -1 wraps plain errors such as "no issuer found".
function pathFailure(
  result: pkijs.CertificateChainValidationEngineVerifyResult,
  anchors: readonly CertificateFacts[],
  now: Date,
  spiffeId: string,
): X509SvidError {
  const context = { spiffeId, pkijsCode: result.resultCode, pkijsMessage: result.resultMessage };
  const options = result.error ? { cause: result.error } : undefined;
  if (result.resultCode === 8) {
    // Leaf and intermediates were checked already, so it is the anchor.
    const rule = anchors.some((a) => now > a.notAfter) ? 'expired' : 'not-yet-valid';
    return new X509SvidError(rule, `X509-SVID ${spiffeId}: the trust anchor is not valid at ${now.toISOString()}`, context, options);
  }
  if (result.resultCode === 41 || result.resultCode === 42) {
    return new X509SvidError('name-constraints', `X509-SVID ${spiffeId}: outside the name constraints of a CA in its chain`, context, options);
  }
  if (result.resultCode === 60 || result.resultCode === 97 || /no valid certificate paths/i.test(result.resultMessage)) {
    return new X509SvidError('untrusted', `X509-SVID ${spiffeId}: does not chain to a root in its trust domain's bundle`, context, options);
  }
  return new X509SvidError('path-validation', `X509-SVID ${spiffeId}: path validation failed: ${result.resultMessage}`, context, options);
}

/**
 * URI name constraints of every CA in the path, the trust anchor included
 * (pkijs skips the anchor's), over the URI SANs of everything below it.
 */
function checkNameConstraints(path: readonly CertificateFacts[], spiffeId: string): void {
  for (let j = 1; j < path.length; j++) {
    const constraints = (path[j] as CertificateFacts).uriNameConstraints;
    if (!constraints) continue;
    for (let i = 0; i < j; i++) {
      for (const uri of (path[i] as CertificateFacts).uriSans) {
        const host = uriHost(uri);
        const permitted =
          host !== undefined &&
          (constraints.permitted.length === 0 || constraints.permitted.some((c) => hostMatches(host, c))) &&
          !constraints.excluded.some((c) => hostMatches(host, c));
        if (!permitted) {
          throw new X509SvidError(
            'name-constraints',
            `X509-SVID ${spiffeId}: ${uri} (certificate ${i + 1} of the path) is outside the URI name constraints of certificate ${j + 1}`,
            { spiffeId, uri, permitted: constraints.permitted, excluded: constraints.excluded },
          );
        }
      }
    }
  }
}

function uriHost(uri: string): string | undefined {
  const id = SpiffeId.tryParse(uri);
  if (id) return id.trustDomain;
  try {
    const host = new URL(uri).hostname;
    return host === '' ? undefined : host.toLowerCase();
  } catch {
    return undefined;
  }
}

// RFC 5280 §4.2.1.10: a URI constraint names a host; a leading "." means any host below it (not itself).
function hostMatches(host: string, constraint: string): boolean {
  const c = constraint.toLowerCase();
  return c.startsWith('.') ? host.endsWith(c) && host.length > c.length : host === c;
}

/**
 * The shared-root model (docs/architecture.md, Identity): the CA that signed the leaf must
 * speak for the leaf's trust domain. An intermediate proves that by its URI SAN
 * `spiffe://<td>`; a root of the domain's own bundle may carry no URI SAN
 * (roots made elsewhere), but if it carries one it must be that domain's.
 */
function checkSigner(path: readonly CertificateFacts[], anchors: readonly CertificateFacts[], trustDomain: string, spiffeId: string): void {
  const signer = path[1] as CertificateFacts;
  const expected = `spiffe://${trustDomain}`;
  const isAnchor = anchors.some((a) => Buffer.from(a.der).equals(signer.der));
  const speaksForDomain = signer.uriSans.length === 1 && signer.uriSans[0] === expected;
  if (speaksForDomain || (isAnchor && signer.uriSans.length === 0)) return;
  const claimed = signer.uriSans.length === 0 ? 'no URI SAN' : signer.uriSans.join(', ');
  throw new X509SvidError(
    'signer-trust-domain',
    `X509-SVID ${spiffeId}: signed by a CA that speaks for ${claimed}, not ${expected}`,
    { spiffeId, signerUris: signer.uriSans, expected },
  );
}

// ===========================================================================
// Key and certificate agreement

/**
 * Throws X509SvidError `key-mismatch` unless `privateKey` (a KeyObject or
 * PKCS#8 DER) is the key of the leaf certificate `leafDer`.
 */
export function verifyKeyMatches(leafDer: Uint8Array, privateKey: KeyObject | Uint8Array): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(leafDer);
  } catch (err) {
    throw new X509SvidError('der', 'the leaf certificate is not a DER certificate', {}, { cause: err });
  }
  let key: KeyObject;
  try {
    key = privateKey instanceof Uint8Array ? createPrivateKey({ key: Buffer.from(privateKey), format: 'der', type: 'pkcs8' }) : privateKey;
  } catch (err) {
    throw new X509SvidError('key', 'the private key is not a PKCS#8 DER key', {}, { cause: err });
  }
  if (key.type !== 'private') throw new X509SvidError('key', `expected a private key, got a ${key.type} key`);
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(key);
  } catch (err) {
    throw new X509SvidError('key-mismatch', 'the private key does not match the certificate', {}, { cause: err });
  }
  if (!matches) throw new X509SvidError('key-mismatch', 'the private key does not match the certificate');
}
