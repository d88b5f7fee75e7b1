import { type ChannelOptions, Metadata } from '@grpc/grpc-js';

import { KeyVerifierClient, KeyVerifierService } from '../../gen/apikeys/v1/api_keys.js';
import { createAuthMetadata } from './createAuthMetadata.js';
import { createChannelCredentials, type TlsOption } from './createChannelCredentials.js';
import { fromVerifyKeyResponse, type VerifyResult } from './fromVerifyKeyResponse.js';
import { promisedClient } from './promisedClient.js';
import { verifierChannelOptions } from './verifierChannelOptions.js';

/** Default per-call deadline: covers a cold cache miss (one indexed query) and a retry or two. */
export const DEFAULT_VERIFY_DEADLINE_MS = 500;

/** Settings of createVerifierClient. */
export interface VerifierClientOptions {
  /** `host:port` of api-key-service (a DNS name resolving to several replicas is balanced round-robin). */
  readonly address: string;
  /** Omitted or `false`: plaintext; `true`: TLS with the system's roots; `{ ca, cert, key }`: PEM contents. */
  readonly tls?: TlsOption;
  /** Service token, sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string;
  /** Deadline of each verify call including its retries (default 500 ms). */
  readonly deadlineMs?: number;
  /** Extra grpc-js channel options, applied over the defaults. */
  readonly channelOptions?: ChannelOptions;
}

/** What a service asks on each request. */
export interface VerifyRequest {
  /** The presented key (the `Authorization: Bearer` value without `Bearer `). */
  readonly key: string;
  /** The end client's IP address; required when the key has an IP allowlist. */
  readonly clientIp?: string;
  /** Scopes the request needs; all must be granted. Each must exist in the scope catalog. */
  readonly requiredScopes?: readonly string[];
}

/** Per-call settings. */
export interface VerifyCallOptions {
  /** Overrides the client's deadline for this call. */
  readonly deadlineMs?: number;
  /** Sent as `x-request-id`, so the service's log line can be matched with the caller's. */
  readonly requestId?: string;
}

/** A small typed KeyVerifier client. */
export interface VerifierClient {
  /**
   * Verifies a key. Resolves with the decision (a denial is a normal result); rejects with the grpc-js
   * `ServiceError` for RPC failures: UNAVAILABLE after the retries, DEADLINE_EXCEEDED, INVALID_ARGUMENT
   * (an unknown scope in `requiredScopes`: a bug of the caller), UNAUTHENTICATED (bad service token).
   */
  verify(request: VerifyRequest, options?: VerifyCallOptions): Promise<VerifyResult>;
  /** Closes the channel; pending calls fail with CANCELLED. */
  close(): void;
}

/**
 * Creates a verifier client with production defaults: keepalive, a per-call deadline, retry of
 * UNAVAILABLE through gRPC service config, the service token as call metadata.
 */
export function createVerifierClient(options: VerifierClientOptions): VerifierClient {
  const deadlineMs = options.deadlineMs ?? DEFAULT_VERIFY_DEADLINE_MS;
  if (!Number.isFinite(deadlineMs) || deadlineMs <= 0) {
    throw new TypeError(`deadlineMs must be a positive number, got ${deadlineMs}`);
  }
  // Checked before the channel opens: a bad token must not leave a channel behind.
  const authMetadata = createAuthMetadata(options.token);
  const client = new KeyVerifierClient(
    options.address,
    createChannelCredentials(options.tls),
    verifierChannelOptions(options.channelOptions),
  );
  const verifier = promisedClient(client, KeyVerifierService, {
    metadata: authMetadata,
    deadlineMs,
  });
  return {
    // Not async: an invalid requestId throws synchronously, as it always has.
    verify(request, callOptions = {}) {
      const metadata = new Metadata();
      if (callOptions.requestId !== undefined) metadata.set('x-request-id', callOptions.requestId);
      return verifier
        .verifyKey(
          { key: request.key, clientIp: request.clientIp ?? '', requiredScopes: [...(request.requiredScopes ?? [])] },
          { metadata, deadlineMs: callOptions.deadlineMs },
        )
        .then(fromVerifyKeyResponse);
    },
    close() {
      client.close();
    },
  };
}
