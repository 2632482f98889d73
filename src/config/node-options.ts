/**
 * The Node options a gateway process starts with. Node reads them before any
 * code runs, so they travel with each way of starting one: `meshgate`'s own
 * `#!` line, the image's entrypoint and the quickstart script write them out
 * (a test keeps those equal to this), the demo and the benches pass these.
 * The heap's other bound, its growth, is set at run time (gateway/heap.ts).
 *
 * Semi-spaces of 8 MiB rather than V8's 16: a gateway's per-request objects
 * die within the request, so the smaller young generation served as many
 * requests at saturation and left 10–15 MiB less resident after the run; at
 * 4 MiB one gateway served about a quarter fewer.
 */
export const GATEWAY_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=8'];
