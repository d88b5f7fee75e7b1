import { LRUCache } from 'lru-cache';

import type { CacheEntry, VerifyKeyResponse, WatchKeyChangesResponse } from '../../gen/apikeys/v1/api_keys.js';
import {
  DENIAL_HTTP_STATUS,
  decideVerification,
  malformedVerification,
  type Verification,
} from '../domain/decideVerification.js';
import { IpAllowlist } from '../domain/IpAllowlist.js';
import { hasKeyLength, isWellFormedKey, secretDigest } from '../domain/keyFormat.js';
import type { VerifiableKey } from '../domain/VerifiableKey.js';
import type { VerifiedKey, VerifyResult } from './fromVerifyKeyResponse.js';

/** The `cache` option of createVerifierClient. */
export interface ClientCacheOptions {
  /** Most keys kept in memory (LRU). */
  readonly maxKeys: number;
  /**
   * The oldest the cache's view of the server may be when it answers (default 1000 ms): without a heartbeat
   * showing the server's change feed read that recently, every verify goes to the server.
   */
  readonly stalenessBoundMs?: number;
  /** Most unknown keys remembered as unknown, apart from `maxKeys` (default 10,000): a flood evicts only them. */
  readonly maxUnknownKeys?: number;
  /** Longest an unknown key is remembered as unknown (default 1000 ms; the server may say less). */
  readonly notFoundTtlMs?: number;
  /** How often uses of cached keys are reported to the server (ReportKeyUse; default 1000 ms). */
  readonly reportIntervalMs?: number;
}

/** Defaults of ClientCacheOptions. */
export const CLIENT_CACHE_DEFAULTS = {
  stalenessBoundMs: 1000,
  maxUnknownKeys: 10_000,
  notFoundTtlMs: 1000,
  reportIntervalMs: 1000,
} as const;

/** What one cache entry holds: the decision's input and the fields every answer repeats. */
interface Entry {
  readonly key: VerifiableKey;
  readonly shown: VerifiedKey;
  /** Monotonic ms after which it is not used (the server's CACHE_MAX_AGE_MS from receipt). */
  readonly usableUntil: number;
}

/** A use of a cached key, reported in the next batch. */
export interface KeyUseRecord {
  readonly keyId: string;
  readonly time: number;
  readonly clientIp: string | null;
}

/** Counts for tests, the benchmark and callers' metrics. */
export interface ClientCacheStats {
  hits: number;
  misses: number;
  stored: number;
  /** Answers not kept because a change to the key (or a reset) arrived while they were in flight. */
  discarded: number;
  invalidations: number;
  resets: number;
  heartbeats: number;
}

/** What the cache needs from its surroundings. */
interface Clocks {
  /** Monotonic ms: every age and bound. */
  readonly monotonic: () => number;
  /** Wall clock ms: decisions (expiry) and answers' times, as the server's. */
  readonly wall: () => number;
}

/**
 * The verifier client's in-memory copy of keys, kept exact by a WatchKeyChanges stream. It answers only
 * while a heartbeat shows that everything the server knew `stalenessBoundMs` ago has reached it, and
 * decides with the server's own decision module (domain/decideVerification.ts), so a cached answer is the
 * server's answer: reason, message and key fields.
 *
 * What is kept: a key's public fields (id, name, prefix, scopes, metadata, allowlist, expiry, revocation,
 * suspension) by the
 * SHA-256 of its secret, never the secret. An answer is not kept when it may be older than a change this
 * cache already received: a change names the key's version, and is remembered for twice the server's
 * staleness bound (how far behind another replica may answer); after a new stream or a reset, nothing is
 * kept for that long.
 */
export class ClientKeyCache {
  readonly stats: ClientCacheStats = {
    hits: 0,
    misses: 0,
    stored: 0,
    discarded: 0,
    invalidations: 0,
    resets: 0,
    heartbeats: 0,
  };
  private readonly entries: LRUCache<string, Entry>;
  private readonly unknown: LRUCache<string, number>;
  /** Changes received recently: hex digest → version (0: any), and when they arrived. */
  private recentChanges = new Map<string, { version: number; at: number }>();
  /** Scopes the server accepted in a request or granted to a key: only those are decided here. */
  private readonly knownScopes = new Set<string>();
  private uses = new Map<string, KeyUseRecord>();
  /** Monotonic ms as of which every change the server knew has been received. */
  private exactAt = Number.NEGATIVE_INFINITY;
  /** Bumped on every reset and new stream: answers sent before are not kept. */
  private epoch = 0;
  private storeAfter = Number.POSITIVE_INFINITY;
  private connected = false;
  /** The server's STALENESS_BOUND_MS, as its heartbeats state it. */
  private serverBoundMs: number = CLIENT_CACHE_DEFAULTS.stalenessBoundMs;
  private readonly stalenessBoundMs: number;
  private readonly notFoundTtlMs: number;

