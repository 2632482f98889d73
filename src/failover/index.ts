export {
  EndpointHealth,
  nextCheckAt,
  type EndpointHealthState,
  type EndpointHealthView,
  type HealthThresholds,
} from './endpoint-health.js';
