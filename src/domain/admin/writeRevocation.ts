import { setTo } from '../FieldUpdate.js';
import type { KeyTransaction } from '../KeyRepository.js';
import { applyKeyPatch, keyPatch, type KeyPatch } from '../KeyPatch.js';
import type { Actor, ApiKeyRecord } from '../types.js';
import { auditEvent } from './auditEvent.js';

/** Revokes `key` at `now` inside `tx` and audits it; returns the key as revoked. */
export async function writeRevocation(
  tx: KeyTransaction,
  actor: Actor,
  key: ApiKeyRecord,
  now: number,
  reason: string | null,
): Promise<ApiKeyRecord> {
  const patch: KeyPatch = {
    ...keyPatch(now),
    revokeTime: setTo(now),
    revokedByUserId: setTo(actor.userId),
    revokeReason: setTo(reason),
  };
  await tx.updateKey(key, patch);
  await tx.insertAuditEvent(auditEvent(actor, key, 'key_revoked', now, { reason }));
  return applyKeyPatch(key, patch);
}
