import { type CacheEntry, KeyState } from '../../gen/apikeys/v1/api_keys.js';
import type { Verification } from '../domain/KeyVerifier.js';
import { type KeyState as DomainKeyState, keyStateAt } from '../domain/types.js';
import { timestampFromMs } from './convert.js';

/** How long a client cache may keep what it is sent. */
export interface ClientCacheLimits {
  /** The server's CACHE_MAX_AGE_MS. */
  readonly maxAgeMs: number;
  /** How long an unknown key may be remembered as unknown (the server's CACHE_NEGATIVE_TTL_MS, at most 5 s). */
  readonly notFoundTtlMs: number;
}

const STATE_TO_PROTO: Readonly<Record<DomainKeyState, KeyState>> = {
  active: KeyState.KEY_STATE_ACTIVE,
  expired: KeyState.KEY_STATE_EXPIRED,
  revoked: KeyState.KEY_STATE_REVOKED,
  disabled: KeyState.KEY_STATE_DISABLED,
};

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
  const state = STATE_TO_PROTO[keyStateAt(key, outcome.now)];
  return {
    cacheEntry: {
      secretHash: Buffer.from(hexDigest, 'hex'),
      keyVersion: key.version,
      allowedIps: key.allowlist.entries,
      ...(key.revokeTime === null ? {} : { revokeTime: timestampFromMs(key.revokeTime) }),
      state,
      maxAgeMs: limits.maxAgeMs,
      // The suspension, so the client denies a suspended key with the server's message.
      ...(key.disableTime === null ? {} : { disableTime: timestampFromMs(key.disableTime) }),
      disabledByUserId: key.disabledByUserId ?? '',
    },
  };
}
