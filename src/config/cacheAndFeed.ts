import { documented } from './documented.js';
import { intRange } from './validators.js';

/** The verifier's cache, the change feed that keeps it honest, and the coalesced last-used writes. */
export const CACHE_AND_FEED_SETTINGS = {
  CACHE_MAX_KEYS: documented(
    intRange(1, 100_000_000)({ default: 1_000_000, desc: 'most keys the verifier keeps in memory (LRU)' }),
    '`1000000`',
  ),
  CACHE_NEGATIVE_TTL_MS: documented(
    intRange(0, 3_600_000)({ default: 5000, desc: 'how long an unknown (well-formed) key is remembered as unknown' }),
    '`5000`',
  ),
  KNOWN_KEY_FILTER_CAPACITY: documented(
    intRange(
      0,
      1_000_000_000,
    )({
      default: 1_000_000,
      desc: 'keys the in-memory filter of every stored key is sized for at least (2.4 bytes each; it doubles when more exist), so random well-formed keys are answered without a query; 0 turns the filter off',
    }),
    '`1000000`',
  ),
  UNKNOWN_KEY_LOOKUPS_PER_SECOND: documented(
    intRange(
      0,
      1_000_000,
    )({
      default: 20,
      desc: 'database lookups per second, per process, for keys the filter does not know (a key created on another replica since the last feed poll); beyond it such a key waits for the next poll (≤ `CHANGE_FEED_POLL_MS`)',
    }),
    '`20`',
  ),
  CACHE_MAX_AGE_MS: documented(
    intRange(
      1000,
      86_400_000,
    )({
      default: 300_000,
      desc: 'the oldest a cached key may be when used: re-read in the background at ¾ of it, never served older (a bound that holds even if a change were never announced)',
    }),
    '`300000`',
  ),
  CHANGE_FEED_POLL_MS: documented(
    intRange(
      10,
      60_000,
    )({
      default: 100,
      desc: 'how often each process reads `key_feed` (bounds the cross-replica revocation delay)',
    }),
    '`100`',
  ),
  CHANGE_FEED_RETENTION_HOURS: documented(
    intRange(1, 8760)({ default: 24, desc: 'how long `key_feed` rows are kept' }),
    '`24`',
  ),
  STALENESS_BOUND_MS: documented(
    intRange(
      20,
      3_600_000,
    )({
      default: 1000,
      desc: 'how long cached keys are served without a poll that read the change feed to its end; then every verification reads the database (fails closed)',
    }),
    '`1000`',
  ),
  LAST_USED_FLUSH_MS: documented(
    intRange(10, 3_600_000)({ default: 5000, desc: 'how often coalesced last-used data is written' }),
    '`5000`',
  ),
  USAGE_RETENTION_DAYS: documented(
    intRange(
      1,
      3660,
    )({
      default: 400,
      desc: 'how many UTC days of usage history (`key_usage`, GetKeyUsage) are kept; older days are deleted hourly',
    }),
    '`400`',
  ),
};

/** The cross-field rule of this section: the staleness bound must outlast two polls. */
export function cacheAndFeedProblems(raw: { STALENESS_BOUND_MS: number; CHANGE_FEED_POLL_MS: number }): string[] {
  return raw.STALENESS_BOUND_MS < 2 * raw.CHANGE_FEED_POLL_MS
    ? [
        `STALENESS_BOUND_MS (${raw.STALENESS_BOUND_MS}) must be at least twice CHANGE_FEED_POLL_MS (${raw.CHANGE_FEED_POLL_MS})`,
      ]
    : [];
}
