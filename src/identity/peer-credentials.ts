/**
 * Who is on the other end of an accepted Unix socket: pid, uid and gid from
 * the kernel (SO_PEERCRED, through the native addon in native/peercred, since
 * Node has no API for it), and the executable path from /proc, guarded
 * against pid reuse the way SPIRE's peertracker is.
 */
import { createRequire } from 'node:module';
import { readFile, readlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { IdentityError } from './errors.js';

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /**
   * The caller's executable, absent when it could not be read (another
   * user's process without CAP_SYS_PTRACE, another pid namespace) or when the
   * pid may have been reused while we read it.
   */
  readonly path?: string;
}

/** What kept us from knowing the peer. */
export type PeerCredentialsRule = 'addon-not-built' | 'no-fd' | 'getsockopt';

export class PeerCredentialsError extends IdentityError {
  override name = 'PeerCredentialsError';
  readonly rule: PeerCredentialsRule;

  constructor(rule: PeerCredentialsRule, message: string, context: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('workload-api', message, { rule, ...context }, options);
    this.rule = rule;
  }
}

interface PeerCredAddon {
  getPeerCred(fd: number): { pid: number; uid: number; gid: number };
}

// This file runs as src/identity/*.ts under vitest and as dist/identity/*.js
// when built: both sit two levels below the package root.
const ADDON_PATH = fileURLToPath(new URL('../../native/peercred/build/Release/peercred.node', import.meta.url));

let addon: PeerCredAddon | undefined;

function loadAddon(): PeerCredAddon {
  if (addon) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as PeerCredAddon;
  } catch (err) {
    throw new PeerCredentialsError(
      'addon-not-built',
      `the peer-credentials addon is not built (${ADDON_PATH}): run npm run build (or npm run build:native)`,
      { path: ADDON_PATH },
      { cause: err },
    );
  }
  return addon;
}

/** Loads the addon now, so that a server fails at start rather than at its first caller. */
export function ensurePeerCredentialsAvailable(): void {
  loadAddon();
}

/**
 * Reads the peer's credentials. The SO_PEERCRED read happens synchronously,
 * before the first await, so it is done while the socket's fd is certainly
 * still open; the /proc reads follow.
 */
export async function readPeerCredentials(socket: Socket): Promise<PeerCredentials> {
  const { pid, uid, gid } = readKernelCredentials(socket);
  const path = await readExecutablePath(pid);
  return path === undefined ? { pid, uid, gid } : { pid, uid, gid, path };
}

function readKernelCredentials(socket: Socket): { pid: number; uid: number; gid: number } {
  const peercred = loadAddon();
  // Node keeps the descriptor on the private libuv handle wrapper; there is
  // no public accessor, and SO_PEERCRED needs the raw fd. A socket that is
  // already closed, or not backed by a kernel socket, has no fd here.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new PeerCredentialsError('no-fd', 'socket has no file descriptor (closed, or not a kernel socket)');
  }
  try {
    return peercred.getPeerCred(fd);
  } catch (err) {
    throw new PeerCredentialsError(
      'getsockopt',
      `getsockopt(SO_PEERCRED) failed: ${(err as Error).message}`,
      { fd, errno: (err as { code?: string }).code },
      { cause: err },
    );
  }
}

/**
 * /proc/<pid>/exe is only meaningful if <pid> is still the process that
 * connected. A pid can be recycled by a new process after the caller exits,
 * and that process could be running a binary an entry trusts; so, like
 * SPIRE, we bracket the read with the process start time and distrust the
 * path if it changed or the process is gone.
 */
async function readExecutablePath(pid: number): Promise<string | undefined> {
  // pid 0: the peer lives in a pid namespace we cannot see into.
  if (pid <= 0) return undefined;
  const before = await readStartTime(pid);
  if (before === undefined) return undefined;
  let path: string;
  try {
    path = await readlink(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
  const after = await readStartTime(pid);
  return after === before ? path : undefined;
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
export async function readStartTime(pid: number): Promise<string | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseStartTime(stat);
}

/**
 * Field 2 (comm) is in parentheses and may itself hold spaces and ")", so
 * fields are counted from the last ")": the next one is field 3.
 */
export function parseStartTime(stat: string): string | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = stat.slice(close + 1).trim().split(/\s+/);
  const startTime = fields[22 - 3];
  return startTime !== undefined && /^\d+$/.test(startTime) ? startTime : undefined;
}
