/**
 * The encodings certificates travel in: strict base64, PEM blocks, and
 * concatenated DER as the Workload API carries it. Corrupt input is an
 * error, never silently skipped.
 */
import { EncodingError } from './errors.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Standard padded base64 only; Buffer.from(…, 'base64') alone skips junk and would accept corrupt text. */
export function decodeBase64Strict(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64');
  // Re-encoding catches stray characters, missing padding and non-zero trailing bits in one test.
  if (text.length % 4 !== 0 || !BASE64.test(text) || bytes.toString('base64') !== text) {
    throw new EncodingError('base64', 'not valid base64');
  }
  return new Uint8Array(bytes);
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
}

// RFC 7468 labelchar: printable ASCII except "-", with single inner "-" or space.
const PEM_LABEL = /^[\x21-\x2c\x2e-\x7e](?:[- ]?[\x21-\x2c\x2e-\x7e])*$/;
const PEM_BEGIN = /^-----BEGIN (.*)-----$/;

/**
 * Every PEM block in `pem`, in order. Text between blocks is allowed (RFC
 * 7468, and what `openssl x509 -text` writes) but any other line that looks
 * like a boundary is an error, as are unterminated blocks, mismatched END
 * labels, corrupt base64 and a body that is not exactly one DER element:
 * a damaged file must fail loudly rather than load fewer certificates.
 */
export function parsePemBlocks(pem: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const lines = pem.split(/\r?\n/);
  let label: string | undefined;
  let body: string[] = [];
  let beganAt = 0;
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (label === undefined) {
      if (!line.startsWith('-----')) continue;
      const m = PEM_BEGIN.exec(line);
      if (!m || !PEM_LABEL.test(m[1] as string)) throw pemError(`line ${n + 1}: malformed PEM boundary ${JSON.stringify(line)}`);
      label = m[1] as string;
      body = [];
      beganAt = n + 1;
      continue;
    }
    if (line === `-----END ${label}-----`) {
      blocks.push({ label, der: pemBody(body.join(''), label, beganAt) });
      label = undefined;
      continue;
    }
    if (line.startsWith('-----')) throw pemError(`line ${n + 1}: expected "-----END ${label}-----" for the block begun on line ${beganAt}`);
    body.push(line.replace(/[ \t]/g, ''));
  }
  if (label !== undefined) throw pemError(`the ${label} block begun on line ${beganAt} has no END line`);
  return blocks;
}

function pemBody(b64: string, label: string, line: number): Uint8Array {
  if (b64 === '') throw pemError(`the ${label} block on line ${line} is empty`);
  let der: Uint8Array;
  try {
    der = decodeBase64Strict(b64);
  } catch (err) {
    throw pemError(`the ${label} block on line ${line} is not valid base64`, err);
  }
  try {
    const end = derElementEnd(der, 0, false);
    if (end !== der.length) throw new EncodingError('der', `${der.length - end} bytes after the DER element`);
  } catch (err) {
    throw pemError(`the ${label} block on line ${line} is not one DER element: ${(err as Error).message}`, err);
  }
  return der;
}

function pemError(message: string, cause?: unknown): EncodingError {
  return new EncodingError('pem', `invalid PEM: ${message}`, {}, cause === undefined ? undefined : { cause });
}

/** The DER bodies of a PEM file whose blocks all carry `label` (another label is an error). */
export function pemToDers(pem: string, label = 'CERTIFICATE'): Uint8Array[] {
  return parsePemBlocks(pem).map((b, i) => {
    if (b.label !== label) throw pemError(`block ${i + 1} is ${JSON.stringify(b.label)}; expected only ${JSON.stringify(label)}`);
    return b.der;
  });
}

export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = encodeBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** DER values back to back (a chain, a bundle's roots, a TLV's contents): a Buffer, which gRPC's bytes fields also take. */
export function concatDer(ders: readonly Uint8Array[]): Buffer {
  return Buffer.concat(ders);
}

/**
 * Split concatenated DER certificates (how the Workload API carries chains
 * and bundles) by walking the outer SEQUENCE headers. Empty input is an empty
 * list (an empty bundle is legal); a truncated element, a non-SEQUENCE or a
 * non-DER length is an EncodingError. Returns copies.
 */
export function splitConcatenatedDer(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < buf.length) {
    const end = derElementEnd(buf, off, true);
    out.push(buf.slice(off, end));
    off = end;
  }
  return out;
}

/** The offset just past the DER element starting at `off`. */
function derElementEnd(buf: Uint8Array, off: number, sequenceOnly: boolean): number {
  const fail = (message: string): never => {
    throw new EncodingError('der', `${message} (element at offset ${off})`, { offset: off });
  };
  const tag = buf[off] as number;
  if (sequenceOnly && tag !== 0x30) fail(`expected a SEQUENCE (0x30), found 0x${tag.toString(16).padStart(2, '0')}`);
  // Multi-byte tags never start a certificate, key or CRL; refusing them keeps the walk simple.
  if ((tag & 0x1f) === 0x1f) fail('high-tag-number form is not supported');
  if (off + 1 >= buf.length) fail('truncated: no length byte');
  const first = buf[off + 1] as number;
  let header = 2;
  let length = first;
  if (first === 0x80) fail('indefinite length is not DER');
  if (first > 0x80) {
    const n = first & 0x7f;
    // 4 length bytes is already 4 GiB; more is garbage, not a certificate.
    if (n > 4) fail(`length of ${n} bytes is too large`);
    if (off + 2 + n > buf.length) fail('truncated: length bytes missing');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (buf[off + 2 + i] as number);
    if (buf[off + 2] === 0 || length < 0x80) fail('length is not in minimal (DER) form');
    header = 2 + n;
  }
  const end = off + header + length;
  if (end > buf.length) fail(`truncated: declares ${length} content bytes but only ${buf.length - off - header} remain`);
  return end;
}
