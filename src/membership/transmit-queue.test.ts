import { describe, it, expect } from 'vitest';
import { TransmitLimitedQueue, retransmitLimit } from './transmit-queue.js';

const size = (m: string): number => m.length;

describe('retransmitLimit (memberlist util.go)', () => {
  it('matches memberlist TestRetransmitLimit with mult 3', () => {
    expect(retransmitLimit(0, 3)).toBe(0);
    expect(retransmitLimit(1, 3)).toBe(3);
    expect(retransmitLimit(99, 3)).toBe(6);
  });

  it('is 4 · ceil(log10(N + 1)) by default', () => {
    expect(retransmitLimit(1)).toBe(4);
    expect(retransmitLimit(9)).toBe(4);
    expect(retransmitLimit(10)).toBe(8);
    expect(retransmitLimit(99)).toBe(8);
    expect(retransmitLimit(100)).toBe(12);
    expect(retransmitLimit(999)).toBe(12);
    expect(retransmitLimit(1000)).toBe(16);
  });
});

describe('TransmitLimitedQueue', () => {
  const queue = (members = 10) => new TransmitLimitedQueue<string>({ members: () => members });

  it('sends newest first among equally-sent messages', () => {
    const q = queue();
    q.enqueue('a', 'msg-a');
    q.enqueue('b', 'msg-b');
    q.enqueue('c', 'msg-c');
    expect(q.take(1000, size)).toEqual(['msg-c', 'msg-b', 'msg-a']);
  });

  it('sends least-transmitted first', () => {
    const q = queue();
    q.enqueue('old', 'old');
    expect(q.take(1000, size)).toEqual(['old']);
    q.enqueue('new', 'new');
    // "old" has 1 transmit, "new" 0: new goes first even when only one fits.
    expect(q.take(3, size)).toEqual(['new']);
    // Both have 1 transmit now: the newer goes first.
    expect(q.take(1000, size)).toEqual(['new', 'old']);
    expect(q.transmitsOf('old')).toBe(2);
    expect(q.transmitsOf('new')).toBe(2);
  });

  it('replaces an older message about the same key and restarts its count', () => {
    const q = queue();
    q.enqueue('node-1', 'suspect node-1 @3');
    q.take(1000, size);
    q.take(1000, size);
    expect(q.transmitsOf('node-1')).toBe(2);
    q.enqueue('node-1', 'alive node-1 @4');
    expect(q.size()).toBe(1);
    expect(q.transmitsOf('node-1')).toBe(0);
    expect(q.take(1000, size)).toEqual(['alive node-1 @4']);
  });

  it('drops a message once it was sent retransmitLimit(N) times', () => {
    const q = queue(10); // limit 8
    q.enqueue('k', 'm');
    for (let i = 0; i < 7; i++) expect(q.take(100, size)).toEqual(['m']);
    expect(q.size()).toBe(1);
    expect(q.take(100, size)).toEqual(['m']);
    expect(q.size()).toBe(0);
    expect(q.take(100, size)).toEqual([]);
  });

  it('reads the member count at every take', () => {
    let members = 1;
    const q = new TransmitLimitedQueue<string>({ members: () => members });
    q.enqueue('k', 'm');
    for (let i = 0; i < 3; i++) q.take(100, size);
    members = 100; // limit grows from 4 to 12
    for (let i = 0; i < 8; i++) q.take(100, size);
    expect(q.size()).toBe(1);
    q.take(100, size);
    expect(q.size()).toBe(0);
  });

  it('skips a message larger than the budget without blocking the rest', () => {
    const q = queue();
    q.enqueue('small-1', 'aa');
    q.enqueue('huge', 'x'.repeat(500));
    q.enqueue('small-2', 'bb');
    expect(q.take(100, size)).toEqual(['bb', 'aa']);
    expect(q.transmitsOf('huge')).toBe(0);
    expect(q.take(1000, size)).toEqual(['x'.repeat(500), 'bb', 'aa']);
  });

  it('fills the budget exactly, counting per-message overhead', () => {
    const q = queue();
    q.enqueue('a', 'aaaa');
    q.enqueue('b', 'bbbb');
    q.enqueue('c', 'cccc');
    // Each costs 4 + 2; 12 fits two.
    expect(q.take(12, size, 2)).toEqual(['cccc', 'bbbb']);
    expect(q.take(5, size, 2)).toEqual([]);
  });

  it('takes nothing from an empty queue or with no budget', () => {
    const q = queue();
    expect(q.take(1000, size)).toEqual([]);
    q.enqueue('a', 'a');
    expect(q.take(0, size)).toEqual([]);
  });

  it('prunes to the messages that would be sent first', () => {
    const q = queue();
    q.enqueue('a', 'a');
    q.take(100, size);
    q.enqueue('b', 'b');
    q.enqueue('c', 'c');
    q.prune(2);
    expect(q.size()).toBe(2);
    expect(q.transmitsOf('a')).toBeUndefined();
    expect(q.take(100, size)).toEqual(['c', 'b']);
    q.clear();
    expect(q.size()).toBe(0);
  });
});
