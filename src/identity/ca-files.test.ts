import { execFileSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_FILES, SVID_FILES, loadCaDir, writeCaDir, writeSvidFiles } from './ca-files.js';
import { CaError, CertificateAuthority } from './certificate-authority.js';
import { verifyKeyMatches, verifyX509Svid } from './x509-verify.js';

const HOUR = 3_600_000;
const now = new Date();
const US = 'us-east.acme.example';

let base: string;
let root: CertificateAuthority;
let usEast: CertificateAuthority;
let counter = 0;
const freshDir = () => join(base, `case-${++counter}`);
const mode = (path: string) => statSync(path).mode & 0o777;
const pemOf = (der: Uint8Array) => new X509Certificate(der).toString();

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'meshgate-ca-files-'));
  root = await CertificateAuthority.createRoot({ trustDomain: 'acme.example', ttlMs: 30 * 24 * HOUR, now });
  usEast = await root.createIntermediate({ trustDomain: US, now });
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A CA folder as writeCaDir leaves it, for tests that then damage it. */
async function caDir(ca = usEast): Promise<string> {
  const dir = freshDir();
  await writeCaDir(dir, ca);
  return dir;
}

async function loadError(dir: string, at = now): Promise<CaError> {
  const err = await loadCaDir(dir, { now: at }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CaError);
  return err as CaError;
}

describe('writeCaDir', () => {
  it('writes ca.pem (leaf first), ca.key (PKCS#8, 0600) and bundle.pem (the root), in a 0700 folder', async () => {
    const dir = join(freshDir(), 'nested');
    await writeCaDir(dir, usEast);
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, CA_FILES.key))).toBe(0o600);
    expect(readFileSync(join(dir, CA_FILES.chain), 'utf8')).toBe(pemOf(usEast.certificate) + pemOf(root.certificate));
    expect(readFileSync(join(dir, CA_FILES.bundle), 'utf8')).toBe(pemOf(root.certificate));
    const key = readFileSync(join(dir, CA_FILES.key), 'utf8');
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('refuses to overwrite an existing CA unless asked, and then still leaves the key 0600', async () => {
    const dir = await caDir();
    await expect(writeCaDir(dir, root)).rejects.toMatchObject({ rule: 'exists' });
    chmodSync(join(dir, CA_FILES.key), 0o644);
    await writeCaDir(dir, root, { overwrite: true });
    expect(mode(join(dir, CA_FILES.key))).toBe(0o600);
    expect((await loadCaDir(dir, { now })).trustDomain).toBe('acme.example');
  });
});

