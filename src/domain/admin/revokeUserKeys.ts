import type { Actor, ApiKeyRecord } from '../types.js';
import { normalizeReason, requireIdentifier } from '../validation.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { requirePermission } from './requirePermission.js';
import { writeRevocation } from './writeRevocation.js';
import type { UseCaseContext } from './UseCaseContext.js';

/** Revokes every key a user created that still works (offboarding), in one transaction. Admin only. */
export async function revokeUserKeys(
  deps: Pick<KeyAdministrationDependencies, 'repository' | 'clock' | 'onKeysChanged'>,
  actor: Actor,
  userId: string,
  reason: string,
  context: UseCaseContext = {},
): Promise<ApiKeyRecord[]> {
  requirePermission(actor, 'revoke keys');
  const target = requireIdentifier(userId, 'user_id');
  const why = normalizeReason(reason) ?? `keys of user ${target} revoked`;
  const revoked = await deps.repository.transaction(async (tx) => {
    const now = deps.clock.now();
    const keys = await tx.lockActiveKeysOf(actor.organizationId, target, now);
    const out: ApiKeyRecord[] = [];
    for (const key of keys) out.push(await writeRevocation(tx, actor, key, now, why));
    return out;
  }, context);
  await deps.onKeysChanged?.(revoked);
  return revoked;
}
