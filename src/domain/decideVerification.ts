import { clientAddress, MAX_CLIENT_IP_LENGTH } from './clientAddress.js';
import { redactSecrets } from './keyFormat.js';
import type { VerifiableKey } from './VerifiableKey.js';

/** Why a key was refused; see DENIAL_HTTP_STATUS. */
export type DenialReason =
  'malformed' | 'not_found' | 'revoked' | 'expired' | 'disabled' | 'ip_not_allowed' | 'insufficient_scope';

/** The HTTP status a gateway should answer for each denial. */
export const DENIAL_HTTP_STATUS: Readonly<Record<DenialReason, 401 | 403>> = {
  malformed: 401,
  not_found: 401,
  revoked: 401,
  expired: 401,
  disabled: 401,
  ip_not_allowed: 403,
  insufficient_scope: 403,
};

/** A verification outcome: data, never an exception. */
export type Verification =
  | {
      readonly valid: true;
      readonly key: VerifiableKey;
      readonly now: number;
      readonly message: string;
      /** The canonical client address (for last-used tracking), or null when the request carried none or text that is not an address. */
      readonly clientIp: string | null;
    }
  | {
      readonly valid: false;
      readonly reason: DenialReason;
      readonly message: string;
      readonly now: number;
      /** Set once the key was identified (revoked, expired, disabled, IP, scope). */
      readonly key?: VerifiableKey;
    };

export interface VerifyInput {
  readonly key: string;
  readonly clientIp: string;
  readonly requiredScopes: readonly string[];
}

/** The answer for a presented string that is not shaped like a key. */
export function malformedVerification(now: number): Verification {
  return deny(
    'malformed',
    'not a TopTickets API key: expected "tt_<label>_…" as issued; check for copy/paste errors',
    now,
  );
}

/**
 * The decision for a key once it is looked up (null: no such key), at `now`, in this order: not found →
 * revoked → expired → disabled → IP not allowed → insufficient scope. The one decision module: the server's
 * KeyVerifier and the client's cache (src/client/ClientKeyCache.ts) both call it, so a cached answer is the
 * server's answer, message included.
 */
export function decideVerification(input: VerifyInput, key: VerifiableKey | null, now: number): Verification {
  if (key === null) return deny('not_found', 'API key not found; it may have been deleted or mistyped', now);
  if (key.revokeTime !== null) {
    return deny('revoked', `API key ${key.prefix}… was revoked at ${iso(key.revokeTime)}; create a new key`, now, key);
  }
  if (now >= key.expireTime) {
    return deny('expired', `API key ${key.prefix}… expired at ${iso(key.expireTime)}; create a new key`, now, key);
  }
  if (key.disableTime !== null) {
    return deny(
      'disabled',
      `API key ${key.prefix}… is suspended (since ${iso(key.disableTime)}, by user ${key.disabledByUserId ?? 'unknown'}); ask that user or another Admin of your organization to resume it`,
      now,
      key,
    );
  }
  // Read once, length first: only a canonical address is ever kept (memo key, last_used_ip).
  const client = clientAddress(input.clientIp);
  const ip = key.allowlist.check(client);
  if (!ip.allowed) {
    const shown = redactSecrets(JSON.stringify(input.clientIp.trim().slice(0, MAX_CLIENT_IP_LENGTH)));
    const message =
      ip.why === 'missing'
        ? `API key ${key.prefix}… has an IP allowlist but the request carried no client IP`
        : ip.why === 'unparsable'
          ? `API key ${key.prefix}… has an IP allowlist and the client IP ${shown} is not a valid IP address`
          : `client IP ${input.clientIp.trim()} is not in the allowlist of API key ${key.prefix}…; update the key's allowed_ips or call from an allowed IP`;
    return deny('ip_not_allowed', message, now, key);
  }
  if (!hasEvery(key.scopeSet, input.requiredScopes)) {
    const missing = [...new Set(input.requiredScopes.filter((scope) => !key.scopeSet.has(scope)))].sort();
    return deny(
      'insufficient_scope',
      `API key ${key.prefix}… lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; grant ${missing.length > 1 ? 'them' : 'it'} to the key or use another key`,
      now,
      key,
    );
  }
  return {
    valid: true,
    key,
    now,
    message: 'API key is valid and working correctly',
    clientIp: client.kind === 'address' ? client.canonical : null,
  };
}

function deny(reason: DenialReason, message: string, now: number, key?: VerifiableKey): Verification {
  return key === undefined ? { valid: false, reason, message, now } : { valid: false, reason, message, now, key };
}

/** A loop rather than `every` with a callback: no closure per call on the hot path. */
function hasEvery(held: ReadonlySet<string>, required: readonly string[]): boolean {
  for (const scope of required) if (!held.has(scope)) return false;
  return true;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
