import type { Actor, ApiKeyRecord } from '../types.js';
import { requireIdentifier } from '../validation.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { keyNotFound } from './keyNotFound.js';
import { requirePermission } from './requirePermission.js';

/** Returns a key of the actor's organization; NOT_FOUND for absent and foreign keys alike. */
export async function getKey(
  deps: Pick<KeyAdministrationDependencies, 'repository'>,
  actor: Actor,
  keyId: string,
): Promise<ApiKeyRecord> {
  requirePermission(actor, 'read keys');
  const key = await deps.repository.findById(actor.organizationId, requireIdentifier(keyId, 'key_id'));
  if (key === null) throw keyNotFound(keyId);
  return key;
}
