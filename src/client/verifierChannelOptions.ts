import type { ChannelOptions } from '@grpc/grpc-js';

/** The fully qualified name of the verifier service, as service config names it. */
const VERIFIER_SERVICE = 'apikeys.v1.KeyVerifier';

/**
 * Retry policy (gRFC A6) for VerifyKey: UNAVAILABLE (no connection, a replica shutting down, the
 * database briefly unreachable) is retried up to twice with a short backoff. Every attempt shares the
 * call's deadline, so retries never make a call slower than the caller allowed. VerifyKey only reads,
 * so retrying it is safe; other codes (INVALID_ARGUMENT is a caller bug) are not retried.
 */
export const VERIFIER_SERVICE_CONFIG = {
  loadBalancingConfig: [{ round_robin: {} }],
  methodConfig: [
    {
      name: [{ service: VERIFIER_SERVICE }],
      retryPolicy: {
        maxAttempts: 3,
        initialBackoff: '0.05s',
        maxBackoff: '0.2s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    },
  ],
} as const;

/**
 * Channel options of a verifier client: retries through service config, keepalive pings so a dead
 * connection (a replica gone without a FIN) is noticed within seconds rather than at the next call's
 * deadline, and round-robin over every address a DNS name resolves to (several replicas).
 */
export function verifierChannelOptions(extra: ChannelOptions = {}): ChannelOptions {
  return {
    'grpc.service_config': JSON.stringify(VERIFIER_SERVICE_CONFIG),
    'grpc.enable_retries': 1,
    // The service permits pings on idle connections every 10 s or slower. A proxy in between may enforce
    // a longer minimum (gRPC C-core's default without calls is 5 minutes) and answer GOAWAY
    // too_many_pings: raise this through `channelOptions` then.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    // grpc-js backs reconnects off from 1 s by 1.6× up to 120 s: a replica down for a few seconds in a
    // rollout would then be tried again only seconds after it is back, and if the next replica drains in
    // that window this client has none. Replicas restart in seconds; a refused connect costs little.
    'grpc.initial_reconnect_backoff_ms': 250,
    'grpc.max_reconnect_backoff_ms': 2000,
    ...extra,
  };
}
