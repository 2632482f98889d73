import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './index.js';

/**
 * Config loading must be linear in the file: once it looked up line and
 * column for every key, and 40,000 services took minutes. No timing
 * assertion here (shared machines); the time is printed, and the generous
 * test timeout is only there so a quadratic regression fails instead of hanging.
 */
const SERVICES = 40_000;
const TIMEOUT_MS = 120_000;

/** `services:` with `n` small services, then `last` (lines of one more service). */
function bigConfig(n: number, last: readonly string[]): { text: string; lastLine: number } {
  const lines = ['federation: acme', 'cluster: us-east', 'services:'];
  for (let i = 0; i < n; i++) {
    lines.push(`  svc-${i}:`, `    endpoints: ["127.0.0.1:${1_000 + (i % 60_000)}"]`, '    timeouts: { connect: 1s, perTry: 2s, request: 10s }');
  }
  lines.push('  svc-last:', ...last);
  return { text: `${lines.join('\n')}\n`, lastLine: lines.length };
}

function timed<T>(what: string, run: () => T): T {
  const started = performance.now();
  try {
    return run();
  } finally {
    console.log(`${what}: ${Math.round(performance.now() - started)} ms`);
  }
}

function issuesOf(text: string, what: string): string[] {
  try {
    timed(what, () => parseConfig(text, { source: 'big.yaml', baseDir: '/etc/meshgate' }));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

describe(`a config with ${SERVICES} services`, () => {
  it('loads', { timeout: TIMEOUT_MS }, () => {
    const { text } = bigConfig(SERVICES, ['    endpoints: ["127.0.0.1:9"]']);
    const cfg = timed(`${SERVICES} services, valid`, () => parseConfig(text, { source: 'big.yaml', baseDir: '/etc/meshgate' }));
    expect(Object.keys(cfg.services)).toHaveLength(SERVICES + 1);
  });

  it('reports a key problem in the last service at its line and column', { timeout: TIMEOUT_MS }, () => {
    const { text, lastLine } = bigConfig(SERVICES, ['    endpoints: ["127.0.0.1:9"]', '    __proto__: { export: true }']);
    expect(issuesOf(text, `${SERVICES} services, __proto__ at the end`)).toEqual([`config error: big.yaml:${lastLine}:5: unknown key "__proto__"`]);
  });

  it('reports a repeated service at its line', { timeout: TIMEOUT_MS }, () => {
    const { text, lastLine } = bigConfig(SERVICES, ['    endpoints: ["127.0.0.1:9"]', '  svc-7:', '    endpoints: ["127.0.0.1:9"]']);
    expect(issuesOf(text, `${SERVICES} services, a duplicate at the end`)).toEqual([`config error: big.yaml:${lastLine - 1}:3: duplicate key "svc-7"`]);
  });

  it('reports a problem in every service, in file order', { timeout: TIMEOUT_MS }, () => {
    const { text } = bigConfig(SERVICES, ['    timeouts: { connect: 720h }']);
    const broken = text.replaceAll('connect: 1s', 'connect: 0s');
    const lines = issuesOf(broken, `${SERVICES} services, each with an error`);
    expect(lines).toHaveLength(SERVICES + 1);
    expect(lines[0]).toBe('config error: services.svc-0.timeouts.connect: "0s" is out of range (allowed 1ms to 5m)');
    expect(lines.at(-1)).toBe('config error: services.svc-last.timeouts.connect: "720h" is out of range (allowed 1ms to 5m)');
  });
});
