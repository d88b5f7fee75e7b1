import { BloomFilter } from 'bloomfilter';
import type { Logger } from 'pino';

import type { KeyRepository } from './KeyRepository.js';

/** Settings of KnownKeyFilter. */
export interface KnownKeyFilterOptions {
  readonly repository: Pick<KeyRepository, 'listSecretHashes'>;
  readonly logger: Logger;
  /** Keys the filter is sized for at least; it is rebuilt twice as large when more exist. */
  readonly minCapacity: number;
  /** Rows read per query of a load. */
  readonly pageSize: number;
}

/** Observable state, for metrics, tests and the benchmark. */
export interface KnownKeyFilterStats {
  /** Keys added since the filter in use was built (loaded ones plus creations the feed or this process reported). */
  keys: number;
  /** Keys the filter in use is sized for. */
  capacity: number;
  /** Bytes of its bit array. */
  bytes: number;
  /** Completed loads. */
  loads: number;
  /** Loads that failed (retried after `retryMs`). */
  loadErrors: number;
  /** Duration of the last completed load. */
  lastLoadMs: number;
}

/**
 * The false-positive rate the filter is sized for at capacity: the share of random well-formed keys it
 * cannot tell from stored ones, which therefore still cost a query. 10⁻⁴ takes 19.2 bits (2.4 bytes) per
 * key and 13 bit lookups per test.
 */
export const FALSE_POSITIVE_RATE = 1e-4;

/** Wait before a failed load is tried again. */
const RETRY_MS = 5_000;

/** A bloom filter sized for `capacity` keys at FALSE_POSITIVE_RATE. */
function sizedFilter(capacity: number): BloomFilter {
  const bits = Math.ceil((-capacity * Math.log(FALSE_POSITIVE_RATE)) / Math.LN2 ** 2);
  return new BloomFilter(bits, Math.round((bits / capacity) * Math.LN2));
}

/**
 * Every stored key's secret digest in a bloom filter (bloomfilter), so that a well-formed key nobody
 * issued is answered "not found" without a query: anyone can compute the public checksum, so shape and
 * checksum alone let a flood of random keys through to the database.
 *
 * It is never wrong about a key it has seen: a bloom filter has no false negatives, and keys are never
 * deleted, so it only grows. What it has seen: a full scan of `api_keys` along the secret-hash index
 * (`load`), started after the change feed, plus every change the feed or this process reports (`add`)
 * from then on, so a key created during or after the scan is in it too. A key created on another replica
 * since the feed's last poll is not in it yet: UnknownKeyGate decides those. Until a load completes, and
 * from the moment the feed loses track of changes (`invalidate`: a gap, a rewritten history) until the
 * next one completes, `complete` is false and every miss goes to the database as before.
 *
 * Memory: 2.4 bytes per key of capacity (2.4 MB for 1,000,000 keys), twice that during a rebuild.
 */
export class KnownKeyFilter {
  readonly stats: KnownKeyFilterStats = { keys: 0, capacity: 0, bytes: 0, loads: 0, loadErrors: 0, lastLoadMs: 0 };
  /** The filter decisions use; null while none is complete. */
  private current: BloomFilter | null = null;
  /** The filter a load is filling, which every `add` reaches too. */
  private building: BloomFilter | null = null;
  private buildingKeys = 0;
  /** Bumped by `invalidate`: a load that started before must not be used. */
  private generation = 0;
  private loading: Promise<void> | undefined;
  /** Another load is due once the running one ends. */
  private reloadWanted = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: KnownKeyFilterOptions) {}

  /** Starts the first load in the background; the filter is used once it completes. */
  start(): Promise<void> {
    this.stopped = false;
    this.reload();
    return Promise.resolve();
  }

  /** Stops loading (a load in progress ends after its current page). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.loading;
  }

  /** Whether `mayExist` is authoritative: a load completed and nothing was missed since. */
  get complete(): boolean {
    return this.current !== null;
  }

  /** False only when no key has this hex secret digest (while `complete`); true when not complete. */
  mayExist(hexDigest: string): boolean {
    return this.current === null || this.current.test(hexDigest);
  }

  /**
   * Records a key that exists: one the feed reported or this process wrote. `created` counts it toward
   * the capacity (a change to an existing key adds nothing new).
   */
  add(hexDigest: string, created: boolean): void {
    this.current?.add(hexDigest);
    this.building?.add(hexDigest);
    if (!created) return;
    this.buildingKeys++;
    if (this.current === null) return;
    this.stats.keys++;
    if (this.stats.keys > this.stats.capacity) this.reload();
  }

  /**
   * The feed lost track of changes (rows pruned before it read them, or a database that lost rows): keys
   * created meanwhile may be missing, so the filter is not used again until a new load completes.
   */
  invalidate(): void {
    this.generation++;
    this.current = null;
    this.reload();
  }

  /** Starts a load, or asks for one after the load in progress. */
  private reload(): void {
    if (this.stopped) return;
    if (this.loading !== undefined) {
      this.reloadWanted = true;
      return;
    }
    clearTimeout(this.retryTimer);
    this.loading = this.load().finally(() => {
      this.loading = undefined;
      if (this.reloadWanted) {
        this.reloadWanted = false;
        this.reload();
      }
    });
  }

  private async load(): Promise<void> {
    const generation = this.generation;
    const started = performance.now();
    const capacity = Math.max(this.options.minCapacity, 2 * this.stats.keys);
    const filter = sizedFilter(capacity);
    this.building = filter;
    this.buildingKeys = 0;
    try {
      let after: Buffer | null = null;
      for (;;) {
        if (this.stopped) return;
        const page: Buffer[] = await this.options.repository.listSecretHashes(after, this.options.pageSize);
        for (const hash of page) filter.add(hash.toString('hex'));
        this.buildingKeys += page.length;
        const last = page.at(-1);
        if (page.length < this.options.pageSize || last === undefined) break;
        after = last;
      }
      // The feed lost track of changes while this scan ran: it may have missed some of them too.
      if (generation !== this.generation) {
        this.reloadWanted = true;
        return;
      }
      const keys = this.buildingKeys;
      this.current = filter;
      Object.assign(this.stats, {
        keys,
        capacity,
        bytes: filter.buckets.byteLength,
        loads: this.stats.loads + 1,
        lastLoadMs: Math.round(performance.now() - started),
      });
      this.options.logger.info(
        { keys, capacity, bytes: filter.buckets.byteLength, ms: this.stats.lastLoadMs },
        'filter of known keys loaded: unknown keys no longer reach the database',
      );
      // More keys than it was sized for already (created during the scan): a larger one next.
      if (keys > capacity) this.reloadWanted = true;
    } catch (error) {
      this.stats.loadErrors++;
      this.options.logger.warn({ err: error, retryMs: RETRY_MS }, 'loading the filter of known keys failed');
      this.retryTimer = setTimeout(() => this.reload(), RETRY_MS);
      this.retryTimer.unref();
    } finally {
      if (this.building === filter) this.building = null;
    }
  }
}