  constructor(
    options: ClientCacheOptions,
    private readonly clocks: Clocks = { monotonic: () => performance.now(), wall: () => Date.now() },
  ) {
    this.stalenessBoundMs = options.stalenessBoundMs ?? CLIENT_CACHE_DEFAULTS.stalenessBoundMs;
    this.notFoundTtlMs = options.notFoundTtlMs ?? CLIENT_CACHE_DEFAULTS.notFoundTtlMs;
    this.entries = new LRUCache({ max: options.maxKeys });
    this.unknown = new LRUCache({ max: options.maxUnknownKeys ?? CLIENT_CACHE_DEFAULTS.maxUnknownKeys });
  }

  /** Keys held now. */
  get size(): number {
    return this.entries.size;
  }

  /** True while a heartbeat vouches for the cache: answers may come from memory. */
  isHealthy(): boolean {
    return this.connected && this.clocks.monotonic() - this.exactAt <= this.stalenessBoundMs;
  }

  /** The answer from memory, or undefined: ask the server (and `store` its answer). */
  answer(key: string, clientIp: string, requiredScopes: readonly string[]): VerifyResult | undefined {
    for (const scope of requiredScopes) if (!this.knownScopes.has(scope)) return this.miss();
    if (!this.isHealthy()) return this.miss();
    if (!hasKeyLength(key)) return this.hit(malformedVerification(this.clocks.wall()), undefined);
    const digest = secretDigest(key);
    const entry = this.entries.get(digest);
    const now = this.clocks.monotonic();
    if (entry !== undefined && now < entry.usableUntil) {
      const outcome = decideVerification({ key, clientIp, requiredScopes }, entry.key, this.clocks.wall());
      if (outcome.valid) this.recordUse(outcome.key.id, outcome.now, outcome.clientIp);
      return this.hit(outcome, entry.shown);
    }
    if (!isWellFormedKey(key)) return this.hit(malformedVerification(this.clocks.wall()), undefined);
    const unknownUntil = this.unknown.get(digest);
    if (unknownUntil !== undefined && now < unknownUntil) {
      return this.hit(decideVerification({ key, clientIp, requiredScopes }, null, this.clocks.wall()), undefined);
    }
    return this.miss();
  }

  /** A token to hand to `store` with the answer of a VerifyKey sent now. */
  ticket(): { readonly epoch: number; readonly sentAt: number } {
    return { epoch: this.epoch, sentAt: this.clocks.monotonic() };
  }

  /** Keeps the server's answer, unless a change or reset may have overtaken it. */
  store(
    key: string,
    requiredScopes: readonly string[],
    response: VerifyKeyResponse,
    shown: VerifiedKey | undefined,
    ticket: { readonly epoch: number; readonly sentAt: number },
  ): void {
    for (const scope of requiredScopes) this.knownScopes.add(scope);
    if (!this.connected || ticket.epoch !== this.epoch || ticket.sentAt < this.storeAfter) {
      this.stats.discarded++;
      return;
    }
    const entry = response.cacheEntry;
    const digest = entry === undefined ? secretDigest(key) : entry.secretHash.toString('hex');
    const change = this.recentChanges.get(digest);
    if (entry !== undefined && shown !== undefined) {
      if (change !== undefined && (change.version === 0 || change.version > entry.keyVersion)) {
        this.stats.discarded++;
        return;
      }
      for (const scope of shown.scopes) this.knownScopes.add(scope);
      this.entries.set(digest, {
        key: toVerifiableKey(shown, entry),
        shown,
        usableUntil: this.clocks.monotonic() + entry.maxAgeMs,
      });
      this.unknown.delete(digest);
      this.stats.stored++;
    } else if (response.notFoundTtlMs !== undefined && change === undefined) {
      this.unknown.set(digest, this.clocks.monotonic() + Math.min(response.notFoundTtlMs, this.notFoundTtlMs));
    }
  }

  /** A new stream is open: what was received before may have missed changes. */
  streamOpened(): void {
    this.clear();
    this.connected = true;
  }

  /** The stream ended or was given up: nothing is answered from memory until a new one vouches again. */
  streamLost(): void {
    this.connected = false;
    this.clear();
  }

