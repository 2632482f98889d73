/** The `meshgate demo` command: a three-cluster federation on this machine, with a story of failures to watch. */
export { runDemo, type DemoIo } from './demo.js';
export { DEMO_HELP, DEMO_USAGE, DemoUsageError, parseDemoArgs, type DemoOptions } from './options.js';
