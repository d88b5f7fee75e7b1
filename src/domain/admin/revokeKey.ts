import type { Actor, ApiKeyRecord } from '../types.js';
import { normalizeReason, requireIdentifier } from '../validation.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { lockKey } from './lockKey.js';
import { requirePermission } from './requirePermission.js';
import { writeRevocation } from './writeRevocation.js';
import type { UseCaseContext } from './UseCaseContext.js';

/** Revokes a key at once. Admin only; revoking a revoked key returns it unchanged (and audits nothing). */
export async function revokeKey(
  deps: Pick<KeyAdministrationDependencies, 'repository' | 'clock' | 'onKeysChanged'>,
  actor: Actor,
  keyId: string,
  reason: string,
  context: UseCaseContext = {},
): Promise<ApiKeyRecord> {
  requirePermission(actor, 'revoke keys');
  const id = requireIdentifier(keyId, 'key_id');
  const why = normalizeReason(reason);
  const revoked = await deps.repository.transaction(async (tx) => {
    const key = await lockKey(tx, actor, id);
    if (key.revokeTime !== null) return key;
    return writeRevocation(tx, actor, key, deps.clock.now(), why);
  }, context);
  await deps.onKeysChanged?.([revoked]);
  return revoked;
}
