import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { KeyCache, type KeyCacheOptions } from '../../src/domain/KeyCache.js';
import type { ApiKeyRecord } from '../../src/domain/types.js';
import { Gate } from '../helpers/Gate.js';
import { keyRecord } from '../helpers/keyRecord.js';

function hashOf(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function record(secret: string, patch: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return keyRecord(hashOf(secret), {
    id: `key_${secret}`,
    organizationId: 'org-cache',
    name: secret,
    prefix: `tt_admin_${secret}`,
    expireTime: 10_000_000,
    ...patch,
  });
}

/** An in-memory key table that counts lookups and can hold them until the test releases them. */
class FakeKeyTable extends Gate {
  readonly rows = new Map<string, ApiKeyRecord>();
  lookups = 0;
  failNext = false;

  put(key: ApiKeyRecord): void {
    this.rows.set(key.secretHash.toString('hex'), key);
  }

  async findByHash(hash: Buffer): Promise<ApiKeyRecord | null> {
    this.lookups++;
    await this.pass();
    if (this.failNext) {
      this.failNext = false;
      throw new Error('database unreachable');
    }
    return this.rows.get(hash.toString('hex')) ?? null;
  }
}

function cacheOver(table: FakeKeyTable, options: Partial<Omit<KeyCacheOptions, 'repository'>> = {}): KeyCache {
  return new KeyCache({ repository: table, maxKeys: 100, negativeTtlMs: 60_000, maxAgeMs: 300_000, ...options });
}

/** A table holding a key for each of `secrets`, and a cache over it. */
function cacheHolding(
  secrets: readonly string[],
  options: Partial<Omit<KeyCacheOptions, 'repository'>> = {},
): { table: FakeKeyTable; cache: KeyCache } {
  const table = new FakeKeyTable();
  for (const secret of secrets) table.put(record(secret));
  return { table, cache: cacheOver(table, options) };
}

describe('KeyCache answers warm keys from memory', () => {
  it('reads a key once and serves every later lookup without a query', async () => {
    const { table, cache } = cacheHolding(['a']);
    const first = await cache.get(hashOf('a'));
    for (let i = 0; i < 10; i++) expect(await cache.get(hashOf('a'))).toBe(first);
    expect(first?.id).toBe('key_a');
    expect(table.lookups).toBe(1);
    expect(cache.stats).toMatchObject({ misses: 1, hits: 10, databaseQueries: 1 });
  });

  it('makes exactly one query for a miss', async () => {
    const { table, cache } = cacheHolding(['a']);
    await cache.get(hashOf('a'));
    expect(table.lookups).toBe(1);
    expect(cache.stats.databaseQueries).toBe(1);
  });

  it('shares one query among concurrent misses for the same key', async () => {
    const { table, cache } = cacheHolding(['a']);
    table.hold();
    const lookups = Array.from({ length: 50 }, () => cache.get(hashOf('a')));
    table.release();
    const keys = await Promise.all(lookups);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]?.id).toBe('key_a');
    expect(table.lookups).toBe(1);
    expect(cache.stats).toMatchObject({ misses: 50, databaseQueries: 1 });
  });

  it('passes a failed query to every waiter and retries on the next lookup', async () => {
    const { table, cache } = cacheHolding(['a']);
    table.failNext = true;
    const results = await Promise.allSettled([cache.get(hashOf('a')), cache.get(hashOf('a'))]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect((await cache.get(hashOf('a')))?.id).toBe('key_a');
    expect(table.lookups).toBe(2);
  });
});

