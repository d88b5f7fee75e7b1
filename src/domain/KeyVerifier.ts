import { invalidArgument } from './AppError.js';
import { clientAddress, MAX_CLIENT_IP_LENGTH } from './clientAddress.js';
import type { Clock } from './Clock.js';
import type { KeyCache } from './KeyCache.js';
import { hasKeyLength, isWellFormedKey, redactSecrets, secretDigest } from './keyFormat.js';
import type { ScopeCatalog } from './ScopeCatalog.js';
import { MAX_SCOPES_PER_REQUEST } from './ScopeCatalog.js';
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
  | { readonly valid: true; readonly key: VerifiableKey; readonly now: number; readonly message: string }
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

/** Decisions made, by outcome: of one service (VerifyKey, Envoy's Check). */
export type DecisionCounts = Record<'valid' | DenialReason, number>;

function noDecisions(): DecisionCounts {
  return {
    valid: 0,
    malformed: 0,
    not_found: 0,
    revoked: 0,
    expired: 0,
    disabled: 0,
    ip_not_allowed: 0,
    insufficient_scope: 0,
  };
}

/** Settings of KeyVerifier. */
export interface KeyVerifierOptions {
  readonly cache: KeyCache;
  readonly scopes: ScopeCatalog;
  readonly clock: Clock;
  /**
   * Told of every successful verification (for last-used tracking); must not block. `clientIp` is the
   * canonical client address, or null when the request carried none or text that is not an address.
   */
  readonly onVerified?: (key: VerifiableKey, now: number, clientIp: string | null) => void;
  /**
   * Told of every decision about a key that exists (success, or a denial other than malformed and not
   * found), for the usage history; must not block.
   */
  readonly onDecided?: (key: VerifiableKey, outcome: 'valid' | DenialReason, now: number) => void;
}

/**
 * Decides whether a presented key may be used, in this order: malformed → not found → revoked →
 * expired → disabled → IP not allowed → insufficient scope.
 */
export class KeyVerifier {
  /** Decisions made for VerifyKey (verify's default counts), by outcome. */
  readonly stats: DecisionCounts = noDecisions();
  /** The counts of every service that asks, by the name it gave (the RPC service). */
  readonly statsByService = new Map<string, DecisionCounts>();

  constructor(private readonly options: KeyVerifierOptions) {
    this.statsByService.set(VERIFY_KEY_SERVICE, this.stats);
  }

  /**
   * The counts verify should add to for the decisions of `service` (VerifyKey's are `stats`): one decision
   * path, counted per service that asked.
   */
  countsFor(service: string): DecisionCounts {
    let counts = this.statsByService.get(service);
    if (counts === undefined) {
      counts = service === VERIFY_KEY_SERVICE ? this.stats : noDecisions();
      this.statsByService.set(service, counts);
    }
    return counts;
  }

  /**
   * Decides synchronously when the key is in memory (the hot path: no promise, no I/O), otherwise after
   * one database lookup.
   */
  verify(input: VerifyInput, counts: DecisionCounts = this.stats): Verification | Promise<Verification> {
    this.requireKnownScopes(input.requiredScopes);
    if (!hasKeyLength(input.key)) return this.count(counts, this.malformed());
    const digest = secretDigest(input.key);
    // A hit means this exact string was well-formed when it was first looked up (equal SHA-256 ⇒ equal
    // string), so the shape and checksum need not be checked again.
    const cached = this.options.cache.peekDigest(digest);
    if (cached !== undefined) return this.count(counts, this.decide(input, cached));
    if (!isWellFormedKey(input.key)) return this.count(counts, this.malformed());
    return this.options.cache.fetchDigest(digest).then((found) => this.count(counts, this.decide(input, found)));
  }

  private count(counts: DecisionCounts, outcome: Verification): Verification {
    const reason = outcome.valid ? 'valid' : outcome.reason;
    counts[reason]++;
    if (outcome.key !== undefined) this.options.onDecided?.(outcome.key, reason, outcome.now);
    return outcome;
  }

  private malformed(): Verification {
    return deny(
      'malformed',
      'not a TopTickets API key: expected "tt_<label>_…" as issued; check for copy/paste errors',
      this.options.clock.now(),
    );
  }

  private decide(input: VerifyInput, key: VerifiableKey | null): Verification {
    const now = this.options.clock.now();
    if (key === null) return deny('not_found', 'API key not found; it may have been deleted or mistyped', now);
    if (key.revokeTime !== null) {
      return deny(
        'revoked',
        `API key ${key.prefix}… was revoked at ${iso(key.revokeTime)}; create a new key`,
        now,
        key,
      );
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
    this.options.onVerified?.(key, now, client.kind === 'address' ? client.canonical : null);
    return { valid: true, key, now, message: 'API key is valid and working correctly' };
  }

  private requireKnownScopes(required: readonly string[]): void {
    if (required.length > MAX_SCOPES_PER_REQUEST) {
      throw invalidArgument(
        `required_scopes: at most ${MAX_SCOPES_PER_REQUEST} scopes allowed, got ${required.length}`,
      );
    }
    for (const scope of required) {
      if (!this.options.scopes.has(scope)) {
        throw invalidArgument(
          `Invalid scope in required_scopes: ${JSON.stringify(scope.slice(0, 64))} is not in the scope catalog`,
        );
      }
    }
  }
}

/** The service name verify counts under by default. */
export const VERIFY_KEY_SERVICE = 'apikeys.v1.KeyVerifier';

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
