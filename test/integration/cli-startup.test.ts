import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertBuilt, CLI_PATH, gatewayConfig, useHarness, writeConfig } from '../harness/index.js';

const h = useHarness();

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The built CLI with stdout and stderr kept apart, both pipes as under a supervisor. */
function cli(args: readonly string[]): Promise<CliResult> {
  assertBuilt();
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_PATH, ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('meshgate run: a listener that cannot start', () => {
  it('prints one readable line on stderr naming the listener, its address and the reason, keeps the log line, exits 1', async () => {
    const dir = await h.tempDir();
    const file = await writeConfig(dir, gatewayConfig({}, { listeners: { local: 'no-such-host.invalid:4140', admin: '127.0.0.1:0' } }));

    const result = await cli(['run', '--config', file]);
    expect(result.code, result.stderr).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^meshgate: cannot start listeners\.local \(no-such-host\.invalid:4140\): the host name does not resolve.* \(getaddrinfo E[A-Z_]+ no-such-host\.invalid\)$/,
    );
    const logged = jsonLines(result.stdout).find((l) => l['msg'] === 'cannot start');
    expect(logged?.['err']).toMatchObject({ message: expect.stringContaining('no-such-host.invalid') as string });
  });

  it('names the admin listener when its port is taken, though its host name was resolved first', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    h.onCleanup(() => new Promise<void>((r) => blocker.close(() => r())));
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const dir = await h.tempDir();
    const file = await writeConfig(dir, gatewayConfig({}, { listeners: { local: '127.0.0.1:0', admin: `localhost:${port}` } }));

    const result = await cli(['run', '--config', file]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      `meshgate: cannot start listeners.admin (localhost:${port}): the address is already in use (listen EADDRINUSE: address already in use 127.0.0.1:${port})`,
    ]);
  });
});

describe('meshgate check: output to a pipe', () => {
  it('prints the whole summary of a large config before exiting', async () => {
    const services = 3_000;
    const lines = ['federation: acme', 'cluster: us-east', 'services:'];
    for (let i = 0; i < services; i++) lines.push(`  svc-${i}:`, `    endpoints: ["127.0.0.1:${1_000 + i}", "127.0.0.2:${1_000 + i}"]`);
    const file = await writeConfig(await h.tempDir(), `${lines.join('\n')}\n`);

    const result = await cli(['check', '--offline', '--config', file]);
    expect(result.code, result.stderr).toBe(0);
    const out = result.stdout.split('\n');
    expect(out).toContain(`services (${services}):`);
    expect(out.filter((l) => l.startsWith('  svc-'))).toHaveLength(services);
    expect(out.at(-2)).toMatch(/^ {2}svc-2999: http, 2 endpoints/);
  });
});

describe('meshgate ca: certificate lifetimes are not timers', () => {
  it('makes a 10-year root with the usage\'s own --ttl 87600h, and refuses a lifetime past 100 years', async () => {
    const out = path.join(await h.tempDir(), 'root');
    const made = await cli(['ca', 'init', '--trust-domain', 'td.example', '--out', out, '--ttl', '87600h']);
    expect(made.code, made.stderr).toBe(0);
    const cert = new X509Certificate(await readFile(path.join(out, 'ca.pem')));
    const years = (Date.parse(cert.validTo) - Date.now()) / (365 * 24 * 3_600_000);
    expect(years).toBeGreaterThan(9.9);
    expect(years).toBeLessThan(10.1);

    const refused = await cli(['ca', 'init', '--trust-domain', 'td.example', '--out', path.join(out, '..', 'other'), '--ttl', '876001h']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('meshgate ca: --ttl: "876001h" is out of range (allowed 1s to 876000h)\n');
  });
});
