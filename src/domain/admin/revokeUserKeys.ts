import { AppError } from '../AppError.js';
import { setTo } from '../FieldUpdate.js';
import { applyKeyPatch, keyPatch, type KeyPatch } from '../KeyPatch.js';
import type { Propagation } from '../Propagation.js';
import type { Actor, ApiKeyRecord } from '../types.js';
import { normalizeReason, requireIdentifier } from '../validation.js';
import { awaitPropagation, committedPosition } from './acknowledgement.js';
import { auditEvent } from './auditEvent.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { requirePermission } from './requirePermission.js';
import type { UseCaseContext } from './UseCaseContext.js';

/** Keys revoked per transaction: each batch is a constant number of statements and holds its locks briefly. */
export const REVOKE_BATCH_SIZE = 500;

/** The keys a RevokeUserKeys call revoked, and how far the last batch had reached the replicas. */
export interface RevokedUserKeys {
  readonly keys: readonly ApiKeyRecord[];
  /** Null when the service does not wait (PROPAGATION_WAIT_MS = 0). */
  readonly propagation: Propagation | null;
}

/**
 * Revokes every key a user created that still works (offboarding). Admin only. Works in batches of
 * REVOKE_BATCH_SIZE, oldest first, each its own transaction of a constant number of statements (lock the
 * batch, one UPDATE, one audit INSERT, the feed rows) that locks only that user's keys; a batch and its
 * audit events commit together. A failure after some batches leaves those revoked (and audited); calling
 * again revokes the rest. It waits once, at the end, for the replicas to apply the last batch (feed
 * positions are in commit order, so that covers every batch).
 */
export async function revokeUserKeys(
  deps: Pick<KeyAdministrationDependencies, 'repository' | 'clock' | 'onKeysChanged' | 'propagation'>,
  actor: Actor,
  userId: string,
  reason: string,
  context: UseCaseContext = {},
): Promise<RevokedUserKeys> {
  requirePermission(actor, 'revoke keys');
  const target = requireIdentifier(userId, 'user_id');
  const why = normalizeReason(reason) ?? `keys of user ${target} revoked`;
  const revoked: ApiKeyRecord[] = [];
  const committed = committedPosition();
  for (;;) {
    const attempt = deps.repository.transaction(
      async (tx) => {
        const now = deps.clock.now();
        const keys = await tx.lockActiveKeysOf(actor.organizationId, target, now, REVOKE_BATCH_SIZE);
        const patch: KeyPatch = {
          ...keyPatch(now),
          revokeTime: setTo(now),
          revokedByUserId: setTo(actor.userId),
          revokeReason: setTo(why),
        };
        await tx.updateKeys(keys, patch);
        await tx.insertAuditEvents(keys.map((key) => auditEvent(actor, key, 'key_revoked', now, { reason: why })));
        return keys.map((key) => applyKeyPatch(key, patch));
      },
      { ...context, ...committed.options },
    );
    const batch = await attempt.catch((error: unknown) => {
      throw revoked.length > 0 ? partialFailure(error, revoked.length, target) : error;
    });
    revoked.push(...batch);
    await deps.onKeysChanged?.(batch);
    if (batch.length < REVOKE_BATCH_SIZE)
      return { keys: revoked, propagation: await awaitPropagation(deps, committed, context) };
  }
}

/**
 * A batch failed after earlier ones committed: the error of that batch ("nothing was changed") would
 * hide that some keys are revoked, so its message says how many, and that calling again revokes the rest.
 */
function partialFailure(error: unknown, revokedCount: number, userId: string): unknown {
  if (!(error instanceof AppError)) return error;
  return new AppError(
    error.code,
    `${revokedCount} keys of user ${userId} were revoked before this failure, the others were not: call RevokeUserKeys again to revoke them (this batch: ${error.message})`,
    { cause: error },
  );
}
