/**
 * memberlist's TransmitLimitedQueue (queue.go): rumours waiting to be
 * piggybacked on pings and gossip. Each is sent a limited number of times,
 * enough for infection-style spread to reach everyone with high probability,
 * then dropped; the least-sent go first so fresh news overtakes old news.
 */

/** memberlist LAN RetransmitMult. */
export const DEFAULT_RETRANSMIT_MULT = 4;

/** mult · ceil(log10(N + 1)): 4 at N ≤ 9, 8 at N ≤ 99, 12 at N ≤ 999 (memberlist util.go `retransmitLimit`). */
export function retransmitLimit(members: number, mult: number = DEFAULT_RETRANSMIT_MULT): number {
  return mult * Math.ceil(Math.log10(Math.max(0, members) + 1));
}

interface Entry<M> {
  readonly key: string;
  readonly message: M;
  /** Insertion order: a higher id is newer. */
  readonly id: number;
  transmits: number;
}

export interface TransmitQueueOptions {
  /** Current member count, read at every take (memberlist `NumNodes`). */
  readonly members: () => number;
  readonly retransmitMult?: number;
}

export class TransmitLimitedQueue<M> {
  private readonly byKey = new Map<string, Entry<M>>();
  private readonly members: () => number;
  private readonly retransmitMult: number;
  private nextId = 0;

  constructor(options: TransmitQueueOptions) {
    this.members = options.members;
    this.retransmitMult = options.retransmitMult ?? DEFAULT_RETRANSMIT_MULT;
  }

  /**
   * Queues a message about `key` (memberlist names broadcasts by member):
   * a newer message about the same key replaces the older one and starts
   * again at zero transmits, since the old news is now wrong.
   */
  enqueue(key: string, message: M): void {
    this.nextId += 1;
    this.byKey.delete(key);
    this.byKey.set(key, { key, message, id: this.nextId, transmits: 0 });
  }

  /**
   * Messages to send now, within `budgetBytes` (each costs sizeOf(message) +
   * overheadBytes): least-transmitted first, newest first among equals.
   * A message that does not fit the remaining budget is skipped, so a large
   * one never blocks smaller ones behind it; it stays queued for a roomier
   * take. Every message returned has its count raised and is dropped once it
   * has been sent `retransmitLimit(N)` times.
   *
   * memberlist breaks transmit-count ties by larger size first (to pack the
   * packet), then newest; here ties go to the newest, since a newer rumour
   * supersedes more of what peers believe.
   */
  take(budgetBytes: number, sizeOf: (message: M) => number, overheadBytes = 0): M[] {
    if (this.byKey.size === 0) return [];
    const limit = retransmitLimit(this.members(), this.retransmitMult);
    const ordered = [...this.byKey.values()].sort((a, b) => a.transmits - b.transmits || b.id - a.id);

    const out: M[] = [];
    let free = budgetBytes;
    for (const entry of ordered) {
      if (free - overheadBytes <= 0) break;
      const cost = sizeOf(entry.message) + overheadBytes;
      if (cost > free) continue;
      free -= cost;
      out.push(entry.message);
      entry.transmits += 1;
      // memberlist: `if keep.transmits+1 >= transmitLimit { Finished }`.
      if (entry.transmits >= limit) this.byKey.delete(entry.key);
    }
    return out;
  }

  /** Messages still queued. */
  size(): number {
    return this.byKey.size;
  }

  /** How many times the message about `key` has been sent, if it is queued. */
  transmitsOf(key: string): number | undefined {
    return this.byKey.get(key)?.transmits;
  }

  /**
   * Keeps the `maxRetain` messages that would be sent first and drops the
   * rest (memberlist `Prune`), so a burst of rumours, or messages too big for
   * any budget, cannot grow the queue without bound.
   */
  prune(maxRetain: number): void {
    if (this.byKey.size <= maxRetain) return;
    const ordered = [...this.byKey.values()].sort((a, b) => a.transmits - b.transmits || b.id - a.id);
    for (const entry of ordered.slice(Math.max(0, maxRetain))) this.byKey.delete(entry.key);
  }

  clear(): void {
    this.byKey.clear();
  }
}
