import { constants, type Http2Stream } from 'node:http2';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** The two kinds of byte stream a TCP connection travels on: a socket, or a CONNECT stream over a federation session. */
export type ByteStream = Socket | Http2Stream;

/** How a spliced connection ended, and what it carried. */
export interface SpliceEnd {
  /** Bytes from the downstream side (the app, or the calling gateway) to the upstream. */
  readonly sent: number;
  /** Bytes from the upstream to the downstream side. */
  readonly received: number;
  /** `closed` when both directions ended with a FIN (or END_STREAM); otherwise who broke it off. */
  readonly how: 'closed' | 'idle' | 'downstream-aborted' | 'upstream-aborted';
}

/**
 * Carries bytes both ways between `downstream` and `upstream` until both
 * directions have ended. Half-close passes through: a FIN (or HTTP/2
 * END_STREAM) from one side ends only the other side's writing, and the
 * reverse direction keeps flowing, as RFC 9113 §8.5 asks of a CONNECT proxy.
 * An abort on one side (a reset, an error, a stream reset) becomes an abort
 * on the other: a TCP RST, or RST_STREAM(CONNECT_ERROR). Nothing either way
 * for `idleMs` closes both (downstream's clock: every byte passes it).
 */
export function splice(downstream: ByteStream, upstream: ByteStream, idleMs: number): Promise<SpliceEnd> {
  let sent = 0;
  let received = 0;
  let how: SpliceEnd['how'] | undefined;
  downstream.on('data', (chunk: Buffer) => (sent += chunk.length));
  upstream.on('data', (chunk: Buffer) => (received += chunk.length));
  // Errors surface as an unclean close below; without listeners they would crash the process.
  downstream.on('error', ignore);
  upstream.on('error', ignore);
  // Both kinds count bytes either way as activity.
  downstream.setTimeout(idleMs, () => {
    how ??= 'idle';
    // A close, not a reset: nothing was lost, the connection was just unused.
    downstream.destroy();
    upstream.destroy();
  });
  const closed = (side: ByteStream, other: ByteStream, aborted: SpliceEnd['how']) =>
    new Promise<void>((resolve) =>
      side.once('close', () => {
        if (!endedCleanly(side)) {
          how ??= aborted;
          abort(other);
        }
        resolve();
      }),
    );
  const done = Promise.all([closed(downstream, upstream, 'downstream-aborted'), closed(upstream, downstream, 'upstream-aborted')]);
  // pipe() ends the destination when the source ends: that is the half-close.
  (downstream as Duplex).pipe(upstream as Duplex);
  (upstream as Duplex).pipe(downstream as Duplex);
  return done.then(() => ({ sent, received, how: how ?? 'closed' }));
}

/** Both directions ended in order, and an HTTP/2 stream was not reset. */
function endedCleanly(side: ByteStream): boolean {
  const rstCode = side instanceof Socket ? constants.NGHTTP2_NO_ERROR : (side.rstCode ?? constants.NGHTTP2_NO_ERROR);
  return side.readableEnded && side.writableFinished && rstCode === constants.NGHTTP2_NO_ERROR;
}

/** Breaks a connection off so that its peer sees an abort, not an orderly end. */
export function abort(side: ByteStream): void {
  if (side.destroyed) return;
  if (side instanceof Socket) side.resetAndDestroy();
  else side.close(constants.NGHTTP2_CONNECT_ERROR);
}

const ignore = (): void => {};
