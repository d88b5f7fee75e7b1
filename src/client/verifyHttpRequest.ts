import { type ServiceError, status as GrpcStatus } from '@grpc/grpc-js';

import type { VerifierClient } from './createVerifierClient.js';
import type { DenialReason, VerifiedKey, VerifyResult } from './fromVerifyKeyResponse.js';
import { parseBearerToken } from './parseBearerToken.js';

/**
 * The JSON a gateway answers for an accepted key: the shape of the product's `POST /v1/test`, the
 * verified key's fields in snake case (times as ISO 8601 strings).
 */
export interface AuthenticatedBody {
  readonly success: true;
  readonly message: string;
  readonly key_name: VerifiedKey['name'];
  readonly key_prefix: VerifiedKey['prefix'];
  readonly scopes: VerifiedKey['scopes'];
  /** `VerifiedKey.expiresAt`. */
  readonly expires_at: string;
  readonly organization_id: VerifiedKey['organizationId'];
  /** When the service verified the key. */
  readonly authenticated_at: string;
}

/** What went wrong, as a stable code a client can branch on. */
export type HttpErrorCode =
  'missing_authorization' | 'invalid_authorization' | DenialReason | 'unavailable' | 'internal';

/** The JSON a gateway answers for a refused request. */
export interface ErrorBody {
  readonly success: false;
  readonly error: HttpErrorCode;
  /** A sentence the key's owner can act on. */
  readonly message: string;
}

/** The answer a gateway should send, and what it learnt. */
export type HttpVerdict =
  | {
      readonly status: 200;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: AuthenticatedBody;
      /** The accepted key: its organization is the tenant the request acts in. */
      readonly verification: Extract<VerifyResult, { valid: true }>;
    }
  | {
      /** 401/403: the key was refused; 503: the verifier could not be reached (fail closed); 500: a bug. */
      readonly status: 401 | 403 | 500 | 503;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: ErrorBody;
      /** Set when VerifyKey answered (a denial). */
      readonly verification?: Extract<VerifyResult, { valid: false }>;
      /** The RPC failure behind a 500 or 503, for the gateway's log (never sent to the client). */
      readonly error?: ServiceError;
    };

/** What verifyHttpRequest needs from an HTTP request. */
export interface HttpRequestCredentials {
  /** The `Authorization` header as received (Node: `request.headers.authorization`). */
  readonly authorizationHeader: string | readonly string[] | undefined;
  /** The end client's IP address (Node: `request.socket.remoteAddress`, or the trusted proxy's header). */
  readonly clientIp?: string | undefined;
  /** Scopes the endpoint needs. */
  readonly requiredScopes?: readonly string[];
}

/** Codes meaning "the verifier could not answer now": the client may retry later. */
const UNAVAILABLE_CODES: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
]);

const NO_STORE = { 'cache-control': 'no-store' } as const;

function refusal(
  status: 401 | 403 | 500 | 503,
  error: HttpErrorCode,
  message: string,
  headers: Record<string, string> = {},
): { status: 401 | 403 | 500 | 503; headers: Record<string, string>; body: ErrorBody } {
  return { status, headers: { ...NO_STORE, ...headers }, body: { success: false, error, message } };
}

/** RFC 6750 challenge for a refused key. */
function challenge(result: Extract<VerifyResult, { valid: false }>): Record<string, string> {
  if (result.httpStatus === 401) return { 'www-authenticate': 'Bearer error="invalid_token"' };
  return result.reason === 'insufficient_scope' ? { 'www-authenticate': 'Bearer error="insufficient_scope"' } : {};
}

/**
 * Turns a request's `Authorization: Bearer` header and client IP into a VerifyKey call and returns the
 * answer a gateway should send: 200 with the `/v1/test` body, 401 for a missing, garbled, malformed,
 * unknown, revoked or expired key, 403 for an IP or scope refusal, 503 when the verifier is unreachable
 * (never "allow" on failure). Never throws for an RPC failure.
 */
export async function verifyHttpRequest(client: VerifierClient, request: HttpRequestCredentials): Promise<HttpVerdict> {
  const bearer = parseBearerToken(request.authorizationHeader);
  if (!bearer.ok) return refusal(401, bearer.error, bearer.message, { 'www-authenticate': 'Bearer' });
  let result: VerifyResult;
  try {
    result = await client.verify({
      key: bearer.token,
      clientIp: request.clientIp ?? '',
      requiredScopes: request.requiredScopes ?? [],
    });
  } catch (error) {
    const serviceError = error as ServiceError;
    if (UNAVAILABLE_CODES.has(serviceError.code)) {
      return {
        ...refusal(503, 'unavailable', 'the API key service is unavailable; try again shortly', { 'retry-after': '1' }),
        error: serviceError,
      };
    }
    return { ...refusal(500, 'internal', 'internal error while verifying the API key'), error: serviceError };
  }
  if (!result.valid) {
    return { ...refusal(result.httpStatus, result.reason, result.message, challenge(result)), verification: result };
  }
  return {
    status: 200,
    headers: NO_STORE,
    body: {
      success: true,
      message: result.message,
      key_name: result.key.name,
      key_prefix: result.key.prefix,
      scopes: result.key.scopes,
      expires_at: result.key.expiresAt.toISOString(),
      organization_id: result.key.organizationId,
      authenticated_at: result.authenticatedAt.toISOString(),
    },
    verification: result,
  };
}
