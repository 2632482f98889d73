import { parseArgs } from 'node:util';

export interface DemoOptions {
  /** The story without the live view; exit 0 only if every step's expectation held. */
  readonly script: boolean;
  /** Seconds of traffic before the demo stops by itself; undefined: until quit (the live view) or 180 (--script). */
  readonly durationS: number | undefined;
  readonly color: boolean;
  /** Where the chart goes; default: in the demo's work folder. */
  readonly svg: string | undefined;
}

export const DEMO_USAGE = `  meshgate demo [--script] [--duration S] [--no-color] [--svg FILE]
                                 three clusters on this machine with failover to watch`;

export const DEMO_HELP = `meshgate demo: a three-cluster federation on loopback, with a story of failures to watch

Usage: meshgate demo [--script] [--duration S] [--no-color] [--svg FILE]

  --script        the story without the live view, as log lines; exit 0 only if every
                  step's expectation held, 1 otherwise
  --duration S    stop after S seconds of traffic (with --script: the story must end by then;
                  default 180 with --script, otherwise until you quit)
  --no-color      plain log lines instead of the live view (also when stdout is not a terminal)
  --svg FILE      write the traffic-share chart here (default: in the demo's folder)

Keys in the live view: e kill/restore us-east's endpoints, s slow/unslow us-west by 50 ms,
g kill/restart eu-west's gateway, q quit (Ctrl-C too). Pressing one stops the story.
`;

export const DEFAULT_SCRIPT_DURATION_S = 180;
const MIN_DURATION_S = 10;
const MAX_DURATION_S = 86_400;

export class DemoUsageError extends Error {
  override readonly name = 'DemoUsageError';
}

export function parseDemoArgs(args: readonly string[]): DemoOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        script: { type: 'boolean', default: false },
        duration: { type: 'string' },
        'no-color': { type: 'boolean', default: false },
        svg: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new DemoUsageError((err as Error).message);
  }
  if (values.help) return 'help';
  let durationS: number | undefined;
  if (values.duration !== undefined) {
    durationS = Number(values.duration);
    if (!/^\d+(\.\d+)?$/.test(values.duration) || !(durationS >= MIN_DURATION_S && durationS <= MAX_DURATION_S)) {
      throw new DemoUsageError(`--duration: "${values.duration}" is not a number of seconds from ${MIN_DURATION_S} to ${MAX_DURATION_S}`);
    }
  }
  return { script: values.script, durationS, color: !values['no-color'], svg: values.svg };
}
