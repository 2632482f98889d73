/**
 * Plain-text tables and time stamps for chaos test reports, printed to the
 * test's output and put in assertion messages.
 */

/** Columns padded to their widest cell; numbers right-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (r: readonly string[]) =>
    r.map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(cells[0] ?? []), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** `t` as seconds from `origin`, e.g. "+12.345 s". */
export function relTime(t: number, origin: number): string {
  const s = (t - origin) / 1000;
  return `${s >= 0 ? '+' : ''}${s.toFixed(3)} s`;
}

export const mib = (bytes: number): string => (bytes / (1024 * 1024)).toFixed(1);
