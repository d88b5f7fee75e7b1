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

/** The service name verify counts under by default. */
export const VERIFY_KEY_SERVICE = 'apikeys.v1.KeyVerifier';