describe('KeyCache remembers unknown keys for the negative TTL', () => {
  it('answers a second lookup of an unknown key without a query', async () => {
    const { table, cache } = cacheHolding([]);
    expect(await cache.get(hashOf('nope'))).toBeNull();
    expect(await cache.get(hashOf('nope'))).toBeNull();
    expect(table.lookups).toBe(1);
    expect(cache.stats).toMatchObject({ negativeHits: 1, databaseQueries: 1 });
  });

  it('asks the database again once the negative entry has expired', async () => {
    const { table, cache } = cacheHolding([], { negativeTtlMs: 5 });
    expect(await cache.get(hashOf('late'))).toBeNull();
    table.put(record('late'));
    await sleep(50);
    expect((await cache.get(hashOf('late')))?.id).toBe('key_late');
    expect(table.lookups).toBe(2);
  });

  it('does not remember unknown keys at all when the negative TTL is 0', async () => {
    const { table, cache } = cacheHolding([], { negativeTtlMs: 0 });
    expect(await cache.get(hashOf('soon'))).toBeNull();
    table.put(record('soon'));
    expect((await cache.get(hashOf('soon')))?.id).toBe('key_soon');
    expect(table.lookups).toBe(2);
    expect(cache.stats.negativeHits).toBe(0);
  });
});

describe('KeyCache stays bounded', () => {
  it('evicts the least recently used key beyond maxKeys and reads it again when needed', async () => {
    const { table, cache } = cacheHolding(['a', 'b', 'c'], { maxKeys: 2 });
    await cache.get(hashOf('a'));
    await cache.get(hashOf('b'));
    await cache.get(hashOf('c'));
    expect(cache.stats.evictions).toBe(1);
    expect(cache.size).toBe(2);
    expect((await cache.get(hashOf('a')))?.id).toBe('key_a');
    expect(table.lookups).toBe(4);
    expect(cache.stats.evictions).toBe(2);
  });
});

describe('KeyCache never serves a key it was told changed', () => {
  it('reads an invalidated key again and returns its new state', async () => {
    const { table, cache } = cacheHolding(['a']);
    await cache.get(hashOf('a'));
    table.put(record('a', { revokeTime: 5 }));
    cache.invalidate([hashOf('a').toString('hex')]);
    expect((await cache.get(hashOf('a')))?.revokeTime).toBe(5);
    expect(table.lookups).toBe(2);
  });

  it('does not cache a read that started before an invalidation', async () => {
    const { table, cache } = cacheHolding(['a']);
    table.hold();
    const stale = cache.get(hashOf('a'));
    table.put(record('a', { revokeTime: 5 }));
    cache.invalidate([hashOf('a').toString('hex')]);
    const fresh = cache.get(hashOf('a'));
    table.release();
    await stale;
    expect((await fresh)?.revokeTime).toBe(5);
    expect((await cache.get(hashOf('a')))?.revokeTime).toBe(5);
  });

  it('forgets an unknown key once told it now exists', async () => {
    const { table, cache } = cacheHolding([]);
    expect(await cache.get(hashOf('new'))).toBeNull();
    table.put(record('new'));
    cache.invalidate([hashOf('new').toString('hex')]);
    expect((await cache.get(hashOf('new')))?.id).toBe('key_new');
  });

  it('reads the database on every lookup and caches nothing while entries cannot be vouched for', async () => {
    const table = new FakeKeyTable();
    table.put(record('a'));
    let fresh = false;
    const cache = cacheOver(table, { isFresh: () => fresh });
    await cache.get(hashOf('a'));
    await cache.get(hashOf('a'));
    expect(table.lookups).toBe(2);
    fresh = true;
    await cache.get(hashOf('a'));
    await cache.get(hashOf('a'));
    expect(table.lookups).toBe(3);
  });

  it('bypasses on distrust (no hit, nothing cached) and keeps its entries for trust', async () => {
    const { table, cache } = cacheHolding(['a']);
    await cache.get(hashOf('a'));
    cache.distrust();
    expect(cache.size).toBe(1);
    await cache.get(hashOf('a'));
    await cache.get(hashOf('a'));
    expect(table.lookups).toBe(3);
    cache.trust();
    await cache.get(hashOf('a'));
    await cache.get(hashOf('a'));
    expect(table.lookups).toBe(3);
  });

  it('drops everything on clear, and does not cache a read that started before it', async () => {
    const { table, cache } = cacheHolding(['a', 'b']);
    await cache.get(hashOf('a'));
    table.hold();
    const pending = cache.get(hashOf('b'));
    cache.clear();
    table.release();
    await pending;
    expect(cache.size).toBe(0);
  });
});

