import { DenialReason as ProtoDenialReason, type VerifyKeyResponse } from '../../gen/apikeys/v1/api_keys.js';
import type { Timestamp } from '../../gen/google/protobuf/timestamp.js';

/** Why a key was refused (`unrecognized`: a reason added to the service after this client was built). */
export type DenialReason =
  | 'malformed'
  | 'not_found'
  | 'revoked'
  | 'expired'
  | 'disabled'
  | 'ip_not_allowed'
  | 'insufficient_scope'
  | 'unrecognized';

/** The key a verification identified. */
export interface VerifiedKey {
  readonly id: string;
  readonly name: string;
  /** Display-safe start of the secret, e.g. `tt_admin_P6jVGAam`. */
  readonly prefix: string;
  /** Scopes the key grants, sorted. */
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  /** The tenant the request acts in. */
  readonly organizationId: string;
  readonly createdByUserId: string;
  /** The key's metadata (names → values, set by its admins), to route or tag the request by. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** The answer of VerifyKey: a denial is data, not an error. */
export type VerifyResult =
  | {
      readonly valid: true;
      readonly httpStatus: 200;
      /** `API key is valid and working correctly`. */
      readonly message: string;
      readonly key: VerifiedKey;
      readonly authenticatedAt: Date;
    }
  | {
      readonly valid: false;
      readonly reason: DenialReason;
      /** What a gateway should answer: 401 (malformed, unknown, revoked, expired, disabled) or 403 (IP, scope). */
      readonly httpStatus: 401 | 403;
      /** A sentence the key's owner can act on. */
      readonly message: string;
      /** Set once the key was identified (revoked, expired, IP, scope); never for malformed or unknown keys. */
      readonly key?: VerifiedKey;
      readonly authenticatedAt: Date;
    };

const DENIAL_FROM_PROTO: ReadonlyMap<number, DenialReason> = new Map([
  [ProtoDenialReason.DENIAL_REASON_MALFORMED, 'malformed'],
  [ProtoDenialReason.DENIAL_REASON_NOT_FOUND, 'not_found'],
  [ProtoDenialReason.DENIAL_REASON_REVOKED, 'revoked'],
  [ProtoDenialReason.DENIAL_REASON_EXPIRED, 'expired'],
  [ProtoDenialReason.DENIAL_REASON_DISABLED, 'disabled'],
  [ProtoDenialReason.DENIAL_REASON_IP_NOT_ALLOWED, 'ip_not_allowed'],
  [ProtoDenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE, 'insufficient_scope'],
]);

function toDate(timestamp: Timestamp | undefined): Date {
  return new Date(timestamp === undefined ? 0 : timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1e6));
}

/** Converts the generated response into the client's own types. */
export function fromVerifyKeyResponse(response: VerifyKeyResponse): VerifyResult {
  const key: VerifiedKey | undefined =
    response.keyId === ''
      ? undefined
      : {
          id: response.keyId,
          name: response.keyName,
          prefix: response.keyPrefix,
          scopes: response.scopes,
          expiresAt: toDate(response.expireTime),
          organizationId: response.organizationId,
          createdByUserId: response.createdByUserId,
          metadata: response.metadata,
        };
  const authenticatedAt = toDate(response.authenticateTime);
  if (response.valid && key !== undefined) {
    return { valid: true, httpStatus: 200, message: response.message, key, authenticatedAt };
  }
  // Anything else is a denial, including a "valid" answer without a key (never sent): fail closed.
  const reason = DENIAL_FROM_PROTO.get(response.denialReason) ?? 'unrecognized';
  const httpStatus = response.httpStatus === 403 ? 403 : 401;
  return {
    valid: false,
    reason,
    httpStatus,
    message: response.message,
    ...(key === undefined ? {} : { key }),
    authenticatedAt,
  };
}
