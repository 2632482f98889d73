export {
  EndpointHealth,
  nextCheckAt,
  type EndpointHealthState,
  type EndpointHealthView,
  type HealthThresholds,
} from './endpoint-health.js';
export { chooseP2C, PeakEwma, type PeakEwmaView, type RequestOutcome } from './peak-ewma.js';
export { RetryBudget, type RetryBudgetView } from './retry-budget.js';
export { OutlierEjection, type OutlierState, type OutlierView } from './outlier-ejection.js';
export { pickTier, tierShares, type TierHealth, type TierShares } from './tier-weights.js';
export { FailbackGate, type FailbackPhase, type FailbackView } from './failback.js';
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
