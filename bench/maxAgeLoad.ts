/**
 * The cost of CACHE_MAX_AGE_MS, measured: one KeyCache over a real KnexKeyRepository holding `hashes.length`
 * keys, every one of them verified continuously (a round-robin pass over all keys every PASS_MS), so that
 * each is re-read in the background once it is ¾ of the maximum age old. The keys are first loaded spread
 * over ¾ of the maximum age, as the ages of keys in real use are spread, so the re-reads are too.
 */
import type { Knex } from 'knex';

import { KeyCache } from '../src/domain/KeyCache.js';
import { KnexKeyRepository } from '../src/storage/KnexKeyRepository.js';
import type { LoadDelta, ServerLoad } from './serverLoad.js';

/** How often every key is verified: well inside the last quarter of its age, so it is refreshed on time. */
const PASS_MS = 100;

/** What one measurement saw. */
export interface MaxAgeResult {
  readonly keys: number;
  readonly maxAgeMs: number;
  readonly seconds: number;
  /** Verifications per second (cache lookups). */
  readonly verificationsPerSecond: number;
  /** Background re-reads started per second (`cache.stats.refreshes`). */
  readonly refreshesPerSecond: number;
  /** Lookups that found no usable entry per second (an entry that outlived its maximum age): should be 0. */
  readonly missesPerSecond: number;
  /** Key reads the cache sent per second (refreshes + misses). */
  readonly cacheQueriesPerSecond: number;
  /** Statements this pool sent per second (knex `query` events). */
  readonly clientStatementsPerSecond: number;
  /** What the database server did meanwhile. */
  readonly server: LoadDelta;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Runs the measurement for `seconds` after a warm-up of one refresh period. */
export async function measureMaxAge(options: {
  readonly db: Knex;
  readonly load: ServerLoad;
  readonly hashes: readonly Buffer[];
  readonly maxAgeMs: number;
  readonly seconds: number;
  readonly log: (line: string) => void;
}): Promise<MaxAgeResult> {
  const { db, load, hashes, maxAgeMs, seconds, log } = options;
  let statements = 0;
  db.on('query', () => statements++);
  const repository = new KnexKeyRepository(db);
  let reading = 0;
  const cache = new KeyCache({
    repository: {
      findByHash: (hash) => {
        reading++;
        return repository.findByHash(hash).finally(() => reading--);
      },
    },
    maxKeys: hashes.length * 2,
    negativeTtlMs: 5000,
    maxAgeMs,
  });
  const digests = hashes.map((hash) => hash.toString('hex'));
  let loaded = 0;
  let verifications = 0;
  const failures: unknown[] = [];
  const pass = (): void => {
    for (let i = 0; i < loaded; i++) {
      verifications++;
      const digest = digests[i]!;
      if (cache.peekDigest(digest) === undefined)
        cache.fetchDigest(digest).catch((error: unknown) => failures.push(error));
    }
  };
  const timer = setInterval(pass, PASS_MS);
  try {
    const refreshPeriodMs = 0.75 * maxAgeMs;
    log(`max age: loading ${hashes.length} keys spread over ${refreshPeriodMs} ms`);
    const steps = 50;
    const started = performance.now();
    for (let step = 1; step <= steps; step++) {
      const until = Math.round((hashes.length * step) / steps);
      const loads: Promise<unknown>[] = [];
      for (let i = loaded; i < until; i++) loads.push(cache.fetchDigest(digests[i]!));
      await Promise.all(loads);
      loaded = until;
      await sleep(started + (refreshPeriodMs * step) / steps - performance.now());
    }
    if (cache.size !== hashes.length) throw new Error(`cached ${cache.size} of ${hashes.length} keys`);
    await sleep(refreshPeriodMs); // every key has been refreshed once: the steady state
    const before = { ...cache.stats, verifications, statements };
    const a = await load.sample();
    await sleep(seconds * 1000);
    const b = await load.sample();
    const after = { ...cache.stats, verifications, statements };
    const server = load.delta(a, b);
    if (failures.length > 0) throw new Error(`${failures.length} key reads failed`, { cause: failures[0] });
    const perSecond = (field: keyof typeof before): number => (after[field] - before[field]) / server.seconds;
    return {
      keys: hashes.length,
      maxAgeMs,
      seconds: server.seconds,
      verificationsPerSecond: perSecond('verifications'),
      refreshesPerSecond: perSecond('refreshes'),
      missesPerSecond: perSecond('misses'),
      cacheQueriesPerSecond: perSecond('databaseQueries'),
      clientStatementsPerSecond: perSecond('statements'),
      server,
    };
  } finally {
    clearInterval(timer);
    // Re-reads started by the last pass are still queued for the pool: let them end before it closes.
    while (reading > 0) await sleep(20);
  }
}
