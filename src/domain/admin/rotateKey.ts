import { failedPrecondition } from '../AppError.js';
import { setTo } from '../FieldUpdate.js';
import { generateSecret, labelForRole, type GeneratedSecret } from '../keyFormat.js';
import { applyKeyPatch, keyPatch, type KeyPatch } from '../KeyPatch.js';
import type { Propagation } from '../Propagation.js';
import type { Actor, ApiKeyRecord } from '../types.js';
import { requireIdentifier } from '../validation.js';
import { awaitPropagation, committedPosition } from './acknowledgement.js';
import { auditDiff, describeNewKey } from './auditDiff.js';
import { auditEvent } from './auditEvent.js';
import type { CreatedKey } from './createKey.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { HOUR_MS, lifetimeHoursFor, requireGracePeriodHours } from './lifetimes.js';
import { lockKey } from './lockKey.js';
import { newId } from './newId.js';
import { requirePermission } from './requirePermission.js';
import { requireLiveKey } from './requireLiveKey.js';
import type { UseCaseContext } from './UseCaseContext.js';

/** Which key to rotate, how long the old one keeps working, and the new one's lifetime. */
export interface RotateKeyInput {
  readonly keyId: string;
  /** 0 revokes the old key at once; otherwise it expires after this many hours (never later than it would). */
  readonly gracePeriodHours: number;
  readonly expiresInHours?: number;
}

/** The replacement key (with its secret, shown once) and the old key as it now is. */
export interface RotatedKey extends CreatedKey {
  readonly oldKey: ApiKeyRecord;
  /** How far the change of the old key had reached the replicas; null when the service does not wait. */
  readonly propagation: Propagation | null;
}

/**
 * Replaces an active key; the old one keeps working for the grace period, then expires. Waits for the
 * other replicas to apply the change of the old key. Admin only.
 */
export async function rotateKey(
  deps: Pick<
    KeyAdministrationDependencies,
    'repository' | 'clock' | 'defaultLifetimeHours' | 'onKeysChanged' | 'propagation'
  >,
  actor: Actor,
  input: RotateKeyInput,
  context: UseCaseContext = {},
): Promise<RotatedKey> {
  requirePermission(actor, 'rotate keys');
  const keyId = requireIdentifier(input.keyId, 'key_id');
  const grace = requireGracePeriodHours(input.gracePeriodHours);
  const lifetimeHours = lifetimeHoursFor(actor, input.expiresInHours, deps.defaultLifetimeHours);
  const generated = generateSecret(labelForRole(actor.role));
  const committed = committedPosition();
  const { created, oldKey } = await deps.repository.transaction(
    async (tx) => {
      const key = await lockKey(tx, actor, keyId);
      const now = deps.clock.now();
      requireLiveKey(key, now, 'rotated');
      if (key.replacedByKeyId !== null) {
        throw failedPrecondition(
          `key ${key.id} was already rotated into ${key.replacedByKeyId}; rotate that key instead`,
        );
      }
      const replacement = replacementOf(key, actor, generated, now, now + lifetimeHours * HOUR_MS);
      await tx.insertKey(replacement);
      await tx.insertAuditEvent(
        auditEvent(actor, replacement, 'key_created', now, {
          relatedKeyId: key.id,
          changes: describeNewKey(replacement),
        }),
      );
      const patch = retirement(actor, key, replacement.id, now, grace);
      await tx.updateKey(key, patch);
      await tx.insertAuditEvent(
        auditEvent(actor, key, 'key_rotated', now, { relatedKeyId: replacement.id, changes: auditDiff(key, patch) }),
      );
      return { created: replacement, oldKey: applyKeyPatch(key, patch) };
    },
    { ...context, ...committed.options },
  );
  // Only the old key changed; the new one is in no cache yet.
  await deps.onKeysChanged?.([oldKey]);
  return {
    key: created,
    secret: generated.secret,
    oldKey,
    propagation: await awaitPropagation(deps, committed, context),
  };
}

/** The new key: the old one's name, scopes and allowlist under a new id and secret, made by `actor`. */
function replacementOf(
  key: ApiKeyRecord,
  actor: Actor,
  generated: GeneratedSecret,
  now: number,
  expireTime: number,
): ApiKeyRecord {
  return {
    ...key,
    id: newId('key'),
    prefix: generated.prefix,
    secretHash: generated.hash,
    createdByUserId: actor.userId,
    createdByRole: actor.role,
    createTime: now,
    expireTime,
    updateTime: now,
    version: 1,
    lastUsedTime: null,
    lastUsedIp: null,
    rotatedFromKeyId: key.id,
    replacedByKeyId: null,
  };
}

/** How the old key ends: revoked at once without grace, otherwise expiring when the grace period ends. */
function retirement(actor: Actor, key: ApiKeyRecord, replacementId: string, now: number, grace: number): KeyPatch {
  const replaced: KeyPatch = { ...keyPatch(now), replacedByKeyId: setTo(replacementId) };
  if (grace === 0) {
    return {
      ...replaced,
      revokeTime: setTo(now),
      revokedByUserId: setTo(actor.userId),
      revokeReason: setTo(`rotated into ${replacementId}`),
    };
  }
  return { ...replaced, expireTime: setTo(Math.min(key.expireTime, now + grace * HOUR_MS)) };
}
