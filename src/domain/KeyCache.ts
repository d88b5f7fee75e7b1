import { LRUCache } from 'lru-cache';

import { monotonicClock, type MonotonicClock } from './Clock.js';
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
  /**
   * The oldest a cached key may be when it is used: re-read in the background once it is ¾ that old,
   * never served older. Defence in depth: even a change the feed never announced ends here.
   */
  readonly maxAgeMs: number;
  /** False while cached entries cannot be vouched for (change feed unreadable beyond the staleness bound). */
  readonly isFresh?: () => boolean;
  /** Ages are measured on it (lru-cache's `perf`); tests pass a clock they move. */
  readonly monotonic?: MonotonicClock;
  /**
   * Asked before a key that is not cached costs a query (UnknownKeyGate): true, or a promise of whether
   * to query (false: no such key). Omitted: every miss queries.
   */
  readonly gate?: { admit(hexDigest: string): true | Promise<boolean> };
}

/** Counters readable by tests, the benchmark and metrics. */
export interface KeyCacheStats {
  hits: number;
  negativeHits: number;
  misses: number;
  evictions: number;
  databaseQueries: number;
  /** Background re-reads of entries near their maximum age. */
  refreshes: number;
  /** Entries the change feed dropped because they were older than the change. */
  dropped: number;
}

/** One change as the cache needs it: whose key, and the version that reflects it. */
export interface CachedKeyChange {
  readonly hexDigest: string;
  readonly keyVersion: number;
}

/** A database read in flight, and the lowest version it must return to be cached (Infinity: never). */
interface Load {
  readonly promise: Promise<VerifiableKey | null>;
  fence: number;
}

/** Most "no such key" entries kept, apart from real keys so a flood of random keys cannot evict them. */
const MAX_ABSENT_ENTRIES = 100_000;

/**
 * Keys by the hex SHA-256 of their secret: a bounded LRU of parsed keys plus short-lived negative
 * entries. A miss is one indexed query; concurrent misses for one hash share it.
 *
 * What keeps an entry right: a local write drops it (`invalidate`); the change feed drops it when the
 * change is newer than the copy (`applyChanges`, by key version, so a key's own creation does not evict
 * the copy just read); a read in flight when a newer change arrives is not cached; and no entry is used
 * past `maxAgeMs`, whatever the feed did.
 */
export class KeyCache {
  readonly stats: KeyCacheStats = {
    hits: 0,
    negativeHits: 0,
    misses: 0,
    evictions: 0,
    databaseQueries: 0,
    refreshes: 0,
    dropped: 0,
  };
  private readonly entries: LRUCache<string, VerifiableKey>;
  private readonly absent: LRUCache<string, true>;
  private readonly inFlight = new Map<string, Load>();
  /** Remaining life below which a hit starts a background re-read. */
  private readonly refreshBelowMs: number;
  /** Bumped when everything is dropped; a load that started before must not be cached. */
  private generation = 0;
  /**
   * When true (the change feed cannot vouch for cached entries) every lookup reads the database and
   * nothing is cached: fail closed rather than serve a key that may have been revoked elsewhere.
   */
  private bypass = false;

