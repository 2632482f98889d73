/** One request of the demo's app, as the app saw it. */
export interface Outcome {
  /** When it was sent (epoch ms). */
  readonly at: number;
  readonly service: string;
  /** The cluster whose service answered; absent when the request failed. */
  readonly cluster?: string;
  readonly ok: boolean;
  /** Round trip in ms. */
  readonly ms: number;
  /** For a failure: the status and `meshgate-error`, or the client's error code. */
  readonly error?: string;
  /** GET is idempotent; a gRPC call is a POST and is not. */
  readonly idempotent: boolean;
}

/** The services the app calls, at their rates. */
export interface TrafficPlan {
  readonly gateway: string;
  readonly helloPerSecond: number;
  readonly echoPerSecond: number;
}

export const DEFAULT_RATES = { helloPerSecond: 50, echoPerSecond: 30 } as const;
