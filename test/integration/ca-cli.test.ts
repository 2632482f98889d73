import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli, useHarness } from '../harness/index.js';

const h = useHarness();
const run = promisify(execFile);

/** openssl is the independent validator: it shares no code with pkijs. */
async function openssl(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run('openssl', args);
  return stdout + stderr;
}

async function meshgate(args: string[]) {
  const result = await runCli(args);
  expect(result.code, result.output).toBe(0);
  return result.output;
}

describe('meshgate ca', () => {
  it('init a shared root and a cluster intermediate, issue an SVID: openssl -x509_strict accepts them', async () => {
    const dir = await h.tempDir();
    const root = path.join(dir, 'root');
    const cluster = path.join(dir, 'us-east');
    const svid = path.join(dir, 'web');

    await meshgate(['ca', 'init', '--trust-domain', 'acme.example', '--out', root]);
    await meshgate(['ca', 'init', '--trust-domain', 'us-east.acme.example', '--parent', root, '--out', cluster]);
    await meshgate(['ca', 'issue', '--ca', cluster, '--spiffe-id', 'spiffe://us-east.acme.example/ns/shop/sa/web', '--out', svid]);

    const chain = path.join(svid, 'svid.pem');
    const bundle = path.join(svid, 'bundle.pem');
    expect(await openssl('verify', '-x509_strict', '-CAfile', bundle, '-untrusted', chain, chain)).toContain(': OK');
    expect(await openssl('verify', '-x509_strict', '-CAfile', path.join(root, 'bundle.pem'), path.join(cluster, 'ca.pem'))).toContain(': OK');

    const leaf = await openssl('x509', '-in', chain, '-noout', '-text');
    expect(leaf).toContain('CA:FALSE');
    expect(leaf).toMatch(/X509v3 Key Usage: critical\s+Digital Signature/);
    expect(leaf).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    expect(leaf).toContain('URI:spiffe://us-east.acme.example/ns/shop/sa/web');

    const intermediate = await openssl('x509', '-in', path.join(cluster, 'ca.pem'), '-noout', '-text');
    expect(intermediate).toContain('CA:TRUE');
    expect(intermediate).toContain('URI:spiffe://us-east.acme.example');
    expect(intermediate).toMatch(/Name Constraints[^]*Permitted:[^]*URI:us-east\.acme\.example/);

    for (const key of [path.join(svid, 'svid.key'), path.join(cluster, 'ca.key'), path.join(root, 'ca.key')]) {
      expect((await stat(key)).mode & 0o777).toBe(0o600);
    }
  });

  it('bundle prints the SPIFFE JSON or PEM trust bundle of the CA', async () => {
    const dir = await h.tempDir();
    await meshgate(['ca', 'init', '--trust-domain', 'eu-west.acme.example', '--out', dir]);

    const json = JSON.parse(await meshgate(['ca', 'bundle', '--ca', dir])) as {
      keys: { use: string; x5c: string[] }[];
      spiffe_refresh_hint: number;
    };
    expect(json.keys).toHaveLength(1);
    expect(json.keys[0]?.use).toBe('x509-svid');
    expect(json.spiffe_refresh_hint).toBe(300);

    const pem = await meshgate(['ca', 'bundle', '--ca', dir, '--format', 'pem']);
    const rootPem = await readFile(path.join(dir, 'bundle.pem'), 'utf8');
    expect(pem.trim()).toBe(rootPem.trim());
  });

  it('exits 2 naming the problem: bad SPIFFE ID, foreign trust domain, missing CA folder, TTL beyond the CA', async () => {
    const dir = await h.tempDir();
    const ca = path.join(dir, 'ca');
    await meshgate(['ca', 'init', '--trust-domain', 'td.example', '--out', ca, '--ttl', '2h']);

    const cases: [string[], string][] = [
      [['ca', 'issue', '--ca', ca, '--spiffe-id', 'spiffe://td.example/a//b', '--out', dir], '--spiffe-id'],
      [['ca', 'issue', '--ca', ca, '--spiffe-id', 'spiffe://other.example/x', '--out', dir], 'not in the CA\'s trust domain td.example'],
      [['ca', 'issue', '--ca', path.join(dir, 'nope'), '--spiffe-id', 'spiffe://td.example/x', '--out', dir], path.join(dir, 'nope')],
      [['ca', 'issue', '--ca', ca, '--spiffe-id', 'spiffe://td.example/x', '--out', dir, '--ttl', '3h'], '--ttl: 3h is longer than the CA\'s remaining life'],
      [['ca', 'init', '--trust-domain', 'Bad_Domain', '--out', dir], '--trust-domain'],
    ];
    for (const [args, expected] of cases) {
      const result = await runCli(args);
      expect(result.code, `${args.join(' ')}\n${result.output}`).toBe(2);
      expect(result.output).toContain(expected);
    }
  });
});
