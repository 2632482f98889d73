export {
  EndpointHealth,
  MAX_PROBE_STRETCH,
  probeTimeout,
  type EndpointHealthState,
  type EndpointHealthView,
  type HealthThresholds,
  type ProbeTimeoutVerdict,
} from './endpoint-health.js';
export { planProbes, probeKey, type CheckRequest, type PlannedProbe, type ProbeCheck, type ProbePlan } from './probe-plan.js';
export { ProbeSchedule, type ScheduledProbe } from './probe-schedule.js';
export { chooseP2C, PeakEwma, type PeakEwmaView, type RequestOutcome } from './peak-ewma.js';
export { RetryBudget, type RetryBudgetView } from './retry-budget.js';
export { OutlierEjection, type OutlierState, type OutlierView } from './outlier-ejection.js';
export { pickTier, tierShares, type TierHealth, type TierShares } from './tier-weights.js';
export { FailbackGate, type FailbackPhase, type FailbackView } from './failback.js';
export { DEFAULT_FAILOVER_SETTINGS, type FailoverSettings } from './settings.js';
export {
  ServiceBalancer,
  type BalancerEvent,
  type BalancerSettings,
  type LocalTarget,
  type Pick,
  type ReplicaTarget,
  type EndpointCheck,
  type Observation,
  type RemoteCluster,
  type RouteExplanation,
  type Target,
} from './service-balancer.js';
