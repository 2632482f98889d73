import type { GatewayConfig } from '../config/index.js';
import { TrustStore, type IdentityService, type TrustBundle } from '../identity/index.js';
import {
  bundleCheckName,
  bundleEndpointCheckName,
  checkBundleEndpoint,
  checkBundleFile,
  checkCa,
  checkSvid,
  CA_CHECK,
  sharedRootBundle,
  SVID_CHECK,
} from './identity-checks.js';
import { endpointChecks, uncheckedServices } from './endpoint-checks.js';
import { checkNats, natsCheckName } from './nats-check.js';
import { learnRemoteGateways, remoteClusterChecks, remoteNotRun } from './remote-gateways.js';
import { exitCodeOf, formatResult, passed, skipped, summarize, type CheckResult } from './result.js';
import { runChecks, type PlannedCheck } from './runner.js';

/** Every check ends within this: `meshgate check` always ends. */
export const CHECK_TIMEOUT_MS = 10_000;
/** One remote gateway's connect and handshake; a few are tried per cluster within CHECK_TIMEOUT_MS. */
const REMOTE_CONNECT_MS = 3_000;
/** Connect, fetch, admin API questions: well inside the check's own deadline. */
const NETWORK_TIMEOUT_MS = 5_000;

export interface PreflightOptions {
  readonly file: string;
  /** Each line as its check finishes. */
  readonly print: (line: string) => void;
  readonly now?: () => Date;
}

/**
 * `meshgate check`: the config, then the path traffic takes. Stages run one
 * after another because later checks use what earlier ones produced (the
 * SVID, the bundles); the checks of one stage run at once.
 */
export async function runPreflight(config: GatewayConfig, options: PreflightOptions): Promise<{ results: CheckResult[]; exitCode: 0 | 1 }> {
  const now = options.now ?? (() => new Date());
  const results: CheckResult[] = [];
  const report = (result: CheckResult) => {
    results.push(result);
    options.print(formatResult(result));
  };
  const run = (checks: readonly PlannedCheck[]) => runChecks(checks, { timeoutMs: CHECK_TIMEOUT_MS, onResult: report });
  const n = Object.keys(config.services).length;
  report(passed(`config ${options.file}`, `federation ${config.federation}, cluster ${config.cluster}, replica ${config.replica}, ${n} ${n === 1 ? 'service' : 'services'}`));

  const services = Object.values(config.services);
  const { identity, nats } = config;
  let caResult: Awaited<ReturnType<typeof checkCa>> | undefined;
  const fileBundles = new Map<string, TrustBundle>();
  await run([
    ...(nats ? [{ name: natsCheckName(nats.servers), run: (signal: AbortSignal) => checkNats({ ...config, servers: nats.servers, timeoutMs: NETWORK_TIMEOUT_MS }, signal) }] : []),
    ...(identity ? [{ name: CA_CHECK, run: async () => (caResult = await checkCa(identity, now())).result }] : []),
    ...(identity?.federation ?? []).flatMap((d): PlannedCheck[] =>
      d.bundle === undefined
        ? []
        : [{ name: bundleCheckName(d.trustDomain), run: async () => {
            const r = await checkBundleFile({ ...d, bundle: d.bundle as string }, now());
            if (r.bundle) fileBundles.set(d.trustDomain, r.bundle);
            return r.result;
          } }],
    ),
    ...endpointChecks(services),
  ]);
  const unchecked = uncheckedServices(services);
  if (unchecked) report(unchecked);
  if (!identity) return done(results, options.print);

  const ca = caResult?.ca;
  let svidResult: Awaited<ReturnType<typeof checkSvid>> | undefined;
  const trust = new Map<string, TrustBundle>(fileBundles);
  await run([
    ca
      ? { name: SVID_CHECK, run: async () => (svidResult = await checkSvid(config, identity, ca, now())).result }
      : { name: SVID_CHECK, run: () => Promise.resolve(skipped(SVID_CHECK, 'not issued: the CA did not load')) },
    ...identity.federation.flatMap((d): PlannedCheck[] => {
      if (d.bundleEndpoint !== undefined && d.endpointSpiffeId !== undefined) {
        const name = bundleEndpointCheckName(d.trustDomain);
        const bootstrap = fileBundles.get(d.trustDomain);
        if (!bootstrap) return [{ name, run: () => Promise.resolve(skipped(name, 'not fetched: its bootstrap bundle file did not load')) }];
        const store = new TrustStore();
        store.set(bootstrap, 'file');
        return [{ name, run: async () => {
          const r = await checkBundleEndpoint({ ...d, bundleEndpoint: d.bundleEndpoint as string, endpointSpiffeId: d.endpointSpiffeId as string }, store.bundleFor, NETWORK_TIMEOUT_MS);
          if (r.bundle) trust.set(d.trustDomain, r.bundle);
          return r.result;
        } }];
      }
      if (d.bundle === undefined && ca) {
        const shared = sharedRootBundle(d.trustDomain, ca);
        trust.set(d.trustDomain, shared.bundle);
        return [{ name: shared.result.name, run: () => Promise.resolve(shared.result) }];
      }
      return [];
    }),
  ]);

  const service: IdentityService | undefined = svidResult?.service;
  try {
    if (!nats) return done(results, options.print);
    const svid = svidResult?.svid;
    if (!service || !svid) {
      report(remoteNotRun('no gateway SVID to present (see the lines above)'));
      return done(results, options.print);
    }
    for (const bundle of trust.values()) service.trustStore.set(bundle, 'check');
    const learned = await learnRemoteGateways(config, NETWORK_TIMEOUT_MS);
    if (learned.kind === 'none') report(learned.result);
    else await run(remoteClusterChecks(learned.targets, { svid: () => svid, bundleFor: service.trustStore.bundleFor }, REMOTE_CONNECT_MS));
    return done(results, options.print);
  } finally {
    service?.stop();
  }
}

function done(results: CheckResult[], print: (line: string) => void): { results: CheckResult[]; exitCode: 0 | 1 } {
  print(summarize(results));
  return { results, exitCode: exitCodeOf(results) };
}
