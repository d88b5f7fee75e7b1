import type { KeyTransaction } from '../KeyRepository.js';
import type { Actor, ApiKeyRecord } from '../types.js';
import { keyNotFound } from './keyNotFound.js';

/** Reads a key of the actor's organization and locks it until the transaction ends; NOT_FOUND if absent. */
export async function lockKey(tx: KeyTransaction, actor: Actor, keyId: string): Promise<ApiKeyRecord> {
  const key = await tx.lockKey(actor.organizationId, keyId);
  if (key === null) throw keyNotFound(keyId);
  return key;
}
