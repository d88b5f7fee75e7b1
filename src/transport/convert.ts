/**
 * Conversions between generated protobuf types and domain types, named by direction. The only module
 * besides the service files that knows the generated types.
 */
import {
  ApiKey,
  AuditAction as ProtoAuditAction,
  type AuditEvent,
  DenialReason as ProtoDenialReason,
  type GetKeyUsageResponse,
  KeyState as ProtoKeyState,
  LeakOutcome,
  type LeakedKeyResult,
  type Propagation as ProtoPropagation,
  Role as ProtoRole,
  type Actor as ProtoActor,
  type Scope,
  type VerifyKeyResponse,
} from '../../gen/apikeys/v1/api_keys.js';
import type { Timestamp } from '../../gen/google/protobuf/timestamp.js';
import { invalidArgument } from '../domain/AppError.js';
import type { KeyUsage } from '../domain/admin/getKeyUsage.js';
import type { LeakResult } from '../domain/admin/reportLeakedKeys.js';
import type { Verification } from '../domain/KeyVerifier.js';
import type { Propagation } from '../domain/Propagation.js';
import { DENIAL_HTTP_STATUS } from '../domain/KeyVerifier.js';
import type { ScopeDefinition } from '../domain/ScopeCatalog.js';
import type { VerifiableKey } from '../domain/VerifiableKey.js';
import type { Actor, ApiKeyRecord, AuditAction, AuditEventRecord, KeyState, Role } from '../domain/types.js';
import { keyStateAt } from '../domain/types.js';
import { USAGE_OUTCOMES } from '../domain/UsageTally.js';
import { formatUtcDay } from '../domain/utcDay.js';
import { requireIdentifier } from '../domain/validation.js';

const ROLE_FROM_PROTO: ReadonlyMap<number, Role> = new Map([
  [ProtoRole.ROLE_ADMIN, 'admin'],
  [ProtoRole.ROLE_READ_ONLY_ADMIN, 'read_only_admin'],
  [ProtoRole.ROLE_MEMBER, 'member'],
]);
const ROLE_TO_PROTO: Readonly<Record<Role, ProtoRole>> = {
  admin: ProtoRole.ROLE_ADMIN,
  read_only_admin: ProtoRole.ROLE_READ_ONLY_ADMIN,
  member: ProtoRole.ROLE_MEMBER,
};
const STATE_TO_PROTO: Readonly<Record<KeyState, ProtoKeyState>> = {
  active: ProtoKeyState.KEY_STATE_ACTIVE,
  expired: ProtoKeyState.KEY_STATE_EXPIRED,
  revoked: ProtoKeyState.KEY_STATE_REVOKED,
  disabled: ProtoKeyState.KEY_STATE_DISABLED,
};
const STATE_FROM_PROTO: ReadonlyMap<number, KeyState> = new Map(
  Object.entries(STATE_TO_PROTO).map(([state, proto]) => [proto, state as KeyState]),
);
const ACTION_TO_PROTO: Readonly<Record<AuditAction, ProtoAuditAction>> = {
  key_created: ProtoAuditAction.AUDIT_ACTION_KEY_CREATED,
  key_updated: ProtoAuditAction.AUDIT_ACTION_KEY_UPDATED,
  key_revoked: ProtoAuditAction.AUDIT_ACTION_KEY_REVOKED,
  key_rotated: ProtoAuditAction.AUDIT_ACTION_KEY_ROTATED,
  key_disabled: ProtoAuditAction.AUDIT_ACTION_KEY_DISABLED,
  key_enabled: ProtoAuditAction.AUDIT_ACTION_KEY_ENABLED,
};
const DENIAL_TO_PROTO = {
  malformed: ProtoDenialReason.DENIAL_REASON_MALFORMED,
  not_found: ProtoDenialReason.DENIAL_REASON_NOT_FOUND,
  revoked: ProtoDenialReason.DENIAL_REASON_REVOKED,
  expired: ProtoDenialReason.DENIAL_REASON_EXPIRED,
  disabled: ProtoDenialReason.DENIAL_REASON_DISABLED,
  ip_not_allowed: ProtoDenialReason.DENIAL_REASON_IP_NOT_ALLOWED,
  insufficient_scope: ProtoDenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE,
} as const;

