import { UNCHANGED, valueAfter, type FieldUpdate } from './FieldUpdate.js';
import type { ApiKeyRecord } from './types.js';

/** The columns of a key that change after it is created (besides its update time). */
export type PatchableKeyField =
  | 'name'
  | 'scopes'
  | 'allowedIps'
  | 'metadata'
  | 'expireTime'
  | 'revokeTime'
  | 'revokedByUserId'
  | 'revokeReason'
  | 'disableTime'
  | 'disabledByUserId'
  | 'replacedByKeyId';

/**
 * A change to a stored key. Every field is present and says explicitly whether it is left alone or set, so
 * storage writes exactly the set fields and the audit diff compares exactly those; every change stamps the
 * update time.
 */
export type KeyPatch = { readonly updateTime: number } & {
  readonly [F in PatchableKeyField]: FieldUpdate<ApiKeyRecord[F]>;
};

/** A patch that changes nothing but the update time: spread it and set the fields that change. */
export function keyPatch(updateTime: number): KeyPatch {
  return {
    updateTime,
    name: UNCHANGED,
    scopes: UNCHANGED,
    allowedIps: UNCHANGED,
    metadata: UNCHANGED,
    expireTime: UNCHANGED,
    revokeTime: UNCHANGED,
    revokedByUserId: UNCHANGED,
    revokeReason: UNCHANGED,
    disableTime: UNCHANGED,
    disabledByUserId: UNCHANGED,
    replacedByKeyId: UNCHANGED,
  };
}

/** The key as it is once `patch` is applied: its version one more. */
export function applyKeyPatch(key: ApiKeyRecord, patch: KeyPatch): ApiKeyRecord {
  return {
    ...key,
    version: key.version + 1,
    updateTime: patch.updateTime,
    name: valueAfter(patch.name, key.name),
    scopes: valueAfter(patch.scopes, key.scopes),
    allowedIps: valueAfter(patch.allowedIps, key.allowedIps),
    metadata: valueAfter(patch.metadata, key.metadata),
    expireTime: valueAfter(patch.expireTime, key.expireTime),
    revokeTime: valueAfter(patch.revokeTime, key.revokeTime),
    revokedByUserId: valueAfter(patch.revokedByUserId, key.revokedByUserId),
    revokeReason: valueAfter(patch.revokeReason, key.revokeReason),
    disableTime: valueAfter(patch.disableTime, key.disableTime),
    disabledByUserId: valueAfter(patch.disabledByUserId, key.disabledByUserId),
    replacedByKeyId: valueAfter(patch.replacedByKeyId, key.replacedByKeyId),
  };
}
