/**
 * The Docker CLI for the container tests: bounded commands, whether a daemon is
 * reachable, which Compose is installed, and what the global setup passes on.
 */
import { execFile } from 'node:child_process';

/** What the global setup found and built, passed to every container test file. */
export interface ContainerEnv {
  /** Why the container tests are skipped (Docker unreachable outside CI); undefined when they run. */
  skip: string | undefined;
  /** Why the Compose test is skipped (no Compose outside CI). */
  composeSkip: string | undefined;
  /** `docker compose` (v2) or `docker-compose` (v1), as argv. */
  compose: string[];
  images: { node: string; nats: string; meshgate: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    containers: ContainerEnv;
  }
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (bounded by timeoutMs); never throws for a non-zero exit. */
export function run(argv: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CommandResult> {
  const [cmd, ...args] = argv;
  return new Promise((resolve) => {
    execFile(cmd as string, args, { timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env, cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && !stderr ? err.message : stderr });
    });
  });
}

/** Like run, but a non-zero exit is an error naming the command and its output. */
export async function mustRun(argv: readonly string[], opts: Parameters<typeof run>[1] = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  return r.stdout;
}

/** undefined when a Docker daemon answers; otherwise why not, in one line. */
export async function dockerUnreachable(): Promise<string | undefined> {
  const r = await run(['docker', 'version', '--format', '{{.Server.Version}}'], { timeoutMs: 15_000 });
  if (r.code === 0) return undefined;
  const why = (r.stderr || r.stdout).trim().split('\n').pop() ?? '';
  return (r.stderr.includes('ENOENT') ? 'the docker command is not installed' : `the Docker daemon is not reachable (${why})`).slice(0, 300);
}

/** `docker compose` when the v2 plugin is there, else Debian's `docker-compose` 1.x; undefined when neither. */
export async function composeCommand(): Promise<string[] | undefined> {
  if ((await run(['docker', 'compose', 'version'], { timeoutMs: 15_000 })).code === 0) return ['docker', 'compose'];
  if ((await run(['docker-compose', 'version'], { timeoutMs: 15_000 })).code === 0) return ['docker-compose'];
  return undefined;
}