/** Validates and converts the request's actor; `caller` is the authenticated backend. */
export function actorFromProto(actor: ProtoActor | undefined, caller: string): Actor {
  if (actor === undefined) throw invalidArgument('actor is required: the organization, user and role you act for');
  const role = ROLE_FROM_PROTO.get(actor.role);
  if (role === undefined) {
    throw invalidArgument(
      `actor.role must be ROLE_ADMIN, ROLE_READ_ONLY_ADMIN or ROLE_MEMBER, got ${actor.role === ProtoRole.ROLE_UNSPECIFIED ? 'ROLE_UNSPECIFIED' : String(actor.role)}`,
    );
  }
  return {
    organizationId: requireIdentifier(actor.organizationId, 'actor.organization_id'),
    userId: requireIdentifier(actor.userId, 'actor.user_id'),
    role,
    caller,
  };
}

/** Converts key-state filters; unknown values are INVALID_ARGUMENT. */
export function statesFromProto(states: readonly number[]): KeyState[] {
  return states.map((value) => {
    const state = STATE_FROM_PROTO.get(value);
    if (state === undefined) throw invalidArgument(`states: ${value} is not a valid KeyState`);
    return state;
  });
}

/** Epoch ms → Timestamp. */
export function timestampFromMs(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** Timestamp → epoch ms (INVALID_ARGUMENT when out of range). */
export function msFromTimestamp(timestamp: Timestamp | undefined, field: string): number | undefined {
  if (timestamp === undefined) return undefined;
  const ms = timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1_000_000);
  if (!Number.isSafeInteger(ms) || timestamp.nanos < 0 || timestamp.nanos > 999_999_999) {
    throw invalidArgument(`${field} is not a valid timestamp`);
  }
  return ms;
}

function optionalTime(ms: number | null): Timestamp | undefined {
  return ms === null ? undefined : timestampFromMs(ms);
}

/** A stored key as shown to admins: never the secret, never the hash. */
export function apiKeyToProto(key: ApiKeyRecord, now: number): ApiKey {
  return ApiKey.fromPartial({
    id: key.id,
    organizationId: key.organizationId,
    name: key.name,
    prefix: key.prefix,
    scopes: [...key.scopes],
    allowedIps: [...key.allowedIps],
    metadata: { ...key.metadata },
    state: STATE_TO_PROTO[keyStateAt(key, now)],
    createTime: timestampFromMs(key.createTime),
    expireTime: timestampFromMs(key.expireTime),
    updateTime: timestampFromMs(key.updateTime),
    revokeTime: optionalTime(key.revokeTime),
    lastUsedTime: optionalTime(key.lastUsedTime),
    lastUsedIp: key.lastUsedIp ?? '',
    createdByUserId: key.createdByUserId,
    createdByRole: ROLE_TO_PROTO[key.createdByRole],
    revokedByUserId: key.revokedByUserId ?? '',
    revokeReason: key.revokeReason ?? '',
    rotatedFromKeyId: key.rotatedFromKeyId ?? '',
    replacedByKeyId: key.replacedByKeyId ?? '',
    disableTime: optionalTime(key.disableTime),
    disabledByUserId: key.disabledByUserId ?? '',
  });
}

/** An audit row as returned by ListAuditEvents. */
export function auditEventToProto(event: AuditEventRecord): AuditEvent {
  return {
    id: event.id,
    organizationId: event.organizationId,
    keyId: event.keyId,
    action: ACTION_TO_PROTO[event.action],
    actorUserId: event.actorUserId,
    actorRole: event.actorRole === 'none' ? ProtoRole.ROLE_UNSPECIFIED : ROLE_TO_PROTO[event.actorRole],
    caller: event.caller,
    createTime: timestampFromMs(event.createTime),
    relatedKeyId: event.relatedKeyId ?? '',
    changes: event.changes.map((change) => ({ ...change })),
    reason: event.reason ?? '',
  };
}

