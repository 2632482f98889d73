import type { Http2Session, ServerHttp2Stream } from 'node:http2';

export interface SessionTimeouts {
  /** A session that has opened no stream this long after it started holds a connection for nothing. */
  readonly firstStreamMs: number;
  /** A session with no open stream for this long is closed (Envoy's idle_timeout: "no active streams"). */
  readonly idleMs: number;
  /** Called when a session is closed for never opening a stream. */
  readonly onNoStream?: () => void;
}

/** How long a session told to go away (GOAWAY) may take to close before it is cut off. */
const CLOSE_GRACE_MS = 1_000;

/**
 * Closes a server session that never opens a stream, or has had none open for
 * the idle time. Counting streams rather than relying on Node's activity
 * timeout matters: PINGs and SETTINGS would keep a session that serves nothing
 * alive forever.
 */
export function applySessionTimeouts(session: Http2Session, timeouts: SessionTimeouts): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined = setTimeout(() => {
    timeouts.onNoStream?.();
    goAway(session);
  }, timeouts.firstStreamMs);
  session.on('stream', (stream: ServerHttp2Stream) => {
    clearTimeout(timer);
    open++;
    stream.once('close', () => {
      open--;
      if (open === 0 && !session.closed && !session.destroyed) timer = setTimeout(() => goAway(session), timeouts.idleMs);
    });
  });
  session.once('close', () => clearTimeout(timer));
}

/** GOAWAY, so a well-behaved client knows nothing was lost; a peer that does not let go is cut off. */
function goAway(session: Http2Session): void {
  if (session.destroyed) return;
  const cut = setTimeout(() => session.destroy(), CLOSE_GRACE_MS);
  cut.unref();
  session.once('close', () => clearTimeout(cut));
  session.close();
}
