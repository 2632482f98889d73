/**
 * The one error type the config part throws. Callers (the CLI) branch on
 * `code`, not on `instanceof`, so that a second copy of this module (tests,
 * bundlers) cannot break the check.
 */

export interface ConfigIssue {
  /**
   * Where the problem is: a dotted config path with `[i]` for list indices
   * (`services.payments.endpoints[1]`), or the source itself for problems of
   * the whole file (`gw.yaml`, `gw.yaml:3:7` for YAML syntax).
   */
  readonly path: string;
  readonly message: string;
}

export const CONFIG_ERROR_CODE = 'MESHGATE_CONFIG';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = CONFIG_ERROR_CODE;
  readonly issues: readonly ConfigIssue[];
  /** The file (or other label) the config came from. */
  readonly source: string;

  constructor(source: string, issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    // An error without issues would print nothing useful; make it say so.
    const list = issues.length > 0 ? issues : [{ path: source, message: 'invalid configuration' }];
    super(formatIssues(list), options);
    this.issues = Object.freeze([...list]);
    this.source = source;
  }
}

/** One line per issue: `config error: <path>: <message>`. */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `config error: ${i.path}: ${i.message}`).join('\n');
}

export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof Error && (err as { code?: unknown }).code === CONFIG_ERROR_CODE;
}
