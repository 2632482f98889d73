/**
 * Offsets in a text to 1-based line and column, and lines by number: built
 * once in one pass, then each lookup is a binary search, so reporting
 * positions never rescans the text.
 */
export class LineIndex {
  /** Offset where each line starts; line 1 starts at 0. */
  private readonly starts: number[] = [0];

  constructor(private readonly text: string) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  /** `{ line, col }` of `offset`, both counted from 1. */
  position(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - (this.starts[lo] ?? 0) + 1 };
  }

  /** The text of line `line` (1-based) without its newline; '' past the end. */
  lineText(line: number): string {
    const start = this.starts[line - 1];
    if (start === undefined) return '';
    const next = this.starts[line];
    return this.text.slice(start, next === undefined ? undefined : next - 1);
  }
}
