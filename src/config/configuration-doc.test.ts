/**
 * docs/configuration.md against the loader, so the reference cannot drift:
 * the keys it lists are exactly the keys the schema accepts, writing a
 * key's documented default changes nothing, a required key is required, and
 * a documented range is accepted at both ends and refused one step beyond.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import type { z } from 'zod';
import { BOUNDS } from './bounds.js';
import { parseDuration } from './duration.js';
import type { GatewayConfig } from './index.js';
import { configSchema } from './schema.js';
import { errorsOf, parse } from './testing/config-text.js';

const DOC = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));

interface DocRow {
  readonly key: string;
  readonly default: string;
  readonly range: string;
  readonly meaning: string;
}

/** The rows of every `| key | default | range | meaning |` table. */
function docRows(markdown: string): DocRow[] {
  const rows: DocRow[] = [];
  for (const line of markdown.split('\n')) {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const key = /^`([^`]+)`$/.exec(cells[0] ?? '')?.[1];
    if (cells.length !== 4 || key === undefined) continue;
    rows.push({ key, default: cells[1] as string, range: cells[2] as string, meaning: cells[3] as string });
  }
  return rows;
}

type Schema = z.core.$ZodType;
const defOf = (s: Schema) => s._zod.def as unknown as {
  type: string;
  shape?: Record<string, Schema>;
  innerType?: Schema;
  element?: Schema;
  valueType?: Schema;
};

/** Every key the schema accepts, dotted; `<name>` for a service, `[]` for the items of a list of mappings. */
function schemaKeys(schema: Schema, prefix = ''): string[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
      return schemaKeys(def.innerType as Schema, prefix);
    case 'object':
      return Object.entries(def.shape as Record<string, Schema>).flatMap(([k, s]) => schemaKeys(s, prefix ? `${prefix}.${k}` : k));
    case 'record':
      return schemaKeys(def.valueType as Schema, `${prefix}.<name>`);
    case 'array': {
      const inner = schemaKeys(def.element as Schema, `${prefix}[]`);
      // A list of plain values is one key; a list of mappings has keys of its own.
      return inner.length === 1 && inner[0] === `${prefix}[]` ? [prefix] : inner;
    }
    default:
      return [prefix];
  }
}

/** A valid file with every section present, so that each key can be set or removed alone. */
const base = (): Record<string, unknown> => ({
  federation: 'acme',
  cluster: 'us-east',
  replica: 'r1',
  nats: { servers: ['nats://127.0.0.1:4222'] },
  identity: {
    trustDomain: 'us-east.acme.example',
    ca: 'ca',
    federation: [{ trustDomain: 'eu-west.acme.example', bundle: 'eu.json' }],
    workloadApi: { socket: '/run/meshgate/workload.sock', entries: [{ spiffeId: 'spiffe://us-east.acme.example/web', selectors: ['unix:uid:1000'] }] },
  },
  services: { payments: { endpoints: ['127.0.0.1:8080'], healthCheck: {} } },
});

/** Keys only a TCP service has: checked on `payments` made a TCP service. */
const TCP_ONLY = new Set(['services.<name>.listen', 'services.<name>.timeouts.idle']);
const REQUIRED_FOR_TCP = 'required for `tcp`';
function baseFor(key: string): Record<string, unknown> {
  const file = base();
  if (TCP_ONLY.has(key)) (file.services as Record<string, unknown>).payments = { protocol: 'tcp', listen: '127.0.0.1:6380', endpoints: ['127.0.0.1:6379'], healthCheck: {} };
  return file;
}

/** The path of a documented key in `base()`, and in messages: `<name>` is payments, `[]` the first item. */
const pathOf = (key: string): (string | number)[] =>
  key.split('.').flatMap((seg) => (seg === '<name>' ? ['payments'] : seg.endsWith('[]') ? [seg.slice(0, -2), 0] : [seg]));
const messagePathOf = (key: string): string => key.replaceAll('<name>', 'payments').replaceAll('[]', '[0]');

function withKey(file: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const path = pathOf(key);
  let node = file as Record<string | number, unknown>;
  for (const seg of path.slice(0, -1)) node = (node[seg] ??= {}) as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return file;
}

const load = (file: Record<string, unknown>): GatewayConfig => parse(stringify(file));
const errorOf = (file: Record<string, unknown>): string => errorsOf(stringify(file)).join('\n');

/** Backticked value in a cell, read as YAML (`[local, any]` → a list, `1s` → "1s", `16384` → 16384). */
const backticked = (cell: string): unknown => {
  const m = /^`([^`]*)`$/.exec(cell);
  return m ? parseYaml(m[1] as string) : undefined;
};

// Keys the loader checks together: a value at one end of a range is only valid with its partners set to fit.
const TIMEOUTS = ['connect', 'perTry', 'request'] as const;
function withPartners(file: Record<string, unknown>, key: string): Record<string, unknown> {
  const timeout = TIMEOUTS.findIndex((t) => key.endsWith(`.timeouts.${t}`));
  if (timeout >= 0) {
    // Earlier ones as short as allowed, later ones as long: any value of this one keeps connect ≤ perTry ≤ request.
    TIMEOUTS.forEach((t, i) => {
      if (i !== timeout) withKey(file, `services.<name>.timeouts.${t}`, i < timeout ? '1ms' : '24h');
    });
  }
  if (key === 'identity.svidTtl') withKey(file, 'identity.caTtl', '576h');
  if (key === 'identity.caTtl') withKey(file, 'identity.svidTtl', '30s');
  return file;
}

/** One step past a bound: 1 ms for durations, 1 for numbers. */
function beyond(value: unknown, direction: -1 | 1): unknown {
  if (typeof value === 'number') return value + direction;
  const ms = parseDuration(String(value));
  return ms + direction < 0 ? undefined : `${ms + direction}ms`;
}

const rows = docRows(readFileSync(DOC, 'utf8'));
const documented = new Map(rows.map((r) => [r.key, r]));
const keys = schemaKeys(configSchema as unknown as Schema);

describe('docs/configuration.md', () => {
  it('lists every key the loader accepts, and no other', () => {
    expect(keys.length).toBeGreaterThan(40);
    expect([...documented.keys()].sort()).toEqual([...keys].sort());
    expect(rows).toHaveLength(documented.size); // no key twice
  });

  it('gives every key a default and a meaning', () => {
    for (const row of rows) {
      expect(row.meaning, row.key).not.toBe('');
      expect(['required', REQUIRED_FOR_TCP, 'none', 'the host name'].includes(row.default) || backticked(row.default) !== undefined, `${row.key}: ${row.default}`).toBe(true);
    }
  });

  it.each(rows.filter((r) => backticked(r.default) !== undefined).map((r) => [r.key, r.default] as const))(
    'the default of %s is %s: writing it changes nothing',
    (key, cell) => {
      expect(load(withKey(baseFor(key), key, backticked(cell)))).toEqual(load(withKey(baseFor(key), key, undefined)));
    },
  );

  it.each(rows.filter((r) => r.default === 'required' || r.default === REQUIRED_FOR_TCP).map((r) => [r.key] as const))('%s is required', (key) => {
    const path = messagePathOf(key);
    const parent = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : undefined;
    const last = path.slice(path.lastIndexOf('.') + 1);
    const message = errorOf(withKey(baseFor(key), key, undefined));
    // Reported at the key, or (for a list) at the mapping that lacks it.
    expect(message.includes(`${path}:`) || (parent !== undefined && message.includes(`${parent}: `) && message.includes(last))).toBe(true);
  });

  it.each(rows.filter((r) => r.range !== '').map((r) => [r.key, r.range] as const))('%s accepts %s and nothing beyond', (key, cell) => {
    const m = /^`([^`]+)`–`([^`]+)`$/.exec(cell);
    expect(m, `range ${cell}`).not.toBeNull();
    const [min, max] = [parseYaml((m as RegExpExecArray)[1] as string), parseYaml((m as RegExpExecArray)[2] as string)];
    for (const value of [min, max]) expect(() => load(withPartners(withKey(baseFor(key), key, value), key)), `${key}: ${String(value)}`).not.toThrow();
    for (const value of [beyond(min, -1), beyond(max, 1)]) {
      if (value === undefined) continue;
      expect(errorOf(withPartners(withKey(baseFor(key), key, value), key)), `${key}: ${String(value)}`).toContain(`${messagePathOf(key)}:`);
    }
  });

  it('documents a range for every bounded key', () => {
    const ranged = rows.filter((r) => r.range !== '').map((r) => r.key);
    for (const [group, bounds] of Object.entries(BOUNDS)) {
      for (const name of Object.keys(bounds)) {
        const stem = `${group}.${name.replace(/Ms$/, '')}`;
        const matching = keys.filter((k) => k === stem || k.endsWith(`.${stem}`) || k.includes(`.${stem}.`) || k.startsWith(stem));
        expect(matching.length, stem).toBeGreaterThan(0);
        for (const k of matching) expect(ranged, k).toContain(k);
      }
    }
  });
});