  constructor(private readonly options: KeyCacheOptions) {
    const perf = options.monotonic ?? monotonicClock;
    // lru-cache reads the clock at most once a millisecond; a test's clock moves only when told to.
    const ttlResolution = options.monotonic === undefined ? 1 : 0;
    this.refreshBelowMs = options.maxAgeMs / 4;
    this.entries = new LRUCache<string, VerifiableKey>({
      max: options.maxKeys,
      ttl: options.maxAgeMs,
      ttlResolution,
      perf,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.stats.evictions++;
      },
    });
    this.absent = new LRUCache<string, true>({
      max: Math.min(options.maxKeys, MAX_ABSENT_ENTRIES),
      ttl: Math.max(1, options.negativeTtlMs),
      ttlResolution,
      perf,
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Answers from memory only, for the secret whose SHA-256 is `hexDigest` (hex, as `secretDigest` gives
   * it): the key, null when it is known not to exist, undefined when the database must be asked (not
   * cached, too old, or the cache cannot be trusted right now). Synchronous: the hot path.
   */
  peekDigest(hexDigest: string): VerifiableKey | null | undefined {
    if (this.bypass || this.options.isFresh?.() === false) return undefined;
    const cached = this.entries.get(hexDigest);
    if (cached !== undefined) {
      this.stats.hits++;
      if (this.entries.getRemainingTTL(hexDigest) < this.refreshBelowMs && !this.inFlight.has(hexDigest)) {
        this.stats.refreshes++;
        this.loadShared(hexDigest, Buffer.from(hexDigest, 'hex')).catch(() => undefined);
      }
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
    const admitted = this.options.gate?.admit(hexDigest) ?? true;
    if (admitted === true) return this.loadShared(hexDigest, hash);
    return admitted.then((query) => (query ? this.loadShared(hexDigest, hash) : null));
  }

  /** One database read per digest at a time; cached when it settles, unless a newer change arrived. */
  private loadShared(hexDigest: string, hash: Buffer): Promise<VerifiableKey | null> {
    const pending = this.inFlight.get(hexDigest);
    if (pending !== undefined) return pending.promise;
    const load: Load = { promise: this.load(hexDigest, hash, () => load.fence), fence: 0 };
    this.inFlight.set(hexDigest, load);
    void load.promise.then(
      () => this.settled(hexDigest, load),
      () => this.settled(hexDigest, load),
    );
    return load.promise;
  }

  /** Drops the keys of the given secret digests (hex SHA-256) unconditionally: this process changed them. */
  invalidate(hexDigests: Iterable<string>): void {
    for (const hexDigest of hexDigests) {
      this.entries.delete(hexDigest);
      this.absent.delete(hexDigest);
      const load = this.inFlight.get(hexDigest);
      if (load !== undefined) load.fence = Number.POSITIVE_INFINITY;
      this.inFlight.delete(hexDigest);
    }
  }

  /**
   * Applies changes read from the feed: drops a cached copy older than the change (a copy of that version
   * or later already reflects it), forgets "no such key", and keeps a read in flight from caching an older
   * version than the change's.
   */
  applyChanges(changes: Iterable<CachedKeyChange>): void {
    for (const { hexDigest, keyVersion } of changes) {
      const cached = this.entries.peek(hexDigest);
      if (cached !== undefined && cached.version < keyVersion) {
        this.entries.delete(hexDigest);
        this.stats.dropped++;
      }
      this.absent.delete(hexDigest);
      const load = this.inFlight.get(hexDigest);
      if (load !== undefined) load.fence = Math.max(load.fence, keyVersion);
    }
  }

  /** Drops every entry (the feed lost track of some changes); caching goes on. */
  clear(): void {
    this.generation++;
    this.entries.clear();
    this.absent.clear();
    this.inFlight.clear();
  }

  /**
   * Serves nothing from memory and caches nothing until `trust()`: the change feed cannot vouch for the
   * entries. They are kept: once the feed has read every change made meanwhile, they are exact again.
   */
  distrust(): void {
    this.bypass = true;
  }

  /** Serves from memory again (the change feed read every change up to now). */
  trust(): void {
    this.bypass = false;
  }

  private async load(hexDigest: string, hash: Buffer, fence: () => number): Promise<VerifiableKey | null> {
    const generation = this.generation;
    this.stats.databaseQueries++;
    const record = await this.options.repository.findByHash(hash);
    const key = record === null ? null : toVerifiableKey(record);
    if (generation === this.generation) {
      // When a change newer than what was read arrived meanwhile, this call is answered and nothing cached.
      const current = fence();
      if (key !== null && key.version >= current) this.entries.set(hexDigest, key);
      // lru-cache reads a ttl of 0 as "never expires": a negative TTL of 0 must mean "not remembered".
      else if (key === null && current === 0 && this.options.negativeTtlMs > 0) this.absent.set(hexDigest, true);
    }
    return key;
  }

  private settled(hexDigest: string, load: Load): void {
    if (this.inFlight.get(hexDigest) === load) this.inFlight.delete(hexDigest);
  }
}