/** A change announcing `secret`'s key at `keyVersion`. */
const changed = (secret: string, keyVersion: number) => ({ hexDigest: hashOf(secret).toString('hex'), keyVersion });

describe('KeyCache applies feed changes by version', () => {
  it("keeps a copy as new as the change (a key's own creation or update does not evict it)", async () => {
    const { table, cache } = cacheHolding(['a']);
    table.put(record('a', { version: 3 }));
    await cache.get(hashOf('a'));
    cache.applyChanges([changed('a', 1), changed('a', 2), changed('a', 3)]);
    await cache.get(hashOf('a'));
    expect(table.lookups).toBe(1);
    expect(cache.stats.dropped).toBe(0);
  });

  it('drops a copy older than the change and reads the new state', async () => {
    const { table, cache } = cacheHolding(['a']);
    await cache.get(hashOf('a'));
    table.put(record('a', { version: 2, revokeTime: 5 }));
    cache.applyChanges([changed('a', 2)]);
    expect((await cache.get(hashOf('a')))?.revokeTime).toBe(5);
    expect(table.lookups).toBe(2);
    expect(cache.stats.dropped).toBe(1);
  });

  it('does not cache a read in flight that returns a version older than a change announced meanwhile', async () => {
    const { table, cache } = cacheHolding(['a']);
    table.hold();
    const early = cache.get(hashOf('a')); // reads version 1
    cache.applyChanges([changed('a', 2)]);
    table.release();
    expect((await early)?.version).toBe(1);
    table.put(record('a', { version: 2, revokeTime: 5 }));
    expect((await cache.get(hashOf('a')))?.revokeTime).toBe(5);
    expect(table.lookups).toBe(2);
  });

  it('caches a read in flight that already returns the announced version', async () => {
    const { table, cache } = cacheHolding([]);
    table.put(record('a', { version: 2 }));
    table.hold();
    const pending = cache.get(hashOf('a'));
    cache.applyChanges([changed('a', 2)]);
    table.release();
    await pending;
    await cache.get(hashOf('a'));
    expect(table.lookups).toBe(1);
  });

  it('forgets "no such key" on any change of that hash', async () => {
    const { table, cache } = cacheHolding([]);
    expect(await cache.get(hashOf('new'))).toBeNull();
    table.put(record('new'));
    cache.applyChanges([changed('new', 1)]);
    expect((await cache.get(hashOf('new')))?.id).toBe('key_new');
  });
});

describe('KeyCache bounds the age of every entry', () => {
  function agedCache(maxAgeMs: number) {
    let now = 10_000;
    const table = new FakeKeyTable();
    table.put(record('a'));
    const cache = cacheOver(table, { maxAgeMs, monotonic: { now: () => now } });
    return { table, cache, advance: (ms: number) => (now += ms) };
  }

  it('re-reads in the background once an entry is ¾ of the maximum age old, serving the copy meanwhile', async () => {
    const { table, cache, advance } = agedCache(4000);
    await cache.get(hashOf('a'));
    advance(2900);
    await cache.get(hashOf('a'));
    expect(table.lookups).toBe(1);
    table.put(record('a', { version: 2, revokeTime: 5 })); // changed without any announcement
    advance(200);
    expect((await cache.get(hashOf('a')))?.revokeTime).toBeNull(); // served while the re-read runs
    await new Promise((resolve) => setImmediate(resolve));
    expect(table.lookups).toBe(2);
    expect(cache.stats.refreshes).toBe(1);
    expect((await cache.get(hashOf('a')))?.revokeTime).toBe(5);
    expect(table.lookups).toBe(2);
  });

  it('never serves an entry older than the maximum age, whatever the feed said', async () => {
    const { table, cache, advance } = agedCache(4000);
    await cache.get(hashOf('a'));
    table.put(record('a', { version: 2, revokeTime: 5 }));
    table.failNext = false;
    advance(4001); // no hit came during the refresh window
    expect(cache.peekDigest(hashOf('a').toString('hex'))).toBeUndefined();
    expect((await cache.get(hashOf('a')))?.revokeTime).toBe(5);
  });
});
