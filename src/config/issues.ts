/**
 * From zod's issues to ours: dotted paths with `[i]` for list indices, and
 * plain words for the few messages zod writes itself (wrong kind of value
 * for a mapping or a list). Every other message was written by values.ts or
 * schema.ts already.
 */
import type { z } from 'zod';
import { typeError } from './check.js';
import type { ConfigIssue } from './errors.js';

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `["services", "payments", "endpoints", 1]` → `services.payments.endpoints[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const key = String(seg);
      // Keys with dots or spaces would make the path ambiguous; quote them.
      if (PLAIN_KEY.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

const KIND: Record<string, string> = { object: 'a mapping', record: 'a mapping', array: 'a list' };

/** Messages for the issues zod raises on its own. */
export const errorMap: z.core.$ZodErrorMap = (iss) => {
  if (iss.code === 'invalid_type') {
    const r = typeError(KIND[iss.expected] ?? iss.expected, iss.input);
    return r.ok ? undefined : r.error;
  }
  return undefined;
};

/** Issues of the whole file (empty path) are reported against the source. */
export function toConfigIssue(issue: z.core.$ZodIssue, source: string): ConfigIssue {
  return { path: formatPath(displayPath(issue)) || source, message: issue.message };
}

/** An unknown key is a problem of the mapping that holds it: `services.payments: unknown key "x"`. */
function displayPath(issue: z.core.$ZodIssue): readonly PropertyKey[] {
  const unknownKey = issue.code === 'custom' && issue.params?.['unknownKey'] === true;
  return unknownKey ? issue.path.slice(0, -1) : issue.path;
}

/**
 * `trustdomain:` for `trustDomain:` is one mistake, not two: when an unknown
 * key's suggestion is a required key that is missing, the did-you-mean
 * already says everything and "is required" would only add noise.
 */
export function withoutImpliedRequired(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const suggested = new Set<string>();
  for (const i of issues) {
    const suggestion = i.code === 'custom' ? i.params?.['suggestion'] : undefined;
    if (typeof suggestion === 'string') suggested.add(pathKey([...i.path.slice(0, -1), suggestion]));
  }
  return issues.filter((i) => !(i.message === 'is required' && suggested.has(pathKey(i.path))));
}

const pathKey = (path: readonly PropertyKey[]): string => JSON.stringify(path.map(String));
