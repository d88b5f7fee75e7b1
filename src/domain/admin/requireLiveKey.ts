import { failedPrecondition } from '../AppError.js';
import type { ApiKeyRecord } from '../types.js';
import { keyStateAt } from '../types.js';

/** FAILED_PRECONDITION unless the key is active at `now`: revoked and expired keys cannot be `verb`. */
export function requireLiveKey(key: ApiKeyRecord, now: number, verb: 'updated' | 'rotated'): void {
  const state = keyStateAt(key, now);
  if (state === 'revoked') throw failedPrecondition(`key ${key.id} is revoked and cannot be ${verb}`);
  if (state === 'expired') {
    throw failedPrecondition(
      `key ${key.id} expired at ${new Date(key.expireTime).toISOString()}; expired keys cannot be renewed or ${verb}, create a new key`,
    );
  }
}
