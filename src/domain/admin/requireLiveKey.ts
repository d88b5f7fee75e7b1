import { failedPrecondition } from '../AppError.js';
import type { ApiKeyRecord } from '../types.js';
import { keyStateAt } from '../types.js';

/**
 * FAILED_PRECONDITION unless the key is active (or, when `verb` is not `rotated`, suspended) at `now`:
 * revoked and expired keys cannot be `verb`; a suspended key is resumed before it is rotated, so that its
 * replacement does not silently undo the suspension.
 */
export function requireLiveKey(
  key: ApiKeyRecord,
  now: number,
  verb: 'updated' | 'rotated' | 'suspended' | 'resumed',
): void {
  const state = keyStateAt(key, now);
  if (state === 'disabled' && verb === 'rotated') {
    throw failedPrecondition(`key ${key.id} is suspended and cannot be rotated; resume it first (UpdateKey enabled)`);
  }
  if (state === 'revoked') throw failedPrecondition(`key ${key.id} is revoked and cannot be ${verb}`);
  if (state === 'expired') {
    throw failedPrecondition(
      `key ${key.id} expired at ${new Date(key.expireTime).toISOString()}; expired keys cannot be renewed or ${verb}, create a new key`,
    );
  }
}
