import type { OutgoingHttpHeaders } from 'node:http2';
import { GatewayError } from '../errors.js';
import type { InboundRequest, UpstreamResponse } from '../protocol/exchange.js';
import type { Forwarder, TryContext } from '../protocol/forwarder.js';
import { HOP_HEADER, isGrpc, SERVICE_HEADER, setBudget, SOURCE_HEADER, sourceValue } from '../protocol/propagation.js';
import type { RemoteGateway, RemoteGatewayPool } from './remote-gateways.js';

/**
 * Carries a try to the remote gateway replica the balancer picked, over
 * the pooled mTLS HTTP/2 sessions, with the headers gateways exchange.
 */
export class RemoteForwarder implements Forwarder {
  private readonly source: string;

  constructor(
    private readonly cluster: string,
    private readonly pool: RemoteGatewayPool,
    /** A live replica by member id, with where to dial it and the SPIFFE ID it must prove. */
    private readonly gateway: (memberId: string) => RemoteGateway | undefined,
  ) {
    this.source = sourceValue(cluster, undefined);
  }

  forward(request: InboundRequest, context: TryContext): Promise<UpstreamResponse> {
    const { target } = context;
    const gateway = target.kind === 'remote' ? this.gateway(target.replica) : undefined;
    if (!gateway) {
      const id = target.kind === 'remote' ? target.replica : '?';
      return Promise.reject(new GatewayError('upstream-connect', `gateway ${id} is no longer a live member`, { gateway: id }));
    }
    // Built by assignment in one order, not a spread with computed keys:
    // then every request's header object shares one shape.
    const headers: OutgoingHttpHeaders = {
      ':method': request.method,
      ':path': request.path,
      ':scheme': 'https',
      ':authority': request.authority ?? context.service,
    };
    const incoming = request.headers;
    for (const name in incoming) if (name !== 'host') headers[name] = incoming[name];
    headers[SERVICE_HEADER] = context.service;
    headers[HOP_HEADER] = this.cluster;
    headers[SOURCE_HEADER] = this.source;
    // gRPC calls without a deadline may stream for as long as they like:
    // only a caller's own grpc-timeout goes on. HTTP always carries ours.
    const grpc = isGrpc(incoming);
    if (context.propagateDeadline || !grpc) setBudget(headers as Record<string, string>, context.budgetMs, grpc);
    return this.pool.forward(gateway, headers, request, context.timeouts);
  }
}
