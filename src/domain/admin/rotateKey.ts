import { failedPrecondition } from '../AppError.js';
import { setTo } from '../FieldUpdate.js';
import { generateSecret, labelForRole, type GeneratedSecret } from '../keyFormat.js';
import { applyKeyPatch, keyPatch, type KeyPatch } from '../KeyPatch.js';
import type { Propagation } from '../Propagation.js';
import type { Actor, ApiKeyRecord, Role } from '../types.js';
import { requireIdentifier } from '../validation.js';
import { awaitPropagation, committedPosition } from './acknowledgement.js';
import { auditDiff, describeNewKey } from './auditDiff.js';
import { auditEvent } from './auditEvent.js';
import type { CreatedKey } from './createKey.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { HOUR_MS, READ_ONLY_LIFETIME_HOURS, requireGracePeriodHours, requireLifetimeHours } from './lifetimes.js';
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
  /** The replacement's lifetime; a Read-Only Admin's key may only repeat its fixed 72 hours. */
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
 *
 * A rotation keeps the key's class: the replacement of a Read-Only Admin's key is again that Read-Only
 * Admin's key (`tt_readonly_` label, same creator, fixed 72-hour lifetime), so the rules that protect
 * such keys (only `*:read` scopes, no new lifetime) still hold for it. Otherwise an Admin's rotation would
 * turn it into an Admin key that can be widened and lives a year.
 */
export async function rotateKey(
  deps: Pick<
    KeyAdministrationDependencies,
    'repository' | 'clock' | 'defaultLifetimeHours' | 'onKeysChanged' | 'onKeysCreated' | 'propagation'
  >,
  actor: Actor,
  input: RotateKeyInput,
  context: UseCaseContext = {},
): Promise<RotatedKey> {
  requirePermission(actor, 'rotate keys');
  const keyId = requireIdentifier(input.keyId, 'key_id');
  const grace = requireGracePeriodHours(input.gracePeriodHours);
  const requested = input.expiresInHours === undefined ? undefined : requireLifetimeHours(input.expiresInHours);
  const committed = committedPosition();
  const { created, oldKey, generated } = await deps.repository.transaction(
    async (tx) => {
      const key = await lockKey(tx, actor, keyId);
      const now = deps.clock.now();
      requireLiveKey(key, now, 'rotated');
      if (key.replacedByKeyId !== null) {
        throw failedPrecondition(
          `key ${key.id} was already rotated into ${key.replacedByKeyId}; rotate that key instead`,
        );
      }
      const creator = creatorOf(key, actor);
      const lifetimeHours = replacementLifetimeHours(key, creator.role, requested, deps.defaultLifetimeHours);
      // Generated here, where the key's class is known; a retried transaction generates a fresh one.
      const generated = generateSecret(labelForRole(creator.role));
      const replacement = replacementOf(key, creator, generated, now, now + lifetimeHours * HOUR_MS);
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
      return { created: replacement, oldKey: applyKeyPatch(key, patch), generated };
    },
    { ...context, ...committed.options },
  );
  // Only the old key changed; the new one is in no cache yet, but the filter of known keys learns it.
  deps.onKeysCreated?.([created]);
  await deps.onKeysChanged?.([oldKey]);
  return {
    key: created,
    secret: generated.secret,
    oldKey,
    propagation: await awaitPropagation(deps, committed, context),
  };
}

/** Who the replacement counts as created by: a Read-Only Admin's key stays theirs, any other is the actor's. */
function creatorOf(key: ApiKeyRecord, actor: Actor): { readonly userId: string; readonly role: Role } {
  return key.createdByRole === 'read_only_admin'
    ? { userId: key.createdByUserId, role: key.createdByRole }
    : { userId: actor.userId, role: actor.role };
}

/**
 * The replacement's lifetime in hours: the fixed 72 for a Read-Only Admin's key (FAILED_PRECONDITION for any
 * other request, as UpdateKey refuses a new lifetime for it), otherwise the requested one or the default.
 */
function replacementLifetimeHours(
  key: ApiKeyRecord,
  creatorRole: Role,
  requested: number | undefined,
  defaultHours: number,
): number {
  if (creatorRole !== 'read_only_admin') return requested ?? defaultHours;
  if (requested !== undefined && requested !== READ_ONLY_LIFETIME_HOURS) {
    throw failedPrecondition(
      `key ${key.id} was created by a Read-Only Admin; its replacement has the same fixed ${READ_ONLY_LIFETIME_HOURS}-hour lifetime; omit expires_in_hours (got ${requested})`,
    );
  }
  return READ_ONLY_LIFETIME_HOURS;
}

/** The new key: the old one's name, scopes and allowlist under a new id and secret, made by `creator`. */
function replacementOf(
  key: ApiKeyRecord,
  creator: { readonly userId: string; readonly role: Role },
  generated: GeneratedSecret,
  now: number,
  expireTime: number,
): ApiKeyRecord {
  return {
    ...key,
    id: newId('key'),
    prefix: generated.prefix,
    secretHash: generated.hash,
    createdByUserId: creator.userId,
    createdByRole: creator.role,
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
