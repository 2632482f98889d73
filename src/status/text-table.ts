/** Plain-text tables: aligned columns, no colors, the last column wrapped to fit the width. */

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. */
  readonly align?: 'left' | 'right';
}

const GAP = '  ';
/** Below this many columns left for the last cell, wrapping would make a ribbon; the line runs long instead. */
const MIN_WRAP_WIDTH = 24;

/**
 * Lays out `rows` under `columns`. Every column is as wide as its widest
 * cell; the last one, usually a reason, is wrapped at spaces so that lines
 * stay within `width`, its continuation lines indented to where it starts.
 */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[], width: number): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const lastStart = widths.slice(0, -1).reduce((sum, w) => sum + w + GAP.length, 0);
  const lastWidth = width - lastStart;
  const line = (cells: readonly string[]): string[] => {
    const fixed = columns.slice(0, -1).map((c, i) => pad(cells[i] ?? '', widths[i] ?? 0, c.align));
    const last = cells[columns.length - 1] ?? '';
    const [first = '', ...more] = lastWidth >= MIN_WRAP_WIDTH ? wrap(last, lastWidth) : [last];
    const head = columns.length > 1 ? [...fixed, first].join(GAP) : first;
    return [head.trimEnd(), ...more.map((part) => ' '.repeat(lastStart) + part)];
  };
  return [...line(columns.map((c) => c.header)), ...rows.flatMap(line)];
}

function pad(text: string, width: number, align: Column['align']): string {
  return align === 'right' ? text.padStart(width) : text.padEnd(width);
}

/** Splits at spaces into lines of at most `width`; a word longer than that gets a line of its own. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else {
      current = current ? `${current} ${word}` : word;
    }
  }
  lines.push(current);
  return lines;
}
