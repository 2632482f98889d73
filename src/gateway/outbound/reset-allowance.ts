/**
 * How many stream resets a session may still send before its peer's HTTP/2
 * stack would take it for a rapid-reset attack (CVE-2023-44487). nghttp2,
 * under Node's HTTP/2 and many others, allows a burst of 1,000 RST_STREAMs
 * refilled at 33 a second, then ends the session with GOAWAY. A gateway
 * relays every cancellation of many apps over few sessions, so ordinary
 * clients that give up would trip it; we keep our own, stricter token bucket
 * per session and move new streams to a fresh session before it runs out.
 * Pure: the caller passes the time.
 */
export class ResetAllowance {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  /** One reset sent; false once the allowance is spent. */
  spend(now: number): boolean {
    this.refill(now);
    this.tokens -= 1;
    return this.tokens > 0;
  }

  remaining(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt) / 1_000;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.perSecond);
    this.updatedAt = Math.max(this.updatedAt, now);
  }
}