describe('loadCaDir', () => {
  it('loads what writeCaDir wrote: a root and an intermediate', async () => {
    for (const ca of [root, usEast]) {
      const loaded = await loadCaDir(await caDir(ca), { now });
      expect(loaded.trustDomain).toBe(ca.trustDomain);
      expect(loaded.chain).toEqual(ca.chain);
      expect(loaded.privateKey.equals(ca.privateKey)).toBe(true);
    }
  });

  it('gives a CA that issues SVIDs its peers accept', async () => {
    const loaded = await loadCaDir(await caDir(), { now });
    const svid = await loaded.issueX509Svid({ spiffeId: `spiffe://${US}/w`, now });
    const bundle = { trustDomain: US, x509Authorities: [root.rootDer], jwtAuthorities: [] };
    await expect(verifyX509Svid(svid.chain, () => bundle, now)).resolves.toMatchObject({ spiffeId: `spiffe://${US}/w` });
  });

  it('names a missing folder', async () => {
    const dir = join(base, 'nowhere');
    const err = await loadError(dir);
    expect(err.rule).toBe('dir');
    expect(err.message).toBe(`CA folder ${dir} does not exist`);
  });

  it('names a file given as the folder', async () => {
    const dir = await caDir();
    expect((await loadError(join(dir, CA_FILES.chain))).rule).toBe('dir');
  });

  it.each([CA_FILES.chain, CA_FILES.key])('names a missing %s', async (name) => {
    const dir = await caDir();
    unlinkSync(join(dir, name));
    const err = await loadError(dir);
    expect(err.rule).toBe('file');
    expect(err.message).toBe(`${join(dir, name)} is missing`);
    expect(err.context.file).toBe(join(dir, name));
  });

  it('names an unreadable file', async () => {
    const dir = await caDir();
    unlinkSync(join(dir, CA_FILES.key));
    mkdirSync(join(dir, CA_FILES.key));
    const err = await loadError(dir);
    expect(err.rule).toBe('file');
    expect(err.message).toContain(join(dir, CA_FILES.key));
  });

  it.skipIf(process.getuid?.() === 0)('names a file it has no permission to read', async () => {
    const dir = await caDir();
    chmodSync(join(dir, CA_FILES.key), 0o000);
    const err = await loadError(dir);
    expect(err.message).toBe(`${join(dir, CA_FILES.key)} cannot be read (permission denied)`);
  });

  it('names a key that does not match the certificate', async () => {
    const dir = await caDir();
    writeFileSync(join(dir, CA_FILES.key), root.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const err = await loadError(dir);
    expect(err.rule).toBe('key-mismatch');
    expect(err.message).toContain(join(dir, CA_FILES.key));
    expect(err.message).toContain(join(dir, CA_FILES.chain));
  });

  it('names a certificate that is not a CA', async () => {
    const dir = await caDir();
    const svid = await usEast.issueX509Svid({ spiffeId: `spiffe://${US}/w`, now });
    writeFileSync(join(dir, CA_FILES.chain), [...svid.chain, root.rootDer].map(pemOf).join(''));
    writeFileSync(join(dir, CA_FILES.key), svid.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const err = await loadError(dir);
    expect(err.rule).toBe('not-a-ca');
    expect(err.message).toMatch(new RegExp(`^${join(dir, CA_FILES.chain)}: the certificate is not a CA`));
  });

  it('names an expired CA and when it expired', async () => {
    const dir = await caDir();
    const err = await loadError(dir, new Date(usEast.notAfter.getTime() + 1000));
    expect(err.rule).toBe('expired');
    expect(err.message).toBe(`${join(dir, CA_FILES.chain)}: the CA certificate expired at ${usEast.notAfter.toISOString()}`);
  });

  const damaged: ReadonlyArray<readonly [string, string, () => string, string]> = [
    ['garbage instead of PEM', CA_FILES.chain, () => 'not a certificate at all\n', 'pem'],
    ['a truncated PEM block', CA_FILES.chain, () => '-----BEGIN CERTIFICATE-----\nMIIB\n', 'pem'],
    ['a PEM block that is not a certificate', CA_FILES.chain, () => '-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n', 'der'],
    ['a SEC1 key', CA_FILES.key, () => usEast.privateKey.export({ type: 'sec1', format: 'pem' }).toString(), 'pem'],
    ['two keys', CA_FILES.key, () => usEast.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().repeat(2), 'pem'],
    ['a corrupt PKCS#8 key', CA_FILES.key, () => '-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n', 'key-type'],
    [
      'an RSA key',
      CA_FILES.key,
      () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      'key-type',
    ],
  ];
  it.each(damaged)('names %s', async (_name, file, content, rule) => {
    const dir = await caDir();
    writeFileSync(join(dir, file), content());
    const err = await loadError(dir);
    expect(err.rule).toBe(rule);
    expect(err.message).toContain(join(dir, file));
  });

  it('hints how to convert a SEC1 key', async () => {
    const dir = await caDir();
    writeFileSync(join(dir, CA_FILES.key), usEast.privateKey.export({ type: 'sec1', format: 'pem' }));
    expect((await loadError(dir)).message).toContain('openssl pkcs8 -topk8 -nocrypt');
  });
});

describe('writeSvidFiles', () => {
  it('writes svid.pem (leaf first), svid.key (PKCS#8, 0600) and bundle.pem', async () => {
    const dir = freshDir();
    const svid = await usEast.issueX509Svid({ spiffeId: `spiffe://${US}/w`, now });
    await writeSvidFiles(dir, svid, [root.rootDer]);
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, SVID_FILES.key))).toBe(0o600);
    expect(readFileSync(join(dir, SVID_FILES.chain), 'utf8')).toBe(svid.chain.map(pemOf).join(''));
    expect(readFileSync(join(dir, SVID_FILES.bundle), 'utf8')).toBe(pemOf(root.rootDer));
    const keyPem = readFileSync(join(dir, SVID_FILES.key), 'utf8');
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const { createPrivateKey } = await import('node:crypto');
    verifyKeyMatches(svid.chain[0]!, createPrivateKey(keyPem));
  });

  it('replaces earlier files (renewal)', async () => {
    const dir = freshDir();
    const first = await usEast.issueX509Svid({ spiffeId: `spiffe://${US}/w`, now });
    const second = await usEast.issueX509Svid({ spiffeId: `spiffe://${US}/w`, now });
    await writeSvidFiles(dir, first, [root.rootDer]);
    await writeSvidFiles(dir, second, [root.rootDer]);
    expect(readFileSync(join(dir, SVID_FILES.chain), 'utf8')).toBe(second.chain.map(pemOf).join(''));
  });

  it('refuses an empty bundle', async () => {
    const svid = await usEast.issueX509Svid({ spiffeId: `spiffe://${US}/w`, now });
    await expect(writeSvidFiles(freshDir(), svid, [])).rejects.toMatchObject({ rule: 'chain' });
  });


  it('produces files openssl verifies as they are', async () => {
    const dir = freshDir();
    const svid = await usEast.issueX509Svid({ spiffeId: `spiffe://${US}/w`, now });
    await writeSvidFiles(dir, svid, [root.rootDer]);
    const out = execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', 'bundle.pem', '-untrusted', 'svid.pem', 'svid.pem'], { cwd: dir }).toString();
    expect(out.trim()).toBe('svid.pem: OK');
  });
});
