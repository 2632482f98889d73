#!/usr/bin/env -S node --max-semi-space-size=8
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CA_USAGE, CaUsageError, caCommand } from './ca-command.js';
import { describeListenerFailure, isConfigError, loadConfig, summarizeConfig, type GatewayConfig } from './config/index.js';
import { DEMO_HELP, DEMO_USAGE, DemoUsageError, parseDemoArgs, runDemo } from './demo/index.js';
import { boundHeapGrowth, checkAllowPatterns, Gateway } from './gateway/index.js';
import { isIdentityError } from './identity/index.js';
import { runPreflight } from './preflight/index.js';
import { fetchStatusReport, isStatusError, renderStatusReport } from './status/index.js';
import { createLogger, Telemetry } from './telemetry/index.js';

const EXIT_OK = 0;
const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;

const USAGE = `meshgate: multi-cluster federation gateway

Usage:
${DEMO_USAGE}
  meshgate run --config FILE     run a gateway replica with this config
  meshgate check --config FILE [--offline]
                                 preflight: the config, then NATS, the CA and SVID, bundles,
                                 local endpoints and other clusters' gateways; exit 1 when
                                 traffic would fail. --offline: validate the config and print
                                 what it sets up, nothing more
  meshgate reload --admin URL    make a running gateway re-read its config (as SIGHUP does)
  meshgate status --admin URL [--json]
                                 what a running gateway sees: members, services, routes, last events
${CA_USAGE}
  meshgate version               print the version
  meshgate help                  print this help

Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Resolves once the text has been handed to the OS. process.exit() does not
 * wait for a pipe to drain, and `check` on a large config prints enough to
 * be cut off mid-line without this.
 */
function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return run(configFlag(rest));
    case 'check':
      return check(rest);
    case 'reload':
      return reload(adminFlag(rest));
    case 'status':
      return status(rest);
    case 'demo': {
      const opts = parseDemoArgs(rest);
      if (opts === 'help') {
        await write(process.stdout, DEMO_HELP);
        return EXIT_OK;
      }
      return runDemo(opts, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
    }
    case 'ca':
      try {
        await caCommand(rest, (text) => process.stdout.write(text));
      } catch (err) {
        // Everything a ca command reads comes from the operator's flags and files.
        if (isIdentityError(err)) throw new CaUsageError(err.message);
        throw err;
      }
      return EXIT_OK;
    case 'version':
    case '--version':
      noArgs(command, rest);
      process.stdout.write(`meshgate ${version()}\n`);
      return EXIT_OK;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return EXIT_OK;
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function configFlag(args: string[]): string {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true });
  if (!values.config) throw new UsageError('--config FILE is required');
  return values.config;
}

function adminFlag(args: string[]): string {
  const { values } = parseArgs({ args, options: { admin: { type: 'string' } }, strict: true });
  if (!values.admin) throw new UsageError('--admin URL is required (the gateway\'s admin listener, e.g. http://127.0.0.1:9901)');
  return values.admin;
}

/** Asks a running gateway to reload; exits 1 when it refused the config (its reason is printed). */
async function reload(admin: string): Promise<number> {
  let url: URL;
  try {
    url = new URL('/reload', admin);
  } catch {
    throw new UsageError(`--admin ${JSON.stringify(admin)} is not a URL`);
  }
  const res = await fetch(url, { method: 'POST' });
  const text = await res.text();
  await write(res.ok ? process.stdout : process.stderr, `${res.ok ? 'reloaded' : `reload failed (${res.status})`}: ${text}\n`);
  return res.ok ? EXIT_OK : EXIT_RUNTIME;
}

/** Prints what a running gateway sees and why; exits 1, with one line naming the URL, when it does not answer. */
async function status(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { admin: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  if (!values.admin) throw new UsageError('--admin URL is required (the gateway\'s admin listener, e.g. http://127.0.0.1:9901)');
  try {
    const report = await fetchStatusReport(values.admin);
    await write(process.stdout, values.json ? `${JSON.stringify(report, null, 2)}\n` : renderStatusReport(report));
    return EXIT_OK;
  } catch (err) {
    if (!isStatusError(err)) throw err;
    if (err.code === 'bad-url') throw new UsageError(err.message);
    await write(process.stderr, `meshgate status: ${err.message}\n`);
    return EXIT_RUNTIME;
  }
}

function noArgs(command: string, args: string[]): void {
  if (args.length > 0) throw new UsageError(`"${command}" takes no arguments, got "${args[0]}"`);
}

/** The config as loadConfig checks it, and its `allow` patterns by identity's rules: every problem is a ConfigError. */
async function loadCheckedConfig(file: string): Promise<GatewayConfig> {
  const config = await loadConfig(file);
  checkAllowPatterns(config, file);
  return config;
}

/** Config errors exit 2 before anything is dialled; after that, 1 when a check says traffic would fail. */
async function check(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, offline: { type: 'boolean' } }, strict: true });
  if (!values.config) throw new UsageError('--config FILE is required');
  const file = values.config;
  const config = await loadCheckedConfig(file);
  if (values.offline) {
    await write(process.stdout, `config ok: ${file}\n${summarizeConfig(config)}\n`);
    return EXIT_OK;
  }
  let printed = Promise.resolve();
  const { exitCode } = await runPreflight(config, { file, print: (line) => void (printed = printed.then(() => write(process.stdout, `${line}\n`))) });
  await printed;
  return exitCode;
}

async function run(file: string): Promise<number> {
  boundHeapGrowth();
  const config = await loadCheckedConfig(file);
  const log = createLogger({ base: { federation: config.federation, cluster: config.cluster }, level: process.env['MESHGATE_LOG_LEVEL'] ?? config.telemetry.logLevel });
  const telemetry = Telemetry.start({
    resource: { federation: config.federation, cluster: config.cluster, replica: config.replica, version: version() },
    otlpEndpoint: config.telemetry.otlpEndpoint,
    traceSampleRatio: config.telemetry.traceSampling,
  });
  const gateway = new Gateway(config, log, telemetry, () => loadCheckedConfig(file));
  try {
    await gateway.start();
  } catch (err) {
    log.error({ err }, 'cannot start');
    // The CA folder and bundle files are named by the config: a problem there is a config error.
    if (isIdentityError(err)) {
      await write(process.stderr, `config error: identity: ${err.message}\n`);
      return EXIT_USAGE;
    }
    // The log line above has the details; this is the line a person reads.
    const listener = describeListenerFailure(config, err);
    const why = listener ?? (err instanceof Error ? err.message : String(err));
    await write(process.stderr, `meshgate: cannot start${listener ? ' ' : ': '}${why}\n`);
    return EXIT_RUNTIME;
  }
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting without waiting');
        resolve(EXIT_RUNTIME);
        return;
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      gateway.drain(config.limits.drainTimeoutMs).then(
        // Spans and metrics still waiting go out before the process ends.
        () => telemetry.shutdown().then(() => resolve(EXIT_OK), () => resolve(EXIT_OK)),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          resolve(EXIT_RUNTIME);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // The report is logged by the gateway itself.
    process.on('SIGHUP', () => void gateway.reload());
  });
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The exit code for an error main() did not handle, after saying what it was on stderr. */
async function failed(err: unknown): Promise<number> {
  if (isConfigError(err)) {
    await write(process.stderr, `${err.message}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof DemoUsageError) {
    await write(process.stderr, `meshgate demo: ${err.message}\n\n${DEMO_HELP}`);
    return EXIT_USAGE;
  }
  if (err instanceof CaUsageError) {
    await write(process.stderr, `meshgate ca: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    await write(process.stderr, `usage error: ${(err as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  await write(process.stderr, `meshgate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT_RUNTIME;
}

main(process.argv.slice(2))
  .catch(failed)
  .then((code) => process.exit(code));
