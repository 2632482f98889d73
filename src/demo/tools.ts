/** External programs the demo needs, found the way the benches find them. */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export class MissingToolError extends Error {
  override readonly name = 'MissingToolError';
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `nats-server`: $NATS_SERVER_BIN, else the PATH, else the sbin folders (Debian puts it in /usr/sbin, not on every user's PATH). */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['NATS_SERVER_BIN'];
  if (fromEnv) {
    if (executable(fromEnv)) return fromEnv;
    throw new MissingToolError(`NATS_SERVER_BIN=${fromEnv} is not an executable file`);
  }
  const dirs = [...(env['PATH'] ?? '').split(path.delimiter).filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const file = path.join(dir, 'nats-server');
    if (executable(file)) return file;
  }
  throw new MissingToolError('nats-server not found: install the Debian package with "sudo apt-get install nats-server" (or set NATS_SERVER_BIN); ./scripts/demo.sh installs it when run as root');
}