/** A write's propagation for its response; unset (undefined) when the service did not wait. */
export function propagationToProto(propagation: Propagation | null): ProtoPropagation | undefined {
  if (propagation === null) return undefined;
  return {
    confirmedReplicas: propagation.confirmedReplicas,
    liveReplicas: propagation.liveReplicas,
    unconfirmedReplicaIds: [...propagation.unconfirmedReplicaIds],
    waitMs: propagation.waitedMs,
    complete: propagation.complete,
  };
}

const LEAK_OUTCOME_TO_PROTO: Readonly<Record<LeakResult['outcome'], LeakOutcome>> = {
  not_a_key: LeakOutcome.LEAK_OUTCOME_NOT_A_KEY,
  unknown: LeakOutcome.LEAK_OUTCOME_UNKNOWN,
  already_inactive: LeakOutcome.LEAK_OUTCOME_ALREADY_INACTIVE,
  revoked: LeakOutcome.LEAK_OUTCOME_REVOKED,
};

/** One candidate's outcome of ReportLeakedKeys: the key's id, organization and prefix once identified. */
export function leakResultToProto(result: LeakResult): LeakedKeyResult {
  const outcome = LEAK_OUTCOME_TO_PROTO[result.outcome];
  if (!('key' in result)) return { outcome, keyId: '', organizationId: '', keyPrefix: '' };
  return { outcome, keyId: result.key.id, organizationId: result.key.organizationId, keyPrefix: result.key.prefix };
}

/** A catalog entry. */
export function scopeToProto(scope: ScopeDefinition): Scope {
  return { ...scope };
}

/** The parts of a VerifyKey response that depend only on the key. */
type KeyFields = Pick<
  VerifyKeyResponse,
  'keyId' | 'keyName' | 'keyPrefix' | 'scopes' | 'expireTime' | 'organizationId' | 'createdByUserId' | 'metadata'
>;
const NO_KEY: KeyFields = {
  keyId: '',
  keyName: '',
  keyPrefix: '',
  scopes: [],
  expireTime: undefined,
  organizationId: '',
  createdByUserId: '',
  metadata: {},
};

// Not cached per key: a valid answer's bytes are (encodeVerification), and a copy per cached key would
// cost memory for the denials alone.
function keyFields(key: VerifiableKey | undefined): KeyFields {
  if (key === undefined) return NO_KEY;
  return {
    keyId: key.id,
    keyName: key.name,
    keyPrefix: key.prefix,
    scopes: key.scopes as string[],
    expireTime: timestampFromMs(key.expireTime),
    organizationId: key.organizationId,
    createdByUserId: key.createdByUserId,
    metadata: key.metadata,
  };
}

/** A verification outcome as the VerifyKey response. */
export function verificationToProto(outcome: Verification): VerifyKeyResponse {
  return {
    valid: outcome.valid,
    denialReason: outcome.valid ? ProtoDenialReason.DENIAL_REASON_UNSPECIFIED : DENIAL_TO_PROTO[outcome.reason],
    httpStatus: outcome.valid ? 200 : DENIAL_HTTP_STATUS[outcome.reason],
    message: outcome.message,
    ...keyFields(outcome.key),
    authenticateTime: timestampFromMs(outcome.now),
  };
}

/** A key's usage history, days as `YYYY-MM-DD`, denials by reason in ascending order of the reason's number. */
export function keyUsageToProto(usage: KeyUsage): GetKeyUsageResponse {
  return {
    keyId: usage.keyId,
    startDay: formatUtcDay(usage.firstDay),
    endDay: formatUtcDay(usage.lastDay),
    days: usage.days.map(({ day, counts }) => {
      const denials = USAGE_OUTCOMES.flatMap((outcome) =>
        outcome === 'valid' || counts[outcome] === 0
          ? []
          : [{ reason: DENIAL_TO_PROTO[outcome], count: counts[outcome] }],
      ).sort((a, b) => a.reason - b.reason);
      return {
        day: formatUtcDay(day),
        verified: counts.valid,
        denied: denials.reduce((sum, denial) => sum + denial.count, 0),
        denials,
      };
    }),
  };
}
