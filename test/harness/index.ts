/**
 * The real-process test harness: real nats-servers, HTTP/h2c/gRPC backends,
 * a TCP fault proxy, and tracked child processes, all on 127.0.0.1 and all
 * torn down after each test. Start with `const h = useHarness()`.
 */
export { useHarness, type Harness } from './scope.js';
export { CleanupStack, describeError, type CleanupFn } from './cleanup.js';
export { freePort, freePorts } from './ports.js';
export { sleep, waitUntil, withTimeout, type WaitOptions } from './wait.js';
export {
  assertLoopback,
  getJson,
  httpRequest,
  HttpTimeoutError,
  type HttpRequestOptions,
  type HttpResponse,
} from './http-client.js';
export {
  leakedProcesses,
  spawnedPids,
  spawnTracked,
  type ExitStatus,
  type LineMatcher,
  type ManagedProcess,
  type SpawnTrackedOptions,
  type WaitForLineOptions,
} from './processes.js';
export {
  findNatsServer,
  NATS_NOT_FOUND_MESSAGE,
  renderNatsConfig,
  startNatsServer,
  type NatsServer,
  type NatsServerOptions,
} from './nats.js';
export {
  gatewayNameOfConnectLine,
  startNatsHubWithLeaves,
  startNatsSuperCluster,
  type Gatewayz,
  type Leafz,
  type NatsHubWithLeaves,
  type NatsSuperCluster,
  type TopologyOptions,
  type TopologyServerOptions,
} from './nats-topologies.js';
export { connectNats, publishUntilReceived, type DeliveryOptions } from './nats-client.js';
export {
  defaultHandler,
  patternBytes,
  startH2cBackend,
  startHttpBackend,
  type BackendHandler,
  type BackendRequest,
  type BackendResponse,
  type HttpBackend,
  type HttpBackendOptions,
  type RecordedRequest,
  type RequestLog,
} from './backends.js';
export {
  ECHO_PROTO_PATH,
  echoServiceConstructor,
  metadataToRecord,
  recordToMetadata,
  type EchoReply,
  type EchoRequest,
  type StreamRequest,
} from './grpc-echo.js';
export {
  startGrpcBackend,
  startStallingGrpcBackend,
  type GrpcBackend,
  type GrpcBackendOptions,
  type GrpcCallLog,
  type StallingGrpcBackend,
  type StalledCall,
} from './grpc-backend.js';
export {
  createEchoClient,
  type EchoClient,
  type GrpcCallError,
  type GrpcCallOptions,
  type GrpcClientOptions,
  type RawEchoClient,
  type StreamResult,
  type UnaryResult,
} from './grpc-client.js';
export {
  combineFaultControls,
  describeMode,
  startFaultProxy,
  type FaultControl,
  type FaultMode,
  type FaultProxy,
  type FaultProxyOptions,
  type FaultTarget,
} from './fault-proxy.js';
export {
  assertBuilt,
  CLI_PATH,
  gatewayConfig,
  runCli,
  startGateway,
  writeConfig,
  type GatewayProcess,
} from './gateway-process.js';
export { issueSvid, sharedRootTrust, type ClusterTrust, type SvidCredentials } from './federation.js';
export {
  CONNECTION_PREFACE,
  connectRawH2,
  connectRawH2c,
  DEFAULT_MAX_FRAME_SIZE,
  encodeFrame,
  encodeHeaderBlock,
  encodeHpackInteger,
  ErrorCode,
  FRAME_HEADER_BYTES,
  FrameFlag,
  FrameType,
  headerFrames,
  type H2Frame,
  type RawH2ConnectOptions,
  type RawH2Connection,
  type SendHeadersOptions,
} from './h2-raw.js';
export { ALL_GATEWAYS, metricValue, metricWith, startFederation, waitForService, type FederationOptions } from './clusters.js';
export { redisCli, startRedis, REDIS_NOT_FOUND_MESSAGE, type RedisServer } from './redis.js';
export { parsePrometheusText, scrape, sumOf, type Sample } from './prometheus.js';
export { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';
