import { LRUCache } from 'lru-cache';

import type { KeyRepository } from './KeyRepository.js';
import type { VerifiableKey } from './VerifiableKey.js';
import { toVerifiableKey } from './VerifiableKey.js';

/** Settings of KeyCache. */
export interface KeyCacheOptions {
  readonly repository: Pick<KeyRepository, 'findByHash'>;
  /** Most keys kept in memory. */
  readonly maxKeys: number;
  /** How long "no such key" is remembered, so floods of random well-formed keys stay off the database. */
  readonly negativeTtlMs: number;
  /** False while cached entries cannot be vouched for (change feed unreadable beyond the staleness bound). */
  readonly isFresh?: () => boolean;
}

/** Counters readable by tests, the benchmark and metrics. */
export interface KeyCacheStats {
  hits: number;
  negativeHits: number;
  misses: number;
  evictions: number;
  databaseQueries: number;
}

/** Most "no such key" entries kept, apart from real keys so a flood of random keys cannot evict them. */
const MAX_ABSENT_ENTRIES = 100_000;

/**
 * Keys by the hex SHA-256 of their secret: a bounded LRU of parsed keys plus short-lived negative
 * entries. A miss is one indexed query; concurrent misses for one hash share it. `invalidate` must be
 * called for every key that changed (locally after a write, or from the change feed) — entries never
 * expire on their own because a key's validity is recomputed from its fields and the clock on each use.
 */
export class KeyCache {
  readonly stats: KeyCacheStats = { hits: 0, negativeHits: 0, misses: 0, evictions: 0, databaseQueries: 0 };
  private readonly entries: LRUCache<string, VerifiableKey>;
  private readonly absent: LRUCache<string, true>;
  private readonly inFlight = new Map<string, Promise<VerifiableKey | null>>();
  /** Bumped by invalidate(); a load that started before an invalidation must not be cached. */
  private generation = 0;
  /**
   * When true (the change feed cannot vouch for cached entries) every lookup reads the database and
   * nothing is cached: fail closed rather than serve a key that may have been revoked elsewhere.
   */
  private bypass = false;

  constructor(private readonly options: KeyCacheOptions) {
    this.entries = new LRUCache<string, VerifiableKey>({
      max: options.maxKeys,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.stats.evictions++;
      },
    });
    this.absent = new LRUCache<string, true>({
      max: Math.min(options.maxKeys, MAX_ABSENT_ENTRIES),
      ttl: Math.max(1, options.negativeTtlMs),
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Answers from memory only, for the secret whose SHA-256 is `hexDigest` (hex, as `secretDigest` gives
   * it): the key, null when it is known not to exist, undefined when the database must be asked (not
   * cached, or the cache cannot be trusted right now). Synchronous: the hot path.
   */
  peekDigest(hexDigest: string): VerifiableKey | null | undefined {
    if (this.bypass || this.options.isFresh?.() === false) return undefined;
    const cached = this.entries.get(hexDigest);
    if (cached !== undefined) {
      this.stats.hits++;
      return cached;
    }
    if (this.absent.has(hexDigest)) {
      this.stats.negativeHits++;
      return null;
    }
    return undefined;
  }

  /** The key whose secret hashes to `hash` (raw SHA-256), or null if none exists: from memory, else one query. */
  async get(hash: Buffer): Promise<VerifiableKey | null> {
    const hexDigest = hash.toString('hex');
    const cached = this.peekDigest(hexDigest);
    return cached !== undefined ? cached : this.fetchDigest(hexDigest);
  }

  /**
   * Reads the key whose secret's SHA-256 is `hexDigest` (hex) from the database, sharing a query already
   * in flight for it, and caches the result.
   */
  fetchDigest(hexDigest: string): Promise<VerifiableKey | null> {
    const hash = Buffer.from(hexDigest, 'hex');
    this.stats.misses++;
    if (this.bypass || this.options.isFresh?.() === false) {
      this.stats.databaseQueries++;
      return this.options.repository
        .findByHash(hash)
        .then((record) => (record === null ? null : toVerifiableKey(record)));
    }
    const pending = this.inFlight.get(hexDigest);
    if (pending !== undefined) return pending;
    const load = this.load(hexDigest, hash).finally(() => {
      if (this.inFlight.get(hexDigest) === load) this.inFlight.delete(hexDigest);
    });
    this.inFlight.set(hexDigest, load);
    return load;
  }

  /** Drops the keys of the given secret digests (hex SHA-256) so the next lookup reads the database. */
  invalidate(hexDigests: Iterable<string>): void {
    this.generation++;
    for (const hexDigest of hexDigests) {
      this.entries.delete(hexDigest);
      this.absent.delete(hexDigest);
      this.inFlight.delete(hexDigest);
    }
  }

  /** Drops everything and stops caching until `trust()`: the change feed cannot vouch for entries. */
  distrust(): void {
    this.bypass = true;
    this.generation++;
    this.entries.clear();
    this.absent.clear();
    this.inFlight.clear();
  }

  /** Caches again (the change feed is readable; the cache starts empty). */
  trust(): void {
    this.generation++;
    this.entries.clear();
    this.absent.clear();
    this.bypass = false;
  }

  private async load(hexDigest: string, hash: Buffer): Promise<VerifiableKey | null> {
    const generation = this.generation;
    this.stats.databaseQueries++;
    const record = await this.options.repository.findByHash(hash);
    const key = record === null ? null : toVerifiableKey(record);
    if (generation === this.generation) {
      // lru-cache reads a ttl of 0 as "never expires": a negative TTL of 0 must mean "not remembered".
      if (key !== null) this.entries.set(hexDigest, key);
      else if (this.options.negativeTtlMs > 0) this.absent.set(hexDigest, true);
    }
    return key;
  }
}
