import type { Readable, Writable } from 'node:stream';

/**
 * Relays `source` into `dest` with backpressure, as a promise that settles
 * when the source has ended (resolve) or either side failed or closed early
 * (reject). Hand-written rather than `pipe()` or `stream/promises`
 * pipeline: this runs once or twice per request, and those allocate a dozen
 * closures and listeners each (pipeline also an AbortController and, on
 * every finish, a DOMException), which showed up in a busy gateway's GC.
 * Unlike pipeline it destroys neither side on failure: the caller cancels
 * the upstream exchange and answers the client. The rest of the source is
 * then read and dropped, so that a client blocked on flow control is not
 * left waiting.
 */
export function pipeBody(source: Readable, dest: Writable, options: { end: boolean }): Promise<void> {
  if (source.readableEnded) return Promise.resolve();
  if (source.destroyed || dest.destroyed || dest.writableEnded) {
    source.resume();
    return Promise.reject(new Error('a side of the body relay was already closed'));
  }
  return new Promise((resolve, reject) => new BodyRelay(source, dest, options.end, resolve, reject).start());
}

/** One relay's listeners, as methods bound once: fewer objects than a closure each. */
class BodyRelay {
  private readonly onData = (chunk: Buffer | string) => {
    if (!this.dest.write(chunk)) {
      this.source.pause();
      this.dest.once('drain', this.onDrain);
    }
  };
  private readonly onDrain = () => this.source.resume();
  private readonly onEnd = () => {
    if (this.end) this.dest.end();
    this.settle();
  };
  private readonly onError = (err: Error) => this.settle(err);
  private readonly onSourceClose = () => {
    if (!this.source.readableEnded) this.settle(new Error('the source closed before its end'));
  };
  private readonly onDestClose = () => {
    if (!this.source.readableEnded) this.settle(new Error('the destination closed before the source ended'));
  };

  constructor(
    private readonly source: Readable,
    private readonly dest: Writable,
    private readonly end: boolean,
    private readonly resolve: () => void,
    private readonly reject: (err: Error) => void,
  ) {}

  start(): void {
    const { source, dest } = this;
    source.on('data', this.onData);
    source.once('end', this.onEnd);
    source.once('error', this.onError);
    source.once('close', this.onSourceClose);
    dest.once('error', this.onError);
    dest.once('close', this.onDestClose);
    // As pipe() does: wait for a destination that is already full, else flow.
    if (dest.writableNeedDrain) {
      source.pause();
      dest.once('drain', this.onDrain);
    } else {
      source.resume();
    }
  }

  private settle(err?: Error): void {
    const { source, dest } = this;
    source.off('data', this.onData);
    source.off('end', this.onEnd);
    source.off('error', this.onError);
    source.off('close', this.onSourceClose);
    dest.off('error', this.onError);
    dest.off('close', this.onDestClose);
    dest.off('drain', this.onDrain);
    if (err) {
      source.resume();
      this.reject(err);
    } else {
      this.resolve();
    }
  }
}
