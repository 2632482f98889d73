export {
  EndpointHealth,
  nextCheckAt,
  type EndpointHealthState,
  type EndpointHealthView,
  type HealthThresholds,
} from './endpoint-health.js';
export {
  planRoute,
  type LocalServiceState,
  type RemoteServiceState,
  type RouteQuestion,
  type RoutePlan,
  type RouteTarget,
} from './route-plan.js';
