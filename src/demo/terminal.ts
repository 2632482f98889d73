/**
 * The terminal while the live view runs: the alternate screen, redrawn in
 * place, the cursor hidden, keys read one at a time. Whatever happens (quit,
 * a signal, a crash) the terminal is given back as it was.
 */
import { writeSync } from 'node:fs';

const ENTER = '\x1b[?1049h\x1b[?25l';
const LEAVE = '\x1b[?25h\x1b[?1049l';

export class LiveTerminal {
  private active = false;
  private readonly restoreOnExit = () => this.leave();

  constructor(
    private readonly stdout: NodeJS.WriteStream,
    private readonly stdin: NodeJS.ReadStream,
  ) {}

  get width(): number {
    return this.stdout.columns || 100;
  }

  get height(): number {
    return this.stdout.rows || 40;
  }

  /** Takes the screen; `onKey` gets each key pressed (Ctrl-C arrives as "\x03": raw mode turns off the signal). */
  enter(onKey: (key: string) => void): void {
    this.active = true;
    this.stdout.write(ENTER);
    process.on('exit', this.restoreOnExit);
    if (this.stdin.isTTY) {
      this.stdin.setRawMode(true);
      this.stdin.setEncoding('utf8');
      this.stdin.on('data', (data: string) => {
        for (const key of data) onKey(key);
      });
      this.stdin.resume();
    }
  }

  /** Draws the lines from the top-left corner, clearing what was there. */
  draw(lines: readonly string[]): void {
    if (!this.active) return;
    const shown = lines.slice(0, Math.max(1, this.height - 1));
    this.stdout.write(`\x1b[H${shown.map((l) => `${l}\x1b[K`).join('\n')}\n\x1b[J`);
  }

  /** Gives the terminal back (synchronously, so that it also works in an 'exit' handler). */
  leave(): void {
    if (!this.active) return;
    this.active = false;
    process.off('exit', this.restoreOnExit);
    if (this.stdin.isTTY) {
      try {
        this.stdin.setRawMode(false);
      } catch {
        // the terminal is gone
      }
      this.stdin.pause();
    }
    try {
      writeSync(1, LEAVE);
    } catch {
      // stdout is gone
    }
  }
}