  /** Applies one message of the stream. */
  apply(message: WatchKeyChangesResponse): void {
    const event = message.event;
    const now = this.clocks.monotonic();
    switch (event?.$case) {
      case 'heartbeat':
        this.stats.heartbeats++;
        this.serverBoundMs = event.value.stalenessBoundMs;
        this.exactAt = Math.max(this.exactAt, now - event.value.feedAgeMs);
        this.pruneChanges(now);
        return;
      case 'keysChanged':
        for (const change of event.value.changes) {
          const digest = change.secretHash.toString('hex');
          const cached = this.entries.peek(digest);
          if (cached !== undefined && (change.keyVersion === 0 || cached.key.version < change.keyVersion)) {
            this.entries.delete(digest);
            this.stats.invalidations++;
          }
          this.unknown.delete(digest);
          const previous = this.recentChanges.get(digest);
          const version =
            previous === undefined || change.keyVersion === 0 || previous.version === 0
              ? change.keyVersion
              : Math.max(previous.version, change.keyVersion);
          // Re-inserted, so the map stays in arrival order (pruneChanges stops at the first recent one).
          this.recentChanges.delete(digest);
          this.recentChanges.set(digest, { version, at: now });
        }
        return;
      case 'reset':
        this.stats.resets++;
        this.clear();
        return;
      case undefined:
        return;
    }
  }

  /** Takes the uses recorded since the last call (at most `max`; the rest stay for the next). */
  takeUses(max: number): KeyUseRecord[] {
    if (this.uses.size <= max) {
      const all = [...this.uses.values()];
      this.uses = new Map();
      return all;
    }
    const taken: KeyUseRecord[] = [];
    for (const [id, use] of this.uses) {
      if (taken.length === max) break;
      taken.push(use);
      this.uses.delete(id);
    }
    return taken;
  }

  /** Puts back uses a failed report carried (newer ones recorded meanwhile win). */
  returnUses(uses: readonly KeyUseRecord[]): void {
    for (const use of uses) if (!this.uses.has(use.keyId)) this.uses.set(use.keyId, use);
  }

  private clear(): void {
    this.entries.clear();
    this.unknown.clear();
    this.knownScopes.clear();
    this.recentChanges = new Map();
    this.epoch++;
    this.exactAt = Number.NEGATIVE_INFINITY;
    // Another replica may answer from a cache up to its staleness bound behind: wait that out.
    this.storeAfter = this.clocks.monotonic() + this.serverBoundMs;
  }

  private pruneChanges(now: number): void {
    const horizon = now - 2 * this.serverBoundMs;
    for (const [digest, change] of this.recentChanges) {
      if (change.at >= horizon) break;
      this.recentChanges.delete(digest);
    }
  }

  private recordUse(keyId: string, time: number, clientIp: string | null): void {
    this.uses.set(keyId, { keyId, time, clientIp });
  }

  private miss(): undefined {
    this.stats.misses++;
    return undefined;
  }

  private hit(outcome: Verification, shown: VerifiedKey | undefined): VerifyResult {
    this.stats.hits++;
    return fromVerification(outcome, shown);
  }
}

function toVerifiableKey(shown: VerifiedKey, entry: CacheEntry): VerifiableKey {
  return {
    id: shown.id,
    organizationId: shown.organizationId,
    name: shown.name,
    prefix: shown.prefix,
    scopes: shown.scopes,
    scopeSet: new Set(shown.scopes),
    metadata: shown.metadata,
    allowlist: new IpAllowlist(entry.allowedIps),
    expireTime: shown.expiresAt.getTime(),
    revokeTime: msOrNull(entry.revokeTime),
    disableTime: msOrNull(entry.disableTime),
    disabledByUserId: entry.disableTime === undefined || entry.disabledByUserId === '' ? null : entry.disabledByUserId,
    createdByUserId: shown.createdByUserId,
    version: entry.keyVersion,
  };
}

function msOrNull(timestamp: { seconds: number; nanos: number } | undefined): number | null {
  return timestamp === undefined ? null : timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1e6);
}

/** A decision made here, in the shape the server's answer takes once converted (fromVerifyKeyResponse). */
function fromVerification(outcome: Verification, shown: VerifiedKey | undefined): VerifyResult {
  const authenticatedAt = new Date(outcome.now);
  if (outcome.valid && shown !== undefined) {
    return { valid: true, httpStatus: 200, message: outcome.message, key: shown, authenticatedAt };
  }
  const reason = outcome.valid ? 'not_found' : outcome.reason;
  return {
    valid: false,
    reason,
    httpStatus: DENIAL_HTTP_STATUS[reason],
    message: outcome.message,
    ...(outcome.key === undefined || shown === undefined ? {} : { key: shown }),
    authenticatedAt,
  };
}
