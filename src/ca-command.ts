import { parseArgs } from 'node:util';
import { checkDurationIn, formatDuration } from './config/index.js';
import {
  CertificateAuthority,
  derToPem,
  loadCaDir,
  serializeSpiffeBundle,
  SpiffeId,
  parseTrustDomain,
  writeCaDir,
  writeSvidFiles,
} from './identity/index.js';

/** A problem with what the operator typed: exit 2, naming the flag. */
export class CaUsageError extends Error {
  override readonly name = 'CaUsageError';
}

const YEAR_MS = 365 * 24 * 3_600_000;
// An offline root lives long and is rotated by hand; a cluster's
// intermediate a year; the gateway's own signing CAs rotate daily under it.
const ROOT_TTL_MS = 10 * YEAR_MS;
const INTERMEDIATE_TTL_MS = YEAR_MS;
const SVID_TTL_MS = 3_600_000;
const BUNDLE_REFRESH_HINT_SECONDS = 300;

export const CA_USAGE = `  meshgate ca init --trust-domain TD --out DIR [--parent DIR] [--ttl 87600h]
                                 a root CA, or with --parent an intermediate signed by it
  meshgate ca issue --ca DIR --spiffe-id ID --out DIR [--ttl 1h]
                                 an X509-SVID: svid.pem (leaf first), svid.key, bundle.pem
  meshgate ca bundle --ca DIR [--format spiffe|pem]
                                 the trust bundle of the CA's trust domain, on stdout`;

export async function caCommand(args: string[], out: (text: string) => void): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'init':
      return caInit(rest, out);
    case 'issue':
      return caIssue(rest, out);
    case 'bundle':
      return caBundle(rest, out);
    default:
      throw new CaUsageError(sub ? `unknown ca command "${sub}"` : 'ca needs a command: init, issue or bundle');
  }
}

async function caInit(args: string[], out: (text: string) => void): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: { 'trust-domain': { type: 'string' }, out: { type: 'string' }, parent: { type: 'string' }, ttl: { type: 'string' } },
  });
  const trustDomain = required(values['trust-domain'], '--trust-domain');
  const dir = required(values.out, '--out');
  try {
    parseTrustDomain(trustDomain);
  } catch (err) {
    throw new CaUsageError(`--trust-domain: ${(err as Error).message}`);
  }
  const now = new Date();
  let ca: CertificateAuthority;
  if (values.parent) {
    const parent = await loadCaDir(values.parent);
    const ttlMs = ttl(values.ttl, INTERMEDIATE_TTL_MS);
    checkWithin(parent, ttlMs, now);
    ca = await parent.createIntermediate({ trustDomain, ttlMs, now });
  } else {
    ca = await CertificateAuthority.createRoot({ trustDomain, ttlMs: ttl(values.ttl, ROOT_TTL_MS), now });
  }
  await writeCaDir(dir, ca);
  out(
    `${ca.isRoot ? 'root' : 'intermediate'} CA for ${trustDomain} written to ${dir} (ca.pem, ca.key, bundle.pem), ` +
      `valid until ${ca.notAfter.toISOString()}\n`,
  );
}

async function caIssue(args: string[], out: (text: string) => void): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: { ca: { type: 'string' }, 'spiffe-id': { type: 'string' }, out: { type: 'string' }, ttl: { type: 'string' } },
  });
  const caDir = required(values.ca, '--ca');
  const dir = required(values.out, '--out');
  const rawId = required(values['spiffe-id'], '--spiffe-id');
  let spiffeId: SpiffeId;
  try {
    spiffeId = SpiffeId.parse(rawId);
  } catch (err) {
    throw new CaUsageError(`--spiffe-id: ${(err as Error).message}`);
  }
  const ca = await loadCaDir(caDir);
  if (spiffeId.trustDomain !== ca.trustDomain) {
    throw new CaUsageError(`--spiffe-id: ${rawId} is not in the CA's trust domain ${ca.trustDomain}`);
  }
  const now = new Date();
  const ttlMs = ttl(values.ttl, SVID_TTL_MS);
  checkWithin(ca, ttlMs, now);
  const svid = await ca.issueX509Svid({ spiffeId: rawId, ttlMs, now });
  await writeSvidFiles(dir, svid, [ca.rootDer]);
  out(`X509-SVID for ${rawId} written to ${dir} (svid.pem, svid.key, bundle.pem), valid until ${svid.notAfter.toISOString()}\n`);
}

async function caBundle(args: string[], out: (text: string) => void): Promise<void> {
  const { values } = parseArgs({ args, strict: true, options: { ca: { type: 'string' }, format: { type: 'string' } } });
  const ca = await loadCaDir(required(values.ca, '--ca'));
  const format = values.format ?? 'spiffe';
  if (format === 'pem') return out(derToPem(ca.rootDer));
  if (format !== 'spiffe') throw new CaUsageError(`--format: "${format}" is not spiffe or pem`);
  out(
    serializeSpiffeBundle({
      trustDomain: ca.trustDomain,
      x509Authorities: [ca.rootDer],
      jwtAuthorities: [],
      sequence: 1n,
      refreshHintSeconds: BUNDLE_REFRESH_HINT_SECONDS,
    }) + '\n',
  );
}

function required(value: string | undefined, flag: string): string {
  if (!value) throw new CaUsageError(`${flag} is required`);
  return value;
}

/**
 * Certificate lifetimes are dates in the certificate, never a timer, so they
 * may exceed what config durations allow (the usage suggests 87600h, 10 years).
 */
const CERT_TTL_RANGE = { min: 1_000, max: 100 * 8_760 * 3_600_000 };

function ttl(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const r = checkDurationIn(text, CERT_TTL_RANGE);
  if (!r.ok) throw new CaUsageError(`--ttl: ${r.error}`);
  return r.value;
}

function checkWithin(ca: CertificateAuthority, ttlMs: number, now: Date): void {
  const remaining = ca.notAfter.getTime() - now.getTime();
  if (ttlMs > remaining) {
    throw new CaUsageError(
      `--ttl: ${formatDuration(ttlMs)} is longer than the CA's remaining life (${formatDuration(Math.max(0, remaining))}, until ${ca.notAfter.toISOString()})`,
    );
  }
}
