/**
 * Text → YAML → checked shape → resolved config. Every stage collects all the
 * problems it can see before giving up, so an operator fixes a file in one
 * pass instead of one error per run.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Document, isScalar, parseDocument, visit, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.js';
import { errorMap, toConfigIssue, withoutImpliedRequired } from './issues.js';
import { resolveConfig } from './resolve.js';
import { configSchema } from './schema.js';
import type { GatewayConfig } from './types.js';

export interface ParseOptions {
  /** Names the config in messages, usually the file path as the user gave it. */
  readonly source: string;
  /** Relative paths in the config resolve against this folder. */
  readonly baseDir: string;
}

/** Parse, check and resolve a config from its text. Throws ConfigError listing every issue. */
export function parseConfig(text: string, opts: ParseOptions): GatewayConfig {
  const { source } = opts;
  const { doc, data } = readYaml(text, source);
  if (data === null || data === undefined) {
    throw new ConfigError(source, [{ path: source, message: 'is empty (it needs at least federation and cluster)' }]);
  }
  const parsed = configSchema.safeParse(data, { error: errorMap, reportInput: true });
  if (!parsed.success) throw new ConfigError(source, inFileOrder(withoutImpliedRequired(parsed.error.issues), doc, source));

  const { config, issues } = resolveConfig(parsed.data, resolve(opts.baseDir));
  if (issues.length > 0) throw new ConfigError(source, issues);
  return config;
}

/** zod reports a mapping's own rules after its children; the operator reads the file top-down. */
function inFileOrder(issues: readonly z.core.$ZodIssue[], doc: Document, source: string): ConfigIssue[] {
  return issues
    .map((issue) => ({ issue: toConfigIssue(issue, source), at: offsetOf(doc, issue.path) }))
    .sort((a, b) => a.at - b.at)
    .map((x) => x.issue);
}

/** Where the node at `path` starts; a missing key sorts at the end of the mapping that lacks it. */
function offsetOf(doc: Document, path: readonly PropertyKey[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as { range?: [number, number, number] } | null;
    if (node?.range) return n === path.length ? node.range[0] : node.range[1];
  }
  return 0;
}

/** Read and parse a config file; relative paths in it resolve against its folder. */
export async function loadConfig(file: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(file, [{ path: file, message: `cannot read (${code})` }], { cause: err });
  }
  return parseConfig(text, { source: file, baseDir: dirname(resolve(file)) });
}

/** The file as plain data (and its syntax tree, for positions), or a ConfigError with line:col for each YAML problem. */
function readYaml(text: string, source: string): { doc: Document; data: unknown } {
  // uniqueKeys: a repeated key silently dropping the first value is how a
  // service loses half its endpoints; yaml rejects it for us.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const issues = [...doc.errors, ...doc.warnings].map((e) => yamlIssue(e, text, source));
  issues.push(...unfitKeys(doc, text, source));
  if (issues.length > 0) throw new ConfigError(source, issues);
  try {
    return { doc, data: doc.toJS() };
  } catch (err) {
    // Aliases to missing anchors and alias bombs surface only here.
    throw new ConfigError(source, [{ path: source, message: (err as Error).message }], { cause: err });
  }
}

const UNQUOTED_IPV6 = /(^|[\s,{[])\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]:\d/;

function yamlIssue(e: YAMLError, text: string, source: string): ConfigIssue {
  const pos = e.linePos?.[0];
  const path = pos ? `${source}:${pos.line}:${pos.col}` : source;
  // prettyErrors appends " at line L, column C:" and a code excerpt; the path already says where.
  let message = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
  if (e.code === 'DUPLICATE_KEY') {
    const key = text.slice(e.pos[0]).split(/[:\n]/)[0]?.trim();
    message = key ? `duplicate key ${JSON.stringify(key)}` : 'duplicate key';
  }
  // An unquoted [::1]:80 starts a flow list, and yaml's message does not say so.
  const line = pos ? (text.split('\n')[pos.line - 1] ?? '') : '';
  if (UNQUOTED_IPV6.test(line)) message += ' (quote bracketed IPv6 addresses, e.g. "[::1]:4140")';
  return { path, message };
}

/**
 * Keys a JS object cannot carry faithfully: `? [a, b]: x` is valid YAML but
 * has no meaning here, and `__proto__` never reaches the schema's
 * unknown-key check because nothing copies it.
 */
function unfitKeys(doc: Document, text: string, source: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (pair.key === null) return;
      const at = `${source}:${lineCol(text, (pair.key as { range?: [number, number, number] }).range?.[0] ?? 0)}`;
      if (!isScalar(pair.key)) issues.push({ path: at, message: 'a key must be a plain value, not a list or mapping' });
      else if (pair.key.value === '__proto__') issues.push({ path: at, message: 'unknown key "__proto__"' });
    },
  });
  return issues;
}

function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const col = offset - before.lastIndexOf('\n');
  return `${line}:${col}`;
}
