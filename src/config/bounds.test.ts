import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BOUNDS, MAX_CONFIG_FILE_BYTES } from './bounds.js';
import { DEFAULTS } from './defaults.js';
import { loadConfig } from './index.js';
import { errorsOf, minimal, parse } from './testing/config-text.js';

const identity = (keys: string): string => minimal(`identity:\n  trustDomain: td.example\n  ca: ./ca\n${keys}`);
const service = (section: string): string => minimal(`services:\n  payments:\n    ${section}\n`);

describe('config bounds: the values the issue found', () => {
  it('rejects maxHeaderBytes 5000000000 and 1500000000, naming the field and the range', () => {
    for (const n of [5_000_000_000, 1_500_000_000]) {
      expect(errorsOf(minimal(`limits: { maxHeaderBytes: ${n} }\n`))).toEqual([
        `config error: limits.maxHeaderBytes: ${n} is out of range (allowed 1024 to 8388608 bytes, 1 KiB to 8 MiB)`,
      ]);
    }
  });

  it('rejects a 5,000-character federation name, quoting only its start', () => {
    const name = 'a'.repeat(5_000);
    const [line, ...rest] = errorsOf(`federation: ${name}\ncluster: us-east\n`);
    expect(rest).toEqual([]);
    expect(line).toBe(
      `config error: federation: "${'a'.repeat(64)}…" (5000 characters) is too long (at most 63 characters: it is used in NATS subjects and SPIFFE IDs)`,
    );
  });

  it('rejects a 30-day duration in every duration field, naming the field and its range', () => {
    const cases: [string, string, string][] = [
      [minimal('limits: { headersTimeout: 720h }\n'), 'limits.headersTimeout', '500ms to 10m'],
      [minimal('limits: { drainTimeout: 720h }\n'), 'limits.drainTimeout', '0s to 1h'],
      [identity('  svidTtl: 720h\n'), 'identity.svidTtl', '30s to 96h'],
      [identity('  caTtl: 720h\n'), 'identity.caTtl', '3m to 576h'],
      [identity('  bundleRefreshHint: 720h\n'), 'identity.bundleRefreshHint', '1s to 24h'],
      [service('timeouts: { connect: 720h }'), 'services.payments.timeouts.connect', '1ms to 5m'],
      [service('timeouts: { perTry: 720h }'), 'services.payments.timeouts.perTry', '1ms to 24h'],
      [service('timeouts: { request: 720h }'), 'services.payments.timeouts.request', '1ms to 24h'],
      [service('healthCheck: { interval: 720h }'), 'services.payments.healthCheck.interval', '100ms to 1h'],
      [service('healthCheck: { timeout: 720h }'), 'services.payments.healthCheck.timeout', '1ms to 5m'],
    ];
    for (const [text, field, range] of cases) {
      expect(errorsOf(text)).toContain(`config error: ${field}: "720h" is out of range (allowed ${range})`);
    }
  });
});

