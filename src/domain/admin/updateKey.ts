import { failedPrecondition } from '../AppError.js';
import { mapFieldUpdate, setTo, UNCHANGED, type FieldUpdate } from '../FieldUpdate.js';
import { normalizeAllowedIps } from '../IpAllowlist.js';
import { normalizeMetadata } from '../metadata.js';
import { applyKeyPatch, keyPatch, type KeyPatch } from '../KeyPatch.js';
import type { ScopeCatalog } from '../ScopeCatalog.js';
import type { Actor, ApiKeyRecord, AuditAction, FieldChange } from '../types.js';
import { normalizeName, requireIdentifier } from '../validation.js';
import { type AcknowledgedKey, awaitPropagation, committedPosition } from './acknowledgement.js';
import { auditDiff } from './auditDiff.js';
import { auditEvent } from './auditEvent.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { HOUR_MS, READ_ONLY_LIFETIME_HOURS, requireLifetimeHours } from './lifetimes.js';
import { lockKey } from './lockKey.js';
import { requirePermission } from './requirePermission.js';
import { requireLiveKey } from './requireLiveKey.js';
import type { UseCaseContext } from './UseCaseContext.js';

/** The changes a caller asks for, as sent (validated here); every field says whether it changes. */
export interface KeyEdits {
  readonly name: FieldUpdate<string>;
  readonly scopes: FieldUpdate<readonly string[]>;
  /** `setTo([])` clears the allowlist (any IP may use the key); `UNCHANGED` keeps it. */
  readonly allowedIps: FieldUpdate<readonly string[]>;
  /** A new lifetime, counted from now. */
  readonly expiresInHours: FieldUpdate<number>;
  /** `setTo(false)` suspends the key, `setTo(true)` resumes it. */
  readonly enabled: FieldUpdate<boolean>;
  /** Replaces all of the key's metadata; `setTo({})` clears it. */
  readonly metadata: FieldUpdate<Readonly<Record<string, string>>>;
}

/** Which key to change, and how. */
export interface UpdateKeyInput {
  readonly keyId: string;
  /**
   * Reads the requested edits; called once, after the role and key-id checks, so that a request wrong in
   * several ways is refused for the same reason, in the same order, as ever (the transport's decoding of
   * the edits can fail too).
   */
  readonly edits: () => KeyEdits;
}

/**
 * Changes the edited fields of a key (suspending or resuming it included), and waits for the other
 * replicas to apply it: the write goes through the change feed and the caches' invalidation exactly as a
 * revocation does. Admin only; not on revoked or expired keys.
 */
export async function updateKey(
  deps: Pick<KeyAdministrationDependencies, 'repository' | 'scopes' | 'clock' | 'onKeysChanged' | 'propagation'>,
  actor: Actor,
  input: UpdateKeyInput,
  context: UseCaseContext = {},
): Promise<AcknowledgedKey> {
  requirePermission(actor, 'update keys');
  const keyId = requireIdentifier(input.keyId, 'key_id');
  const edits = normalizeEdits(deps.scopes, input.edits());
  const committed = committedPosition();
  const updated = await deps.repository.transaction(
    async (tx) => {
      const key = await lockKey(tx, actor, keyId);
      const now = deps.clock.now();
      requireEditable(deps.scopes, key, now, edits);
      const patch: KeyPatch = {
        ...keyPatch(now),
        name: edits.name,
        scopes: edits.scopes,
        allowedIps: edits.allowedIps,
        metadata: edits.metadata,
        expireTime: mapFieldUpdate(edits.expiresInHours, (hours) => now + hours * HOUR_MS),
        ...suspension(key, actor, edits.enabled, now),
      };
      const changes = auditDiff(key, patch);
      // Setting fields to the values they have is no change: nothing is written or audited.
      if (changes.length === 0) return key;
      await tx.updateKey(key, patch);
      await tx.insertAuditEvent(auditEvent(actor, key, auditedAction(changes), now, { changes }));
      return applyKeyPatch(key, patch);
    },
    { ...context, ...committed.options },
  );
  await deps.onKeysChanged?.([updated]);
  return { key: updated, propagation: await awaitPropagation(deps, committed, context) };
}

function normalizeEdits(catalog: ScopeCatalog, edits: KeyEdits): KeyEdits {
  return {
    name: mapFieldUpdate(edits.name, (name) => normalizeName(name)),
    scopes: mapFieldUpdate(edits.scopes, (scopes) => catalog.normalize(scopes, 'scopes', { allowEmpty: false })),
    allowedIps: mapFieldUpdate(edits.allowedIps, normalizeAllowedIps),
    expiresInHours: mapFieldUpdate(edits.expiresInHours, requireLifetimeHours),
    enabled: edits.enabled,
    metadata: mapFieldUpdate(edits.metadata, (metadata) => normalizeMetadata(metadata)),
  };
}

/**
 * The suspension fields of the patch: suspending stamps the time and the Admin (kept when the key is
 * already suspended, so the first suspender stays the one to ask), resuming clears both.
 */
function suspension(
  key: ApiKeyRecord,
  actor: Actor,
  enabled: FieldUpdate<boolean>,
  now: number,
): Pick<KeyPatch, 'disableTime' | 'disabledByUserId'> {
  if (enabled.kind === 'unchanged' || enabled.value === (key.disableTime === null)) {
    return { disableTime: UNCHANGED, disabledByUserId: UNCHANGED };
  }
  return enabled.value
    ? { disableTime: setTo(null), disabledByUserId: setTo(null) }
    : { disableTime: setTo(now), disabledByUserId: setTo(actor.userId) };
}

/** A change of `disable_time` is a suspension or a resumption, whatever else changed with it. */
function auditedAction(changes: readonly FieldChange[]): AuditAction {
  const disable = changes.find((change) => change.field === 'disable_time');
  if (disable === undefined) return 'key_updated';
  return disable.newValue === '' ? 'key_enabled' : 'key_disabled';
}

/** FAILED_PRECONDITION for edits the key's history forbids. */
function requireEditable(catalog: ScopeCatalog, key: ApiKeyRecord, now: number, edits: KeyEdits): void {
  const resuming = edits.enabled.kind === 'set' && edits.enabled.value;
  const suspending = edits.enabled.kind === 'set' && !edits.enabled.value;
  requireLiveKey(key, now, resuming ? 'resumed' : suspending ? 'suspended' : 'updated');
  const relifed = edits.expiresInHours.kind === 'set';
  if (relifed && key.replacedByKeyId !== null) {
    throw failedPrecondition(
      `key ${key.id} was rotated into ${key.replacedByKeyId} and lives only until its grace period ends; update the new key instead`,
    );
  }
  if (key.createdByRole !== 'read_only_admin') return;
  if (relifed) {
    throw failedPrecondition(
      `key ${key.id} was created by a Read-Only Admin and has a fixed ${READ_ONLY_LIFETIME_HOURS}-hour lifetime that cannot be changed`,
    );
  }
  const widened = edits.scopes.kind === 'set' ? edits.scopes.value.filter((scope) => !catalog.isReadOnly(scope)) : [];
  if (widened.length > 0) {
    throw failedPrecondition(
      `key ${key.id} was created by a Read-Only Admin and may only hold *:read scopes; not allowed: ${widened.join(', ')}`,
    );
  }
}
