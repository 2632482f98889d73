/**
 * Text → YAML → checked shape → resolved config. Every stage collects all the
 * problems it can see before giving up, so an operator fixes a file in one
 * pass instead of one error per run.
 */
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Document, isMap, isScalar, type Node, parseDocument, visit, type YAMLError, type YAMLMap } from 'yaml';
import type { z } from 'zod';
import { MAX_CONFIG_FILE_BYTES } from './bounds.js';
import { ConfigError, type ConfigIssue, isConfigError } from './errors.js';
import { LineIndex } from './line-index.js';
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
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CONFIG_FILE_BYTES) throw tooLarge(source, bytes);
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
  const locate = nodeLocator(doc);
  return issues
    .map((issue) => ({ issue: toConfigIssue(issue, source), at: locate(issue.path) }))
    .sort((a, b) => a.at - b.at)
    .map((x) => x.issue);
}

type Ranged = { range?: [number, number, number] | null };

/**
 * Where the node at a path starts; a missing key sorts at the end of the
 * mapping that lacks it. Each mapping's keys are indexed on first use, so
 * that locating one issue per service stays linear in the file (YAMLMap.get
 * scans its items).
 */
function nodeLocator(doc: Document): (path: readonly PropertyKey[]) => number {
  const indexes = new Map<YAMLMap, Map<string, unknown>>();
  const child = (node: unknown, seg: PropertyKey): unknown => {
    if (isMap(node)) {
      let index = indexes.get(node);
      if (!index) {
        index = new Map();
        for (const pair of node.items) {
          const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
          if (key !== undefined && !index.has(key)) index.set(key, pair.value);
        }
        indexes.set(node, index);
      }
      return index.get(String(seg));
    }
    return typeof seg === 'number' && node !== null && typeof node === 'object' && 'items' in node
      ? (node as { items: unknown[] }).items[seg]
      : undefined;
  };
  return (path) => {
    let node: unknown = doc.contents;
    let last = (node as Ranged | null)?.range;
    for (const seg of path) {
      node = child(node, seg);
      const range = (node as Ranged | null | undefined)?.range;
      if (!range) return last ? last[1] : 0;
      last = range;
    }
    return last ? last[0] : 0;
  };
}

/** Read and parse a config file; relative paths in it resolve against its folder. */
export async function loadConfig(file: string): Promise<GatewayConfig> {
  return parseConfig(await readConfigFile(file), { source: file, baseDir: dirname(resolve(file)) });
}

/** The file's text, read no further than the size limit (a FIFO or /dev/zero has no size to check first). */
async function readConfigFile(file: string): Promise<string> {
  const cannotRead = (err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    return new ConfigError(file, [{ path: file, message: `cannot read (${code})` }], { cause: err });
  };
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw cannotRead(err);
  }
  try {
    const { size, isFile } = await handle.stat().then((st) => ({ size: st.size, isFile: st.isFile() }));
    if (isFile && size > MAX_CONFIG_FILE_BYTES) throw tooLarge(file, size);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(1 << 20, MAX_CONFIG_FILE_BYTES + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > MAX_CONFIG_FILE_BYTES) throw tooLarge(file, undefined);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    throw isConfigError(err) ? err : cannotRead(err);
  } finally {
    await handle.close();
  }
}

/** `bytes` is undefined when reading stopped at the limit (a pipe has no size to tell). */
function tooLarge(source: string, bytes: number | undefined): ConfigError {
  const size = bytes === undefined ? `is more than ${MAX_CONFIG_FILE_BYTES} bytes` : `is ${bytes} bytes`;
  const limit = `${MAX_CONFIG_FILE_BYTES / 1_048_576} MiB (${MAX_CONFIG_FILE_BYTES} bytes)`;
  return new ConfigError(source, [{ path: source, message: `${size}; a config file may be at most ${limit}` }]);
}

/** The file as plain data (and its syntax tree, for positions), or a ConfigError with line:col for each YAML problem. */
function readYaml(text: string, source: string): { doc: Document; data: unknown } {
  // Repeated keys are found in keyProblems: yaml's own uniqueKeys check
  // compares each key with every earlier one, quadratic in a mapping's size.
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: true });
  const lines = new LineIndex(text);
  const located = [...doc.errors, ...doc.warnings].map((e) => ({ at: e.pos[0], issue: yamlIssue(e, lines, source) }));
  located.push(...keyProblems(doc, lines, source));
  if (located.length > 0) throw new ConfigError(source, located.sort((a, b) => a.at - b.at).map((x) => x.issue));
  try {
    return { doc, data: doc.toJS() };
  } catch (err) {
    // Aliases to missing anchors and alias bombs surface only here.
    throw new ConfigError(source, [{ path: source, message: (err as Error).message }], { cause: err });
  }
}

const UNQUOTED_IPV6 = /(^|[\s,{[])\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]:\d/;

function yamlIssue(e: YAMLError, lines: LineIndex, source: string): ConfigIssue {
  const pos = e.linePos?.[0];
  const path = pos ? `${source}:${pos.line}:${pos.col}` : source;
  // prettyErrors appends " at line L, column C:" and a code excerpt; the path already says where.
  let message = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
  // An unquoted [::1]:80 starts a flow list, and yaml's message does not say so.
  if (pos && UNQUOTED_IPV6.test(lines.lineText(pos.line))) message += ' (quote bracketed IPv6 addresses, e.g. "[::1]:4140")';
  return { path, message };
}

/**
 * Keys a JS object cannot carry faithfully: a repeated key silently drops
 * the first value (how a service loses half its endpoints), `? [a, b]: x` is
 * valid YAML but has no meaning here, and `__proto__` never reaches the
 * schema's unknown-key check because nothing copies it. Positions are worked
 * out only for the keys reported.
 */
function keyProblems(doc: Document, lines: LineIndex, source: string): { at: number; issue: ConfigIssue }[] {
  const out: { at: number; issue: ConfigIssue }[] = [];
  const report = (node: unknown, message: string) => {
    const at = (node as Ranged | null)?.range?.[0] ?? 0;
    const { line, col } = lines.position(at);
    out.push({ at, issue: { path: `${source}:${line}:${col}`, message } });
  };
  const seen = new Map<YAMLMap, Set<unknown>>();
  visit(doc, {
    Pair(_, pair, path) {
      if (pair.key === null) return;
      const key = pair.key as Node;
      if (!isScalar(key)) {
        report(key, 'a key must be a plain value, not a list or mapping');
        return;
      }
      if (key.value === '__proto__') report(key, 'unknown key "__proto__"');
      const map = path[path.length - 1];
      if (!isMap(map)) return;
      let keys = seen.get(map);
      if (!keys) seen.set(map, (keys = new Set()));
      // Same rule as yaml's uniqueKeys: scalars are equal when their values are.
      if (keys.has(key.value)) report(key, `duplicate key ${JSON.stringify(String(key.value))}`);
      else keys.add(key.value);
    },
  });
  return out;
}
