/** `meshgate status`: what a gateway sees of the federation and why, from its admin API. */
export { StatusError, isStatusError, type StatusErrorCode } from './errors.js';
export { fetchStatusReport } from './fetch-admin.js';
export { buildStatusReport, type StatusReport } from './report.js';
export { renderStatusReport } from './render.js';
