/**
 * Trust material for multi-cluster tests, made at test time: one shared root
 * and one intermediate CA folder per cluster (DESIGN's shared-root model), and
 * the `identity:` config section each cluster's gateway needs to trust the others.
 */
import path from 'node:path';
import { CertificateAuthority, writeCaDir } from '../../src/identity/index.js';

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
