export { EnvelopeSigner, EnvelopeVerifier, type EnvelopeRejectReason } from './envelope.js';
export { realTimeSchedule, type Schedule } from './schedule.js';
export {
  DEFAULT_MEMBERSHIP_CONFIG,
  Membership,
  type DropReason,
  type InitialSync,
  type MembershipConfig,
  type MembershipEvent,
  type MembershipOptions,
  type TrustBundleJson,
  type UnsentReason,
} from './membership.js';
export type { MemberView } from './member-table.js';
export type { ClusterServiceHealth, ServiceView } from './health-state.js';
export { natsConnectionOptions, NatsTransport, type NatsTransportOptions } from './nats-transport.js';
export { formatMemberId, parseMemberId, type MemberIdParts } from './subjects.js';
export type { GossipTransport, TransportStatus } from './transport.js';
export type { Clock, HealthRecord, MemberInfo, MemberState, MemberStatus, MembershipUpdate, ServiceHealth } from './types.js';
