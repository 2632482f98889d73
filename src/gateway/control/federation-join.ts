import type { Logger } from '../../telemetry/index.js';

/** Between attempts: NATS's own clients wait about as long between reconnects. */
export const JOIN_RETRY_MS = 1_000;
/** While NATS stays away, one warning at most this often (every attempt is counted). */
const WARN_EVERY_MS = 15_000;

export interface FederationJoinOptions<M> {
  /** One try: connect to NATS and start membership. Throws when it cannot. */
  attempt: () => Promise<M>;
  onJoined: (membership: M) => void;
  /** A membership that started after stop(): leave at once. */
  discard: (membership: M) => Promise<void>;
  log: Logger;
  servers: readonly string[];
  retryMs?: number;
}

/**
 * Joins the federation's gossip and, while NATS cannot be reached, keeps
 * trying. A gateway restarted during a NATS outage must still come up and
 * serve its own cluster, as a Consul agent with retry_join or a SPIRE agent
 * does; it says on /ready why it is not ready yet.
 */
export class FederationJoin<M> {
  private attempts = 0;
  private lastError = '';
  private joined = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;
  private lastWarnAt = -Infinity;

  constructor(private readonly options: FederationJoinOptions<M>) {}

  /** Tries until it has joined or is stopped. Never rejects. */
  async run(): Promise<void> {
    const { attempt, onJoined, log, servers } = this.options;
    while (!this.stopped) {
      this.attempts++;
      try {
        const membership = await attempt();
        if (this.stopped) {
          await this.options.discard(membership).catch(() => undefined);
          return;
        }
        this.joined = true;
        if (this.attempts > 1) log.info({ servers, attempts: this.attempts }, 'joined the federation after NATS became reachable');
        onJoined(membership);
        return;
      } catch (err) {
        this.lastError = err instanceof Error ? err.message : String(err);
        const now = Date.now();
        if (now - this.lastWarnAt >= WARN_EVERY_MS) {
          this.lastWarnAt = now;
          log.warn({ servers, attempts: this.attempts, error: { message: this.lastError } }, 'cannot join the federation yet: retrying');
        }
      }
      await new Promise<void>((resolve) => {
        this.wakeRetry = resolve;
        this.retryTimer = setTimeout(resolve, this.options.retryMs ?? JOIN_RETRY_MS);
      });
    }
  }

  /** Why /ready must wait: nothing once joined. */
  notReadyReasons(): string[] {
    if (this.joined) return [];
    if (this.attempts <= 1 && !this.lastError) return ['membership-join: connecting to NATS'];
    return [`membership-join: NATS not reachable after ${this.attempts} attempts (last: ${this.lastError}); retrying every ${this.options.retryMs ?? JOIN_RETRY_MS} ms`];
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.wakeRetry?.();
  }
}
