/**
 * The demo's gRPC methods as grpc-js definitions with raw byte messages, so
 * that no .proto file has to travel with the build: `demo.Echo/Say` answers
 * with a small JSON document naming who answered, and
 * `grpc.health.v1.Health/Check` (what the gateway's active checks call)
 * answers SERVING, whose protobuf encoding is field 1 (varint) = 1.
 */
import type { MethodDefinition } from '@grpc/grpc-js';

const raw = (b: Buffer): Buffer => b;

function unary(path: string): MethodDefinition<Buffer, Buffer> {
  return { path, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw };
}

export const ECHO_SAY = unary('/demo.Echo/Say');
export const HEALTH_CHECK = unary('/grpc.health.v1.Health/Check');
/** HealthCheckResponse { status: SERVING } */
export const SERVING = Buffer.from([0x08, 0x01]);

/** What an answer from a demo service says about where it came from. */
export interface Answer {
  readonly cluster: string;
  readonly endpoint: string;
}
