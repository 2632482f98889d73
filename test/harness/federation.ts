/**
 * Trust material for multi-cluster tests, made at test time: one shared root
 * and one intermediate CA folder per cluster (the shared-root model, docs/architecture.md,
 * Identity), and the `identity:` config section each cluster's gateway needs
 * to trust the others.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CertificateAuthority, writeCaDir } from '../../src/identity/index.js';
import { runCli } from './gateway-process.js';

const DAY = 24 * 3_600_000;

export interface ClusterTrust {
  readonly cluster: string;
  readonly trustDomain: string;
  readonly caDir: string;
  /** The `identity:` section for this cluster's gateways. */
  identity(extra?: Record<string, unknown>): Record<string, unknown>;
}

export async function sharedRootTrust(dir: string, clusters: readonly string[], domain = 'test.example'): Promise<Map<string, ClusterTrust>> {
  const now = new Date();
  const root = await CertificateAuthority.createRoot({ trustDomain: domain, ttlMs: 30 * DAY, now });
  const trustDomainOf = (cluster: string) => `${cluster}.${domain}`;
  const out = new Map<string, ClusterTrust>();
  for (const cluster of clusters) {
    const caDir = path.join(dir, `ca-${cluster}`);
    await writeCaDir(caDir, await root.createIntermediate({ trustDomain: trustDomainOf(cluster), ttlMs: 20 * DAY, now }));
    out.set(cluster, {
      cluster,
      trustDomain: trustDomainOf(cluster),
      caDir,
      identity: (extra = {}) => ({
        trustDomain: trustDomainOf(cluster),
        ca: caDir,
        federation: clusters.filter((c) => c !== cluster).map((c) => ({ trustDomain: trustDomainOf(c) })),
        ...extra,
      }),
    });
  }
  return out;
}

export interface SvidCredentials {
  readonly key: string;
  /** Leaf first, then the CA chain: what a TLS client presents. */
  readonly cert: string;
}

/** An X509-SVID from `meshgate ca issue` on a CA folder, written under `dir`, as an operator would make one. */
export async function issueSvid(caDir: string, spiffeId: string, dir: string): Promise<SvidCredentials> {
  const out = path.join(dir, 'svid');
  const result = await runCli(['ca', 'issue', '--ca', caDir, '--spiffe-id', spiffeId, '--out', out]);
  if (result.code !== 0) throw new Error(`meshgate ca issue failed (${String(result.code)}): ${result.output}`);
  return { key: await readFile(path.join(out, 'svid.key'), 'utf8'), cert: await readFile(path.join(out, 'svid.pem'), 'utf8') };
}
