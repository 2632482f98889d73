import { PassThrough, Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { pipeBody } from './pipe-body.js';

const sink = () => {
  const chunks: Buffer[] = [];
  const dest = new Writable({ write: (chunk: Buffer, _enc, done) => (chunks.push(chunk), done()) });
  return { dest, text: () => Buffer.concat(chunks).toString() };
};

describe('pipeBody', () => {
  it('resolves once the source has ended, every byte written, and leaves the destination open when asked', async () => {
    const { dest, text } = sink();
    await pipeBody(Readable.from(['a', 'b', 'c']), dest, { end: false });
    expect(text()).toBe('abc');
    expect(dest.writableEnded).toBe(false);
  });

  it('rejects when the destination closes first, and drains the rest of the source', async () => {
    const source = new PassThrough();
    const { dest } = sink();
    const done = pipeBody(source, dest, { end: true });
    source.write('x');
    dest.destroy();
    await expect(done).rejects.toThrow(/destination closed/);
    source.end('y'.repeat(1_000_000));
    await new Promise((resolve) => source.once('end', resolve));
  });

  it('rejects on a source error', async () => {
    const source = new PassThrough();
    const done = pipeBody(source, sink().dest, { end: true });
    source.destroy(new Error('reset'));
    await expect(done).rejects.toThrow('reset');
  });

  it('settles at once for sides that were already finished', async () => {
    const ended = Readable.from([]);
    ended.resume();
    await new Promise((resolve) => ended.once('end', resolve));
    await expect(pipeBody(ended, sink().dest, { end: false })).resolves.toBeUndefined();
    const closed = sink().dest;
    closed.destroy();
    await expect(pipeBody(new PassThrough(), closed, { end: true })).rejects.toThrow(/already closed/);
  });

  it('holds the source while the destination is full, and delivers every byte in order', async () => {
    const source = new PassThrough({ highWaterMark: 4 });
    const written: string[] = [];
    let release: (() => void) | undefined;
    // One write in flight at a time, completed by hand: the destination is full until then.
    const dest = new Writable({ highWaterMark: 1, write: (chunk: Buffer, _enc, done) => (written.push(chunk.toString()), (release = done)) });
    const done = pipeBody(source, dest, { end: true });
    for (const part of ['ab', 'cd', 'ef']) source.write(part);
    source.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(source.isPaused()).toBe(true);
    expect(written).toEqual(['ab']);
    while (!dest.writableFinished) {
      release?.();
      release = undefined;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await done;
    expect(written.join('')).toBe('abcdef');
  });
});
