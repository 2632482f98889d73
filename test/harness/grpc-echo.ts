/**
 * The Echo service of test/fixtures/echo.proto: where the file is, its loaded
 * definition (keepCase, so fields keep their proto names), and TypeScript shapes
 * of its messages.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

export const ECHO_PROTO_PATH = fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url));

export interface EchoRequest {
  message?: string;
  fail_code?: number;
  fail_message?: string;
  trailers?: Record<string, string>;
  delay_ms?: number;
}

export interface StreamRequest {
  message?: string;
  count?: number;
  interval_ms?: number;
  fail_code?: number;
  fail_message?: string;
  trailers?: Record<string, string>;
}

export interface EchoReply {
  message: string;
  backend: string;
  index: number;
  headers: Record<string, string>;
}

/** Field values as the loader hands them to a server (defaults filled in). */
export type Filled<T> = { [K in keyof T]-?: NonNullable<T[K]> };

let cached: grpc.ServiceClientConstructor | undefined;

/** The generated Echo client constructor; its `.service` is the server definition. */
export function echoServiceConstructor(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const definition = protoLoader.loadSync(ECHO_PROTO_PATH, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(definition) as unknown as {
    meshgate?: { test?: { Echo?: grpc.ServiceClientConstructor } };
  };
  const ctor = root.meshgate?.test?.Echo;
  if (!ctor) throw new Error(`service meshgate.test.Echo not found in ${ECHO_PROTO_PATH}`);
  cached = ctor;
  return ctor;
}

/** Metadata as a plain record; binary (-bin) values as base64. */
export function metadataToRecord(metadata: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    out[key] = typeof value === 'string' ? value : Buffer.from(value).toString('base64');
  }
  return out;
}

/** A plain record as metadata; keys ending in -bin take base64 values. */
export function recordToMetadata(record: Record<string, string> | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(record ?? {})) {
    if (key.endsWith('-bin')) metadata.set(key, Buffer.from(value, 'base64'));
    else metadata.set(key, value);
  }
  return metadata;
}
