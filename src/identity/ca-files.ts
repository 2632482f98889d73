/**
 * The CA folder of the `meshgate ca …` commands and of the config's
 * `identity.ca`, and the SVID files `ca issue` writes:
 *
 *   ca.pem      the CA's chain, its own certificate first, up to its root
 *   ca.key      its private key, PKCS#8 PEM, mode 0600
 *   bundle.pem  the root(s) peers should trust
 *
 *   svid.pem / svid.key / bundle.pem   likewise for an X509-SVID
 *
 * Loading names the file and the problem in every error, because the person
 * reading it is an operator who just pointed a flag at the wrong folder.
 */
import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { derToPem, parsePemBlocks, pemToDers } from './encoding.js';
import { CaError, CertificateAuthority } from './certificate-authority.js';
import { isIdentityError } from './errors.js';
import type { X509Svid } from './types.js';
import { readCertificate } from './x509-verify.js';

export const CA_FILES = { chain: 'ca.pem', key: 'ca.key', bundle: 'bundle.pem' } as const;
export const SVID_FILES = { chain: 'svid.pem', key: 'svid.key', bundle: 'bundle.pem' } as const;

const DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

export interface WriteCaDirOptions {
  /** Replace an existing CA in `dir`. Off by default: overwriting ca.key destroys that CA for good. */
  readonly overwrite?: boolean;
}

/** Write `ca` into `dir` (created 0700 if missing). */
export async function writeCaDir(dir: string, ca: CertificateAuthority, options: WriteCaDirOptions = {}): Promise<void> {
  await makeDir(dir);
  if (!options.overwrite) {
    for (const name of [CA_FILES.key, CA_FILES.chain]) {
      if (await exists(join(dir, name))) {
        throw new CaError('exists', `${join(dir, name)} already exists; refusing to overwrite a CA`, { dir, file: join(dir, name) });
      }
    }
  }
  await writeAtomically(join(dir, CA_FILES.key), privateKeyPem(ca.privateKey), KEY_MODE);
  await writeAtomically(join(dir, CA_FILES.chain), ca.chain.map((der) => derToPem(der)).join(''), CERT_MODE);
  await writeAtomically(join(dir, CA_FILES.bundle), derToPem(ca.rootDer), CERT_MODE);
}

export interface LoadCaDirOptions {
  /** When the CA must still be valid; default now. */
  readonly now?: Date;
}

/**
 * The CA in `dir`. Throws CaError naming the file for: a missing folder, a
 * missing or unreadable file, bad PEM, a certificate that is not a CA, a
 * broken chain, a key that is not the certificate's, and an expired CA.
 */
export async function loadCaDir(dir: string, options: LoadCaDirOptions = {}): Promise<CertificateAuthority> {
  const now = options.now ?? new Date();
  await checkDir(dir);
  const chainFile = join(dir, CA_FILES.chain);
  const keyFile = join(dir, CA_FILES.key);
  const chain = parseCertificates(await readText(chainFile), chainFile);
  const key = parsePrivateKey(await readText(keyFile), keyFile);

  let ca: CertificateAuthority;
  try {
    ca = await CertificateAuthority.fromChain(chain, key);
  } catch (err) {
    if (!(err instanceof CaError)) throw err;
    const file =
      err.rule === 'key-type' ? keyFile : err.rule === 'key-mismatch' ? `${keyFile} and ${chainFile}` : chainFile;
    throw new CaError(err.rule, `${file}: ${err.message}`, { ...err.context, file }, { cause: err });
  }

  chain.forEach((der, i) => {
    const cert = readCertificate(der);
    if (now > cert.notAfter) {
      const which = i === 0 ? 'the CA certificate' : i === chain.length - 1 ? 'its root' : `certificate ${i + 1} of the chain`;
      throw new CaError('expired', `${chainFile}: ${which} expired at ${cert.notAfter.toISOString()}`, {
        file: chainFile,
        position: i + 1,
        notAfter: cert.notAfter.toISOString(),
        now: now.toISOString(),
      });
    }
  });
  return ca;
}

/** Write an X509-SVID (chain leaf first), its key (0600) and the bundle certificates into `dir`, replacing earlier ones. */
export async function writeSvidFiles(dir: string, svid: X509Svid, bundleDers: readonly Uint8Array[]): Promise<void> {
  if (bundleDers.length === 0) throw new CaError('chain', 'an SVID folder needs at least one bundle certificate', { dir });
  await makeDir(dir);
  await writeAtomically(join(dir, SVID_FILES.key), privateKeyPem(svid.privateKey), KEY_MODE);
  await writeAtomically(join(dir, SVID_FILES.chain), svid.chain.map((der) => derToPem(der)).join(''), CERT_MODE);
  await writeAtomically(join(dir, SVID_FILES.bundle), bundleDers.map((der) => derToPem(der)).join(''), CERT_MODE);
}

// ===========================================================================

const privateKeyPem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString();

async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new CaError('dir', `cannot create folder ${dir}: ${(err as Error).message}`, { dir }, { cause: err });
  }
}

async function checkDir(dir: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read: ${(err as Error).message}`;
    throw new CaError('dir', `CA folder ${dir} ${reason}`, { dir, errno: code }, { cause: err });
  }
  if (!isDir) throw new CaError('dir', `CA folder ${dir} is not a folder`, { dir });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CaError('file', `cannot check ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
  }
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'is missing'
        : code === 'EACCES'
          ? 'cannot be read (permission denied)'
          : code === 'EISDIR'
            ? 'is a folder, not a file'
            : `cannot be read: ${(err as Error).message}`;
    throw new CaError('file', `${file} ${reason}`, { file, errno: code }, { cause: err });
  }
}

function parseCertificates(pem: string, file: string): Uint8Array[] {
  let ders: Uint8Array[];
  try {
    ders = pemToDers(pem, 'CERTIFICATE');
  } catch (err) {
    throw new CaError('pem', `${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  if (ders.length === 0) throw new CaError('pem', `${file} holds no CERTIFICATE block`, { file });
  return ders;
}

function parsePrivateKey(pem: string, file: string): KeyObject {
  let blocks: ReturnType<typeof parsePemBlocks>;
  try {
    blocks = parsePemBlocks(pem);
  } catch (err) {
    throw new CaError('pem', `${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  const block = blocks[0];
  if (blocks.length !== 1 || block === undefined) {
    throw new CaError('pem', `${file} must hold exactly one PRIVATE KEY block; it has ${blocks.length}`, { file });
  }
  if (block.label !== 'PRIVATE KEY') {
    const hint =
      block.label === 'EC PRIVATE KEY'
        ? ' (a SEC1 key: convert it with `openssl pkcs8 -topk8 -nocrypt`)'
        : block.label === 'ENCRYPTED PRIVATE KEY'
          ? ' (encrypted keys are not supported)'
          : '';
    throw new CaError('pem', `${file} holds a ${block.label} block; expected an unencrypted PKCS#8 PRIVATE KEY${hint}`, { file, label: block.label });
  }
  try {
    return createPrivateKey({ key: Buffer.from(block.der), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new CaError('key-type', `${file} is not a valid PKCS#8 private key: ${(err as Error).message}`, { file }, { cause: err });
  }
}

/**
 * Readers never see a half-written file, and an existing file's looser mode
 * never survives: the content goes to a fresh file created with `mode`,
 * which then replaces the target.
 */
async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, content, { mode, flag: 'wx' });
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    if (isIdentityError(err)) throw err;
    throw new CaError('file', `cannot write ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
}