describe('config bounds: every bound is inclusive and one step past it is refused', () => {
  it.each([
    ['limits.maxHeaderBytes', (n: string) => minimal(`limits: { maxHeaderBytes: ${n} }\n`), '1024', '8388608', '1023', '8388609'],
    ['limits.headersTimeout', (d: string) => minimal(`limits: { headersTimeout: ${d} }\n`), '500ms', '10m', '499ms', '600001ms'],
    ['limits.drainTimeout', (d: string) => minimal(`limits: { drainTimeout: ${d} }\n`), '0s', '1h', undefined, '3600001ms'],
    ['identity.svidTtl', (d: string) => identity(`  svidTtl: ${d}\n  caTtl: 576h\n`), '30s', '96h', '29999ms', '345600001ms'],
    ['identity.caTtl', (d: string) => identity(`  svidTtl: 30s\n  caTtl: ${d}\n`), '3m', '576h', '179999ms', '2073600001ms'],
    ['identity.bundleRefreshHint', (d: string) => identity(`  bundleRefreshHint: ${d}\n`), '1s', '24h', '999ms', '86400001ms'],
    ['services.payments.healthCheck.interval', (d: string) => service(`healthCheck: { interval: ${d} }`), '100ms', '1h', '99ms', '3600001ms'],
    ['services.payments.healthCheck.timeout', (d: string) => service(`healthCheck: { timeout: ${d} }`), '1ms', '5m', '0s', '300001ms'],
    ['services.payments.healthCheck.healthyThreshold', (n: string) => service(`healthCheck: { healthyThreshold: ${n} }`), '1', '100', '0', '101'],
    ['services.payments.healthCheck.unhealthyThreshold', (n: string) => service(`healthCheck: { unhealthyThreshold: ${n} }`), '1', '100', '0', '101'],
    ['services.payments.failover.overprovisioning', (n: string) => service(`failover: { overprovisioning: ${n} }`), '1', '100', '0.99', '100.5'],
    ['services.payments.timeouts.connect', (d: string) => service(`timeouts: { connect: ${d}, perTry: 5m, request: 5m }`), '1ms', '5m', '0s', '300001ms'],
    ['services.payments.timeouts.request', (d: string) => service(`timeouts: { connect: 1ms, perTry: 1ms, request: ${d} }`), '1ms', '24h', '0s', '86400001ms'],
  ])('%s', (field, config, min, max, belowMin, aboveMax) => {
    expect(() => parse(config(min))).not.toThrow();
    expect(() => parse(config(max))).not.toThrow();
    for (const bad of [belowMin, aboveMax]) {
      if (bad === undefined) continue;
      const lines = errorsOf(config(bad));
      expect(lines.some((l) => l.startsWith(`config error: ${field}: `) && l.includes('out of range (allowed '))).toBe(true);
    }
  });

  it('takes names of 63 characters and refuses 64: federation, cluster, replica, tiers, region, zone', () => {
    const long = (n: number) => 'n'.repeat(n);
    const cfg = parse(
      `federation: ${long(63)}\ncluster: ${long(63)}\nreplica: ${long(63)}\nregion: ${long(63)}\nzone: ${long(63)}\n` +
        `services:\n  ${long(63)}:\n    failover: { order: [local, ${long(63)}] }\n`,
    );
    expect([cfg.federation, cfg.cluster, cfg.replica, cfg.region, cfg.zone].map((s) => s?.length)).toEqual([63, 63, 63, 63, 63]);
    const lines = errorsOf(
      `federation: ${long(64)}\ncluster: ${long(64)}\nreplica: ${long(64)}\nregion: ${long(64)}\nzone: ${long(64)}\n` +
        `services:\n  payments:\n    failover: { order: [local, ${long(64)}] }\n`,
    );
    expect(lines.map((l) => l.split(':')[1]?.trim())).toEqual([
      'federation',
      'cluster',
      'replica',
      'region',
      'zone',
      'services.payments.failover.order[1]',
    ]);
    for (const line of lines) expect(line).toMatch(/is too long (for a cluster name )?\(at most 63 characters/);
  });

  it('puts every default inside its bound', () => {
    const d = DEFAULTS;
    const pairs: [number, { min: number; max: number }][] = [
      [d.limits.maxHeaderBytes, BOUNDS.limits.maxHeaderBytes],
      [d.limits.headersTimeoutMs, BOUNDS.limits.headersTimeoutMs],
      [d.limits.drainTimeoutMs, BOUNDS.limits.drainTimeoutMs],
      [d.identity.svidTtlMs, BOUNDS.identity.svidTtlMs],
      [d.identity.caTtlMs, BOUNDS.identity.caTtlMs],
      [d.identity.bundleRefreshHintMs, BOUNDS.identity.bundleRefreshHintMs],
      [d.service.timeouts.connectMs, BOUNDS.timeouts.connectMs],
      [d.service.timeouts.perTryMs, BOUNDS.timeouts.perTryMs],
      [d.service.timeouts.requestMs, BOUNDS.timeouts.requestMs],
      [d.service.healthCheck.intervalMs, BOUNDS.healthCheck.intervalMs],
      [d.service.healthCheck.timeoutMs, BOUNDS.healthCheck.timeoutMs],
      [d.service.healthCheck.healthyThreshold, BOUNDS.healthCheck.healthyThreshold],
      [d.service.healthCheck.unhealthyThreshold, BOUNDS.healthCheck.unhealthyThreshold],
      [d.service.failover.overprovisioning, BOUNDS.failover.overprovisioning],
    ];
    for (const [value, range] of pairs) expect(value >= range.min && value <= range.max, `${value} in ${JSON.stringify(range)}`).toBe(true);
  });

  it('keeps the federation listener\'s HTTP/2 header limit (4 × maxHeaderBytes) within Node\'s 2^32-1', () => {
    expect(4 * BOUNDS.limits.maxHeaderBytes.max).toBeLessThanOrEqual(2 ** 32 - 1);
  });
});

describe('config file size', () => {
  it('refuses a file over the limit before parsing it, naming the file and the limit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshgate-size-'));
    try {
      const file = join(dir, 'big.yaml');
      // Valid YAML all the way: a comment line repeated past the limit.
      const text = `${minimal()}${`#${'x'.repeat(1_022)}\n`.repeat(Math.ceil(MAX_CONFIG_FILE_BYTES / 1_024))}`;
      await writeFile(file, text);
      const size = Buffer.byteLength(text);
      await expect(loadConfig(file)).rejects.toThrow(`config error: ${file}: is ${size} bytes; a config file may be at most 16 MiB (16777216 bytes)`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses text over the limit given to parseConfig', () => {
    const text = `${minimal()}#${'x'.repeat(MAX_CONFIG_FILE_BYTES)}\n`;
    expect(errorsOf(text)).toEqual([`config error: gw.yaml: is ${text.length} bytes; a config file may be at most 16 MiB (16777216 bytes)`]);
  });

  it('reads a file at the limit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshgate-size-'));
    try {
      const file = join(dir, 'edge.yaml');
      const head = minimal();
      await writeFile(file, `${head}#${'x'.repeat(MAX_CONFIG_FILE_BYTES - head.length - 2)}\n`);
      await expect(loadConfig(file)).resolves.toMatchObject({ federation: 'acme' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
