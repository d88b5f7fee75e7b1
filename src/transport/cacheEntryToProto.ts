import { type CacheEntry, KeyState } from '../../gen/apikeys/v1/api_keys.js';
import type { Verification } from '../domain/KeyVerifier.js';
import { timestampFromMs } from './convert.js';

/** How long a client cache may keep what it is sent. */
export interface ClientCacheLimits {
  /** The server's CACHE_MAX_AGE_MS. */
  readonly maxAgeMs: number;
  /** How long an unknown key may be remembered as unknown (the server's CACHE_NEGATIVE_TTL_MS, at most 5 s). */
  readonly notFoundTtlMs: number;
}

/** The most a client may remember that a key does not exist, whatever the server's own negative TTL. */
export const MAX_CLIENT_NOT_FOUND_TTL_MS = 5000;

/**
 * The VerifyKeyResponse fields a client cache asked for (`include_cache_entry`): the entry of an identified
 * key, or how long an unknown key may be remembered. Nothing for a malformed key (the client decides
 * that itself).
 */
export function cacheFieldsToProto(
  outcome: Verification,
  hexDigest: string,
  limits: ClientCacheLimits,
): { cacheEntry?: CacheEntry; notFoundTtlMs?: number } {
  if (outcome.key === undefined) {
    return outcome.valid || outcome.reason !== 'not_found'
      ? {}
      : { notFoundTtlMs: Math.min(limits.notFoundTtlMs, MAX_CLIENT_NOT_FOUND_TTL_MS) };
  }
  const key = outcome.key;
  const state =
    key.revokeTime !== null
      ? KeyState.KEY_STATE_REVOKED
      : outcome.now >= key.expireTime
        ? KeyState.KEY_STATE_EXPIRED
        : KeyState.KEY_STATE_ACTIVE;
  return {
    cacheEntry: {
      secretHash: Buffer.from(hexDigest, 'hex'),
      keyVersion: key.version,
      allowedIps: key.allowlist.entries,
      ...(key.revokeTime === null ? {} : { revokeTime: timestampFromMs(key.revokeTime) }),
      state,
      maxAgeMs: limits.maxAgeMs,
    },
  };
}
