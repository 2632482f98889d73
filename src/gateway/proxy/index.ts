export { Admission } from './admission.js';
export { budgetFor, remainingMs, type Budget } from './deadline.js';
export { excusingCallerDeadline, judgeError, judgeResponse, type TryVerdict } from './outcome.js';
export { RequestPipeline, type PipelineOptions } from './pipeline.js';
export { RetryingSender, REPLAYABLE_BODY_BYTES, type RetrySettings, type SendTry, type TrySender } from './retry.js';
export { RouteTable, type FederationView, type LocalHealth, type RouteTableOptions, type ServiceRoute, type SharedBalancerSettings } from './route-table.js';
