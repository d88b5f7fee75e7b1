import { invalidArgument } from './AppError.js';
import type { Clock } from './Clock.js';
import type { KeyCache } from './KeyCache.js';
import {
  decideVerification,
  type DenialReason,
  malformedVerification,
  type Verification,
  type VerifyInput,
} from './decideVerification.js';
import { hasKeyLength, isWellFormedKey, secretDigest } from './keyFormat.js';
import type { ScopeCatalog } from './ScopeCatalog.js';
import { MAX_SCOPES_PER_REQUEST } from './ScopeCatalog.js';
import type { VerifiableKey } from './VerifiableKey.js';

export { DENIAL_HTTP_STATUS, type DenialReason, type Verification, type VerifyInput } from './decideVerification.js';

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
}

/**
 * Decides whether a presented key may be used, in this order: malformed → not found → revoked →
 * expired → IP not allowed → insufficient scope.
 */
export class KeyVerifier {
  /** Decisions made, by outcome. */
  readonly stats: Record<'valid' | DenialReason, number> = {
    valid: 0,
    malformed: 0,
    not_found: 0,
    revoked: 0,
    expired: 0,
    ip_not_allowed: 0,
    insufficient_scope: 0,
  };

  constructor(private readonly options: KeyVerifierOptions) {}

  /**
   * Decides synchronously when the key is in memory (the hot path: no promise, no I/O), otherwise after
   * one database lookup.
   */
  verify(input: VerifyInput): Verification | Promise<Verification> {
    this.requireKnownScopes(input.requiredScopes);
    if (!hasKeyLength(input.key)) return this.count(this.malformed());
    const digest = secretDigest(input.key);
    // A hit means this exact string was well-formed when it was first looked up (equal SHA-256 ⇒ equal
    // string), so the shape and checksum need not be checked again.
    const cached = this.options.cache.peekDigest(digest);
    if (cached !== undefined) return this.count(this.decide(input, cached));
    if (!isWellFormedKey(input.key)) return this.count(this.malformed());
    return this.options.cache.fetchDigest(digest).then((found) => this.count(this.decide(input, found)));
  }

  private count(outcome: Verification): Verification {
    this.stats[outcome.valid ? 'valid' : outcome.reason]++;
    return outcome;
  }

  private malformed(): Verification {
    return malformedVerification(this.options.clock.now());
  }

  private decide(input: VerifyInput, key: VerifiableKey | null): Verification {
    const outcome = decideVerification(input, key, this.options.clock.now());
    if (outcome.valid) this.options.onVerified?.(outcome.key, outcome.now, outcome.clientIp);
    return outcome;
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
